"""The ``arunner`` command: settings discovery, import path, runner class, options, config."""

import subprocess
import sys
from pathlib import Path

from django.test import SimpleTestCase, tag

from tests.databases import skip_missing
from tests.e2e import PASSING, RUN_TIMEOUT, Project

FAILING = """
from django.test import SimpleTestCase


class Failing(SimpleTestCase):
    def test_fails(self):
        self.fail("as planned")
"""

#: A runner subclass with an option of its own; its test prints what the runner received.
CUSTOM_RUNNER = """
from arunner import AsyncDiscoverRunner

SEEN = {}


class CustomRunner(AsyncDiscoverRunner):
    @classmethod
    def add_arguments(cls, parser):
        super().add_arguments(parser)
        group = parser.add_argument_group("custom")
        group.add_argument("--flavour", default="plain", help="A flavour.")

    def __init__(self, *args, flavour="plain", **kwargs):
        super().__init__(*args, **kwargs)
        SEEN["flavour"] = flavour
        SEEN["parallel"] = self.parallel
        SEEN["executor"] = self.executor
"""

PRINTS_SEEN = """
from django.test import SimpleTestCase

from e2eproject.runners import SEEN


class PrintsSeen(SimpleTestCase):
    def test_print(self):
        print("SEEN", sorted(SEEN.items()))
"""


def other_settings(project: Project, name: str, runner: str | None = None) -> None:
    """A second settings module, ``e2eproject.<name>``, that prints its name when imported."""
    extra = f"TEST_RUNNER = {runner!r}\n" if runner else ""
    project.write(
        f"e2eproject/{name}.py",
        f"from e2eproject.settings import *  # noqa\nprint('LOADED {name}')\n{extra}",
    )


@tag("one_env", "one_db")
class SettingsDiscovery(SimpleTestCase):
    def test_order_command_line_env_pyproject_manage_py(self):
        with Project({"test_ok": PASSING}) as project:
            for name in ("from_cli", "from_env", "from_toml"):
                other_settings(project, name)
            project.write("pyproject.toml", '[tool.arunner]\nsettings = "e2eproject.from_toml"\n')
            env = {"DJANGO_SETTINGS_MODULE": "e2eproject.from_env"}
            run = project.run("--settings", "e2eproject.from_cli", env=env)
            self.assertIn("LOADED from_cli", run.output)
            run = project.run(env=env)
            self.assertIn("LOADED from_env", run.output)
            run = project.run(unset=("DJANGO_SETTINGS_MODULE",))
            self.assertIn("LOADED from_toml", run.output)
            (project.root / "pyproject.toml").unlink()
            run = project.run(unset=("DJANGO_SETTINGS_MODULE",))
            self.assertEqual(run.code, 0, run.output)  # manage.py names e2eproject.settings
            self.assertEqual(run.closing_line, "1 passed, 0 failed, 0 skipped")

    def test_no_settings_anywhere_is_a_configuration_error(self):
        with Project({"test_ok": PASSING}) as project:
            (project.root / "manage.py").unlink()
            for informs in ("--help", "--version"):  # these work without settings
                self.assertEqual(project.run(informs, unset=("DJANGO_SETTINGS_MODULE",)).code, 0)
            run = project.run(unset=("DJANGO_SETTINGS_MODULE",))
        self.assertEqual(run.code, 2, run.output)
        self.assertIn("arunner: error: no settings module found", run.output)
        self.assertIn("hint: pass --settings", run.output)
        self.assertNotIn("Traceback", run.output)

    def test_bad_settings_module_names_it_and_its_source(self):
        with Project({"test_ok": PASSING}) as project:
            run = project.run("--settings", "nowhere.settings")
            self.assertEqual(run.code, 2, run.output)
            self.assertIn("'nowhere.settings' (from --settings) cannot be imported", run.output)
            self.assertNotIn("Traceback", run.output)
            project.write("e2eproject/broken.py", "DEBUG = (\n")
            run = project.run("--settings", "e2eproject.broken")
            self.assertEqual(run.code, 2, run.output)
            self.assertRegex(run.output, r"e2eproject/broken\.py:\d+:\d+: SyntaxError")
            run = project.run("--settings", "e2eproject.broken", "--traceback")
            self.assertIn("Traceback", run.output)


@tag("one_env", "one_db")
class ImportPath(SimpleTestCase):
    def test_current_directory_and_pythonpath(self):
        with Project({"test_ok": PASSING}) as project:
            project.write("elsewhere/extra_settings.py", "from e2eproject.settings import *\n")
            run = project.run("--settings", "extra_settings")
            self.assertEqual(run.code, 2, run.output)
            run = project.run("--settings", "extra_settings", "--pythonpath", "elsewhere")
            self.assertEqual(run.code, 0, run.output)

    def test_console_script_puts_the_current_directory_on_the_path(self):
        script = Path(sys.executable).with_name("arunner")
        if not script.exists():
            skip_missing(self, "the arunner console script is not installed next to Python")
        with Project({"test_ok": PASSING}) as project:
            done = subprocess.run(
                [str(script), "--settings", "e2eproject.settings"],
                cwd=project.root,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                check=False,
            )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("1 passed, 0 failed, 0 skipped", done.stderr)


