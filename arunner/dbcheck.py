"""Fail fast, and say why, when a database server does not answer.

Without this, a refused port surfaces as a traceback from deep inside test-database
creation, and a server that accepts the connection but never answers hangs the run until
CI's own timeout (libpq and libmysqlclient wait forever by default). Before creating test
databases, each server gets one connection attempt with the driver's own connect timeout,
inside a thread that is abandoned at the deadline, so the whole check ends within
``DEADLINE`` seconds and names the alias, host, port and the driver's message.

The probe connects as Django's test-database creation does: to the server, not to the
project's database (which need not exist yet): ``NAME`` None, as ``_nodb_cursor`` does.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.db import connections

from .errors import ConfigurationError

#: Seconds the driver waits for the server (libpq's connect_timeout, MySQL's connect_timeout).
DRIVER_TIMEOUT = 5
#: Seconds the whole check may take, whatever the driver does; the issue's bound is 10.
DEADLINE = 8.0

_TIMEOUT_OPTION = {"postgresql": "connect_timeout", "mysql": "connect_timeout"}


def _probe_settings(settings: dict[str, Any], vendor: str) -> dict[str, Any]:
    options = {k: v for k, v in settings.get("OPTIONS", {}).items() if k != "pool"}
    option = _TIMEOUT_OPTION.get(vendor)
    if option is not None:
        options[option] = min(int(options.get(option) or DRIVER_TIMEOUT), DRIVER_TIMEOUT)
    return {**settings, "NAME": None, "OPTIONS": options}


def _where(settings: dict[str, Any]) -> str:
    host = settings.get("HOST") or "localhost"
    port = settings.get("PORT") or "default port"
    return f"{host}:{port}"


class _Probe(threading.Thread):
    def __init__(self, alias: str) -> None:
        super().__init__(name=f"arunner-dbcheck-{alias}", daemon=True)
        self.alias = alias
        connection = connections[alias]
        self.vendor = connection.vendor
        self.wrapper_class = type(connection)
        self.settings = _probe_settings(connection.settings_dict, connection.vendor)
        self.error: BaseException | None = None

    def run(self) -> None:
        # The wrapper is made here: a Django connection belongs to the thread that made it.
        wrapper = self.wrapper_class(self.settings, alias=f"__arunner_probe_{self.alias}__")
        try:
            wrapper.ensure_connection()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            with contextlib.suppress(Exception):  # closing a failed connection may fail too
                wrapper.close()


def check(aliases: Iterable[str]) -> None:
    """Raise ``ConfigurationError`` unless every server behind ``aliases`` answers."""
    probes = [
        _Probe(alias) for alias in dict.fromkeys(aliases) if connections[alias].vendor != "sqlite"
    ]
    deadline = time.monotonic() + DEADLINE
    for probe in probes:
        probe.start()
    for probe in probes:
        probe.join(max(0.0, deadline - time.monotonic()))
    problems = []
    for probe in probes:
        where = f"database {probe.alias!r} ({probe.vendor} at {_where(probe.settings)})"
        if probe.is_alive():
            problems.append(f"{where} did not answer within {DEADLINE:g} s")
        elif probe.error is not None:
            message = " ".join(str(probe.error).split())
            problems.append(f"{where} is unreachable: {message}")
    if problems:
        raise ConfigurationError(
            "; ".join(problems),
            hint="is the server running and reachable? Check HOST, PORT and credentials in "
            "settings.DATABASES",
        )
