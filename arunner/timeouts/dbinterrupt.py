"""Stopping a database query from another thread: per backend, the server's own way.

A test stuck in a query cannot be cancelled from Python: the thread sits inside the driver.
The watchdog first asks the server to cancel the statement (PostgreSQL's cancel request,
the same as ``pg_cancel_backend``; MariaDB/MySQL ``KILL QUERY``; SQLite ``interrupt()``), and
when a run has to end, terminates the session so the test database can be dropped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper


def remember_session(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: note the server's id for the session now, on the
    connection's own thread; mysqlclient refuses to tell it to another thread later."""
    if connection.vendor == "mysql":
        connection.arunner_session_id = connection.connection.thread_id()


def cancel_query(connection: BaseDatabaseWrapper) -> None:
    """Cancel the statement running on ``connection``, if any (called from another thread)."""
    raw = connection.connection
    if raw is None:
        return
    with contextlib.suppress(Exception):
        if connection.vendor == "postgresql":
            raw.cancel()
        elif connection.vendor == "sqlite":
            raw.interrupt()
        elif connection.vendor == "mysql":
            _mysql_kill(connection, "KILL QUERY")


def terminate(connection: BaseDatabaseWrapper) -> None:
    """End the server session behind ``connection``, so nothing holds the test database."""
    raw = connection.connection
    if raw is None:
        return
    with contextlib.suppress(Exception):
        if connection.vendor == "postgresql":
            _postgres(connection, "SELECT pg_terminate_backend(%s)", raw.info.backend_pid)
        elif connection.vendor == "mysql":
            _mysql_kill(connection, "KILL")


def drop_test_database(connection: BaseDatabaseWrapper) -> None:
    """Drop the test database ``connection`` points at, whoever is still connected."""
    drop_database(connection, connection.settings_dict["NAME"])


def drop_database(connection: BaseDatabaseWrapper, name: str) -> None:
    """Drop database ``name`` on ``connection``'s server, whoever is still connected (a
    SQLite file, with its journal)."""
    with contextlib.suppress(Exception):
        if connection.vendor == "postgresql":
            quoted = connection.ops.quote_name(name)
            _postgres(connection, f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        elif connection.vendor == "mysql":
            end_other_sessions(connection, name)
            _mysql(connection, f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)}")
        elif connection.vendor == "sqlite" and not connection.creation.is_in_memory_db(name):
            for suffix in ("", "-journal", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(name + suffix)


def admin_query(connection: BaseDatabaseWrapper, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``sql`` on ``connection``'s server outside any test database; its rows."""
    if connection.vendor == "postgresql":
        return _postgres(connection, sql, *params)
    return _mysql(connection, sql, *params)


def end_other_sessions(connection: BaseDatabaseWrapper, name: str) -> None:
    """End every server session on database ``name``: after a ``--parallel`` worker died in
    a query, its session runs on until the query ends and keeps its clone from being dropped.
    Called in the parent once the workers are gone, so no session there is anyone's."""
    with contextlib.suppress(Exception):
        if connection.vendor == "postgresql":
            _postgres(
                connection,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                name,
            )
        elif connection.vendor == "mysql":
            _mysql(
                connection,
                "SELECT id FROM information_schema.processlist "
                "WHERE db = %s AND id <> CONNECTION_ID()",
                name,
                then="KILL {}",
            )


def _postgres(connection: BaseDatabaseWrapper, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings.get("HOST") or None,
        port=settings.get("PORT") or None,
        user=settings.get("USER") or None,
        password=settings.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    ) as admin:
        cursor = admin.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


def _mysql_kill(connection: BaseDatabaseWrapper, statement: str) -> None:
    session = getattr(connection, "arunner_session_id", None)
    if session is not None:
        _mysql(connection, f"{statement} {int(session)}")


def _mysql(
    connection: BaseDatabaseWrapper, sql: str, *params: Any, then: str | None = None
) -> list[tuple[Any, ...]]:
    """Run ``sql`` as an admin session; ``then`` is run for each row it returns, formatted
    with the row's first column (``KILL {}``)."""
    import MySQLdb

    settings = dict(connection.get_connection_params())
    settings.pop("database", None)
    settings.pop("db", None)
    settings["connect_timeout"] = 5
    admin = MySQLdb.connect(**settings)
    try:
        cursor = admin.cursor()
        cursor.execute(sql, params or None)
        rows = list(cursor.fetchall()) if cursor.description else []
        if then is not None:
            for row in rows:
                cursor.execute(then.format(int(row[0])))
        return rows
    finally:
        admin.close()


def canceller(connections: Any) -> Callable[[], None]:
    """Cancel, from another thread, the queries of the calling thread's connections (those
    it has now and later: Django keeps one wrapper per alias and thread)."""
    wrappers = [connections[alias] for alias in connections]

    def cancel() -> None:
        for wrapper in wrappers:
            cancel_query(wrapper)

    return cancel
