"""``arunner-merge``: the shards' JUnit and durations files merged equal one whole run's;
a file that is not one is refused with one line and exit 2."""

import json
import xml.etree.ElementTree as ET

import xmlschema
from django.test import SimpleTestCase, tag

from tests.e2e import Project
from tests.reportprojects import COUNTS, MODULES, SCHEMA, case_ids, counts, merge

SHARDS = ("e2eapp.tests.test_outcomes", "e2eapp.tests.test_more")


@tag("cross")
class MergeShards(SimpleTestCase):
    def run_shards(self, project, family, *args):
        """One whole run and two shards (by label), each with its JUnit and durations file."""
        common = ("--junit-family", family, *args)
        whole = project.run("--junit-xml", "whole.xml", "--durations-file", "whole.json", *common)
        self.assertEqual(whole.code, 1, whole.output)
        for index, label in enumerate(SHARDS, 1):
            shard = project.run(
                label,
                "--junit-xml",
                f"shard{index}.xml",
                "--durations-file",
                f"shard{index}.json",
                *common,
            )
            self.assertEqual(shard.code, 1, shard.output)
            self.assertEqual(project.test_dbs_left(), [], shard.output)

    def test_merged_shards_equal_the_whole_run(self):
        schema = xmlschema.XMLSchema(SCHEMA)
        with Project(MODULES) as project:
            for family, args in (("xunit1", ()), ("xunit2", ("--parallel", "2"))):
                with self.subTest(family=family):
                    self.run_shards(project, family, *args)
                    run, _ = merge(project, "junit", "merged.xml", "shard1.xml", "shard2.xml")
                    self.assertEqual(run.code, 0, run.output)
                    self.assertIn("12 tests, 5 failures, 1 errors", run.output)
                    self.assertIn(family, run.output)
                    merged = project.root / "merged.xml"
                    self.assertEqual(counts(merged), COUNTS)
                    self.assertEqual(case_ids(merged), case_ids(project.root / "whole.xml"))
                    root = ET.parse(merged).getroot()
                    self.assertEqual(len(root.findall("testsuite")), 1)  # same name: one suite
                    self.assertEqual(root.get("tests"), "12")
                    shard_times = [
                        float(
                            ET.parse(project.root / f"shard{i}.xml").find("testsuite").get("time")
                        )
                        for i in (1, 2)
                    ]
                    suite_time = float(root.find("testsuite").get("time"))
                    self.assertAlmostEqual(suite_time, sum(shard_times), delta=0.002)
                    if family == "xunit2":
                        schema.validate(str(merged))
                    else:
                        self.assertEqual(root.get("skipped"), "2")
                        self.assertTrue(all(c.get("file") for c in root.iter("testcase")))

                    run, _ = merge(
                        project, "durations", "merged.json", "shard1.json", "shard2.json"
                    )
                    self.assertEqual(run.code, 0, run.output)
                    merged_times = json.loads((project.root / "merged.json").read_text())
                    whole_times = json.loads((project.root / "whole.json").read_text())
                    self.assertEqual(merged_times["version"], 1)
                    self.assertEqual(set(merged_times["durations"]), set(whole_times["durations"]))
                    for path in project.root.glob("*.json"):
                        path.unlink()

    def test_a_testcase_in_two_inputs_is_kept_once(self):
        with Project(MODULES) as project:
            run = project.run(SHARDS[1], "--junit-xml", "shard.xml")
            self.assertEqual(run.code, 1, run.output)
            run, _ = merge(project, "junit", "twice.xml", "shard.xml", "shard.xml")
            self.assertEqual(run.code, 0, run.output)
            self.assertIn("3 duplicate testcases dropped", run.output)
            twice = project.root / "twice.xml"
            self.assertEqual(case_ids(twice), case_ids(project.root / "shard.xml"))
            self.assertEqual(counts(twice), counts(project.root / "shard.xml"))
            # OUT may be one of the inputs: every input is read before it is written.
            run, _ = merge(project, "junit", "shard.xml", "shard.xml", "twice.xml")
            self.assertEqual(run.code, 0, run.output)
            self.assertEqual(counts(project.root / "shard.xml")["tests"], 3)


NOT_JUNIT = {
    "notes.txt": ("hello, not XML\n", "not a JUnit XML file (not XML"),
    "page.html": ("<html><body/></html>\n", "not a JUnit XML file (root element <html>"),
    "times.json": ('{"version": 1, "durations": {}}\n', "not a JUnit XML file (not XML"),
}
NOT_DURATIONS = {
    "report.xml": ("<testsuites/>\n", "not an arunner durations file (not JSON"),
    "list.json": ("[1, 2]\n", 'not an arunner durations file (no "durations" object)'),
    "future.json": ('{"version": 9, "durations": {}}\n', "of version 1 (version 9)"),
    "text.json": ('{"version": 1, "durations": {"a.b": "slow"}}\n', "'slow' is no time"),
}


@tag("one_db")
class BadInputs(SimpleTestCase):
    def check_refused(self, project, kind, name, expected):
        good = "good.xml" if kind == "junit" else "good.json"
        run, stderr = merge(project, kind, "out", good, name)
        self.assertEqual(run.code, 2, run.output)
        self.assertEqual(stderr.splitlines(), [stderr.strip()], stderr)  # one line
        self.assertTrue(stderr.startswith(f"arunner-merge: error: {name}: "), stderr)
        self.assertIn(expected, stderr)
        self.assertNotIn("Traceback", run.output)
        self.assertFalse((project.root / "out").exists())

    def test_files_that_are_not_reports_are_refused(self):
        with Project(MODULES) as project:
            project.write("good.xml", '<testsuites><testsuite name="a" tests="0"/></testsuites>')
            project.write("good.json", '{"version": 1, "durations": {"a.b": 1.5}}')
            for name, (content, expected) in NOT_JUNIT.items():
                with self.subTest(name):
                    project.write(name, content)
                    self.check_refused(project, "junit", name, expected)
            for name, (content, expected) in NOT_DURATIONS.items():
                with self.subTest(name):
                    project.write(name, content)
                    self.check_refused(project, "durations", name, expected)
            with self.subTest("missing"):
                self.check_refused(project, "junit", "missing.xml", "cannot be read")

    def test_mixed_families_are_refused(self):
        with Project(MODULES) as project:
            for family in ("xunit1", "xunit2"):
                run = project.run(
                    SHARDS[1], "--junit-xml", f"{family}.xml", "--junit-family", family
                )
                self.assertEqual(run.code, 1, run.output)
            run, stderr = merge(project, "junit", "out.xml", "xunit1.xml", "xunit2.xml")
            self.assertEqual(run.code, 2, run.output)
            self.assertEqual(
                stderr.strip(),
                "arunner-merge: error: mixed JUnit families: xunit1.xml is xunit1, xunit2.xml "
                "is xunit2; give every shard the same --junit-family",
            )
            self.assertFalse((project.root / "out.xml").exists())
