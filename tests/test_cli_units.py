"""Unit tests of the command's parts: option generation, config, XML, colour, records."""

import argparse
import io
import json
import shutil
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

import click
from django.test import SimpleTestCase

from arunner.cli import clickoptions, projectconfig
from arunner.core.errors import ConfigurationError
from arunner.report import closingline, junitxml, lastfailed, model, terminal
from arunner.report.model import Problem, TestReport
from arunner.runsetup import collection


def parse_types(value: str) -> int:
    if value == "bad":
        raise argparse.ArgumentTypeError("not a number")
    return int(value)


def add_everything(parser):
    parser.add_argument("--plain")
    parser.add_argument("--on", action="store_true")
    parser.add_argument("--no-thing", action="store_false", dest="thing")
    parser.add_argument("--const", action="store_const", const="C", default="D")
    parser.add_argument("-t", "--tag", action="append", dest="tags")
    parser.add_argument("--loud", action="count", default=0)
    parser.add_argument("--maybe", nargs="?", const="auto", default=0, type=parse_types_or_auto)
    parser.add_argument("--seed", nargs="?", default=False, type=int)
    group = parser.add_argument_group("extra")
    group.add_argument("--colour", choices=["red", "blue"], default="red")
    group.add_argument("--switch", action=argparse.BooleanOptionalAction, default=None)
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument("--num", type=parse_types, help="Default %(default)s.")


def parse_types_or_auto(value: str):
    return value if value == "auto" else parse_types(value)


def command_for(add_arguments) -> click.Command:
    recorded = clickoptions.record_arguments(add_arguments)
    params = [clickoptions.to_click(r, r.group or "main") for r in recorded]
    return click.Command("x", params=params, callback=lambda **kw: kw)


class GeneratedOptions(SimpleTestCase):
    def parse(self, *args):
        return command_for(add_everything).main(list(args), standalone_mode=False)

    def test_defaults_match_argparse(self):
        values = self.parse()
        expected = vars(argparse_parser().parse_args([]))
        self.assertEqual(
            {k: (v or None) if k == "tags" else v for k, v in values.items()}, expected
        )

    def test_values_match_argparse(self):
        argv = [
            "--plain",
            "p",
            "--on",
            "--no-thing",
            "--const",
            "-t",
            "a",
            "--tag",
            "b",
            "--loud",
            "--loud",
            "--maybe",
            "--seed",
            "--colour",
            "blue",
            "--no-switch",
            "--num",
            "7",
        ]
        values = self.parse(*argv)
        expected = vars(argparse_parser().parse_args(argv))
        values["tags"] = list(values["tags"])
        self.assertEqual(values, expected)
        self.assertEqual(self.parse("--maybe", "3")["maybe"], 3)
        self.assertEqual(self.parse("--seed", "5")["seed"], 5)

    def test_bad_values_are_usage_errors(self):
        with self.assertRaises(click.BadParameter):
            self.parse("--num", "bad")
        with self.assertRaises(click.BadParameter):
            self.parse("--colour", "green")

    def test_groups_help_and_config_keys(self):
        recorded = clickoptions.record_arguments(add_everything)
        groups = {r.action.dest: r.group for r in recorded}
        self.assertIsNone(groups["plain"])
        self.assertEqual(groups["colour"], "extra")
        self.assertEqual(groups["num"], "extra")  # nested mutually exclusive group
        options = {o.name: o for o in (clickoptions.to_click(r, "g") for r in recorded)}
        self.assertEqual(options["thing"].config_key, "no_thing")
        self.assertEqual(options["tags"].config_key, "tag")
        self.assertEqual(options["num"].help, "Default None.")
        self.assertIs(options["thing"].from_config(True), False)
        self.assertIs(options["thing"].from_config(False), True)
        self.assertEqual(options["maybe"].from_config(True), "auto")
        self.assertEqual(options["tags"].from_config("one"), ["one"])
        with self.assertRaises(ValueError):
            options["on"].from_config("yes")

    def test_unsupported_argparse_features_are_named(self):
        def add(parser):
            parser.add_argument("--many", nargs="+")

        with self.assertRaisesMessage(clickoptions.UnsupportedOption, "--many"):
            command_for(add)

    def test_runner_options_sections(self):
        from arunner import AsyncDiscoverRunner

        options = {o.name: o.group for o in clickoptions.runner_options(AsyncDiscoverRunner)}
        self.assertEqual(options["keepdb"], clickoptions.DJANGO_GROUP)
        self.assertEqual(options["junit_xml"], "arunner: reports")
        self.assertEqual(options["last_failed"], "arunner: reruns")
        self.assertIn("durations", options)  # on Python 3.11 too


