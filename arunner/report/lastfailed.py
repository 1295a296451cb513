"""``--lf`` / ``--ff``: run last time's failures only, or first.

The record is ``.arunner_cache/lastfailed.json`` in the current directory, the directory
``manage.py test`` runs in; the cache directory holds a ``.gitignore`` of its own, so it stays
out of git without touching the project's. Every run updates it: tests that ran and passed
leave it, tests that failed join it, tests the run did not reach keep their entry. A
class-level error (``setUpClass``) is recorded as the class, so ``--lf`` reruns the class.

Selection works on labels, so Django's loader, ordering and ``--parallel`` split stay as
they are: the recorded test IDs under the given labels become labels themselves, instead of
the given ones (``--lf``) or before them (``--ff``; Django drops the duplicates). Django runs
``TestCase`` classes before other kinds, and so does ``--ff``: failures first within each kind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from arunner.report import reportfiles
from arunner.report.model import TestReport

CACHE_DIR = ".arunner_cache"
FILE_NAME = "lastfailed.json"


def _prefix(label: str, top_level: str | None) -> str:
    """The dotted prefix of the test IDs a label selects ("" for all)."""
    path = os.path.abspath(label)
    if os.path.isdir(path):
        relative = os.path.relpath(path, top_level or os.getcwd())
        return "" if relative == "." else relative.replace(os.sep, ".")
    return label


def _under(test_id: str, prefix: str) -> bool:
    return not prefix or test_id == prefix or test_id.startswith(prefix + ".")


class LastFailed:
    """The record of failed tests: read at the start, updated by every report."""

    wants_details = False

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or Path.cwd()) / CACHE_DIR / FILE_NAME
        self.previous = self._read()
        self.ran: set[str] = set()
        self.failed: set[str] = set()

    @property
    def wants_passes(self) -> bool:
        """A passing test matters only for clearing an earlier failure."""
        return bool(self.previous)

    def _read(self) -> set[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(test_id) for test_id in data["failed"]}
        except (OSError, ValueError, KeyError, TypeError):
            return set()

    def select(
        self, labels: Sequence[str], failed_first: bool, top_level: str | None = None
    ) -> tuple[list[str], str]:
        """The labels to load instead of ``labels``, and a line saying what was chosen."""
        given = list(labels) or ["."]
        prefixes = [_prefix(label, top_level) for label in given]
        chosen = sorted(
            test_id for test_id in self.previous if any(_under(test_id, p) for p in prefixes)
        )
        if not chosen:
            return given, "no recorded failures among the selected tests: running them all"
        if failed_first:
            return [*chosen, *given], f"running {len(chosen)} recorded failure(s) first"
        return chosen, f"running {len(chosen)} recorded failure(s) only"

    def add(self, report: TestReport) -> None:
        if self.previous:
            self.ran.add(report.test_id)
        if report.failed:
            self.failed.add(report.test_id)

    def summary(self, stream: TextIO, verbosity: int) -> None:
        pass

    def _reached(self) -> set[str]:
        """The tests that ran, and the classes and modules they belong to: a class or module
        recorded for a setUpClass/setUpModule error counts as run when any of its tests ran."""
        reached = set(self.ran)
        for test_id in self.ran:
            parts = test_id.split(".")
            reached.update(".".join(parts[:end]) for end in range(1, len(parts)))
        return reached

    def close(self) -> None:
        recorded = (self.previous - self._reached()) | self.failed
        if not recorded and not self.path.exists():
            return  # nothing to remember: leave the project as it was
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ignore = self.path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Created by arunner.\n*\n", encoding="utf-8")
        text = json.dumps({"failed": sorted(recorded)}, indent=1) + "\n"
        reportfiles.write(self.path, text.encode("utf-8"))
