"""GitHub Actions annotations: under ``GITHUB_ACTIONS=true`` each failure prints an ``::error``
line at the failing line of the test file, relative to ``GITHUB_WORKSPACE``; serial and
``--parallel 2`` alike; none outside Actions."""

from django.test import SimpleTestCase, tag

from tests.e2e import Project
from tests.reportprojects import MODULES, MORE, OUTCOMES, line_of

CLASS_ERROR = """
from django.test import SimpleTestCase


class Broken(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("no class today")

    def test_never_runs(self):
        pass
"""


def expected(prefix):
    """The annotations of a run of ``MODULES`` + the class error, with test files under
    ``prefix`` (their path relative to the repository root)."""
    outcomes = f"{prefix}e2eapp/tests/test_outcomes.py"
    more = f"{prefix}e2eapp/tests/test_more.py"
    broken = f"{prefix}e2eapp/tests/test_broken.py"
    module = "e2eapp.tests.test_outcomes"

    def at(file, source, text, test, message):
        line = line_of(source, text)
        return f"::error file={file},line={line},title={test}::{message}"

    return sorted(
        [
            at(
                outcomes,
                OUTCOMES,
                'self.assertEqual(1, 2, "one is not two")',
                f"{module}.Outcomes.test_fails",
                "AssertionError: 1 != 2 : one is not two",
            ),
            # the deepest frame in the test's file: the helper it called, in that file
            at(
                outcomes,
                OUTCOMES,
                'raise ValueError(f"bad value',
                f"{module}.Outcomes.test_errors",
                "ValueError: bad value 3, 100%25 sure:",
            ),
            # no traceback: the test's def line
            at(
                outcomes,
                OUTCOMES,
                "def test_unexpected_success",
                f"{module}.Outcomes.test_unexpected_success",
                "unexpected success",
            ),
            # a failing subtest: its description leads the message
            at(
                outcomes,
                OUTCOMES,
                "self.assertLess(i, 2)",
                f"{module}.Outcomes.test_subtests",
                f"test_subtests ({module}.Outcomes.test_subtests) (i=2): "
                "AssertionError: 2 not less than 2",
            ),
            at(
                outcomes,
                OUTCOMES,
                "self.assertEqual(Item.objects.count(), 2)",
                f"{module}.WithDatabase.test_fails_after_writing",
                "AssertionError: 1 != 2",
            ),
            at(
                more,
                MORE,
                'self.assertTrue(False, "two")',
                "e2eapp.tests.test_more.More.test_two",
                "AssertionError: False is not true : two",
            ),
            at(
                broken,
                CLASS_ERROR,
                'raise RuntimeError("no class today")',
                "e2eapp.tests.test_broken.Broken",
                "RuntimeError: no class today",
            ),
        ]
    )


def annotations(output):
    return sorted(line for line in output.splitlines() if line.startswith("::"))


@tag("cross")
class Annotations(SimpleTestCase):
    def test_serial_and_parallel_print_the_same_annotations(self):
        with Project({**MODULES, "test_broken": CLASS_ERROR}) as project:
            for args in ([], ["--parallel", "2"]):
                with self.subTest(args=args):
                    env = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(project.root)}
                    run = project.run(*args, env=env)
                    self.assertEqual(run.code, 1, run.output)
                    self.assertEqual(annotations(run.output), expected(""), run.output)
                    lines = run.output.splitlines()
                    first = next(i for i, x in enumerate(lines) if x.startswith("::error"))
                    ran = next(i for i, x in enumerate(lines) if x.startswith("Ran "))
                    self.assertLess(first, ran)  # with the summary, before "Ran N tests"
                    self.assertEqual(run.closing_line, "5 passed, 7 failed, 1 skipped")
                    self.assertEqual(project.test_dbs_left(), [], run.output)

    def test_paths_are_relative_to_the_workspace(self):
        with Project({**MODULES, "test_broken": CLASS_ERROR}) as project:
            workspace = project.root.parent
            env = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace)}
            run = project.run("--junit-xml", "r.xml", env=env)  # with the JUnit details too
            self.assertEqual(annotations(run.output), expected(f"{project.root.name}/"))
            # no workspace: the current directory is the root
            run = project.run(env={"GITHUB_ACTIONS": "true"}, unset=("GITHUB_WORKSPACE",))
            self.assertEqual(annotations(run.output), expected(""), run.output)

    def test_none_outside_github_actions(self):
        with Project(MODULES) as project:
            for env in ({"GITHUB_ACTIONS": "false"}, {}):
                run = project.run("--parallel", "2", env=env, unset=("GITHUB_ACTIONS",) * (not env))
                self.assertEqual(run.code, 1, run.output)
                self.assertNotIn("::error", run.output)
