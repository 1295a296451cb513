"""Where option values come from (command line, ``ARUNNER_*``, ``[tool.arunner]``), and the
options whose effect a run shows: timeouts, loop scopes, the runner class, durations."""

import importlib.metadata
import re
import xml.etree.ElementTree as ET

import django
from django.test import SimpleTestCase, tag

from tests.e2e import PASSING, Project

#: A coroutine test that hangs (cancellably), and a test after it that shows the run goes on.
HUNG = """
import asyncio

from django.test import SimpleTestCase


class Hung(SimpleTestCase):
    async def test_hangs(self):
        await asyncio.sleep(60)


class After(SimpleTestCase):
    def test_after(self):
        pass
"""

#: What a test can see of the run's machinery, one ``FACT name value`` line each.
FACTS = """
import faulthandler
import signal
import threading

from django.test import SimpleTestCase


class Facts(SimpleTestCase):
    def test_facts(self):
        handler = signal.getsignal(signal.SIGUSR2)
        names = {thread.name for thread in threading.enumerate()}
        print("FACT watchdog", "arunner-watchdog" in names)
        print("FACT sigusr2_default", handler is signal.SIG_DFL)
        print("FACT sigusr2", getattr(handler, "__name__", handler))
        print("FACT faulthandler", faulthandler.is_enabled())
"""

#: A runner that puts its own SIGUSR2 handler in place around the suite and says whether it
#: is back afterwards.
RESTORING_RUNNER = """
import signal

from arunner import AsyncDiscoverRunner


def mine(signum, frame):
    pass


class Runner(AsyncDiscoverRunner):
    def run_suite(self, suite, **kwargs):
        signal.signal(signal.SIGUSR2, mine)
        try:
            return super().run_suite(suite, **kwargs)
        finally:
            print("FACT restored", signal.getsignal(signal.SIGUSR2) is mine, flush=True)
"""

#: Three tests; the one named in ``FAIL`` fails.
THREE = """
import os

from django.test import SimpleTestCase


class Three(SimpleTestCase):
    def check(self):
        if os.environ.get("FAIL") == self._testMethodName:
            self.fail("asked to fail")

    def test_alpha(self):
        self.check()

    def test_beta(self):
        self.check()

    def test_gamma(self):
        self.check()
"""

#: Coroutine tests that print the id of their loop; the loops are kept alive, so an id is
#: never reused by a later loop.
LOOPS = """
import asyncio
import unittest

from django.test import SimpleTestCase

KEPT = []


async def record(test):
    loop = asyncio.get_running_loop()
    KEPT.append(loop)
    print(f"LOOP {type(test).__name__} {id(loop)}")


class A(SimpleTestCase):
    async def test_1(self):
        await record(self)

    async def test_2(self):
        await record(self)


class B(SimpleTestCase):
    async def test_1(self):
        await record(self)

    async def test_2(self):
        await record(self)


class C(unittest.IsolatedAsyncioTestCase):
    async def test_1(self):
        await record(self)

    async def test_2(self):
        await record(self)
"""


def facts(output: str) -> dict[str, str]:
    return dict(re.findall(r"FACT (\w+) (.*)$", output, re.MULTILINE))


def durations_rows(output: str) -> list[str]:
    """The test ids of the ``--durations`` table, slowest first."""
    lines = output.splitlines()
    start = lines.index("Slowest test durations")
    rows = []
    for line in lines[start + 2 :]:
        match = re.fullmatch(r"\d+\.\d{3}s\s+(\S+)", line)
        if not match:
            break
        rows.append(match.group(1))
    return rows


def loops_of(run) -> dict[str, int]:
    """Distinct loops per class, and in all, from the ``LOOP class id`` lines of a run."""
    assert run.code == 0, run.output
    seen = re.findall(r"LOOP (\w+) (\d+)$", run.output, re.MULTILINE)
    assert len(seen) == 6, run.output
    counts = {cls: len({loop for name, loop in seen if name == cls}) for cls in "ABC"}
    return {**counts, "all": len({loop for _, loop in seen})}


