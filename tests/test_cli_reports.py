"""What ``arunner`` writes for CI: JUnit XML, durations, the last-failed record; Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from django.test import SimpleTestCase, tag

from tests.e2e import RUN_TIMEOUT, Project

#: Two classes, so ``--parallel 2`` really runs them in two workers. The strings hold
#: characters XML cannot carry and the CDATA terminator.
MIXED = """
import asyncio
import sys
import time
import unittest

from django.test import SimpleTestCase, TestCase


class First(SimpleTestCase):
    def test_passes(self):
        time.sleep(0.3)

    def test_fails(self):
        print("printed \\x1b[31m ]]> <&> \\x00\\x07")
        sys.stderr.write("to stderr\\n")
        self.assertEqual(1, 2, "nope \\x0c ]]> \\ud800")

    def test_errors(self):
        raise ValueError("bad \\x01 value ]]>")

    @unittest.skip("not today ]]>")
    def test_skipped(self):
        pass

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.fail("known")


class Second(TestCase):
    async def test_async_passes(self):
        await asyncio.sleep(0.3)

    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)
"""

EXPECTED = {
    "First.test_passes": None,
    "First.test_fails": "failure",
    "First.test_errors": "error",
    "First.test_skipped": "skipped",
    "First.test_expected_failure": "skipped",
    "Second.test_async_passes": None,
    "Second.test_subtests": "failure",
}


def line_of(name):
    lines = MIXED.strip().splitlines()
    return next(i for i, line in enumerate(lines, 1) if f"def {name}(" in line)


@tag("one_db")
class JUnitXml(SimpleTestCase):
    def check_report(self, path, parallel):
        tree = ET.parse(path)  # parses: the report is valid XML whatever the tests printed
        suite = tree.getroot().find("testsuite")
        self.assertEqual(suite.get("tests"), "7")
        self.assertEqual(suite.get("failures"), "2")
        self.assertEqual(suite.get("errors"), "1")
        self.assertEqual(suite.get("skipped"), "2")
        cases = {
            f"{c.get('classname').rsplit('.', 1)[1]}.{c.get('name')}": c
            for c in suite.iter("testcase")
        }
        self.assertEqual(set(cases), set(EXPECTED), parallel)
        for key, element in EXPECTED.items():
            case = cases[key]
            self.assertEqual(case.get("classname").rsplit(".", 1)[0], "e2eapp.tests.test_mixed")
            self.assertEqual(case.get("file"), os.path.join("e2eapp", "tests", "test_mixed.py"))
            children = [child.tag for child in case if not child.tag.startswith("system")]
            self.assertEqual(children, [element] if element else [], (key, parallel))
        for key, case in cases.items():
            self.assertEqual(case.get("line"), str(line_of(key.split(".")[1])), key)
        # time measured where the test ran: the sleeping tests took their 50 ms
        self.assertGreaterEqual(float(cases["First.test_passes"].get("time")), 0.04)
        self.assertGreaterEqual(float(cases["Second.test_async_passes"].get("time")), 0.04)
        failure = cases["First.test_fails"].find("failure")
        self.assertIn("Traceback", failure.text)
        self.assertIn("AssertionError", failure.get("message"))
        self.assertIn("]]>", failure.get("message"))
        self.assertIn("\\x0c", failure.get("message"))
        self.assertIn("\\ud800", failure.text)
        self.assertIn(
            "printed \\x1b[31m ]]> <&> \\x00\\x07",
            cases["First.test_fails"].find("system-out").text,
        )
        self.assertEqual(cases["First.test_fails"].find("system-err").text, "to stderr\n")
        self.assertIsNone(cases["First.test_passes"].find("system-out"))
        self.assertIn("ValueError", cases["First.test_errors"].find("error").text)
        skipped = cases["First.test_skipped"].find("skipped")
        self.assertEqual(skipped.get("message"), "not today ]]>")
        xfail = cases["First.test_expected_failure"].find("skipped")
        self.assertIn("Traceback", xfail.text)
        self.assertIn("i=2", cases["Second.test_subtests"].find("failure").get("message"))

    def test_serial_and_parallel_reports_are_the_same(self):
        with Project({"test_mixed": MIXED}) as project:
            run = project.run("--junit-xml", "reports/serial.xml")
            self.assertEqual(run.code, 1, run.output)
            self.check_report(project.root / "reports" / "serial.xml", "serial")
            # An expected failure counts as passed; a failing subtest fails its test once.
            self.assertEqual(run.closing_line, "3 passed, 3 failed, 1 skipped")
            run = project.run("--junit-xml", "parallel.xml", "--parallel", "2")
            self.assertEqual(run.code, 1, run.output)
            self.check_report(project.root / "parallel.xml", "parallel")
            self.assertEqual(run.closing_line, "3 passed, 3 failed, 1 skipped")


CLASS_ERROR = """
from django.test import SimpleTestCase


