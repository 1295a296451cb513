"""In-process checks of the merge rules and the annotation format (the end-to-end tests run
them on real runs: test_cli_merge, test_cli_ghannotations)."""

import io
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from django.test import SimpleTestCase

from arunner.report import durations, ghannotations, junitmerge
from arunner.report.model import Problem, TestReport


def junit_file(tmp, name, text):
    path = Path(tmp) / name
    path.write_text(text, encoding="utf-8")
    return junitmerge.read(str(path))


FIRST = """<testsuites name="arunner" tests="3" failures="0" errors="0" time="3.000">
  <testsuite name="arunner" tests="3" failures="0" errors="0" skipped="0" time="3.000"
             timestamp="2026-01-01T10:00:00+00:00" hostname="a">
    <properties><property name="shard" value="1"/></properties>
    <testcase classname="m.C" name="test_a" time="1.000"/>
    <testcase classname="m.C" name="test_b" time="1.000"/>
    <testcase classname="m.C" name="test_flaky" time="1.000">
      <flakyFailure message="once" type="AssertionError">first try</flakyFailure>
    </testcase>
  </testsuite>
</testsuites>
"""

SECOND = """<testsuites name="arunner" tests="3" failures="1" errors="0" time="6.000">
  <testsuite name="arunner" tests="2" failures="1" errors="0" skipped="0" time="5.000"
             timestamp="2026-01-01T09:59:00+00:00" hostname="b">
    <testcase classname="m.C" name="test_b" time="2.000"><failure message="x">tb</failure>
    </testcase>
    <testcase classname="m.D" name="test_c" time="3.000"/>
  </testsuite>
  <testsuite name="other" tests="1" failures="0" errors="0" skipped="1" time="1.000">
    <testcase classname="n.E" name="test_d" time="1.000"><skipped message="later"/></testcase>
  </testsuite>
</testsuites>
"""


class JUnitMerge(SimpleTestCase):
    def test_same_named_suites_become_one_and_the_worst_copy_is_kept(self):
        with tempfile.TemporaryDirectory() as tmp:
            files = [junit_file(tmp, "1.xml", FIRST), junit_file(tmp, "2.xml", SECOND)]
            merged = junitmerge.merge(files)
        self.assertEqual(merged.family, "xunit2")
        self.assertEqual(merged.dropped, 1)
        root = ET.fromstring(merged.to_bytes())
        suites = {s.get("name"): s for s in root.findall("testsuite")}
        self.assertEqual(list(suites), ["arunner", "other"])
        arunner = suites["arunner"]
        names = [c.get("name") for c in arunner.findall("testcase")]
        self.assertEqual(names, ["test_a", "test_b", "test_flaky", "test_c"])
        # test_b passed in one input and failed in the other: the failing copy stays
        b = arunner.find("testcase[@name='test_b']")
        self.assertEqual(b.find("failure").get("message"), "x")
        self.assertEqual(b.get("time"), "2.000")
        # children arunner does not write itself come along
        flaky = arunner.find("testcase[@name='test_flaky']/flakyFailure")
        self.assertEqual(flaky.text, "first try")
        self.assertIsNotNone(arunner.find("properties/property[@name='shard']"))
        self.assertEqual(
            {k: arunner.get(k) for k in ("tests", "failures", "errors", "skipped", "time")},
            {"tests": "4", "failures": "1", "errors": "0", "skipped": "0", "time": "7.000"},
        )
        self.assertEqual(arunner.get("timestamp"), "2026-01-01T09:59:00+00:00")  # earliest
        self.assertNotIn("hostname", arunner.attrib)  # two hosts: none is the suite's
        self.assertEqual(
            {k: root.get(k) for k in ("tests", "failures", "errors", "time")},
            {"tests": "5", "failures": "1", "errors": "0", "time": "8.000"},
        )
        self.assertNotIn("skipped", root.attrib)  # xunit2: not on <testsuites>

    def test_an_equal_copy_keeps_the_first(self):
        with tempfile.TemporaryDirectory() as tmp:
            files = [junit_file(tmp, "1.xml", FIRST), junit_file(tmp, "2.xml", FIRST)]
            merged = junitmerge.merge(files)
        self.assertEqual(merged.dropped, 3)
        suite = ET.fromstring(merged.to_bytes()).find("testsuite")
        self.assertEqual((suite.get("tests"), suite.get("time")), ("3", "3.000"))
        self.assertEqual(suite.get("hostname"), "a")

    def test_a_testsuite_root_fits_either_family(self):
        single = (
            '<testsuite name="arunner" tests="1"><testcase classname="m.C" name="t"/></testsuite>'
        )
        xunit1 = FIRST.replace("<testsuites ", '<testsuites skipped="0" ')
        with tempfile.TemporaryDirectory() as tmp:
            merged = junitmerge.merge(
                [junit_file(tmp, "1.xml", xunit1), junit_file(tmp, "2.xml", single)]
            )
            self.assertEqual(merged.family, "xunit1")
            self.assertEqual(merged.root.get("skipped"), "0")
            with self.assertRaisesMessage(junitmerge.MergeError, "mixed JUnit families"):
                junitmerge.merge(
                    [junit_file(tmp, "3.xml", xunit1), junit_file(tmp, "4.xml", FIRST)]
                )

    def test_stray_elements_under_testsuites_are_refused(self):
        with (
            tempfile.TemporaryDirectory() as tmp,
            self.assertRaisesMessage(
                junitmerge.MergeError, "x.xml: not a JUnit XML file (<testcase> inside <testsuites>"
            ),
        ):
            junit_file(tmp, "x.xml", '<testsuites><testcase name="t"/></testsuites>')


