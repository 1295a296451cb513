"""Ctrl-C or SIGTERM during a ``--parallel`` run: reports written, nothing left behind."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from xml.etree import ElementTree

from django.test import SimpleTestCase

from tests.e2e import RUN_TIMEOUT, Project

SLOW = """
import pathlib
import time

from django.test import TestCase

from e2eapp.models import Item


class First(TestCase):
    def test_a_quick(self):
        Item.objects.create(name="first")

    def test_b_slow(self):
        Item.objects.create(name="slow")
        pathlib.Path("started-first").touch()
        time.sleep(60)


class Second(TestCase):
    def test_slow(self):
        pathlib.Path("started-second").touch()
        time.sleep(60)
"""


class ParallelStop(SimpleTestCase):
    def stop(self, project, send):
        """Run the project with --parallel 2 in a process group of its own, call ``send``
        once both workers are inside a test, and return (exit code, output)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "arunner", "--parallel", "2", "--junit-xml", "r.xml"],
            cwd=project.root,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "e2eproject.settings",
                "TMPDIR": str(project.root / "tmp"),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.addCleanup(_kill_group, proc.pid)
        deadline = time.monotonic() + RUN_TIMEOUT
        started = [project.root / f"started-{name}" for name in ("first", "second")]
        while not all(path.exists() for path in started):
            self.assertLess(time.monotonic(), deadline)
            if proc.poll() is not None:
                self.fail(proc.communicate()[0])
            time.sleep(0.05)
        send(proc)
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
        with self.assertRaises(ProcessLookupError, msg="a worker outlived the run"):
            os.killpg(proc.pid, 0)
        return proc.returncode, output

    def assert_nothing_left(self, project, output):
        self.assertNotIn("Traceback", output)
        self.assertEqual(project.test_dbs_left(), [], output)
        self.assertEqual(list((project.root / "tmp").iterdir()), [], output)
        names = [c.get("name") for c in ElementTree.parse(project.root / "r.xml").iter("testcase")]
        # test_a_quick ended before the stop; its batch had not.
        self.assertIn("test_a_quick", names, output)

    def test_ctrl_c_stops_every_process_and_leaves_nothing_behind(self):
        with Project({"test_slow": SLOW}) as project:
            (project.root / "tmp").mkdir()
            # A terminal sends Ctrl-C to the whole process group: the parent and its workers.
            code, output = self.stop(project, lambda proc: os.killpg(proc.pid, signal.SIGINT))
            self.assertEqual(code, 130, output)
            self.assert_nothing_left(project, output)

    def test_sigterm_to_the_parent_stops_every_process_and_leaves_nothing_behind(self):
        with Project({"test_slow": SLOW}) as project:
            (project.root / "tmp").mkdir()
            code, output = self.stop(project, lambda proc: proc.send_signal(signal.SIGTERM))
            self.assertEqual(code, 143, output)
            # The two tests the workers were running are errors.
            self.assertEqual(
                output.splitlines()[-3:],
                ["arunner: terminated", "", "1 passed, 2 failed, 0 skipped"],
            )
            self.assert_nothing_left(project, output)


def _kill_group(pid):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


SKIP_IN_THE_MIDDLE = """
import unittest

from django.test import SimpleTestCase


class Middle(SimpleTestCase):
    def test_a_passes(self):
        pass

    @unittest.skip("decorated")
    def test_b_skipped(self):
        pass

    def test_c_fails(self):
        self.fail("c")


class Other(SimpleTestCase):
    def test_d_passes(self):
        pass
"""


FAILING_SUBTESTS = """
from django.test import TestCase


class Async(TestCase):
    async def test_async_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)


class Sync(TestCase):
    def test_sync_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)

"""


class ParallelEvents(SimpleTestCase):
    def test_failing_subtests_reach_the_parent(self):
        """Django pickles a failing subtest's test to check it can be sent; arunner's state
        on the test (its end, its phase hooks) must not send that check into a loop."""
        with Project({"test_subtests": FAILING_SUBTESTS}) as project:
            run = project.run("--parallel", "2")
        self.assertEqual(run.code, 1, run.output)
        self.assertNotIn("RecursionError", run.output)
        for name in ("test_async_subtests", "test_sync_subtests"):
            self.assertRegex(run.output, rf"FAIL: {name} \(.*\(i=2\)")
        self.assertEqual(run.closing_line, "0 passed, 2 failed, 0 skipped")

    def test_events_keep_their_test_after_a_decorator_skip(self):
        """From Python 3.12 a decorated skip never starts; the later test's failure must
        still be told of that test, not of the one before it."""
        with Project({"test_middle": SKIP_IN_THE_MIDDLE}) as project:
            run = project.run("--parallel", "2", "-v", "2")
        self.assertEqual(run.code, 1, run.output)
        self.assertIn("FAIL: test_c_fails", run.output)
        self.assertRegex(run.output, r"test_b_skipped \(.*\) \.\.\. skipped 'decorated'")
        self.assertRegex(run.output, r"test_a_passes \(.*\) \.\.\. ok")
        self.assertEqual(run.closing_line, "2 passed, 1 failed, 1 skipped")

    def test_a_class_level_skip_is_told_of_its_class(self):
        source = (
            "import unittest\n\nfrom django.test import SimpleTestCase\n\n\n"
            "class Skipped(SimpleTestCase):\n"
            "    @classmethod\n    def setUpClass(cls):\n"
            "        raise unittest.SkipTest('whole class')\n\n"
            "    def test_a(self):\n        pass\n\n    def test_b(self):\n        pass\n\n\n"
            "class Other(SimpleTestCase):\n    def test_c(self):\n        pass\n"
        )
        with Project({"test_class_skip": source}) as project:
            run = project.run("--parallel", "2", "-v", "2")
        self.assertEqual(run.code, 0, run.output)
        self.assertRegex(run.output, r"setUpClass \(.*Skipped\) \.\.\. skipped 'whole class'")
        self.assertNotRegex(run.output, r"test_b \(.*\) \.\.\. skipped")
        self.assertEqual(run.closing_line, "1 passed, 0 failed, 1 skipped")
