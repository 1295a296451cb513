"""``--parallel`` shows each failure's traceback whether or not tblib is installed."""

import os

from django.test import SimpleTestCase, tag

from tests.e2e import Project

FAILING = """
import threading

from django.test import TestCase

from e2eapp.models import Item


def helper():
    raise ValueError("raised in helper")


class TwoArguments(Exception):
    def __init__(self, first, second):
        super().__init__(f"{first} and {second}")


class Fails(TestCase):
    def test_failure(self):
        Item.objects.create(name="x")
        self.assertEqual(Item.objects.count(), 2)

    def test_error(self):
        helper()

    def test_subtests(self):
        for number in (1, 2):
            with self.subTest(number=number):
                self.assertEqual(number, 3)

    def test_unsendable_exception(self):
        raise TwoArguments("one", threading.Lock())


class Passes(TestCase):
    def test_passes(self):
        pass
"""

#: A ``tblib`` that cannot be imported, first on the import path: a machine without it.
NO_TBLIB = 'raise ImportError("tblib is not installed here")\n'


@tag("one_db")
class ParallelTracebacks(SimpleTestCase):
    def test_with_and_without_tblib_under_both_commands(self):
        with Project({"test_failing": FAILING}) as project:
            project.write("hidden/tblib/__init__.py", NO_TBLIB)
            hidden = str(project.root / "hidden") + os.pathsep + os.environ.get("PYTHONPATH", "")
            for tblib, env in (("without", {"PYTHONPATH": hidden}), ("with", {})):
                for command in ("arunner", "manage"):
                    with self.subTest(tblib=tblib, command=command):
                        run = project.run("--parallel", "2", command=command, env=env)
                        self.assertEqual(run.code, 1, run.output)
                        self.assertEqual(run.closing_line, "1 passed, 4 failed, 0 skipped")
                        self.assertNotIn("cannot pickle", run.output)
                        out = run.output
                        self.assertIn("in test_failure\n    self.assertEqual(Item.objects", out)
                        self.assertIn("AssertionError: 1 != 2", out)
                        self.assertIn('in helper\n    raise ValueError("raised in helper")', out)
                        self.assertIn("AssertionError: 2 != 3", out)
                        self.assertIn("(number=2)", out)
                        self.assertIn('raise TwoArguments("one", threading.Lock())', out)
                        self.assertIn("TwoArguments: one and <unlocked _thread.lock", out)
                        self.assertNotIn("unittest/case.py", out)  # as unittest shows them
