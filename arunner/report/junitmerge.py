"""Merging JUnit XML files (shards of one suite) into one report, for a final CI job.

Suites of the same name become one suite; every testcase is kept once. A testcase (same
suite, ``classname`` and ``name``) found in more than one input is one test told twice: the
same file given twice, a shard retried with both attempts' files collected, or a module-level
error (``setUpModule``) of a module whose classes ran in different shards. The copy with the
worst outcome is kept (error, then failure, then skipped, then passed; the first input's among
equals), so that a merge never turns a failing build green; the merge says how many it
dropped. Counts are counted again from the cases kept; a suite's time is the sum of its
inputs' times, less the time of the dropped copies. Testcases are copied whole: child
elements arunner does not write itself (properties, a rerun's ``<flakyFailure>``) stay.

The inputs must all be one JUnit family (``arunner.report.junitxml``): xunit1 (``file`` and
``line`` on testcases, ``skipped`` on ``<testsuites>``) or xunit2 (none of them). Mixing them
is a misconfigured shard, refused: a merged xunit2 report with xunit1 attributes would fail the
schema it was asked for, and one in xunit1 would lose the locations silently for some cases.
A file that says nothing either way (a ``<testsuite>`` root without locations) fits both.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

from arunner.report.junitxml import XUNIT1_CASE_ATTRIBUTES, XUNIT1_ROOT_ATTRIBUTES, render

#: A testcase's outcome by its child elements, the worse the later.
_RANK = {"skipped": 1, "failure": 2, "error": 3}
_COUNTED = {"skipped": "skipped", "failure": "failures", "error": "errors"}


class MergeError(ValueError):
    """An input that cannot be merged; the message is one line and names the file."""


@dataclass
class JUnitFile:
    path: str
    name: str | None  # the root's name
    suites: list[ET.Element]
    family: str | None  # "xunit1", "xunit2" or None: nothing in the file tells


@dataclass
class _Suite:
    """One merged ``<testsuite>``: the first input's attributes, every input's children."""

    attributes: dict[str, str]
    time: float = 0.0
    cases: dict[tuple[str, str], ET.Element] = field(default_factory=dict)
    others: list[ET.Element] = field(default_factory=list)
    timestamps: list[str] = field(default_factory=list)
    hostnames: set[str] = field(default_factory=set)

    def add_case(self, case: ET.Element) -> bool:
        """Add ``case``; False when the suite had it already (the worse copy stays, and the
        suite's time loses the other's)."""
        key = (case.get("classname", ""), case.get("name", ""))
        kept = self.cases.get(key)
        if kept is None:
            self.cases[key] = copy.deepcopy(case)
            return True
        if _rank(case) > _rank(kept):
            self.cases[key] = copy.deepcopy(case)
            self.time -= _time(kept)
        else:
            self.time -= _time(case)
        return False


@dataclass
class Merged:
    root: ET.Element
    family: str
    inputs: int
    dropped: int

    def counts(self) -> dict[str, str]:
        return {k: self.root.get(k, "0") for k in ("tests", "failures", "errors", "time")}

    def to_bytes(self) -> bytes:
        return render(self.root)


def read(path: str) -> JUnitFile:
    """Parse ``path``; ``MergeError`` when it cannot be read or is no JUnit XML."""
    try:
        root = ET.parse(path).getroot()
    except OSError as exc:
        raise MergeError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except ET.ParseError as exc:
        raise MergeError(f"{path}: not a JUnit XML file (not XML: {exc})") from None
    if root.tag == "testsuites":
        suites = list(root)
        stray = next((child.tag for child in suites if child.tag != "testsuite"), None)
        if stray is not None:
            raise MergeError(
                f"{path}: not a JUnit XML file (<{stray}> inside <testsuites>, "
                "only <testsuite> belongs there)"
            )
    elif root.tag == "testsuite":
        suites = [root]
    else:
        raise MergeError(
            f"{path}: not a JUnit XML file (root element <{root.tag}>, "
            "expected <testsuites> or <testsuite>)"
        )
    return JUnitFile(path, root.get("name"), suites, _family(root, suites))


def _family(root: ET.Element, suites: list[ET.Element]) -> str | None:
    if any(a in root.attrib for a in XUNIT1_ROOT_ATTRIBUTES):
        return "xunit1"
    for suite in suites:
        for case in suite.iter("testcase"):
            if any(a in case.attrib for a in XUNIT1_CASE_ATTRIBUTES):
                return "xunit1"
    return "xunit2" if root.tag == "testsuites" else None


def _outcome(case: ET.Element) -> str | None:
    """The case's worst child among skipped/failure/error; None for a passing case."""
    found = [child.tag for child in case if child.tag in _RANK]
    return max(found, key=_RANK.__getitem__) if found else None


