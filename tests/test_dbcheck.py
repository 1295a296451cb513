"""The reachability check's verdicts: only a server that clearly cannot be reached stops
the run; a check that cannot tell, and a project without a database, let it go on."""

import contextlib
import importlib.util
from unittest import mock

from django.db import connections
from django.test import SimpleTestCase

from arunner.core.errors import ConfigurationError
from arunner.runsetup import dbcheck
from tests.databases import skip_missing
from tests.test_cli_errors import refusing_port

ALIAS = "arunner_dbcheck_probe"


class Verdicts(SimpleTestCase):
    def setUp(self):
        if importlib.util.find_spec("psycopg") is None:
            skip_missing(self, "psycopg is not installed")
        server = refusing_port()
        self.addCleanup(server.close)
        self.port = str(server.getsockname()[1])

    def check_with(self, **settings):
        """``dbcheck.check`` on an alias with ``settings`` on top of the default's."""
        entry = {
            **connections.settings["default"],
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "arunner_dbcheck",
            "USER": "nobody",
            "HOST": "127.0.0.1",
            "PORT": self.port,
            "OPTIONS": {},
            **settings,
        }
        with mock.patch.dict(connections.settings, {ALIAS: entry}):
            try:
                dbcheck.check([ALIAS])
            finally:
                with contextlib.suppress(AttributeError):
                    del connections[ALIAS]

    def test_a_refused_port_stops_the_run(self):
        with self.assertRaisesRegex(
            ConfigurationError, rf"at 127\.0\.0\.1:{self.port}\) is unreach"
        ):
            self.check_with()

    def test_a_check_that_cannot_tell_lets_the_run_go_on(self):
        # Django's backend refuses the setting before it reaches the server: Django's own
        # set-up will say so, in full; the check has no verdict on the server.
        self.check_with(OPTIONS={"isolation_level": "no such level"})