class BrokenSetUp(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("no class today")

    def test_never_runs(self):
        pass


class Fine(SimpleTestCase):
    def test_fine(self):
        pass
"""


@tag("one_db")
class ClassLevelErrors(SimpleTestCase):
    def test_setupclass_error_is_a_testcase_named_after_the_hook(self):
        with Project({"test_class_error": CLASS_ERROR}) as project:
            for args in ([], ["--parallel", "2"]):
                with self.subTest(args=args):
                    run = project.run("--junit-xml", "r.xml", *args)
                    self.assertEqual(run.code, 1, run.output)
                    cases = {
                        c.get("name"): c for c in ET.parse(project.root / "r.xml").iter("testcase")
                    }
                    self.assertEqual(set(cases), {"setUpClass", "test_fine"})
                    broken = cases["setUpClass"]
                    self.assertTrue(broken.get("classname").endswith(".BrokenSetUp"))
                    self.assertIn("no class today", broken.find("error").text)
                    self.assertEqual(broken.get("line"), "4")  # the class statement
            run = project.run("--lf", "-v", "2")  # the class is what --lf reruns
            self.assertIn("recorded failure", run.output)
            self.assertNotIn("test_fine", run.output)


@tag("one_db")
class Durations(SimpleTestCase):
    def test_table_and_file_on_every_python(self):
        with Project({"test_mixed": MIXED}) as project:
            run = project.run(
                "--durations", "2", "--durations-file", "durations.json", "--parallel", "2"
            )
            lines = run.output.splitlines()
            start = lines.index("Slowest test durations")
            rows = lines[start + 2 : start + 4]
            self.assertTrue(all(row.split()[0].endswith("s") for row in rows), rows)
            self.assertEqual(
                {row.split()[1].rsplit(".", 1)[1] for row in rows},
                {"test_passes", "test_async_passes"},
            )
            self.assertLess(start, lines.index(next(x for x in lines if x.startswith("Ran "))))
            data = json.loads((project.root / "durations.json").read_text())
            self.assertEqual(data["version"], 1)
            self.assertGreaterEqual(
                data["durations"]["e2eapp.tests.test_mixed.First.test_passes"], 0.29
            )
            # a second run of one class updates its entries and keeps the other class's
            # (shards share a file)
            first = "e2eapp.tests.test_mixed.First.test_passes"
            data["durations"][first] = 999.0
            (project.root / "durations.json").write_text(json.dumps(data))
            run = project.run("e2eapp.tests.test_mixed.First", "--durations-file", "durations.json")
            self.assertEqual(run.code, 1, run.output)
            data = json.loads((project.root / "durations.json").read_text())
            self.assertLess(data["durations"][first], 999.0)
            self.assertIn("e2eapp.tests.test_mixed.Second.test_async_passes", data["durations"])


FLAKY = """
import os

from django.test import SimpleTestCase


class Flaky(SimpleTestCase):
    def test_a_stable(self):
        pass

    def test_b_broken(self):
        self.assertFalse(os.path.exists("broken"), "the file says so")

    def test_c_stable(self):
        pass


class Other(SimpleTestCase):
    def test_other(self):
        pass
"""


@tag("one_db")
class LastFailed(SimpleTestCase):
    def test_lf_and_ff(self):
        with Project({"test_flaky": FLAKY}) as project:
            (project.root / "broken").touch()
            run = project.run("--lf")
            self.assertIn("no recorded failures", run.output)
            self.assertEqual(run.closing_line, "3 passed, 1 failed, 0 skipped")
            cache = project.root / ".arunner_cache"
            self.assertEqual((cache / ".gitignore").read_text().splitlines()[-1], "*")
            run = project.run("--lf", "-v", "2")
            self.assertEqual(run.closing_line, "0 passed, 1 failed, 0 skipped")
            run = project.run("--ff", "-v", "2")
            ran = [line.split(" ")[0] for line in run.output.splitlines() if " ... " in line]
            self.assertEqual(ran[0], "test_b_broken")
            self.assertEqual(len(ran), 4)
            (project.root / "broken").unlink()
            run = project.run("--lf")
            self.assertEqual(run.closing_line, "1 passed, 0 failed, 0 skipped")
            run = project.run("--lf")  # nothing failed last time: everything runs
            self.assertEqual(run.closing_line, "4 passed, 0 failed, 0 skipped")
            data = json.loads((cache / "lastfailed.json").read_text())
            self.assertEqual(data["failed"], [])

    def test_parallel_workers_clear_a_fixed_failure(self):
        """Workers report passing tests when the record has failures to clear."""
        with Project({"test_flaky": FLAKY}) as project:
            (project.root / "broken").touch()
            run = project.run("--parallel", "2")
            self.assertEqual(run.closing_line, "3 passed, 1 failed, 0 skipped")
            record = project.root / ".arunner_cache" / "lastfailed.json"
            self.assertEqual(len(json.loads(record.read_text())["failed"]), 1)
            (project.root / "broken").unlink()
            run = project.run("--parallel", "2")
            self.assertEqual(run.closing_line, "4 passed, 0 failed, 0 skipped")
            self.assertEqual(json.loads(record.read_text())["failed"], [])

    def test_a_recorded_failure_whose_test_is_gone_is_skipped(self):
        with Project({"test_flaky": FLAKY}) as project:
            cache = project.root / ".arunner_cache"
            cache.mkdir()
            gone = "e2eapp.tests.test_flaky.Flaky.test_gone"
            (cache / "lastfailed.json").write_text(json.dumps({"failed": [gone]}))
            run = project.run("--lf")
        self.assertEqual(run.code, 0, run.output)
        self.assertEqual(run.closing_line, "0 passed, 0 failed, 0 skipped")


SLOW = """
import pathlib
import time

from django.test import TestCase

from e2eapp.models import Item


class Slow(TestCase):
    def test_1_quick(self):
        pass

    def test_2_slow(self):
        Item.objects.create(name="in the test's transaction")
        pathlib.Path("started").touch()
        # Until the outer test says so; far longer than any run may take otherwise.
        deadline = time.monotonic() + 600
        while not pathlib.Path("go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def test_3_never(self):
        pass
"""


@tag("one_db")
class Interrupted(SimpleTestCase):
    def interrupt(self, project, times, sent=signal.SIGINT):
        """Send ``sent`` ``times`` times while test_2 runs, then let test_2 end; the run must
        stop at once on a second Ctrl-C or a SIGTERM (else it would wait test_2's 600 s)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "arunner", "--junit-xml", "report.xml"],
            cwd=project.root,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "e2eproject.settings"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.addCleanup(proc.kill)
        deadline = time.monotonic() + RUN_TIMEOUT
        while not (project.root / "started").exists():
            self.assertLess(time.monotonic(), deadline)
            if proc.poll() is not None:
                self.fail(proc.communicate()[0])
            time.sleep(0.05)
        for _ in range(times):
            proc.send_signal(sent)
            time.sleep(0.2)
        if times == 1 and sent == signal.SIGINT:
            (project.root / "go").touch()
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
        return proc.returncode, output

    def test_ctrl_c_exits_130_and_writes_the_report(self):
        for times in (1, 2):
            with self.subTest(times=times), Project({"test_slow": SLOW}) as p:
                code, output = self.interrupt(p, times)
                self.assertEqual(code, 130, output)
                names = [c.get("name") for c in ET.parse(p.root / "report.xml").iter("testcase")]
                self.assertIn("test_1_quick", names)
                self.assertNotIn("test_3_never", names)
                self.assertEqual(p.test_dbs_left(), [], output)
                errors = [
                    c.get("name")
                    for c in ET.parse(p.root / "report.xml").iter("testcase")
                    if c.find("error") is not None
                ]
                # The first Ctrl-C lets the running test end; the second stops it, an error.
                if times == 1:
                    self.assertEqual(
                        (errors, output.splitlines()[-1]),
                        ([], "2 passed, 0 failed, 0 skipped"),
                        output,
                    )
                else:
                    self.assertEqual(errors, ["test_2_slow"], output)
                    self.assertEqual(
                        output.splitlines()[-3:],
                        ["arunner: interrupted", "", "1 passed, 1 failed, 0 skipped"],
                    )

    def test_sigterm_stops_at_once_drops_the_databases_and_writes_the_report(self):
        with Project({"test_slow": SLOW}) as project:
            code, output = self.interrupt(project, 1, signal.SIGTERM)
            self.assertEqual(code, 143, output)
            self.assertEqual(
                output.splitlines()[-3:],
                ["arunner: terminated", "", "1 passed, 1 failed, 0 skipped"],
            )
            self.assertEqual(project.test_dbs_left(), [], output)
            names = [c.get("name") for c in ET.parse(project.root / "report.xml").iter("testcase")]
            self.assertEqual(names, ["test_1_quick", "test_2_slow"])
