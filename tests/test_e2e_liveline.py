"""The live line on a terminal: it ticks during a long test and nothing is glued onto it."""

import re

from django.test import SimpleTestCase, tag

from tests.e2e import Project
from tests.test_cli_output import ANSI, run_on_terminal

SLOW_AND_NOISY = """
import sys
import time

from django.test import TestCase

from e2eapp.models import Item


class Slow(TestCase):
    def test_1_slow(self):
        Item.objects.create(name="slow")
        time.sleep(2.5)

    def test_2_noisy(self):
        for number in range(2):
            print(f"noisy line {number}")
        sys.stderr.write("half a line, ")
        time.sleep(1.2)
        sys.stderr.write("then its end\\n")
"""


@tag("one_env", "one_db")
class LiveLine(SimpleTestCase):
    def test_ticks_and_is_erased_before_output_and_teardown(self):
        with Project({"test_slow": SLOW_AND_NOISY}) as project:
            for command in ("arunner", "manage"):
                with self.subTest(command=command):
                    code, output = run_on_terminal(project, "--no-color", command=command)
                    self.assertEqual(code, 0, output)
                    # Each output line as the terminal shows it: what follows the last \r.
                    lines = output.replace("\r\n", "\n").split("\n")
                    shown = [line.rsplit("\r", 1)[-1] for line in lines]
                    shown = [ANSI.sub("", line) for line in shown]
                    updates = [ANSI.sub("", part) for part in output.split("\r")]
                    slow = [u for u in updates if re.match(r"\[0/2\] 0:0\d .*test_1_slow", u)]
                    self.assertIn("[0/2] 0:02 ", "".join(slow))  # the clock moved mid-test
                    self.assertIn("noisy line 0", shown)
                    self.assertIn("noisy line 1", shown)
                    self.assertIn("half a line, then its end", shown)
                    teardown = [line for line in shown if "Destroying test database" in line]
                    self.assertTrue(teardown, output)
                    self.assertTrue(all(line.startswith("Destroying") for line in teardown))
                    self.assertEqual(shown[-2:], ["2 passed, 0 failed, 0 skipped", ""])
                    left = [line for line in shown if re.match(r"\[\d+/\d+\] ", line)]
                    self.assertEqual(left, [], output)  # no live line left in the scrollback


FAILS_NOISILY = """
from django.test import SimpleTestCase


class Noisy(SimpleTestCase):
    def test_fails_noisily(self):
        print("captured line")
        self.fail("boom")
"""


@tag("one_env", "one_db")
class LiveLineWithBuffer(SimpleTestCase):
    def test_the_captured_output_of_a_failure_starts_on_a_clean_line(self):
        with Project({"test_noisy": FAILS_NOISILY}) as project:
            for command in ("arunner", "manage"):
                with self.subTest(command=command):
                    code, output = run_on_terminal(project, "--no-color", "-b", command=command)
                    self.assertEqual(code, 1, output)
                    lines = ANSI.sub("", output.replace("\r\n", "\n")).split("\n")
                    shown = [line.rsplit("\r", 1)[-1] for line in lines]
                    self.assertEqual(shown.count("Stdout:"), 2, output)  # at once, and at the end
                    self.assertEqual(shown.count("captured line"), 2, output)
                    left = [line for line in shown if re.match(r"\[\d+/\d+\] ", line)]
                    self.assertEqual(left, [], output)  # no live line left in the scrollback