@tag("one_env", "one_db")
class RunnerClass(SimpleTestCase):
    def test_subclass_runs_with_its_own_options_from_cli_and_config(self):
        with Project({"test_seen": PRINTS_SEEN}, runner="e2eproject.runners.CustomRunner") as p:
            p.write("e2eproject/runners.py", CUSTOM_RUNNER)
            run = p.run("--flavour", "sour", "--failfast")
            self.assertEqual(run.code, 0, run.output)
            self.assertIn("('flavour', 'sour')", run.output)
            p.write("pyproject.toml", '[tool.arunner]\nflavour = "sweet"\nexecutor = "hop"\n')
            run = p.run()
            self.assertIn("('flavour', 'sweet')", run.output)
            self.assertIn("('executor', 'hop')", run.output)
            run = p.run("--flavour", "salty", "--executor", "inline")  # command line wins
            self.assertIn("('flavour', 'salty')", run.output)
            self.assertIn("('executor', 'inline')", run.output)
            run = p.run("--help")
            self.assertEqual(run.code, 0, run.output)
            self.assertIn("custom:", run.output)
            self.assertIn("--flavour", run.output)
            self.assertIn("[default: sweet]", run.output)  # the config file's default

    def test_other_runner_falls_back_to_ours_and_says_so_once(self):
        runner = "django.test.runner.DiscoverRunner"
        with Project({"test_ok": PASSING}, runner=runner) as project:
            run = project.run()
        self.assertEqual(run.code, 0, run.output)
        self.assertEqual(run.output.count("is not an AsyncDiscoverRunner subclass"), 1)
        self.assertEqual(run.closing_line, "1 passed, 0 failed, 0 skipped")


@tag("one_env", "one_db")
class Options(SimpleTestCase):
    def test_help_groups_options_and_shows_defaults(self):
        with Project({"test_ok": PASSING}) as project:
            run = project.run("--help")
        self.assertEqual(run.code, 0, run.output)
        for section in (
            "Command:",
            "Django test options:",
            "arunner: event loop:",
            "arunner: reports:",
            "arunner: reruns:",
        ):
            self.assertIn(section, run.output)
        for flag in (
            "--parallel",
            "--keepdb",
            "--junit-xml",
            "--durations",
            "--lf",
            "--ff",
            "--settings",
            "--pythonpath",
            "--executor",
            "-k ",
        ):
            self.assertIn(flag, run.output)
        self.assertIn("[default: test*.py]", run.output)

    def test_environment_variable_and_list_options(self):
        with Project({"test_ok": PASSING, "test_bad": FAILING}) as project:
            run = project.run("-k", "test_passes", env={"ARUNNER_VERBOSITY": "2"})
        self.assertEqual(run.code, 0, run.output)
        self.assertIn("test_passes (", run.output)  # a line per test: -v 2 from the env
        self.assertEqual(run.closing_line, "1 passed, 0 failed, 0 skipped")

    def test_unknown_option_and_bad_value_are_usage_errors(self):
        with Project({"test_ok": PASSING}) as project:
            run = project.run("--no-such-option")
            self.assertEqual(run.code, 2, run.output)
            self.assertIn("No such option", run.output)
            run = project.run("--executor", "teleport")
            self.assertEqual(run.code, 2, run.output)

    def test_config_unknown_key_and_bad_value(self):
        with Project({"test_ok": PASSING}) as project:
            project.write("pyproject.toml", '[tool.arunner]\njunit-xml = "r.xml"\n')
            run = project.run()
            self.assertEqual(run.code, 2, run.output)
            self.assertIn("unknown key 'junit-xml'", run.output)
            self.assertIn("did you mean 'junit_xml'?", run.output)
            project.write("pyproject.toml", '[tool.arunner]\nkeepdb = "yes please"\n')
            run = project.run()
            self.assertEqual(run.code, 2, run.output)
            self.assertIn("keepdb", run.output)

    def test_config_sets_defaults_for_django_options(self):
        with Project({"test_ok": PASSING, "test_bad": FAILING}) as project:
            project.write(
                "pyproject.toml",
                '[tool.arunner]\nk = ["test_passes"]\nverbosity = 2\nno_faulthandler = true\n',
            )
            run = project.run()
            self.assertEqual(run.code, 0, run.output)
            self.assertIn("test_passes (", run.output)
            run = project.run("-k", "test_fails")  # the command line replaces the list
            self.assertEqual(run.code, 1, run.output)

    def test_exit_codes_pass_and_fail(self):
        with Project({"test_ok": PASSING}) as project:
            self.assertEqual(project.run().code, 0)
        with Project({"test_bad": FAILING}) as project:
            run = project.run()
        self.assertEqual(run.code, 1, run.output)
        self.assertEqual(run.closing_line, "0 passed, 1 failed, 0 skipped")

    def test_a_report_that_cannot_be_written_is_a_configuration_error(self):
        with Project({"test_ok": PASSING}) as project:
            project.write("taken", "a file, not a directory")
            run = project.run("--junit-xml", "taken/report.xml")
        self.assertEqual(run.code, 2, run.output)
        self.assertIn(
            "arunner: error: --junit-xml taken/report.xml: taken is a file, not a directory",
            run.output,
        )

    def test_manage_py_test_takes_the_new_options(self):
        with Project({"test_ok": PASSING}) as project:
            run = project.run(
                "--junit-xml", "out/report.xml", "--durations", "1", command="manage.py"
            )
            self.assertEqual(run.code, 0, run.output)
            self.assertTrue((project.root / "out" / "report.xml").is_file())
            self.assertIn("Slowest test durations", run.output)
