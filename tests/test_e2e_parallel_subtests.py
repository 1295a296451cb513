"""A subtest that skips, under ``--parallel``: Django's own suite has one (validators.tests,
``validate_image_file_extension`` without Pillow). The worker told the parent of a test one
past the batch's end, and the parent stopped with an ``IndexError``."""

from django.test import SimpleTestCase, tag

from tests.e2e import PASSING, Project

SKIPPING_SUBTEST = """
from django.test import SimpleTestCase


class Subtests(SimpleTestCase):
    def test_a(self):
        pass

    def test_subtests(self):
        for number in range(3):
            with self.subTest(number=number):
                if number == 1:
                    self.skipTest("needs Pillow")

    def test_z(self):
        pass
"""


@tag("one_db")
class SkippedSubtestInAWorker(SimpleTestCase):
    def test_reported_as_under_discover_runner(self):
        with Project({"test_ok": PASSING, "test_subtests": SKIPPING_SUBTEST}) as project:
            run = project.run("--parallel", "2", "-v", "2")
            settings = "from e2eproject.settings import *  # noqa\n"
            project.write(
                "e2eproject/discover.py",
                settings + "TEST_RUNNER = 'django.test.runner.DiscoverRunner'\n",
            )
            theirs = project.run(
                "--parallel",
                "2",
                "-v",
                "2",
                "--settings",
                "e2eproject.discover",
                command="manage.py",
            )
        self.assertEqual(theirs.code, 0, theirs.output)
        self.assertEqual(run.code, 0, run.output)
        self.assertNotIn("Traceback", run.output)
        for line in (
            "(e2eapp.tests.test_subtests.Subtests.test_subtests) ... skipped 'needs Pillow'",
            "(e2eapp.tests.test_subtests.Subtests.test_z) ... ok",
            "\nRan 4 tests in ",
        ):
            self.assertIn(line, theirs.output)
            self.assertIn(line, run.output)
        self.assertEqual(run.closing_line, "3 passed, 0 failed, 1 skipped")
