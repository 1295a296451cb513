"""``--continue-on-collection-errors``: DiscoverRunner's way with what cannot be loaded.

By default arunner stops before any database is created (tests/test_cli_errors.py). With the
option (flag, ``ARUNNER_CONTINUE_ON_COLLECTION_ERRORS``, ``[tool.arunner]``) a module that
does not import is one failing test, a label without tests runs none, and the rest runs, as
under DiscoverRunner, through ``arunner`` and ``manage.py test`` alike.
"""

import os
import re

from django.test import SimpleTestCase, tag

from tests.e2e import PASSING, Project

FLAG = "--continue-on-collection-errors"
ENV = {"ARUNNER_CONTINUE_ON_COLLECTION_ERRORS": "1"}

#: A test that needs the test database: it exists, so the run went past collection.
WRITES = """
from django.test import TestCase

from e2eapp.models import Item


class Writes(TestCase):
    def test_writes(self):
        Item.objects.create(name="x")
        self.assertEqual(Item.objects.count(), 1)
"""

#: A module that needs a name its Python lacks, like Django's mail.test_backends on 3.12.1.
NEWER_PYTHON = "from email.errors import NoSuchErrorInThisPython\n"

IMPORT_ERROR = (
    "ERROR: e2eapp.tests.test_newer (unittest.loader._FailedTest.e2eapp.tests.test_newer)"
)
NEWER_FILE = os.path.join("e2eapp", "tests", "test_newer.py")
NOTE = (
    f"arunner: collection error (running the rest): {NEWER_FILE}:1: "
    "cannot import test module 'e2eapp.tests.test_newer': "
    "ImportError: cannot import name 'NoSuchErrorInThisPython'"
)


def errors(output: str) -> list[str]:
    return sorted(re.findall(r"^(?:ERROR|FAIL): .*$", output, re.MULTILINE))


@tag("one_env", "one_db")
class ContinueOnCollectionErrors(SimpleTestCase):
    def project(self) -> Project:
        project = Project({"test_ok": PASSING, "test_writes": WRITES, "test_newer": NEWER_PYTHON})
        self.addCleanup(project.cleanup)
        project.write("e2eapp/empty/__init__.py", "")
        return project

    def assert_rest_ran(self, run, ran: int = 3, failed: int = 1) -> None:
        self.assertEqual(run.code, 1 if failed else 0, run.output)
        self.assertRegex(run.output, rf"\nRan {ran} tests? in ")
        self.assertEqual(run.closing_line, f"{ran - failed} passed, {failed} failed, 0 skipped")

    def test_a_module_that_does_not_import_is_one_failing_test(self):
        project = self.project()
        runs = {
            "arunner flag": project.run(FLAG),
            "arunner env --parallel 2": project.run("--parallel", "2", env=ENV),
            "manage.py flag": project.run(FLAG, command="manage.py"),
            "manage.py env --parallel 2": project.run(
                "--parallel", "2", command="manage.py", env=ENV
            ),
        }
        for name, run in runs.items():
            with self.subTest(name):
                self.assert_rest_ran(run)
                self.assertEqual(errors(run.output), [IMPORT_ERROR])
                self.assertIn(
                    "ImportError: cannot import name 'NoSuchErrorInThisPython'", run.output
                )
                self.assertEqual(run.output.count(NOTE), 1, run.output)
        self.assertEqual(project.test_dbs_left(), [])

    def test_same_failures_and_counts_as_discover_runner(self):
        project = self.project()
        labels = ("e2eapp.tests", "e2eapp.empty", "e2eapp.tests.test_ok.Missing")
        ours = project.run(FLAG, *labels, command="manage.py")
        settings = "from e2eproject.settings import *  # noqa\n"
        project.write(
            "e2eproject/discover.py",
            settings + "TEST_RUNNER = 'django.test.runner.DiscoverRunner'\n",
        )
        theirs = project.run(*labels, "--settings", "e2eproject.discover", command="manage.py")
        self.assertEqual(theirs.code, 1, theirs.output)
        self.assertEqual(ours.code, theirs.code, ours.output)
        self.assertEqual(errors(ours.output), errors(theirs.output))
        self.assertEqual(len(errors(ours.output)), 2)  # the module and the missing class
        ran = re.search(r"^Ran (\d+) tests", theirs.output, re.MULTILINE).group(1)
        self.assertIn(f"\nRan {ran} tests in ", ours.output)

    def test_a_label_without_tests_runs_none_and_the_run_goes_on(self):
        project = self.project()
        labels = ("e2eapp.empty", "e2eapp.tests.test_ok", "e2eapp.tests.test_writes")
        project.write("pyproject.toml", "[tool.arunner]\ncontinue_on_collection_errors = true\n")
        runs = {
            "arunner [tool.arunner]": project.run(*labels),
            "manage.py env": project.run(*labels, command="manage.py", env=ENV),
        }
        for name, run in runs.items():
            with self.subTest(name):
                self.assert_rest_ran(run, ran=2, failed=0)
                self.assertIn(
                    "arunner: collection error (running the rest): label 'e2eapp.empty' "
                    "matches no tests",
                    run.output,
                )

    def test_off_by_default_and_a_bad_value_names_its_source(self):
        project = self.project()
        refused = project.run("e2eapp.empty", "e2eapp.tests.test_ok", command="manage.py")
        self.assertEqual(refused.code, 2, refused.output)
        self.assertIn("label 'e2eapp.empty' matches no tests", refused.output)
        self.assertNotIn("passed,", refused.output)
        off = project.run(env={"ARUNNER_CONTINUE_ON_COLLECTION_ERRORS": "0"})
        self.assertEqual(off.code, 2, off.output)
        self.assertIn(f"arunner: error: {NEWER_FILE}:1: ", off.output)
        bad = {"ARUNNER_CONTINUE_ON_COLLECTION_ERRORS": "maybe"}
        run = project.run(env=bad)
        self.assertEqual(run.code, 2, run.output)
        self.assertIn("ARUNNER_CONTINUE_ON_COLLECTION_ERRORS: 'maybe' is not a valid", run.output)
        run = project.run(command="manage.py", env=bad)
        self.assertEqual(run.code, 2, run.output)
        self.assertIn("ARUNNER_CONTINUE_ON_COLLECTION_ERRORS: 'maybe' is not a valid", run.output)

    def test_last_failed_reruns_the_module_that_did_not_import(self):
        project = self.project()
        self.assertEqual(project.run(FLAG).code, 1)
        again = project.run(FLAG, "--lf")
        self.assert_rest_ran(again, ran=1, failed=1)
        self.assertIn("ImportError: cannot import name 'NoSuchErrorInThisPython'", again.output)
        project.write("e2eapp/tests/test_newer.py", PASSING)
        fixed = project.run("--lf", "-v", "2")
        self.assert_rest_ran(fixed, ran=1, failed=0)
        self.assertIn("(e2eapp.tests.test_newer.Passing.test_passes) ... ok", fixed.output)