def argparse_parser():
    parser = argparse.ArgumentParser()
    add_everything(parser)
    return parser


class FileConfig(SimpleTestCase):
    def setUp(self):
        self.directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.directory)

    def test_reads_the_table_and_refuses_unknown_keys(self):
        (self.directory / "pyproject.toml").write_text(
            '[tool.arunner]\nparallel = 2\nkeepdb = true\ntag = ["a"]\n'
        )
        loaded = projectconfig.load(self.directory)
        params = command_for(
            lambda p: (
                p.add_argument("--parallel", type=int),
                p.add_argument("--keepdb", action="store_true"),
                p.add_argument("--tag", action="append", dest="tags"),
            )
        ).params
        self.assertEqual(
            projectconfig.default_map(loaded, params),
            {"parallel": 2, "keepdb": True, "tags": ["a"]},
        )
        loaded = projectconfig.FileConfig(loaded.path, {"paralel": 2})
        with self.assertRaisesMessage(ConfigurationError, "unknown key 'paralel'"):
            projectconfig.default_map(loaded, params)
        self.assertEqual(projectconfig.default_map(loaded, params, strict=False), {})

    def test_invalid_toml_and_missing_file(self):
        self.assertEqual(projectconfig.load(self.directory).values, {})
        (self.directory / "pyproject.toml").write_text("[tool.arunner\n")
        with self.assertRaisesMessage(ConfigurationError, "not valid TOML"):
            projectconfig.load(self.directory)

    def test_settings_from_manage_py(self):
        (self.directory / "manage.py").write_text(
            'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")\n'
        )
        self.assertEqual(projectconfig.settings_from_manage_py(self.directory), "proj.settings")


class Xml(SimpleTestCase):
    def test_every_character_xml_forbids_is_escaped(self):
        nasty = "".join(chr(c) for c in range(0x20)) + "]]> <&>\"' \ud800 \ufffe \U0001f600"
        self.assertEqual(junitxml.xml_safe("plain\ttext\n"), "plain\ttext\n")
        report = TestReport(
            nasty,
            nasty,
            nasty,
            nasty,
            3,
            "failed",
            0.5,
            (Problem("failure", nasty, nasty, nasty),),
            nasty,
            nasty,
        )
        writer = junitxml.JUnitXml("unused.xml")
        writer.add(report)
        text = ET.tostring(writer.build(), encoding="unicode")
        case = ET.fromstring(text.encode("utf-8")).find("testsuite/testcase")
        self.assertIn("\\x00", case.get("name"))
        self.assertIn("]]> <&>", case.find("failure").text)
        self.assertIn("\\ud800", case.find("system-out").text)
        self.assertIn("\U0001f600", case.find("system-err").text)


class Colour(SimpleTestCase):
    def test_precedence(self):
        class Tty:
            def isatty(self):
                return True

        tty, pipe = Tty(), object()
        self.assertTrue(terminal.use_colour(tty, environ={}))
        self.assertFalse(terminal.use_colour(pipe, environ={}))
        self.assertFalse(terminal.use_colour(tty, environ={"NO_COLOR": "1"}))
        self.assertTrue(terminal.use_colour(tty, environ={"NO_COLOR": ""}))
        self.assertTrue(terminal.use_colour(pipe, environ={"FORCE_COLOR": "1"}))
        self.assertFalse(terminal.use_colour(pipe, environ={"FORCE_COLOR": "1", "NO_COLOR": "1"}))
        self.assertTrue(terminal.use_colour(pipe, force_color=True, environ={"NO_COLOR": "1"}))
        self.assertFalse(terminal.use_colour(tty, no_color=True, environ={"FORCE_COLOR": "1"}))


class LastFailedRecord(SimpleTestCase):
    def test_update_and_select(self):
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory)

        def report(test_id, outcome):
            return TestReport(test_id, "", "", None, None, outcome, 0.0)

        record = lastfailed.LastFailed(directory)
        record.close()
        self.assertFalse((directory / ".arunner_cache").exists())  # nothing to remember
        record.add(report("app.tests.A.test_1", "failed"))
        record.add(report("app.tests.A.test_2", "passed"))
        record.add(report("other.tests.B.test_3", "error"))
        record.close()
        record = lastfailed.LastFailed(directory)
        self.assertEqual(record.previous, {"app.tests.A.test_1", "other.tests.B.test_3"})
        labels, _ = record.select(["app"], failed_first=False)
        self.assertEqual(labels, ["app.tests.A.test_1"])
        labels, _ = record.select(["app"], failed_first=True)
        self.assertEqual(labels, ["app.tests.A.test_1", "app"])
        labels, note = record.select(["third"], failed_first=False)
        self.assertEqual(labels, ["third"])
        self.assertIn("no recorded failures", note)
        record.add(report("app.tests.A.test_1", "passed"))  # other.tests stays: it did not run
        record.close()
        data = json.loads((directory / ".arunner_cache" / "lastfailed.json").read_text())
        self.assertEqual(data["failed"], ["other.tests.B.test_3"])

        record = lastfailed.LastFailed(directory)  # a setUpClass error records the class
        record.add(report("other.tests.B", "error"))
        record.close()
        record = lastfailed.LastFailed(directory)
        self.assertEqual(record.previous, {"other.tests.B", "other.tests.B.test_3"})
        record.add(report("other.tests.B.test_3", "passed"))  # the class ran clean
        record.close()
        self.assertEqual(lastfailed.LastFailed(directory).previous, set())


