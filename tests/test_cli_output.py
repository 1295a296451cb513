"""What ``arunner`` prints: live progress on a terminal, dots or lines off it, colour rules."""

import os
import pty
import re
import select
import subprocess
import sys
import time

from django.test import SimpleTestCase, tag

from tests.e2e import RUN_TIMEOUT, Project

THREE = """
import time

from django.test import SimpleTestCase


class Three(SimpleTestCase):
    def test_1_passes(self):
        time.sleep(0.1)

    def test_2_fails(self):
        self.fail("boom")

    def test_3_passes(self):
        pass
"""

#: How ``run_on_terminal`` starts each command.
RUNS = {"arunner": ["-m", "arunner"], "manage": ["manage.py", "test"]}

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run_on_terminal(
    project: Project, *args: str, env: dict | None = None, command: str = "arunner"
) -> tuple[int, str]:
    """Run ``arunner`` (or ``manage.py test``) with a pseudo-terminal as stdin, stdout and
    stderr."""
    controller, terminal = pty.openpty()
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "e2eproject.settings", "TERM": "xterm"}
    for name in ("NO_COLOR", "FORCE_COLOR"):
        full_env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, *RUNS[command], *args],
        cwd=project.root,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**full_env, **(env or {})},
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + RUN_TIMEOUT  # a generous bound on a hang
    try:
        while time.monotonic() < deadline:
            if not select.select([controller], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=RUN_TIMEOUT)
    finally:
        os.close(controller)
        process.kill()
    return process.returncode, b"".join(chunks).decode()


def last_line(output: str) -> str:
    lines = [line for line in ANSI.sub("", output).replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else ""


@tag("one_db")
class OnATerminal(SimpleTestCase):
    def test_live_line_with_count_total_elapsed_and_current_test(self):
        with Project({"test_three": THREE}) as project:
            code, output = run_on_terminal(project)
        self.assertEqual(code, 1, output)
        self.assertIn("\r\x1b[K", output)  # the line is redrawn in place
        updates = [ANSI.sub("", part) for part in output.split("\r")]
        self.assertTrue(
            any(
                re.match(r"\[0/3\] \d+:\d\d e2eapp\.tests\.test_three\.Three\.test_1_passes", u)
                for u in updates
            ),
            updates,
        )
        self.assertTrue(any(re.match(r"\[3/3\] \d+:\d\d ", u) for u in updates), updates)
        self.assertIn("\x1b[31m", output)  # failures in red on a terminal
        plain = ANSI.sub("", output)
        self.assertIn("FAIL test_2_fails", plain)  # announced as it happens
        self.assertIn("FAIL: test_2_fails", plain)  # and detailed at the end
        self.assertEqual(last_line(output), "2 passed, 1 failed, 0 skipped")

    def test_no_color_on_a_terminal(self):
        with Project({"test_three": THREE}) as project:
            for args, env in (((), {"NO_COLOR": "1"}), (("--no-color",), None)):
                code, output = run_on_terminal(project, *args, env=env)
                self.assertEqual(code, 1, output)
                self.assertNotIn("\x1b[31m", output)
                self.assertIn("FAIL test_2_fails", output)
                self.assertEqual(last_line(output), "2 passed, 1 failed, 0 skipped")


@tag("one_db")
class OffATerminal(SimpleTestCase):
    def test_dots_then_details_then_summary_then_closing_line(self):
        with Project({"test_three": THREE}) as project:
            run = project.run()
        self.assertEqual(run.code, 1)
        self.assertNotIn("\x1b[", run.output)
        lines = run.output.splitlines()
        self.assertIn(".F.", lines)
        details = lines.index("FAIL: test_2_fails (e2eapp.tests.test_three.Three.test_2_fails)")
        ran = next(i for i, line in enumerate(lines) if line.startswith("Ran 3 tests"))
        self.assertLess(lines.index(".F."), details)
        self.assertLess(details, ran)
        self.assertIn("FAILED (failures=1)", lines[ran:])
        self.assertEqual(run.closing_line, "2 passed, 1 failed, 0 skipped")

    def test_a_line_per_test_at_verbosity_2(self):
        with Project({"test_three": THREE}) as project:
            run = project.run("-v", "2")
        self.assertIn(
            "test_1_passes (e2eapp.tests.test_three.Three.test_1_passes) ... ok", run.output
        )
        self.assertIn(
            "test_2_fails (e2eapp.tests.test_three.Three.test_2_fails) ... FAIL", run.output
        )

    def test_force_color_off_a_terminal(self):
        with Project({"test_three": THREE}) as project:
            run = project.run(env={"FORCE_COLOR": "1"})
            self.assertIn("\x1b[31mF\x1b[0m", run.output)
            self.assertEqual(ANSI.sub("", run.closing_line), "2 passed, 1 failed, 0 skipped")
            run = project.run("--force-color")
            self.assertIn("\x1b[31mF\x1b[0m", run.output)
            run = project.run(env={"FORCE_COLOR": "1", "NO_COLOR": "1"})  # NO_COLOR wins
            self.assertEqual(run.code, 1, run.output)
            self.assertNotIn("\x1b[", run.output)
            self.assertEqual(run.closing_line, "2 passed, 1 failed, 0 skipped")

    def test_debug_sql_and_other_django_options_keep_the_closing_line(self):
        with Project({"test_three": THREE}) as project:
            for args in (
                ["--debug-sql"],
                ["--timing", "--shuffle", "--reverse", "-b"],
                ["--parallel", "2", "--debug-sql"],
                ["-v", "0"],
            ):
                with self.subTest(args=args):
                    run = project.run(*args)
                    self.assertEqual(run.code, 1, run.output)
                    self.assertEqual(run.closing_line, "2 passed, 1 failed, 0 skipped")
