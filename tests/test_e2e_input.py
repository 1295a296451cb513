"""Bad input stops the run before any database exists, with one line and a hint, exit 2."""

from django.test import SimpleTestCase, tag

from tests.e2e import Project

USES_DB = """
from django.test import TestCase

from e2eapp.models import Item


class UsesDb(TestCase):
    def test_passes(self):
        Item.objects.create(name="x")

    def test_fails(self):
        self.fail("recorded in lastfailed.json")
"""

#: (arguments, environment, what the error line says), under both commands.
BAD_INPUT = (
    (["--parallel", "-1"], {}, "--parallel: -1 is not a valid value (must be at least 1)"),
    (["--timeout", "nan"], {}, "--timeout: 'nan' is not a valid value (must be a finite"),
    (["--timeout", "inf"], {}, "--timeout: 'inf' is not a valid value (must be a finite"),
    (["--timeout", "-5"], {}, "--timeout: '-5' is not a valid value (must not be negative)"),
    (["--timeout", "abc"], {}, "--timeout: 'abc' is not a valid value"),
    (["--durations", "-3"], {}, "--durations: -3 is not a valid value (must not be negative)"),
    (["--junit-xml", "manage.py/r.xml"], {}, "--junit-xml manage.py/r.xml: manage.py is a file, "),
    (["--durations-file", "manage.py/d.json"], {}, "--durations-file manage.py/d.json: "),
    (["-k", "nothing_matches"], {}, "-k '*nothing_matches*' selects no test"),
    (["--tag", "no_such_tag"], {}, "--tag 'no_such_tag' selects no test"),
    ([], {"ARUNNER_TIMEOUT": "-1"}, "ARUNNER_TIMEOUT: '-1' is not a valid value"),
    ([], {"ARUNNER_EXECUTOR": "warp"}, "ARUNNER_EXECUTOR: 'warp' is not one of inline, hop"),
)

#: Only the ``arunner`` command reads these (click parses them; manage.py has argparse).
BAD_INPUT_ARUNNER = (
    (["--parallel=-1"], {}, "--parallel: -1 is not a valid value (must be at least 1)"),
    (["--parallel", "0"], {}, "--parallel: 0 is not a valid value (must be at least 1)"),
    ([], {"ARUNNER_PARALLEL": "-2"}, "ARUNNER_PARALLEL: -2 is not a valid value"),
    ([], {"ARUNNER_KEEPDB": "maybe"}, "ARUNNER_KEEPDB: 'maybe' is not a valid boolean"),
)


@tag("one_env", "one_db")
class BadInput(SimpleTestCase):
    def test_stops_before_any_database_with_one_line_and_a_hint(self):
        cases = [(c, "arunner") for c in BAD_INPUT + BAD_INPUT_ARUNNER]
        cases += [(c, "manage") for c in BAD_INPUT]
        with Project({"test_db": USES_DB}) as project:
            for (args, env, text), command in cases:
                with self.subTest(command=command, args=args, env=env):
                    keep = [] if "ARUNNER_KEEPDB" in env else ["--keepdb"]  # leaves a db made
                    run = project.run(*keep, *args, command=command, env=env)
                    self.assertEqual(run.code, 2, run.output)
                    prefix = "arunner: error: " if command == "arunner" else "Error: "
                    self.assertIn(prefix + text, run.output)
                    hint = run.output.split("  hint: ", 1)[1]
                    self.assertNotIn("--traceback", hint)
                    self.assertNotRegex(hint, r"(: |, ),")  # no empty entry in a list
                    self.assertNotIn("Traceback", run.output)
                    self.assertNotIn("test database", run.output)
                    self.assertEqual(project.test_dbs_left(), [])
            self.assertFalse((project.root / "manage.py" / "r.xml").exists())

    def test_a_missing_report_directory_is_created_and_said_at_v2(self):
        with Project({"test_db": USES_DB}) as project:
            run = project.run("-v", "2", "--junit-xml", "out/deep/r.xml")
            self.assertIn("arunner: created the directory out for --junit-xml.", run.output)
            self.assertTrue((project.root / "out" / "deep" / "r.xml").is_file())
            run = project.run("--durations-file", "times/d.json", command="manage")
            self.assertNotIn("created the directory", run.output)  # -v 1: silent
            self.assertTrue((project.root / "times" / "d.json").is_file())
            self.assertEqual(run.closing_line, "1 passed, 1 failed, 0 skipped")
