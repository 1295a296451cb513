"""A test fails once, whatever arunner finds in it: one letter among the dots, one block in
the failure details, one element in the JUnit file, and a closing line that adds up to
``Ran N``, in every mode."""

import re
from xml.etree import ElementTree

from django.test import SimpleTestCase, tag

from tests.e2e import Project

#: One test per kind of problem arunner attaches to a test, and one that also fails on its own.
PROBLEMS = """
import asyncio

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import TestCase

import arunner
from e2eapp.models import Marker


def write():
    Marker.objects.create(label="escaped")


def write_quietly():
    try:
        write()
    except Exception:
        pass


async def forgotten():
    pass


class Refusals(TestCase):
    async def test_refusal(self):
        await asyncio.to_thread(write)

    async def test_refusal_swallowed(self):
        await asyncio.to_thread(write_quietly)

    def test_leaked_write(self):
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("INSERT INTO e2eapp_marker (label) VALUES ('leaked')")
        finally:
            BaseDatabaseWrapper.close(other)

    def test_passes(self):
        pass


class Leftovers(TestCase):
    async def test_leftover_task(self):
        asyncio.create_task(asyncio.sleep(60))

    async def test_never_awaited(self):
        forgotten()

    @arunner.timeout(1)
    async def test_timeout(self):
        await asyncio.sleep(60)

    async def test_fails_and_leaves_a_task(self):
        asyncio.create_task(asyncio.sleep(60))
        self.fail("its own failure")

    async def test_passes(self):
        pass
"""

#: The failing tests (class.method) and the heading of their one block.
FAILING = {
    "Refusals.test_refusal": "ERROR",
    "Refusals.test_refusal_swallowed": "ERROR",
    "Refusals.test_leaked_write": "ERROR",
    "Leftovers.test_leftover_task": "ERROR",
    "Leftovers.test_never_awaited": "FAIL",
    "Leftovers.test_timeout": "ERROR",
    "Leftovers.test_fails_and_leaves_a_task": "FAIL",
}
#: Route mode lets the worker threads' queries into the test.
ROUTED = {name: heading for name, heading in FAILING.items() if "refusal" not in name}

_BLOCK = re.compile(r"^(ERROR|FAIL): (\w+) \(e2eapp\.tests\.test_problems\.(\w+)\.\w+\)$", re.M)
_RULE = "=" * 70


def dots(output):
    """The status letters unittest printed, without the warnings printed between them."""
    region = output.split("System check identified", 1)[1].split(_RULE, 1)[0]
    region = region.split("\n", 1)[1]
    return "".join(re.match(r"[.EFsxu]*", line).group() for line in region.splitlines())


def blocks(output):
    """(heading, class.method) of each block in the failure details."""
    return [(heading, f"{cls}.{name}") for heading, name, cls in _BLOCK.findall(output)]


def ran(output):
    return int(re.search(r"^Ran (\d+) tests? in ", output, re.M).group(1))


def junit_problems(path):
    """class.method -> the tags of its failure and error elements."""
    cases = ElementTree.parse(path).getroot().iter("testcase")
    return {
        f"{case.get('classname').rsplit('.', 1)[1]}.{case.get('name')}": [
            child for child in case if child.tag in ("error", "failure")
        ]
        for case in cases
    }


@tag("one_db")
class EachTestFailsOnce(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = Project({"test_problems": PROBLEMS})

    @classmethod
    def tearDownClass(cls):
        cls.project.cleanup()
        super().tearDownClass()

    def run_mode(self, *args):
        run = self.project.run("--strict", "--strict-tasks", "--junit-xml", "j.xml", *args)
        self.assertEqual(run.code, 1, run.output)
        return run

    def check(self, run, failing, total, mode):
        out = run.output
        self.assertEqual(ran(out), total, (mode, out))
        passed = total - len(failing)
        letters = "." * passed + "".join(heading[0] for heading in failing.values())
        self.assertEqual(sorted(dots(out)), sorted(letters), (mode, out))
        self.assertEqual(sorted(blocks(out)), sorted((h, n) for n, h in failing.items()), out)
        self.assertEqual(run.closing_line, f"{passed} passed, {len(failing)} failed, 0 skipped")
        problems = junit_problems(self.project.root / "j.xml")
        self.assertEqual(len(problems), total, mode)
        tags = {"ERROR": "error", "FAIL": "failure"}
        for name, elements in problems.items():
            expected = [tags[failing[name]]] if name in failing else []
            self.assertEqual([e.tag for e in elements], expected, (mode, name))
        merged = problems["Leftovers.test_fails_and_leaves_a_task"][0].text
        for text in (merged, out.split("FAIL: test_fails_and_leaves_a_task", 1)[1]):
            self.assertIn("AssertionError: its own failure", text)
            self.assertIn("At the end of the test, arunner also found:", text)
            self.assertIn("LeftoverError", text)

    def test_serial_then_last_failed(self):
        run = self.run_mode("--db-threads", "strict")
        self.check(run, FAILING, 9, "strict")
        run = self.run_mode("--lf")
        self.check(run, FAILING, len(FAILING), "--lf")

    def test_parallel(self):
        run = self.run_mode("--parallel", "2")
        self.assertIn("Cloning test database", run.output)
        self.check(run, FAILING, 9, "--parallel 2")

    def test_route(self):
        run = self.run_mode("--db-threads", "route")
        self.check(run, ROUTED, 9, "route")
