"""What ``--parallel`` workers tell the parent: failing subtests, skips, class-level skips.

(Stopping a ``--parallel`` run is part of the stop matrix, ``test_e2e_stops``.)
"""

from django.test import SimpleTestCase, tag

from tests.e2e import Project

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


@tag("one_db")
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