class DurationsMerge(SimpleTestCase):
    def test_later_input_wins_without_a_base(self):
        merged = durations.merge([{"a": 1.0, "b": 2.0}, {"b": 3.0, "c": 4.0}])
        self.assertEqual(merged, {"a": 1.0, "b": 3.0, "c": 4.0})

    def test_with_a_base_a_measured_time_beats_a_kept_one(self):
        base = {"a": 1.0, "b": 2.0}
        shard1 = {"a": 1.5, "b": 2.0}  # measured a, kept b
        shard2 = {"a": 1.0, "b": 2.5, "c": 0.5}  # kept a, measured b and the new c
        merged = durations.merge([shard1, shard2], base)
        self.assertEqual(merged, {"a": 1.5, "b": 2.5, "c": 0.5})
        self.assertEqual(durations.merge([shard2, shard1], base), merged)

    def test_round_trip(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.json"
            path.write_bytes(durations.encode({"b": 2.0, "a": 1.25}))
            self.assertEqual(durations.read(path), {"a": 1.25, "b": 2.0})
            self.assertLess(path.read_text().index('"a"'), path.read_text().index('"b"'))


class Annotations(SimpleTestCase):
    def test_escapes(self):
        self.assertEqual(ghannotations.escape_data("100%\r\nnext: a,b"), "100%25%0D%0Anext: a,b")
        self.assertEqual(ghannotations.escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A")

    def test_failing_line_is_the_deepest_frame_in_the_file(self):
        text = (
            "Traceback (most recent call last):\n"
            '  File "/repo/app/tests.py", line 10, in test_x\n'
            "    helper()\n"
            '  File "/repo/app/tests.py", line 4, in helper\n'
            "    lib.call()\n"
            '  File "/usr/lib/lib.py", line 99, in call\n'
            "ValueError: no\n"
        )
        self.assertEqual(ghannotations.failing_line(text, "/repo/app/tests.py"), 4)
        self.assertIsNone(ghannotations.failing_line(text, "/repo/app/other.py"))

    def test_enabled_only_by_true(self):
        self.assertTrue(ghannotations.enabled({"GITHUB_ACTIONS": "true"}))
        self.assertFalse(ghannotations.enabled({"GITHUB_ACTIONS": "false"}))
        self.assertFalse(ghannotations.enabled({}))

    def test_a_file_outside_the_root_gives_an_annotation_without_location(self):
        out = io.StringIO()
        reporter = ghannotations.GitHubAnnotations(root="/nowhere/repo", out=out)
        problem = Problem("error", "RuntimeError: boom\nmore", "RuntimeError", "tb")
        report = TestReport("m.C.t", "m.C", "t", "/elsewhere/m.py", 3, "error", 0.1, (problem,))
        reporter.add(report)
        reporter.add(report._replace(outcome="passed", problems=()))
        reporter.summary(io.StringIO(), 1)
        self.assertEqual(out.getvalue(), "::error title=m.C.t::RuntimeError: boom\n")
        reporter.close()  # printed once
        self.assertEqual(out.getvalue().count("::error"), 1)