@tag("one_env", "one_db")
class Precedence(SimpleTestCase):
    """The command line wins over the environment, which wins over ``pyproject.toml``."""

    def test_junit_xml_from_each_source(self):
        """Each run writes the report its winning source names, and no other."""
        with Project({"test_ok": PASSING}) as project:
            project.write("pyproject.toml", '[tool.arunner]\njunit_xml = "toml.xml"\n')
            cases = (
                ((), {}, "toml.xml"),
                ((), {"ARUNNER_JUNIT_XML": "env.xml"}, "env.xml"),
                (("--junit-xml", "cli.xml"), {"ARUNNER_JUNIT_XML": "env.xml"}, "cli.xml"),
            )
            for args, env, expected in cases:
                with self.subTest(expected=expected):
                    for old in project.root.glob("*.xml"):
                        old.unlink()
                    run = project.run(*args, env=env)
                    self.assertEqual(run.code, 0, run.output)
                    found = sorted(p.name for p in project.root.glob("*.xml"))
                    self.assertEqual(found, [expected])
                    report = ET.parse(project.root / expected)
                    names = [case.get("name") for case in report.iter("testcase")]
                    self.assertEqual(names, ["test_passes"])

    def test_timeout_from_each_source(self):
        """A hung coroutine test fails with the limit of the source that wins, and the run
        goes on with the next test."""
        label = "e2eapp.tests.test_hung"
        with Project({"test_hung": HUNG}) as project:
            project.write("pyproject.toml", "[tool.arunner]\ntimeout = 0.3\n")
            cases = (
                ((), {}, "0.3"),
                ((), {"ARUNNER_TIMEOUT": "0.4"}, "0.4"),
                (("--timeout", "0.5"), {"ARUNNER_TIMEOUT": "0.4"}, "0.5"),
            )
            for args, env, seconds in cases:
                with self.subTest(seconds=seconds):
                    run = project.run(label, *args, env=env)
                    self.assertEqual(run.code, 1, run.output)
                    self.assertIn(
                        f"TestTimeoutError: {label}.Hung.test_hangs exceeded its {seconds}s "
                        "timeout.",
                        run.output,
                    )
                    self.assertEqual(run.closing_line, "1 passed, 1 failed, 0 skipped")

    def test_timeout_from_the_environment_under_manage_py(self):
        with Project({"test_hung": HUNG}) as project:
            run = project.run(command="manage", env={"ARUNNER_TIMEOUT": "0.4"})
        self.assertEqual(run.code, 1, run.output)
        self.assertIn("Hung.test_hangs exceeded its 0.4s timeout.", run.output)
        self.assertIn("TestTimeoutError", run.output)
        self.assertEqual(run.closing_line, "1 passed, 1 failed, 0 skipped")

    def test_loop_scope_from_the_environment_and_pyproject(self):
        with Project({"test_loops": LOOPS}) as project:
            project.write("pyproject.toml", '[tool.arunner]\nloop_scope = "run"\n')
            by_source = {
                "toml": project.run(),
                "env": project.run(env={"ARUNNER_LOOP_SCOPE": "test"}),
                "cli": project.run("--loop-scope", "class", env={"ARUNNER_LOOP_SCOPE": "test"}),
            }
        loops = {source: loops_of(run) for source, run in by_source.items()}
        # A and B share one loop for the run; C (IsolatedAsyncioTestCase) has one per test.
        self.assertEqual(loops["toml"], {"A": 1, "B": 1, "C": 2, "all": 3})
        self.assertEqual(loops["env"], {"A": 2, "B": 2, "C": 2, "all": 6})
        self.assertEqual(loops["cli"], {"A": 1, "B": 1, "C": 2, "all": 4})


@tag("one_env", "one_db")
class LoopScope(SimpleTestCase):
    def test_one_loop_per_test_class_or_run(self):
        expected = {
            # IsolatedAsyncioTestCase (C) always gets a loop per test.
            "test": {"A": 2, "B": 2, "C": 2, "all": 6},
            "class": {"A": 1, "B": 1, "C": 2, "all": 4},
            "run": {"A": 1, "B": 1, "C": 2, "all": 3},
        }
        with Project({"test_loops": LOOPS}) as project:
            for scope, counts in expected.items():
                with self.subTest(scope=scope):
                    run = project.run("--loop-scope", scope)
                    self.assertEqual(loops_of(run), counts)
                    self.assertEqual(run.closing_line, "6 passed, 0 failed, 0 skipped")
            run = project.run()  # the default is class
            self.assertEqual(loops_of(run), expected["class"])


