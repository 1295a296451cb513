"""Configuration errors: one line, a hint, exit 2; unreachable databases fail within 10 s."""

import importlib.util
import os
import socket
import subprocess
import sys

from django.test import SimpleTestCase, tag

from tests.databases import skip_missing
from tests.e2e import PASSING, RUN_TIMEOUT, Project

USES_DB = """
from django.test import TestCase


class UsesDb(TestCase):
    def test_passes(self):
        pass
"""


@tag("one_env", "one_db")
class Collection(SimpleTestCase):
    def assert_config_error(self, run, text):
        self.assertEqual(run.code, 2, run.output)
        self.assertIn(f"arunner: error: {text}", run.output)
        self.assertIn("  hint: ", run.output)
        self.assertNotIn("Traceback", run.output)
        self.assertNotIn("passed,", run.output)  # stopped before any test ran

    def test_labels_that_match_nothing(self):
        with Project({"test_ok": PASSING}) as project:
            self.assert_config_error(
                project.run("nosuchapp"),
                "label 'nosuchapp' matches no module, class, method or directory",
            )
            self.assert_config_error(
                project.run("e2eapp.tests.test_ok.Missing"),
                "label 'e2eapp.tests.test_ok.Missing': 'e2eapp.tests.test_ok' has no 'Missing'",
            )
            project.write("e2eapp/empty/__init__.py", "")
            self.assert_config_error(
                project.run("e2eapp/empty"), "label 'e2eapp/empty': no tests found"
            )
            self.assert_config_error(
                project.run("e2eapp", "-k", "nothing_matches"),
                "-k '*nothing_matches*' selects no test",
            )

    def test_syntax_error_names_file_line_column(self):
        broken = "from django.test import SimpleTestCase\n\nclass Broken(SimpleTestCase:\n"
        with Project({"test_ok": PASSING, "test_broken": broken}) as project:
            run = project.run()
            self.assert_config_error(run, f"{os.path.join('e2eapp', 'tests', 'test_broken.py')}:3:")
            self.assertRegex(run.output, r"test_broken\.py:3:\d+: SyntaxError: ")
            run = project.run("--traceback")
            self.assertEqual(run.code, 2)
            self.assertIn("Traceback", run.output)

    def test_import_error_in_a_test_module(self):
        failing_import = "import no_such_dependency\n"
        with Project({"test_imports": failing_import}) as project:
            run = project.run()
        self.assert_config_error(run, os.path.join("e2eapp", "tests", "test_imports.py") + ":1: ")
        self.assertIn("ModuleNotFoundError: No module named 'no_such_dependency'", run.output)


def silent_server() -> socket.socket:
    """A local socket that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server


def refusing_port() -> socket.socket:
    """A bound port nobody listens on: connecting is refused at once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    return server


#: Django backends and their drivers (CI installs both with the test extras).
ENGINES = (("postgresql", "psycopg"), ("mysql", "MySQLdb"))
DRIVERS = [engine for engine, module in ENGINES if importlib.util.find_spec(module) is not None]


@tag("one_env", "one_db")
class UnreachableDatabase(SimpleTestCase):
    """Both drivers, both failure modes, whatever database the outer run uses."""

    def test_refused_and_silent_servers_fail_with_the_drivers_message(self):
        if len(DRIVERS) < len(ENGINES) and (not DRIVERS or os.environ.get("CI") == "true"):
            skip_missing(self, f"only {DRIVERS or 'no'} database drivers are installed")
        sockets = {"refused": refusing_port(), "silent": silent_server()}
        self.addCleanup(lambda: [s.close() for s in sockets.values()])
        with Project({"test_db": USES_DB}) as project:
            runs = {}
            for engine in DRIVERS:
                for kind, server in sockets.items():
                    port = server.getsockname()[1]
                    name = f"{engine}_{kind}"
                    project.write(
                        f"e2eproject/{name}.py",
                        "from e2eproject.settings import *  # noqa\n"
                        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.{engine}', "
                        f"'NAME': 'arunner_unreachable', 'USER': 'nobody', "
                        f"'HOST': '127.0.0.1', 'PORT': '{port}'}}}}\n",
                    )
                    command = [sys.executable, "-m", "arunner", "--settings", f"e2eproject.{name}"]
                    process = subprocess.Popen(
                        command,
                        cwd=project.root,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                    self.addCleanup(process.kill)
                    runs[name] = (process, port)
            for name, (process, port) in runs.items():
                with self.subTest(name):
                    # A generous bound on a hang; the messages show which timeout ended it.
                    output, _ = process.communicate(timeout=RUN_TIMEOUT)
                    self.assertEqual(process.returncode, 2, output)
                    self.assertIn(f"at 127.0.0.1:{port}", output)
                    self.assertIn("unreachable", output)
                    self.assertNotIn("Traceback", output)
                    self.assertNotIn("did not answer within", output)
                    if name.endswith("refused"):
                        self.assertRegex(output, "(?i)refused|can't connect")
                    else:  # the driver's own timeout message
                        self.assertRegex(output, "(?i)timeout|lost connection")
