"""``--reruns N``: a failing test runs again, each run in a fresh transaction and on a fresh
instance; one that passes on a rerun is flaky: counted once as passed, listed in its own
section and above the closing line, and written in JUnit as Maven Surefire writes it.

The tests count their runs in files of the throwaway project (the database rolls back).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

from django.test import SimpleTestCase, tag

from tests.e2e import Project

#: What every test module below starts with: ``run_number(name)`` counts the runs of a test.
COUNTER = """
import multiprocessing
import os
from pathlib import Path


def run_number(name):
    path = Path(os.environ["RUNS_DIR"]) / name
    with path.open("a") as file:
        file.write("w" if multiprocessing.parent_process() is not None else "m")
    return len(path.read_text())
"""

FLAKY = (
    COUNTER
    + """
import asyncio
import contextvars
import time

from django.test import TestCase

from e2eapp.models import Item

SEEN = contextvars.ContextVar("seen")


class Flaky(TestCase):
    def test_sync_fails_once(self):
        number = run_number("sync")
        print(f"sync run {number}")
        self.assertEqual(Item.objects.count(), 0, "a row of the first run is visible")
        self.assertFalse(hasattr(self, "left_by_a_run"), "the instance kept a run's state")
        Item.objects.create(name="first")
        self.left_by_a_run = True
        self.assertGreater(number, 1, "the first run fails")

    async def test_async_errors_once(self):
        number = run_number("async")
        self.assertIsNone(SEEN.get(None), "the context of the first run is reused")
        SEEN.set(number)
        self.assertEqual(await Item.objects.acount(), 0)
        await Item.objects.acreate(name="first")
        await asyncio.sleep(0)
        if number == 1:
            raise RuntimeError("the first run errors")

    def test_always_fails(self):
        number = run_number("always")
        self.fail(f"run {number} fails")

    def test_slow_passes(self):
        run_number("slow")
        time.sleep(0.3)
