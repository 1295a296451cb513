"""Reports (JUnit XML, durations, the last-failed record) get the permissions the umask gives."""

import os
import stat
import unittest

from django.test import SimpleTestCase, tag

from tests.e2e import Project
from tests.test_e2e_input import USES_DB


@tag("one_env", "one_db")
@unittest.skipIf(os.name == "nt", "POSIX file modes")
class ReportPermissions(SimpleTestCase):
    def test_reports_get_the_mode_the_umask_gives_a_new_file(self):
        reports = ("r.xml", "d.json", ".arunner_cache/lastfailed.json")
        with Project({"test_db": USES_DB}) as project:
            for umask, command in ((0o022, "arunner"), (0o007, "manage")):
                for name in ("r.xml", "d.json"):
                    (project.root / name).unlink(missing_ok=True)
                (project.root / ".arunner_cache" / "lastfailed.json").unlink(missing_ok=True)
                previous = os.umask(umask)  # the subprocess inherits it
                try:
                    run = project.run(
                        "--junit-xml", "r.xml", "--durations-file", "d.json", command=command
                    )
                finally:
                    os.umask(previous)
                self.assertEqual(run.code, 1, run.output)
                for name in reports:
                    with self.subTest(command=command, report=name):
                        mode = stat.S_IMODE((project.root / name).stat().st_mode)
                        self.assertEqual(oct(mode), oct(0o666 & ~umask))
