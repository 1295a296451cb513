"""``--parallel`` when a worker's test cannot be stopped.

The watchdog's last resort ends the worker's process. Django's worker pool would then wait
forever for that worker's results, so the worker first leaves a note in a directory the parent
made for the run, then stops the run as Ctrl-C would. The parent turns each note into an error
of its test, so the report says which test hung and where, and the exit code is 1.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import unittest
import uuid
from pathlib import Path
from typing import Any

from django.test.runner import ParallelTestSuite

from .timeouts import TestTimeoutError

__unittest = True


def leave_note(directory: str, test_id: str, report: str) -> None:
    """In the worker: record the test that could not be stopped, for the parent."""
    note = {"test": test_id, "report": report}
    (Path(directory) / f"{uuid.uuid4().hex}.json").write_text(json.dumps(note), "utf-8")


class AsyncParallelTestSuite(ParallelTestSuite):
    """Django's ``ParallelTestSuite``, plus the notes of tests that hung in a worker."""

    def run(self, result: unittest.TestResult) -> unittest.TestResult:
        directory = tempfile.mkdtemp(prefix="arunner-hung-")
        try:
            for subsuite in self.subsuites:
                config = getattr(subsuite, "arunner_config", None)
                if config is not None:
                    subsuite.arunner_config = dataclasses.replace(config, hang_dir=directory)
            super().run(result)
            self._report_hung(result, directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return result

    def _report_hung(self, result: Any, directory: str) -> None:
        tests = {test.id(): test for subsuite in self.subsuites for test in subsuite}
        for path in sorted(Path(directory).glob("*.json")):
            note = json.loads(path.read_text("utf-8"))
            test = tests.get(note["test"])
            if test is None:
                continue
            result.arunner_hung = True
            # The parent's result only relays the reports workers build; this test's report
            # must be built here, so let it record for the moment.
            result.records = True
            try:
                result.startTest(test)
                result.addError(test, (TestTimeoutError, TestTimeoutError(note["report"]), None))
                result.stopTest(test)
            finally:
                del result.records