@tag("one_env", "one_db")
class Watchdog(SimpleTestCase):
    def test_watchdog_thread_only_with_a_timeout(self):
        with Project({"test_facts": FACTS}) as project:
            without = project.run()
            with_timeout = project.run("--timeout", "30")
        self.assertEqual(without.code, 0, without.output)
        self.assertEqual(facts(without.output)["watchdog"], "False")
        self.assertEqual(with_timeout.code, 0, with_timeout.output)
        self.assertEqual(facts(with_timeout.output)["watchdog"], "True")

    # README: "Without --timeout, no watchdog runs and no signal handler is installed."
    def test_no_signal_handler_without_a_timeout(self):
        with Project({"test_facts": FACTS}) as project:
            run = project.run()
        self.assertEqual(run.code, 0, run.output)
        self.assertEqual(facts(run.output)["sigusr2_default"], "True", run.output)

    def test_previous_sigusr2_handler_is_restored_after_the_run(self):
        runner = "e2eproject.runners.Runner"
        with Project({"test_facts": FACTS}, runner=runner) as project:
            project.write("e2eproject/runners.py", RESTORING_RUNNER)
            for command in ("arunner", "manage"):
                with self.subTest(command=command):
                    run = project.run("--timeout", "30", command=command)
                    self.assertEqual(run.code, 0, run.output)
                    seen = facts(run.output)
                    self.assertEqual(seen["watchdog"], "True")
                    self.assertEqual(seen["sigusr2"], "_on_signal")  # arunner's, during
                    self.assertEqual(seen["restored"], "True")  # the runner's, after


@tag("one_env", "one_db")
class Selection(SimpleTestCase):
    def test_labels_in_pyproject_are_the_default_labels(self):
        with Project({"test_three": THREE, "test_ok": PASSING}) as project:
            project.write(
                "pyproject.toml",
                '[tool.arunner]\nlabels = ["e2eapp.tests.test_three.Three.test_beta"]\n',
            )
            run = project.run("-v", "2")
            self.assertEqual(run.code, 0, run.output)
            self.assertIn("test_beta (", run.output)
            self.assertNotIn("test_alpha (", run.output)
            self.assertNotIn("test_passes (", run.output)
            self.assertEqual(run.closing_line, "1 passed, 0 failed, 0 skipped")
            run = project.run("-v", "2", "e2eapp.tests.test_ok")  # the command line replaces
            self.assertEqual(run.code, 0, run.output)
            self.assertIn("test_passes (", run.output)
            self.assertNotIn("test_beta (", run.output)
            self.assertEqual(run.closing_line, "1 passed, 0 failed, 0 skipped")

    def test_test_name_patterns_variable_takes_a_space_separated_list(self):
        with Project({"test_three": THREE}) as project:
            env = {"ARUNNER_TEST_NAME_PATTERNS": "test_alpha test_gamma"}
            run = project.run("-v", "2", env=env)
        self.assertEqual(run.code, 0, run.output)
        self.assertIn("test_alpha (", run.output)
        self.assertIn("test_gamma (", run.output)
        self.assertNotIn("test_beta (", run.output)
        self.assertEqual(run.closing_line, "2 passed, 0 failed, 0 skipped")

    def test_last_failed_and_failed_first_variables(self):
        with Project({"test_three": THREE}) as project:
            run = project.run(env={"FAIL": "test_gamma"})
            self.assertEqual(run.closing_line, "2 passed, 1 failed, 0 skipped")
            # --ff from the environment: the recorded failure first, then the others
            run = project.run("-v", "2", env={"ARUNNER_FAILED_FIRST": "yes", "FAIL": "test_gamma"})
            self.assertEqual(run.code, 1, run.output)
            order = re.findall(r"^(test_\w+) \(", run.output, re.MULTILINE)
            self.assertEqual(order, ["test_gamma", "test_alpha", "test_beta"])
            # --lf from the environment: only the recorded failure, which passes now
            run = project.run("-v", "2", env={"ARUNNER_LAST_FAILED": "1"})
            self.assertEqual(run.code, 0, run.output)
            order = re.findall(r"^(test_\w+) \(", run.output, re.MULTILINE)
            self.assertEqual(order, ["test_gamma"])
            self.assertEqual(run.closing_line, "1 passed, 0 failed, 0 skipped")
            # it passed, so the record is empty and --lf runs everything
            run = project.run(env={"ARUNNER_LAST_FAILED": "1"})
            self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped")

    def test_enable_faulthandler_variable(self):
        with Project({"test_facts": FACTS}) as project:
            unset = ("PYTHONFAULTHANDLER",)  # it would turn faulthandler on at start-up
            on = project.run(unset=unset)
            off = project.run(env={"ARUNNER_ENABLE_FAULTHANDLER": "0"}, unset=unset)
            flag = project.run("--no-faulthandler", unset=unset)
        for run in (on, off, flag):
            self.assertEqual(run.code, 0, run.output)
        self.assertEqual(facts(on.output)["faulthandler"], "True")
        self.assertEqual(facts(off.output)["faulthandler"], "False")
        self.assertEqual(facts(flag.output)["faulthandler"], "False")


