"""Test databases that a stop leaves half made.

Creating the test databases (migrations, ``--parallel`` clones) can take minutes, and a
Ctrl-C or SIGTERM may come at any point of it. Django's teardown only knows the databases
set-up returned, so an interrupted set-up would leave its database on the server. Here:

- before set-up, the names of every test database and clone it will make are noted, and
  when set-up is interrupted, those are dropped (unless ``--keepdb``);
- with ``--keepdb``, a database is marked complete once set-up has finished (PostgreSQL: a
  comment on the database; MariaDB: a schema comment; SQLite: the file's ``application_id``),
  and a kept database without the mark is dropped before set-up, so Django creates it again.
  MariaDB's DDL is not transactional: a migration stopped half way leaves tables that the
  next ``migrate`` trips over. A kept database made by an older arunner has no mark either,
  and is made once more.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test.utils import get_unique_databases_and_mirrors

from arunner.timeouts import dbinterrupt

MARK = "arunner: complete"
#: SQLite's header field for the application that owns the file; "arun".
SQLITE_MARK = 0x6172756E


@dataclass
class Planned:
    """One test database set-up will make, and its clones."""

    connection: BaseDatabaseWrapper
    names: list[str]


def plan(aliases: Any, parallel: int) -> list[Planned]:
    """Before set-up: what it will make, by name (the test database, then its clones)."""
    planned = []
    unique, _ = get_unique_databases_and_mirrors(aliases)
    for signature, (_, group) in unique.items():
        connection = connections[sorted(group)[0]]
        name = signature[-1]
        if connection.vendor == "sqlite" and connection.creation.is_in_memory_db(name):
            continue
        clones = [_clone_name(connection, name, index + 1) for index in range(parallel)]
        planned.append(Planned(connection, [name, *(clones if parallel > 1 else [])]))
    return planned


def _clone_name(connection: BaseDatabaseWrapper, name: str, number: int) -> str:
    """As ``get_test_db_clone_settings`` names it, from the test database's name."""
    if connection.vendor == "sqlite":
        root, ext = os.path.splitext(name)
        return f"{root}_{number}{ext}"
    return f"{name}_{number}"


def drop(planned: list[Planned]) -> None:
    """Set-up was interrupted: drop what it made (its sessions first)."""
    for item in planned:
        with contextlib.suppress(Exception):
            item.connection.close()
        for name in item.names:
            dbinterrupt.drop_database(item.connection, name)


def forget_incomplete(planned: list[Planned]) -> list[str]:
    """With ``--keepdb``, before set-up: drop each kept database that set-up never finished
    (and the clones of one); the names dropped."""
    dropped = []
    for item in planned:
        main = item.names[0]
        complete = _marked(item.connection, main)
        for name in item.names:
            state = complete if name == main or not complete else _marked(item.connection, name)
            if state is False:
                dbinterrupt.drop_database(item.connection, name)
                dropped.append(name)
    return dropped


def mark(planned: list[Planned]) -> None:
    """With ``--keepdb``, once set-up has finished: each database is complete."""
    for item in planned:
        for name in item.names:
            with contextlib.suppress(Exception):
                _mark(item.connection, name)


def _marked(connection: BaseDatabaseWrapper, name: str) -> bool | None:
    """Whether ``name`` is marked complete; None when it does not exist (or the server has
    no place for a mark: then it is taken as it is, as Django would)."""
    try:
        if connection.vendor == "postgresql":
            rows = dbinterrupt.admin_query(
                connection,
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                name,
            )
        elif connection.vendor == "mysql":  # MariaDB; MySQL has no schema comment: fails
            rows = dbinterrupt.admin_query(
                connection,
                "SELECT schema_comment FROM information_schema.schemata WHERE schema_name = %s",
                name,
            )
        elif connection.vendor == "sqlite":
            return _sqlite_marked(name)
        else:
            return None
    except Exception:
        return None
    if not rows:
        return None
    marked: bool = rows[0][0] == MARK
    return marked


def _sqlite_marked(name: str) -> bool | None:
    """A file that cannot be read (a clone whose copy was cut short) is not complete."""
    if not os.path.exists(name):
        return None
    try:
        with contextlib.closing(sqlite3.connect(name)) as db:
            rows = db.execute("PRAGMA application_id").fetchall()
    except sqlite3.Error:
        return False
    return bool(rows) and rows[0][0] == SQLITE_MARK


def _mark(connection: BaseDatabaseWrapper, name: str) -> None:
    quoted = connection.ops.quote_name(name)
    if connection.vendor == "postgresql":
        dbinterrupt.admin_query(connection, f"COMMENT ON DATABASE {quoted} IS '{MARK}'")
    elif connection.vendor == "mysql":
        dbinterrupt.admin_query(connection, f"ALTER DATABASE {quoted} COMMENT '{MARK}'")
    elif connection.vendor == "sqlite" and os.path.exists(name):
        with contextlib.closing(sqlite3.connect(name)) as db:
            db.execute(f"PRAGMA application_id = {SQLITE_MARK}")
            db.commit()


def remove_journals(planned: list[Planned]) -> None:
    """After teardown (SQLite): the journal a ``--parallel`` worker stopped in a write left
    beside its clone; the clone itself is gone."""
    for item in planned:
        if item.connection.vendor != "sqlite":
            continue
        for name in item.names:
            if os.path.exists(name):
                continue  # kept (--keepdb): its journal is what rolls it back
            for suffix in ("-journal", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(name + suffix)
