"""``--junit-xml PATH``: the JUnit XML report CI systems read, in the ``--junit-family`` asked.

One ``<testsuite>`` for the run, one ``<testcase>`` per test with ``classname``, ``name`` and the
``time`` measured where the test ran. Failure, error and skipped elements carry the traceback
(or the skip reason); failing tests carry what they printed. Two families, as pytest has them:
``xunit1`` (the default) also puts ``file`` and ``line`` on each testcase and ``skipped`` on
``<testsuites>``, which GitLab and the IDEs use to link a case to its source; ``xunit2``
leaves those out, because Jenkins' ``junit-10.xsd`` rejects them and strict consumers validate.

ElementTree does the escaping. What XML 1.0 cannot hold at all (control characters, lone
surrogates, U+FFFE/U+FFFF) is written as ``\\xNN`` / ``\\uNNNN`` first, so the file always
parses, whatever a test printed. The file is written to a temporary name and renamed, so a
reader never sees half a report.
"""

from __future__ import annotations

import io
import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from arunner.core.options import JUNIT_FAMILIES
from arunner.report import reportfiles
from arunner.report.model import Attempt, TestReport

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 forbids written as an escape sequence."""
    return _NOT_XML.sub(_escape_one, text)


_ELEMENT = {
    "failed": "failure",
    "xpassed": "failure",
    "error": "error",
    "skipped": "skipped",
    "xfailed": "skipped",
}

#: What xunit1 writes and junit-10.xsd (xunit2) does not allow: on ``<testcase>``, on
#: ``<testsuites>``. The merge command reads them to tell the families apart.
XUNIT1_CASE_ATTRIBUTES = ("file", "line")
XUNIT1_ROOT_ATTRIBUTES = ("skipped",)


def render(root: ET.Element) -> bytes:
    """The file's bytes: indented, UTF-8, with the XML declaration."""
    tree = ET.ElementTree(root)
    ET.indent(tree)
    buffer = io.BytesIO()
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue()


def root_attributes(totals: dict[str, str], family: str) -> dict[str, str]:
    """``<testsuites>``' attributes from the suite counts, as ``family`` allows them."""
    if family == "xunit1":
        return dict(totals)
    return {k: v for k, v in totals.items() if k not in XUNIT1_ROOT_ATTRIBUTES}


class JUnitXml:
    """Collects reports; ``close`` writes the file."""

    wants_details = True
    wants_passes = True

    def __init__(self, path: str, suite_name: str = "arunner", family: str = "xunit1") -> None:
        if family not in JUNIT_FAMILIES:
            raise ValueError(f"unknown JUnit family {family!r}")
        self.path = Path(path)
        self.suite_name = suite_name
        self.family = family
        self.reports: list[TestReport] = []
        self.started = datetime.now(UTC)

    def add(self, report: TestReport) -> None:
        self.reports.append(report)

    def summary(self, stream: TextIO, verbosity: int) -> None:
        pass

    def close(self) -> None:
        reportfiles.write(self.path, render(self.build()))

    def build(self) -> ET.Element:
        def count(*outcomes: str) -> str:
            return str(sum(r.outcome in outcomes for r in self.reports))

        total = sum(r.duration for r in self.reports)
        attributes = {
            "name": self.suite_name,
            "tests": str(len(self.reports)),
            "failures": count("failed", "xpassed"),
            "errors": count("error"),
            "skipped": count("skipped", "xfailed"),
            "time": f"{total:.3f}",
        }
        root = ET.Element("testsuites", root_attributes(attributes, self.family))
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                **attributes,
                "timestamp": self.started.isoformat(timespec="seconds"),
                "hostname": xml_safe(socket.gethostname()),
            },
        )
        for report in self.reports:
            suite.append(self.testcase(report))
        return root

    def testcase(self, report: TestReport) -> ET.Element:
        """One ``<testcase>``: its attributes, what went wrong, what it printed. Each part is
        a method of its own, so a new kind of child is one more call here."""
        case = ET.Element("testcase", self._case_attributes(report))
        case.extend(self._outcome_elements(report))
        case.extend(self._rerun_elements(report))
        case.extend(self._output_elements(report))
        return case

    def _case_attributes(self, report: TestReport) -> dict[str, str]:
        attributes = {"classname": xml_safe(report.classname), "name": xml_safe(report.name)}
        if self.family == "xunit1":
            if report.file:
                attributes["file"] = xml_safe(report.file)
            if report.line:
                attributes["line"] = str(report.line)
        attributes["time"] = f"{report.duration:.3f}"
        return attributes

    @staticmethod
    def _outcome_elements(report: TestReport) -> list[ET.Element]:
        """``<failure>`` / ``<error>`` per problem of a failing test, ``<skipped>`` for a
        skipped one (its reason) or an expected failure (its traceback)."""
        element = _ELEMENT.get(report.outcome)
        if element is None:
            return []
        children = []
        for problem in report.problems:
            if (element == "skipped") != (problem.kind == "skipped"):
                continue
            tag = "skipped" if element == "skipped" else problem.kind
            child = ET.Element(tag, {"message": xml_safe(problem.message)})
            if problem.type:
                child.set("type", xml_safe(problem.type))
            child.text = xml_safe(problem.text)
            children.append(child)
        return children

    @staticmethod
    def _rerun_elements(report: TestReport) -> list[ET.Element]:
        """An earlier failed run of a test ``--reruns`` ran again, as Maven Surefire writes it
        (which GitLab and Jenkins read, and junit-10.xsd allows): ``flakyFailure`` /
        ``flakyError`` in a test that then passed, ``rerunFailure`` / ``rerunError`` in one
        that failed every time."""
        prefix = "rerun" if report.failed else "flaky"
        return [_rerun(attempt, prefix) for attempt in report.reruns if attempt.problems]

    @staticmethod
    def _output_elements(report: TestReport) -> list[ET.Element]:
        children = []
        for tag, text in (("system-out", report.stdout), ("system-err", report.stderr)):
            if text:
                child = ET.Element(tag)
                child.text = xml_safe(text)
                children.append(child)
        return children


def _rerun(attempt: Attempt, prefix: str) -> ET.Element:
    first = attempt.problems[0]
    kind = "Failure" if first.kind == "failure" else "Error"
    child = ET.Element(prefix + kind, {"message": xml_safe(first.message)})
    if first.type:
        child.set("type", xml_safe(first.type))
    trace = "\n".join(problem.text for problem in attempt.problems)
    ET.SubElement(child, "stackTrace").text = xml_safe(trace)
    if attempt.stdout:
        ET.SubElement(child, "system-out").text = xml_safe(attempt.stdout)
    if attempt.stderr:
        ET.SubElement(child, "system-err").text = xml_safe(attempt.stderr)
    return child