def _rank(case: ET.Element) -> int:
    outcome = _outcome(case)
    return _RANK[outcome] if outcome else 0


def _time(element: ET.Element) -> float:
    """A ``time`` attribute; Surefire's form may group thousands with commas."""
    try:
        return float(element.get("time", "0").replace(",", ""))
    except ValueError:
        return 0.0


def _count(element: ET.Element, attribute: str) -> int:
    try:
        return int(element.get(attribute, "0"))
    except ValueError:
        return 0


def merge(files: Sequence[JUnitFile]) -> Merged:
    """One report of ``files``, in their order."""
    families = {f.family: f.path for f in files if f.family is not None}
    if len(families) > 1:
        raise MergeError(
            f"mixed JUnit families: {families['xunit1']} is xunit1, {families['xunit2']} is "
            "xunit2; give every shard the same --junit-family"
        )
    family = "xunit1" if "xunit1" in families else "xunit2"
    suites: dict[str, _Suite] = {}
    dropped = 0
    root_name: str | None = None
    for file in files:
        for element in file.suites:
            name = element.get("name", "")
            suite = suites.setdefault(name, _Suite(dict(element.attrib)))
            suite.time += _time(element)
            if "timestamp" in element.attrib:
                suite.timestamps.append(element.attrib["timestamp"])
            if "hostname" in element.attrib:
                suite.hostnames.add(element.attrib["hostname"])
            for child in element:
                if child.tag == "testcase":
                    dropped += not suite.add_case(child)
                else:
                    suite.others.append(copy.deepcopy(child))
        root_name = root_name or file.name
    root = _build(suites, family, root_name)
    return Merged(root, family, len(files), dropped)


def _build(suites: dict[str, _Suite], family: str, root_name: str | None) -> ET.Element:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    time = 0.0
    built = []
    for name, suite in suites.items():
        counts = {"tests": len(suite.cases), "failures": 0, "errors": 0, "skipped": 0}
        for case in suite.cases.values():
            outcome = _outcome(case)
            if outcome is not None:
                counts[_COUNTED[outcome]] += 1
        for nested in suite.others:
            if nested.tag == "testsuite":
                for key in counts:
                    counts[key] += _count(nested, key)
        attributes = dict(suite.attributes)
        attributes.update({"name": name, **{k: str(v) for k, v in counts.items()}})
        attributes["time"] = f"{max(suite.time, 0.0):.3f}"
        if suite.timestamps:
            attributes["timestamp"] = min(suite.timestamps)
        attributes.pop("hostname", None)
        if len(suite.hostnames) == 1:
            attributes["hostname"] = next(iter(suite.hostnames))
        element = ET.Element("testsuite", attributes)
        element.extend(suite.others)
        element.extend(suite.cases.values())
        built.append(element)
        for key in totals:
            totals[key] += counts[key]
        time += max(suite.time, 0.0)
    root_attributes = {"name": root_name} if root_name else {}
    root_attributes.update({k: str(v) for k, v in totals.items()})
    root_attributes["time"] = f"{time:.3f}"
    if family != "xunit1":
        for attribute in XUNIT1_ROOT_ATTRIBUTES:
            root_attributes.pop(attribute, None)
    root = ET.Element("testsuites", root_attributes)
    root.extend(built)
    return root
