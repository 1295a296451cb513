"""``coverage run -m arunner`` sees code run inside coroutine tests and worker threads."""

import json
import os
import subprocess
import sys

from django.test import SimpleTestCase, tag

from tests.e2e import RUN_TIMEOUT, Project

WORK = """
def in_coroutine_test():
    return "coroutine"


def in_to_thread():
    return "to_thread"


def in_executor():
    return "executor"


def in_thread(box):
    box.append("thread")


def in_other_class():
    return "other"


def never_called():
    return "never"
"""

TESTS = """
import asyncio
import threading

from django.test import SimpleTestCase

from e2eapp import work


class Covered(SimpleTestCase):
    async def test_async_paths(self):
        self.assertEqual(work.in_coroutine_test(), "coroutine")
        self.assertEqual(await asyncio.to_thread(work.in_to_thread), "to_thread")
        loop = asyncio.get_running_loop()
        self.assertEqual(await loop.run_in_executor(None, work.in_executor), "executor")

    def test_plain_thread(self):
        box = []
        thread = threading.Thread(target=work.in_thread, args=(box,))
        thread.start()
        thread.join()
        self.assertEqual(box, ["thread"])
"""


def body_line(source: str, function: str) -> int:
    """The line of the first statement of ``function`` in ``source`` (as the project writes it)."""
    lines = source.strip().splitlines()
    return next(i for i, line in enumerate(lines, 1) if f"def {function}(" in line) + 1


#: The README's coverage settings for ``--parallel``.
PARALLEL_CONFIG = """
[tool.coverage.run]
concurrency = ["multiprocessing", "thread"]
parallel = true
sigterm = true
source = ["e2eapp"]
"""

OTHER_CLASS = """
from django.test import SimpleTestCase

from e2eapp import work


class AlsoCovered(SimpleTestCase):
    def test_in_another_worker(self):
        self.assertEqual(work.in_other_class(), "other")
"""


def coverage(project: Project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coverage", *args],
        cwd=project.root,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "e2eproject.settings"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def executed_lines(project: Project) -> list[int]:
    done = coverage(project, "json", "-o", "coverage.json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((project.root / "coverage.json").read_text())
    return next(
        f["executed_lines"] for name, f in data["files"].items() if name.endswith("work.py")
    )


@tag("one_db")
class Coverage(SimpleTestCase):
    def assert_covered(self, executed: list[int]) -> None:
        for function in ("in_coroutine_test", "in_to_thread", "in_executor", "in_thread"):
            self.assertIn(body_line(WORK, function), executed, function)
        self.assertNotIn(body_line(WORK, "never_called"), executed)

    def test_coverage_sees_async_tests_and_worker_threads(self):
        with Project({"test_covered": TESTS}) as project:
            project.write("e2eapp/work.py", WORK)
            run = coverage(project, "run", "--source", "e2eapp", "-m", "arunner")
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            self.assert_covered(executed_lines(project))

    def test_the_readme_settings_follow_parallel_workers(self):
        with Project({"test_covered": TESTS, "test_other": OTHER_CLASS}) as project:
            project.write("e2eapp/work.py", WORK)
            project.write("pyproject.toml", PARALLEL_CONFIG)
            run = coverage(project, "run", "-m", "arunner", "--parallel", "2")
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            self.assertIn("3 passed, 0 failed, 0 skipped", run.stderr)
            workers = len(list(project.root.glob(".coverage.*")))
            self.assertGreaterEqual(workers, 3, "the parent and two workers each write data")
            combined = coverage(project, "combine")
            self.assertEqual(combined.returncode, 0, combined.stdout + combined.stderr)
            executed = executed_lines(project)
            self.assert_covered(executed)
            self.assertIn(body_line(WORK, "in_other_class"), executed)