class Collected:
    """A reporter that keeps every report it gets."""

    wants_details = False

    def __init__(self, wants_passes: bool) -> None:
        self.wants_passes = wants_passes
        self.reports: list[TestReport] = []

    def add(self, report: TestReport) -> None:
        self.reports.append(report)


class PassReports(SimpleTestCase):
    """A passing test gets a report only when some reporter reads it."""

    class Mixed(unittest.TestCase):
        def test_passes(self):
            pass

        def test_fails(self):
            self.fail("no")

        @unittest.skip("later")
        def test_skipped(self):
            pass

        def test_subtests(self):
            for i in range(2):
                with self.subTest(i=i):
                    self.assertLess(i, 1)

    def outcomes(self, *active: Collected) -> dict[str, str]:
        resultclass = terminal.result_class(
            None,
            reporters=model.Reporters(active),
            total=4,
            colour=False,
            live=False,
            records=True,
            made=[],
        )
        result = resultclass(unittest.runner._WritelnDecorator(io.StringIO()), False, 0)
        unittest.defaultTestLoader.loadTestsFromTestCase(self.Mixed).run(result)
        return {r.name: r.outcome for r in active[0].reports}

    def test_no_reporter_reads_passes(self):
        self.assertEqual(
            self.outcomes(Collected(False)),
            {"test_fails": "failed", "test_skipped": "skipped", "test_subtests": "failed"},
        )

    def test_one_reporter_reads_passes(self):
        quiet, reading = Collected(False), Collected(True)
        everything = {
            "test_passes": "passed",
            "test_fails": "failed",
            "test_skipped": "skipped",
            "test_subtests": "failed",
        }
        self.assertEqual(self.outcomes(quiet, reading), everything)
        self.assertEqual({r.name: r.outcome for r in reading.reports}, everything)

    def test_last_failed_reads_passes_only_to_clear_failures(self):
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory)
        record = lastfailed.LastFailed(directory)
        self.assertFalse(record.wants_passes)
        record.add(TestReport("app.tests.A.test_1", "", "", None, None, "failed", 0.0))
        record.close()
        self.assertTrue(lastfailed.LastFailed(directory).wants_passes)


class LoaderCanary(SimpleTestCase):
    """``arunner.runsetup.collection`` relies on unittest's private ``_FailedTest`` stand-in."""

    def test_failed_import_is_a_failed_test(self):
        suite = unittest.defaultTestLoader.loadTestsFromName("arunner_no_such_module_x")
        tests = list(suite)
        self.assertEqual(len(tests), 1)
        self.assertIsInstance(tests[0], collection.FAILED_TEST)
        self.assertTrue(tests[0].id().startswith("unittest.loader._FailedTest."))


class ClosingLine(SimpleTestCase):
    def test_each_outcome_lands_in_its_column(self):
        class Outcomes(unittest.TestCase):
            def test_passes(self):
                pass

            def test_fails(self):
                self.fail("no")

            def test_errors(self):
                raise ValueError

            @unittest.skip("later")
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
                        self.assertLess(i, 1)

        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(Outcomes).run(result)
        # failed: the failure, the error, the unexpected success and the test whose two
        # subtests fail (once: a test fails once, however many of its parts do)
        self.assertEqual(closingline.closing_line(result), "2 passed, 4 failed, 1 skipped")

    def test_a_skipped_class_is_one_skip_and_no_test_ran(self):
        class Skipped(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                raise unittest.SkipTest("not here")

            def test_a(self):
                pass

        class Runs(unittest.TestCase):
            def test_b(self):
                pass

        load = unittest.defaultTestLoader.loadTestsFromTestCase
        result = unittest.TestResult()
        unittest.TestSuite([load(Skipped), load(Runs)]).run(result)
        self.assertEqual(closingline.closing_line(result), "1 passed, 0 failed, 1 skipped")