"""
)

#: The same tests in a second class, with counters of their own: ``--parallel`` runs the
#: two classes in two workers.
OTHER = FLAKY.replace("class Flaky(", "class Another(").replace(
    'run_number("', 'run_number("other_'
)


def runs(project: Project, name: str) -> str:
    """What ``run_number`` recorded for the test: one letter per run (w: in a worker)."""
    path = project.root / "runs" / name
    return path.read_text() if path.exists() else ""


def run(project: Project, *args: str, env: dict[str, str] | None = None):
    (project.root / "runs").mkdir(exist_ok=True)
    for path in (project.root / "runs").iterdir():
        path.unlink()
    return project.run(*args, env={"RUNS_DIR": str(project.root / "runs"), **(env or {})})


def last_lines(output: str, count: int) -> list[str]:
    return [line for line in output.splitlines() if line.strip()][-count:]


def junit_cases(path: Path) -> tuple[ElementTree.Element, dict[str, ElementTree.Element]]:
    root = ElementTree.parse(path).getroot()
    return root, {case.get("name"): case for case in root.iter("testcase")}


@tag("cross")
class FlakyTests(SimpleTestCase):
    def test_without_reruns_every_failure_stands(self):
        with Project({"test_flaky": FLAKY}) as project:
            result = run(project)
            self.assertEqual(result.code, 1, result.output)
            self.assertEqual(result.closing_line, "1 passed, 3 failed, 0 skipped")
            self.assertNotIn("flaky test", result.output)
            for name in ("sync", "async", "always", "slow"):
                self.assertEqual(runs(project, name), "m")

    def test_a_test_that_passes_on_a_rerun_is_flaky(self):
        with Project({"test_flaky": FLAKY}) as project:
            result = run(project, "--reruns", "2", "--junit-xml", "report.xml")
            output = result.output
            self.assertEqual(result.code, 1, output)
            self.assertEqual(
                last_lines(output, 2),
                [
                    "2 flaky tests (failed, then passed on a rerun)",
                    "3 passed, 1 failed, 0 skipped",
                ],
            )
            self.assertIn("Ran 4 tests", output)
            self.assertIn("FAILED (failures=1)", output)
            self.assertIn("sync run 1\nsync run 2\n", output)
            self.assertEqual(runs(project, "sync"), "mm")
            self.assertEqual(runs(project, "async"), "mm")
            self.assertEqual(runs(project, "always"), "mmm")
            self.assertEqual(runs(project, "slow"), "m")
            # The flaky section: each flaky test with its first failure.
            for name, first in (
                ("test_sync_fails_once", "AssertionError: 1 not greater than 1 : the first run"),
                ("test_async_errors_once", "RuntimeError: the first run errors"),
            ):
                section = re.search(
                    rf"FLAKY: e2eapp\.tests\.test_flaky\.Flaky\.{name}\n-+\n"
                    rf"Failed on run 1, passed on run 2\. The first failure:\n(.*?)\n\n",
                    output,
                    re.S,
                )
                self.assertIsNotNone(section, output)
                self.assertIn(first, section.group(1))
            self.assertIn("Failed on every run (3 runs): e2eapp.tests.test_flaky", output)
            self.assertEqual(output.count("FAIL: "), 1)
            self.assertIn("AssertionError: run 3 fails", output)
            self.assertEqual(output.count("ERROR: "), 0)

            root, cases = junit_cases(project.root / "report.xml")
            self.assertEqual(
                (root.get("tests"), root.get("failures"), root.get("errors")), ("4", "1", "0")
            )
            sync = cases["test_sync_fails_once"]
            self.assertEqual([child.tag for child in sync], ["flakyFailure"])
            flaky_failure = sync.find("flakyFailure")
            self.assertEqual(flaky_failure.get("type"), "AssertionError")
            self.assertIn("the first run fails", flaky_failure.get("message"))
            self.assertIn("the first run fails", flaky_failure.findtext("stackTrace"))
            self.assertEqual(flaky_failure.findtext("system-out"), "sync run 1\n")
            self.assertEqual(
                [child.tag for child in cases["test_async_errors_once"]], ["flakyError"]
            )
            self.assertEqual(
                cases["test_async_errors_once"].find("flakyError").get("type"), "RuntimeError"
            )
            always = cases["test_always_fails"]
            self.assertEqual(
                [child.tag for child in always], ["failure", "rerunFailure", "rerunFailure"]
            )
            self.assertIn("run 3 fails", always.find("failure").get("message"))
            self.assertEqual(
                [element.get("message") for element in always.iter("rerunFailure")],
                ["AssertionError: run 1 fails", "AssertionError: run 2 fails"],
            )
            # A replayed run keeps its own duration.
            self.assertGreaterEqual(float(cases["test_slow_passes"].get("time")), 0.3)

    def test_reruns_under_parallel(self):
        with Project({"test_flaky": FLAKY, "test_other": OTHER}) as project:
            result = run(project, "--reruns", "1", "--parallel", "2", "--junit-xml", "r.xml")
            output = result.output
            self.assertEqual(result.code, 1, output)
            self.assertEqual(
                last_lines(output, 2),
                [
                    "4 flaky tests (failed, then passed on a rerun)",
                    "6 passed, 2 failed, 0 skipped",
                ],
            )
            self.assertIn("Ran 8 tests", output)
            # Each class's runs, in a worker.
            for prefix in ("", "other_"):
                self.assertEqual(runs(project, prefix + "sync"), "ww")
                self.assertEqual(runs(project, prefix + "async"), "ww")
                self.assertEqual(runs(project, prefix + "always"), "ww")
                self.assertEqual(runs(project, prefix + "slow"), "w")
            self.assertEqual(output.count("FLAKY: e2eapp.tests."), 4)
            root = ElementTree.parse(project.root / "r.xml").getroot()
            self.assertEqual((root.get("tests"), root.get("failures")), ("8", "2"))
            self.assertEqual(len(list(root.iter("flakyFailure"))), 2)
            self.assertEqual(len(list(root.iter("flakyError"))), 2)
            self.assertEqual(len(list(root.iter("rerunFailure"))), 2)


#: The first run of each test here decides whether it passes, not its failure.
OUTCOMES = (
    COUNTER
    + """
import unittest

from django.test import SimpleTestCase


class Outcomes(SimpleTestCase):
    def test_subtest_fails_once(self):
        number = run_number("subtest")
        for case in (1, 2):
            with self.subTest(case=case):
                self.assertFalse(case == 2 and number == 1)

    def test_fails_then_skips(self):
        if run_number("skips") > 1:
            self.skipTest("skipped on the rerun")
        self.fail("the first run fails")

    @unittest.expectedFailure
    def test_expected_failure(self):
        run_number("xfail")
        self.fail("expected")

    @unittest.expectedFailure
    def test_unexpected_success(self):
        run_number("xpass")

    def test_passes(self):
        run_number("passes")
"""
)

CLASS_LEVEL = (
    COUNTER
    + """
from django.test import SimpleTestCase


