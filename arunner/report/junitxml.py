"""``--junit-xml PATH``: the JUnit XML report CI systems read.

One ``<testsuite>`` for the run, one ``<testcase>`` per test with ``classname``, ``name``,
``file``, ``line`` and the ``time`` measured where the test ran. Failure, error and skipped
elements carry the traceback (or the skip reason); failing tests carry what they printed.

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


class JUnitXml:
    """Collects reports; ``close`` writes the file."""

    wants_details = True
    wants_passes = True

    def __init__(self, path: str, suite_name: str = "arunner") -> None:
        self.path = Path(path)
        self.suite_name = suite_name
        self.reports: list[TestReport] = []
        self.started = datetime.now(UTC)

    def add(self, report: TestReport) -> None:
        self.reports.append(report)

    def summary(self, stream: TextIO, verbosity: int) -> None:
        pass

    def close(self) -> None:
        tree = ET.ElementTree(self.build())
        ET.indent(tree)
        buffer = io.BytesIO()
        tree.write(buffer, encoding="utf-8", xml_declaration=True)
        reportfiles.write(self.path, buffer.getvalue())

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
        root = ET.Element("testsuites", attributes)
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
            suite.append(self._testcase(report))
        return root

    def _testcase(self, report: TestReport) -> ET.Element:
        attributes = {"classname": xml_safe(report.classname), "name": xml_safe(report.name)}
        if report.file:
            attributes["file"] = xml_safe(report.file)
        if report.line:
            attributes["line"] = str(report.line)
        attributes["time"] = f"{report.duration:.3f}"
        case = ET.Element("testcase", attributes)
        element = _ELEMENT.get(report.outcome)
        if element is not None:
            for problem in report.problems:
                if element == "skipped" and problem.kind != "skipped":
                    continue
                if element != "skipped" and problem.kind == "skipped":
                    continue
                tag = "skipped" if element == "skipped" else problem.kind
                child = ET.SubElement(case, tag, {"message": xml_safe(problem.message)})
                if problem.type:
                    child.set("type", xml_safe(problem.type))
                child.text = xml_safe(problem.text)
        for attempt in report.reruns:
            _rerun(case, attempt, "rerun" if report.failed else "flaky")
        if report.stdout:
            ET.SubElement(case, "system-out").text = xml_safe(report.stdout)
        if report.stderr:
            ET.SubElement(case, "system-err").text = xml_safe(report.stderr)
        return case


def _rerun(case: ET.Element, attempt: Attempt, prefix: str) -> None:
    """An earlier failed run of a test ``--reruns`` ran again, as Maven Surefire writes it
    (which GitLab and Jenkins read): ``flakyFailure`` / ``flakyError`` in a test that then
    passed, ``rerunFailure`` / ``rerunError`` in one that failed every time."""
    if not attempt.problems:
        return
    first = attempt.problems[0]
    kind = "Failure" if first.kind == "failure" else "Error"
    child = ET.SubElement(case, prefix + kind, {"message": xml_safe(first.message)})
    if first.type:
        child.set("type", xml_safe(first.type))
    trace = "\n".join(problem.text for problem in attempt.problems)
    ET.SubElement(child, "stackTrace").text = xml_safe(trace)
    if attempt.stdout:
        ET.SubElement(child, "system-out").text = xml_safe(attempt.stdout)
    if attempt.stderr:
        ET.SubElement(child, "system-err").text = xml_safe(attempt.stderr)