@tag("one_env", "one_db")
class BadValues(SimpleTestCase):
    # README: "A bad value is a one-line error naming the option", from every source.
    def test_negative_seconds_in_pyproject_are_refused(self):
        with Project({"test_ok": PASSING}) as project:
            for key in ("timeout", "task_grace"):
                project.write("pyproject.toml", f"[tool.arunner]\n{key} = -1\n")
                run = project.run()
                self.assertEqual(run.code, 2, run.output)
                self.assertIn(f"arunner: error: [tool.arunner] {key}: -1", run.output)
                self.assertIn("must not be negative", run.output)

    def test_negative_seconds_on_the_command_line_and_in_the_environment(self):
        with Project({"test_ok": PASSING}) as project:
            runs = {
                "--timeout": project.run("--timeout", "-1"),
                "ARUNNER_TIMEOUT": project.run(env={"ARUNNER_TIMEOUT": "-1"}),
                "ARUNNER_TASK_GRACE": project.run(env={"ARUNNER_TASK_GRACE": "soon"}),
            }
        for source, run in runs.items():
            self.assertEqual(run.code, 2, run.output)
            self.assertIn(f"arunner: error: {source}: ", run.output)
            self.assertIn("is not a valid value", run.output)
            self.assertNotIn("Traceback", run.output)


@tag("one_env", "one_db")
class RunnerClassErrors(SimpleTestCase):
    def assert_one_error(self, run, text):
        self.assertEqual(run.code, 2, run.output)
        self.assertEqual(run.output.count("arunner: error:"), 1, run.output)
        self.assertIn(f"arunner: error: {text}", run.output)
        self.assertNotIn("Traceback", run.output)
        self.assertNotIn("Ran ", run.output)

    def test_testrunner_that_is_not_an_async_discover_runner(self):
        with Project({"test_ok": PASSING}) as project:
            run = project.run("--testrunner", "django.test.runner.DiscoverRunner")
        self.assert_one_error(
            run,
            "--testrunner 'django.test.runner.DiscoverRunner' is not an "
            "AsyncDiscoverRunner subclass",
        )

    def test_runner_that_cannot_be_imported(self):
        with Project({"test_ok": PASSING}) as project:
            project.write(
                "e2eproject/missing_runner.py",
                "from e2eproject.settings import *  # noqa\nTEST_RUNNER = 'nowhere.Runner'\n",
            )
            self.assert_one_error(
                project.run("--settings", "e2eproject.missing_runner"),
                "test runner 'nowhere.Runner' cannot be imported",
            )
            self.assert_one_error(
                project.run("--testrunner", "e2eapp.NoSuchRunner"),
                "test runner 'e2eapp.NoSuchRunner' cannot be imported",
            )


@tag("one_env", "one_db")
class ManagePy(SimpleTestCase):
    def test_label_that_matches_nothing_is_a_command_error(self):
        with Project({"test_ok": PASSING}) as project:
            run = project.run("nosuchapp", command="manage")
        self.assertEqual(run.code, 2, run.output)
        self.assertIn(
            "Error: label 'nosuchapp' matches no module, class, method or directory", run.output
        )
        self.assertNotIn("Traceback", run.output)
        self.assertNotIn("Ran ", run.output)


@tag("one_env", "one_db")
class Informs(SimpleTestCase):
    def test_durations_zero_shows_every_test(self):
        with Project({"test_three": THREE}) as project:
            every = project.run("--durations", "0", "-v", "2")
            one = project.run("--durations", "1", "-v", "2")
        self.assertEqual(every.code, 0, every.output)
        prefix = "e2eapp.tests.test_three.Three."
        self.assertEqual(
            sorted(durations_rows(every.output)),
            [prefix + name for name in ("test_alpha", "test_beta", "test_gamma")],
        )
        self.assertEqual(every.closing_line, "3 passed, 0 failed, 0 skipped")
        self.assertEqual(one.code, 0, one.output)
        self.assertEqual(len(durations_rows(one.output)), 1)

    def test_version_names_arunner_and_django(self):
        with Project({"test_ok": PASSING}) as project:
            run = project.run("--version")
        self.assertEqual(run.code, 0, run.output)
        expected = f"arunner {importlib.metadata.version('arunner')}, Django {django.get_version()}"
        self.assertEqual(run.output.strip(), expected)
