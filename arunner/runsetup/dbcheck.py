"""Fail fast, and say why, when a database server does not answer.

Without this, a refused port surfaces as a traceback from deep inside test-database
creation, and a server that accepts the connection but never answers hangs the run until
CI's own timeout (libpq and libmysqlclient wait forever by default). Before creating test
databases, each server gets a connection attempt with the driver's own connect timeout,
inside a thread that is abandoned at the deadline, so the whole check ends within
``DEADLINE`` seconds and names the alias, host, port and the driver's message.

The probe connects as Django's test-database creation does: to the server, not to the
project's database (which need not exist yet): ``NAME`` None, as ``_nodb_cursor`` does; on
PostgreSQL also to the project's database at the same time, as ``_nodb_cursor`` falls back
to when the ``postgres`` database cannot be used. It opens the driver's connection through
the backend's ``get_connection_params`` and ``get_new_connection`` and closes it: no
``connection_created`` signal, whose receivers (``django.contrib.postgres``'s, a project's
own) expect a wrapper that ``connections`` knows.

Only a clear verdict stops the run: no answer by the deadline, or the driver's
``OperationalError`` (refused, timed out, rejected) from every attempt. Anything else means
the check cannot tell, and the run goes on to Django's own set-up, which reports it in full.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.db import connections
from django.db.backends.base.base import NO_DB_ALIAS

from arunner.core.errors import ConfigurationError

#: Seconds the driver waits for the server (libpq's connect_timeout, MySQL's connect_timeout).
DRIVER_TIMEOUT = 5
#: Seconds the whole check may take, whatever the driver does; the issue's bound is 10.
DEADLINE = 8.0

_TIMEOUT_OPTION = {"postgresql": "connect_timeout", "mysql": "connect_timeout"}

#: The backend Django gives a project without ``DATABASES``: there is nothing to reach.
_DUMMY = "django.db.backends.dummy"


def _probe_settings(settings: dict[str, Any], vendor: str, name: str | None) -> dict[str, Any]:
    options = {k: v for k, v in settings.get("OPTIONS", {}).items() if k != "pool"}
    option = _TIMEOUT_OPTION.get(vendor)
    if option is not None:
        options[option] = min(int(options.get(option) or DRIVER_TIMEOUT), DRIVER_TIMEOUT)
    return {**settings, "NAME": name, "OPTIONS": options}


def _where(settings: dict[str, Any]) -> str:
    host = settings.get("HOST") or "localhost"
    port = settings.get("PORT") or "default port"
    return f"{host}:{port}"


class _Attempt(threading.Thread):
    """One connection attempt, in a thread the check can abandon."""

    def __init__(self, wrapper_class: type, settings: dict[str, Any], alias: str) -> None:
        super().__init__(name=f"arunner-dbcheck-{alias}", daemon=True)
        self.wrapper_class = wrapper_class
        self.settings = settings
        self.alias = alias
        self.error: BaseException | None = None

    def run(self) -> None:
        # The wrapper is made here: a Django connection belongs to the thread that made it.
        try:
            wrapper = self.wrapper_class(self.settings, alias=self.alias)
            raw = wrapper.get_new_connection(wrapper.get_connection_params())
        except BaseException as exc:  # judged by the main thread
            self.error = exc
            return
        with contextlib.suppress(Exception):  # the answer is in; closing is a courtesy
            raw.close()

    def refused(self) -> bool:
        """True when the driver said the server cannot be used: its ``OperationalError``."""
        driver = getattr(self.wrapper_class, "Database", None)
        operational = getattr(driver, "OperationalError", None)
        return isinstance(operational, type) and isinstance(self.error, operational)


class _Probe:
    """The attempts for one alias, and the verdict they add up to."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        connection = connections[alias]
        self.vendor = connection.vendor
        settings = connection.settings_dict
        # As ``_nodb_cursor`` names its connection to the server: backends (PostGIS) and
        # receivers (``django.contrib.postgres``) know that alias.
        names: dict[str | None, str] = {None: NO_DB_ALIAS}
        if self.vendor == "postgresql" and settings.get("NAME"):
            names[settings["NAME"]] = alias
        self.attempts = [
            _Attempt(type(connection), _probe_settings(settings, self.vendor, name), name_alias)
            for name, name_alias in names.items()
        ]
        self.where = _where(settings)

    def problem(self) -> str | None:
        """What stops the run, or None: an attempt got through, or the check cannot tell."""
        done = [attempt for attempt in self.attempts if not attempt.is_alive()]
        if any(attempt.error is None or not attempt.refused() for attempt in done):
            return None
        where = f"database {self.alias!r} ({self.vendor} at {self.where})"
        if len(done) < len(self.attempts):
            return f"{where} did not answer within {DEADLINE:g} s"
        message = " ".join(str(self.attempts[0].error).split())
        return f"{where} is unreachable: {message}"


def _probe(alias: str) -> _Probe | None:
    """A probe for the server behind ``alias``; None for SQLite (no server), for Django's
    dummy backend, and when settings the check cannot read leave it unable to tell (Django's
    set-up then reports them)."""
    try:
        connection = connections[alias]
        if connection.vendor == "sqlite" or connection.settings_dict.get("ENGINE") == _DUMMY:
            return None
        return _Probe(alias)
    except Exception:
        return None


def check(aliases: Iterable[str]) -> None:
    """Raise ``ConfigurationError`` when a server behind ``aliases`` clearly cannot be
    reached; return when each answers, or when the check cannot tell."""
    probes = [probe for alias in dict.fromkeys(aliases) if (probe := _probe(alias)) is not None]
    attempts = [attempt for probe in probes for attempt in probe.attempts]
    deadline = time.monotonic() + DEADLINE
    for attempt in attempts:
        attempt.start()
    for attempt in attempts:
        attempt.join(max(0.0, deadline - time.monotonic()))
    problems = [problem for probe in probes if (problem := probe.problem()) is not None]
    if problems:
        raise ConfigurationError(
            "; ".join(problems),
            hint="is the server running and reachable? Check HOST, PORT and credentials in "
            "settings.DATABASES",
        )
