"""``--junit-family``: xunit2 validates against Jenkins' junit-10.xsd; xunit1 (the default) is
the same report plus ``file``/``line`` on each testcase and ``skipped`` on the root."""

import os
import xml.etree.ElementTree as ET

import xmlschema
from django.test import SimpleTestCase, tag

from tests.e2e import Project
from tests.reportprojects import COUNTS, MODULES, OUTCOMES, SCHEMA, counts, line_of, merge

CLOSING = "5 passed, 6 failed, 1 skipped"


def without_xunit1_attributes(path):
    """The report with xunit1's own attributes taken out: what must then pass the schema."""
    tree = ET.parse(path)
    root = tree.getroot()
    root.attrib.pop("skipped")
    for case in root.iter("testcase"):
        case.attrib.pop("file", None)
        case.attrib.pop("line", None)
    return tree


@tag("one_db")
class JUnitFamilies(SimpleTestCase):
    schema = xmlschema.XMLSchema(SCHEMA)

    def check_xunit2(self, path, label):
        self.schema.validate(str(path))  # raises, naming the element, when it does not
        root = ET.parse(path).getroot()
        self.assertNotIn("skipped", root.attrib, label)
        for case in root.iter("testcase"):
            self.assertNotIn("file", case.attrib, label)
            self.assertNotIn("line", case.attrib, label)
        self.check_common(path, label)

    def check_xunit1(self, path, label):
        root = ET.parse(path).getroot()
        self.assertFalse(self.schema.is_valid(str(path)), label)  # what xunit2 is for
        self.assertEqual(root.get("skipped"), str(COUNTS["skipped"]), label)
        for case in root.iter("testcase"):
            module = case.get("classname").split(".")[2]
            self.assertEqual(case.get("file"), os.path.join("e2eapp", "tests", f"{module}.py"))
            self.assertTrue(case.get("line").isdigit(), label)
        cases = {c.get("name"): c for c in root.iter("testcase")}
        self.assertEqual(cases["test_fails"].get("line"), str(line_of(OUTCOMES, "def test_fails")))
        # Without its own attributes, xunit1 is a valid xunit2 report: it differs by nothing else.
        self.schema.validate(without_xunit1_attributes(path))
        self.check_common(path, label)

    def check_common(self, path, label):
        self.assertEqual(counts(path), COUNTS, label)
        cases = {c.get("name"): c for c in ET.parse(path).iter("testcase")}
        self.assertIn("printed <&> ]]>", cases["test_fails"].find("system-out").text, label)
        self.assertEqual(cases["test_fails"].find("system-err").text, "to stderr\n", label)
        self.assertIn("ValueError", cases["test_errors"].find("error").get("message"), label)
        self.assertIsNotNone(cases["test_expected_failure"].find("skipped"), label)
        self.assertIsNotNone(cases["test_unexpected_success"].find("failure"), label)
        self.assertIn("i=2", cases["test_subtests"].find("failure").get("message"), label)

    def test_both_families_serial_and_parallel(self):
        with Project(MODULES) as project:
            for args in ([], ["--parallel", "2"]):
                for family in ("xunit1", "xunit2"):
                    label = f"{family} {args}"
                    with self.subTest(label):
                        path = project.root / f"{family}.xml"
                        run = project.run("--junit-xml", path.name, "--junit-family", family, *args)
                        self.assertEqual(run.code, 1, run.output)
                        self.assertEqual(run.closing_line, CLOSING, run.output)
                        check = self.check_xunit1 if family == "xunit1" else self.check_xunit2
                        check(path, label)
            run = project.run("--junit-xml", "default.xml")
            self.check_xunit1(project.root / "default.xml", "the default")

    def test_family_from_environment_and_pyproject(self):
        with Project(MODULES) as project:
            run = project.run("--junit-xml", "env.xml", env={"ARUNNER_JUNIT_FAMILY": "xunit2"})
            self.assertEqual(run.code, 1, run.output)
            self.check_xunit2(project.root / "env.xml", "env")
            project.write(
                "pyproject.toml",
                '[tool.arunner]\njunit_xml = "toml.xml"\njunit_family = "xunit2"\n',
            )
            run = project.run(unset=("ARUNNER_JUNIT_FAMILY",))
            self.assertEqual(run.code, 1, run.output)
            self.check_xunit2(project.root / "toml.xml", "pyproject")
            run = project.run("--junit-family", "xunit1")  # the command line wins
            self.check_xunit1(project.root / "toml.xml", "command line over pyproject")

    def test_an_unknown_family_is_refused_before_the_run(self):
        with Project(MODULES) as project:
            run = project.run("--junit-xml", "r.xml", "--junit-family", "xunit3")
            self.assertEqual(run.code, 2, run.output)
            self.assertIn("xunit3", run.output)
            self.assertNotIn("Traceback", run.output)
            run = project.run("--junit-xml", "r.xml", env={"ARUNNER_JUNIT_FAMILY": "junit"})
            self.assertEqual(run.code, 2, run.output)
            self.assertIn("ARUNNER_JUNIT_FAMILY", run.output)
            self.assertFalse((project.root / "r.xml").exists())


#: A test that fails its first run, one that errors in its first run, one that always fails.
RERUNS = """
from pathlib import Path

from django.test import SimpleTestCase


def first_run(name):
    marker = Path(f"ran-{name}")
    first = not marker.exists()
    marker.touch()
    return first


class Reruns(SimpleTestCase):
    def test_fails_once(self):
        self.assertFalse(first_run("fails"), "the first run fails")

    def test_errors_once(self):
        if first_run("errors"):
            raise ValueError("the first run errors")

    def test_always_fails(self):
        self.fail("every run fails")
"""


@tag("one_db")
class RerunsInXunit2(SimpleTestCase):
    def test_rerun_elements_pass_the_schema_and_survive_a_merge(self):
        schema = xmlschema.XMLSchema(SCHEMA)
        with Project({"test_reruns": RERUNS, **MODULES}) as project:
            run = project.run(
                "e2eapp.tests.test_reruns",
                "--reruns",
                "1",
                "--junit-xml",
                "reruns.xml",
                "--junit-family",
                "xunit2",
            )
            self.assertEqual(run.code, 1, run.output)
            path = project.root / "reruns.xml"
            schema.validate(str(path))
            cases = {c.get("name"): c for c in ET.parse(path).iter("testcase")}
            self.assertEqual(
                {name: [child.tag for child in case] for name, case in cases.items()},
                {
                    "test_fails_once": ["flakyFailure"],
                    "test_errors_once": ["flakyError"],
                    "test_always_fails": ["failure", "rerunFailure"],
                },
            )
            run = project.run(
                "e2eapp.tests.test_more", "--junit-xml", "more.xml", "--junit-family", "xunit2"
            )
            self.assertEqual(run.code, 1, run.output)
            run, _ = merge(project, "junit", "merged.xml", "reruns.xml", "more.xml")
            self.assertEqual(run.code, 0, run.output)
            merged = project.root / "merged.xml"
            schema.validate(str(merged))
            flaky = ET.parse(merged).find(".//testcase[@name='test_fails_once']/flakyFailure")
            self.assertEqual(
                flaky.get("message"),
                ET.parse(path)
                .find(".//testcase[@name='test_fails_once']/flakyFailure")
                .get("message"),
            )
