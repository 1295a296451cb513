"""Test modules for the report tests (JUnit families, merging, annotations): every outcome a
report tells apart, in two modules, so a suite can be split by label into two shards.

Each module has a ``SimpleTestCase`` and a ``TestCase`` (a database test), so ``--parallel 2``
runs them in two workers and a shard needs its test database.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.e2e import RUN_TIMEOUT, Run

#: Every outcome, and output on both streams of a failing test.
OUTCOMES = """
import sys
import unittest

from django.test import SimpleTestCase, TestCase

from e2eapp.models import Item


def helper(value):
    raise ValueError(f"bad value {value}, 100% sure:\\nsecond line")


class Outcomes(SimpleTestCase):
    def test_passes(self):
        print("a passing test's output")

    def test_fails(self):
        print("printed <&> ]]>")
        sys.stderr.write("to stderr\\n")
        self.assertEqual(1, 2, "one is not two")

    def test_errors(self):
        helper(3)

    @unittest.skip("not today")
    def test_skipped(self):
        pass

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.fail("known")

    @unittest.expectedFailure
    def test_unexpected_success(self):
        pass

    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)


class WithDatabase(TestCase):
    def test_writes(self):
        Item.objects.create(name="x")
        self.assertEqual(Item.objects.count(), 1)

    def test_fails_after_writing(self):
        Item.objects.create(name="y")
        self.assertEqual(Item.objects.count(), 2)
"""

#: The second module: passing and failing tests of its own.
MORE = """
from django.test import SimpleTestCase, TestCase

from e2eapp.models import Item


class More(SimpleTestCase):
    def test_one(self):
        pass

    def test_two(self):
        self.assertTrue(False, "two")


class MoreWithDatabase(TestCase):
    def test_reads(self):
        self.assertEqual(Item.objects.count(), 0)
"""

MODULES = {"test_outcomes": OUTCOMES, "test_more": MORE}

#: What a run of ``MODULES`` counts, as JUnit counts it (an unexpected success is a failure,
#: an expected failure skipped; a test with failing subtests is one failure).
COUNTS = {"tests": 12, "failures": 5, "errors": 1, "skipped": 2}

#: The schema xunit2 reports must validate against (its header says where it comes from).
SCHEMA = Path(__file__).with_name("junit-10.xsd")


def line_of(source: str, text: str) -> int:
    """The 1-based line of ``source`` (as the project writes it: dedented, stripped) that
    holds ``text``."""
    lines = source.strip().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def counts(path: Path) -> dict[str, int]:
    """The counts of a JUnit file's (one) ``<testsuite>``."""
    suite = ET.parse(path).getroot().find("testsuite")
    return {key: int(suite.get(key)) for key in COUNTS}


def case_ids(path: Path) -> list[tuple[str, str]]:
    return sorted((c.get("classname"), c.get("name")) for c in ET.parse(path).iter("testcase"))


def merge(project, *args):
    """``arunner-merge ARGS`` in the project (as ``python -m``: the console script of the
    environment may belong to another checkout)."""
    done = subprocess.run(
        [sys.executable, "-m", "arunner.cli.merge", *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return Run(done.returncode, done.stdout + done.stderr), done.stderr
