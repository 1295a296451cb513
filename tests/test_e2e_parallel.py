"""Ctrl-C during a ``--parallel`` run: reports written, nothing left behind."""

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


class ParallelCtrlC(SimpleTestCase):
    def test_ctrl_c_stops_every_process_and_leaves_nothing_behind(self):
        with Project({"test_slow": SLOW}) as project:
            temp = project.root / "tmp"
            temp.mkdir()
            # A terminal sends Ctrl-C to the whole process group: the parent and its workers.
            proc = subprocess.Popen(
                [sys.executable, "-m", "arunner", "--parallel", "2", "--junit-xml", "r.xml"],
                cwd=project.root,
                env={
                    **os.environ,
                    "DJANGO_SETTINGS_MODULE": "e2eproject.settings",
                    "TMPDIR": str(temp),
                },
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + RUN_TIMEOUT
                started = [project.root / f"started-{name}" for name in ("first", "second")]
                while not all(path.exists() for path in started):
                    self.assertLess(time.monotonic(), deadline)
                    if proc.poll() is not None:
                        self.fail(proc.communicate()[0])
                    time.sleep(0.05)
                os.killpg(proc.pid, signal.SIGINT)
                output, _ = proc.communicate(timeout=RUN_TIMEOUT)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.assertEqual(proc.returncode, 130, output)
            self.assertNotIn("Traceback", output)
            names = [c.get("name") for c in ElementTree.parse(project.root / "r.xml").iter(
                "testcase")]
            self.assertIn("test_a_quick", names, output)
            self.assertEqual(project.test_dbs_left(), [], output)
            self.assertEqual(list(temp.iterdir()), [], output)