class SetUpClassFails(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        run_number("setupclass")
        raise RuntimeError("setUpClass fails")

    def test_never_runs(self):
        run_number("never")


class TearDownClassFails(SimpleTestCase):
    @classmethod
    def tearDownClass(cls):
        run_number("teardownclass")
        super().tearDownClass()
        raise RuntimeError("tearDownClass fails")

    def test_passes(self):
        run_number("before_teardown")
"""
)

MODULE_LEVEL = (
    COUNTER
    + """
from django.test import SimpleTestCase


def setUpModule():
    run_number("setupmodule")
    raise RuntimeError("setUpModule fails")


class InBrokenModule(SimpleTestCase):
    def test_never_runs(self):
        run_number("never_in_module")
"""
)


@tag("one_db")
class RerunRules(SimpleTestCase):
    def test_what_is_rerun_and_what_is_not(self):
        """A failing subtest reruns its test as a whole; a skip on the rerun stands; expected
        failures and unexpected successes are not rerun (nothing failed that could pass)."""
        with Project({"test_outcomes": OUTCOMES}) as project:
            result = run(project, "--reruns", "3", "--junit-xml", "report.xml", "-v", "2")
            output = result.output
            self.assertEqual(result.code, 1, output)
            self.assertEqual(
                last_lines(output, 2),
                [
                    "2 flaky tests (failed, then did not fail on a rerun)",
                    "3 passed, 1 failed, 1 skipped",
                ],
            )
            self.assertEqual(runs(project, "subtest"), "mm")
            self.assertEqual(runs(project, "skips"), "mm")
            self.assertEqual(runs(project, "xfail"), "m")
            self.assertEqual(runs(project, "xpass"), "m")
            self.assertEqual(runs(project, "passes"), "m")
            self.assertIn("Failed on run 1, skipped on run 2.", output)
            self.assertIn("test_fails_then_skips", output.split("Failed on run 1, skipped")[0])
            _, cases = junit_cases(project.root / "report.xml")
            self.assertEqual(
                [child.tag for child in cases["test_fails_then_skips"]],
                ["skipped", "flakyFailure"],
            )
            subtest = cases["test_subtest_fails_once"].find("flakyFailure")
            self.assertIn("(case=2)", subtest.get("message"))

    def test_class_and_module_level_failures_are_not_rerun(self):
        modules = {
            "test_classes": CLASS_LEVEL,
            "test_module": MODULE_LEVEL,
            "test_broken": "import e2eapp.no_such_module\n",
        }
        with Project(modules) as project:
            result = run(project, "--reruns", "2", "--continue-on-collection-errors")
            output = result.output
            self.assertEqual(result.code, 1, output)
            self.assertEqual(result.closing_line, "1 passed, 4 failed, 0 skipped")
            self.assertNotIn("flaky test", output)
            self.assertNotIn("Failed on every run", output)
            self.assertEqual(output.count("ERROR: e2eapp.tests.test_broken ("), 1, output)
            for name in ("setupclass", "teardownclass", "before_teardown", "setupmodule"):
                self.assertEqual(runs(project, name), "m", name)
            self.assertEqual(runs(project, "never") + runs(project, "never_in_module"), "")
            for hook in ("setUpClass", "tearDownClass", "setUpModule"):
                self.assertEqual(output.count(f"ERROR: {hook} ("), 1, output)

    def test_lf_after_a_flaky_run_leaves_the_flaky_tests_out(self):
        with Project({"test_flaky": FLAKY, "test_other": OTHER}) as project:
            # No reporter asks for passing tests' reports here (nothing failed before): the
            # flaky tests' reports are built all the same, in the workers too.
            result = run(project, "--reruns", "1", "--parallel", "2")
            self.assertEqual(
                last_lines(result.output, 2),
                [
                    "4 flaky tests (failed, then passed on a rerun)",
                    "6 passed, 2 failed, 0 skipped",
                ],
            )
            self.assertEqual(runs(project, "sync") + runs(project, "other_sync"), "wwww")
            record = project.root / ".arunner_cache" / "lastfailed.json"
            self.assertEqual(
                json.loads(record.read_text())["failed"],
                [
                    "e2eapp.tests.test_flaky.Flaky.test_always_fails",
                    "e2eapp.tests.test_other.Another.test_always_fails",
                ],
            )
            result = run(project, "--lf", "-v", "2")
            self.assertIn("running 2 recorded failure(s) only", result.output)
            self.assertEqual(result.closing_line, "0 passed, 2 failed, 0 skipped")
            self.assertEqual(runs(project, "always") + runs(project, "other_always"), "mm")
            ran = [runs(project, name) for name in ("sync", "async", "other_sync", "other_async")]
            self.assertEqual(ran, ["", "", "", ""])

    def test_from_the_environment_and_pyproject(self):
        with Project({"test_flaky": FLAKY}) as project:
            result = run(project, env={"ARUNNER_RERUNS": "1"})
            self.assertEqual(result.closing_line, "3 passed, 1 failed, 0 skipped")
            self.assertEqual(runs(project, "always"), "mm")
            project.write("pyproject.toml", "[tool.arunner]\nreruns = 2\n")
            result = run(project, "--buffer")
            self.assertEqual(result.closing_line, "3 passed, 1 failed, 0 skipped")
            self.assertEqual(runs(project, "always"), "mmm")
            # --buffer holds back what a failed run printed, as what a passing test prints.
            self.assertNotIn("sync run", result.output)
            result = run(project, "--reruns", "0")
            self.assertEqual(result.closing_line, "1 passed, 3 failed, 0 skipped")
            result = run(project, "--reruns", "-1")
            self.assertEqual(result.code, 2, result.output)
            self.assertIn("--reruns", result.output)
