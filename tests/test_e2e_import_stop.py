"""A Ctrl-C or SIGTERM while the ``arunner`` command is still importing Django ends it quietly.

The window is the first moments of every run, too short to hit by timing; the child here
sends itself the real signal at the moment ``click`` (the first thing ``arunner.cli``
imports) is looked for, from an import hook.
"""

import os
import subprocess
import sys
import textwrap

from django.test import SimpleTestCase, tag

from tests.e2e import RUN_TIMEOUT

CHILD = textwrap.dedent(
    """
    import importlib.abc, os, signal, sys

    SIGNAL = getattr(signal, sys.argv[1])
    # As a terminal starts it: Ctrl-C raises KeyboardInterrupt (a --parallel worker of the
    # outer run ignores SIGINT, and its children would inherit that).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    class SignalOnImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "click":
                os.kill(os.getpid(), SIGNAL)
            return None

    sys.meta_path.insert(0, SignalOnImport())
    sys.argv = ["arunner"]
    from arunner.__main__ import main

    main()
    """
)


@tag("one_db")
class SignalWhileImporting(SimpleTestCase):
    def run_child(self, signal_name: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", CHILD, signal_name],
            env={**os.environ, "PYTHONPATH": os.getcwd()},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            start_new_session=True,
            check=False,
        )

    def test_ctrl_c(self):
        done = self.run_child("SIGINT")
        self.assertEqual(done.returncode, 130, done.stderr)
        self.assertNotIn("Traceback", done.stderr)
        self.assertEqual(
            done.stderr.strip().splitlines(),
            ["arunner: interrupted", "", "0 passed, 0 failed, 0 skipped"],
        )

    def test_sigterm(self):
        done = self.run_child("SIGTERM")
        self.assertEqual(done.returncode, 143, done.stderr)
        self.assertNotIn("Traceback", done.stderr)
        self.assertEqual(done.stderr.strip().splitlines()[0], "arunner: terminated")
