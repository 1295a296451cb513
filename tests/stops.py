"""A project whose tests stop where a test of a stop wants them to, and the run that stops it.

Each *point* is a place a run can be stopped at: a test module whose tests (or set-up) write a
marker file in the project directory and then wait there. ``StopRun`` starts ``arunner`` or
``manage.py test`` as a terminal or a CI system would (a session of its own, SIGINT at its
default), waits for the markers, sends Ctrl-C to the whole process group or SIGTERM to the
main process, and collects what a user would look at afterwards: exit code, output, the JUnit
file, and what is left on the database server, in the project directory and in its temp
directory. One project serves many runs: the point is chosen by label (and, for migrations,
by an environment variable), so runs of different points do not interfere.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from tests.databases import BACKEND
from tests.e2e import Project

#: How long a stopped run may take, from the signal to its exit (the issue's bound is 15 s).
STOP_WITHIN = 15.0

#: A query that runs until it is cancelled, per backend.
LONG_QUERY = {
    "postgres": "SELECT pg_sleep(120)",
    "mariadb": "SELECT SLEEP(120)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c",
}[BACKEND]

HOLD = '''
import asyncio
import os
import pathlib
import time
import uuid


def reached(point):
    """Tell the outer test that this process got to ``point``."""
    pathlib.Path(f"at-{point}-{os.getpid()}-{uuid.uuid4().hex[:6]}").touch()


def hold():
    """Wait until the outer test writes ``go`` (after a first Ctrl-C), 120 s at most."""
    deadline = time.monotonic() + 120
    while not pathlib.Path("go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


async def ahold():
    deadline = time.monotonic() + 120
    while not pathlib.Path("go").exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
'''

MIGRATION = """
from django.db import migrations, models

from e2eapp.hold import hold, reached


def maybe_hold(apps, schema_editor):
    import os

    if os.environ.get("STOPS_AT") == "migrate":
        reached("migrate")
        hold()


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            "Item",
            [
                ("id", models.AutoField(primary_key=True)),
                ("name", models.CharField(max_length=100)),
            ],
        ),
        migrations.RunPython(maybe_hold, migrations.RunPython.noop),
        migrations.CreateModel(
            "Marker",
            [
                ("id", models.AutoField(primary_key=True)),
                ("label", models.CharField(max_length=100)),
            ],
        ),
    ]
"""

#: Per point: the body of the test that stops there (the ``First`` and ``Second`` classes
#: both run it, one per ``--parallel`` worker), and extra class-level source.
_BODIES = {
    "sync": ("def test_point(self):", "reached('sync'); hold()"),
    "coro": ("async def test_point(self):", "reached('coro'); await ahold()"),
    "hung_coro": (
        "async def test_point(self):",
        "reached('hung_coro'); await asyncio.sleep(3600)",
    ),
    "hung_sync": ("def test_point(self):", "reached('hung_sync'); time.sleep(3600)"),
    "blocked_loop": ("async def test_point(self):", "reached('blocked_loop'); time.sleep(3600)"),
    "swallows_stop": (
        "def test_point(self):",
        "reached('swallows_stop')\n        try:\n            time.sleep(3600)\n"
        "        except BaseException:\n            time.sleep(3600)",
    ),
    "query": (
        "def test_point(self):",
        "reached('query')\n        with connection.cursor() as c:\n"
        f"            c.execute({LONG_QUERY!r})",
    ),
    "setupclass": (
        "@classmethod\n    def setUpClass(cls):",
        "super().setUpClass(); reached('setupclass'); hold()\n\n"
        "    def test_point(self):\n        pass",
    ),
    "teardown": (
        "@classmethod\n    def tearDownClass(cls):",
        "reached('teardown'); hold(); super().tearDownClass()\n\n"
        "    def test_point(self):\n        pass",
    ),
}

POINT_MODULE = """
import asyncio
import time

from django.db import connection
from django.test import TestCase

from e2eapp.hold import ahold, hold, reached
from e2eapp.models import Item


class First(TestCase):
    def test_a_quick(self):
        Item.objects.create(name="quick")

    {head}
        {body}


class Second(TestCase):
    {head}
        {body}


class Third(TestCase):
    def test_later(self):
        pass
"""

IMPORT_MODULE = """
from django.test import TestCase

from e2eapp.hold import hold, reached

reached("import")
hold()


class Imported(TestCase):
    def test_never(self):
        pass
"""

QUICK_MODULE = """
from django.test import TestCase

from e2eapp.models import Item


class First(TestCase):
    def test_a(self):
        Item.objects.create(name="a")


class Second(TestCase):
    def test_b(self):
        Item.objects.create(name="b")
"""

POINTS = (*_BODIES, "migrate", "import")

#: Points run under an executor of their own: a coroutine test that blocks its loop leaves
#: the loop's thread stuck under ``hop`` (under ``inline`` it is the main thread).
EXECUTORS = {"blocked_loop": "hop"}

#: Points where a test holds until told: a single Ctrl-C lets it end.
ENDING = ("sync", "coro")

#: The signals each point is stopped with, when not the usual ones: a test that swallows the
#: stop of a second Ctrl-C is stopped by a third.
SIGNALS = {"swallows_stop": ("int3",)}


def stops_project() -> Project:
    """The project with every point; ``Project.cleanup`` removes it."""
    modules = {
        f"test_{point}": POINT_MODULE.format(head=h, body=b) for point, (h, b) in _BODIES.items()
    }
    project = Project({**modules, "test_import": IMPORT_MODULE, "test_quick": QUICK_MODULE})
    project.write("e2eapp/hold.py", HOLD)
    project.write("e2eapp/migrations/__init__.py", "")
    project.write("e2eapp/migrations/0001_initial.py", MIGRATION)
    return project


def label(point: str) -> str:
    return "e2eapp.tests.test_quick" if point == "migrate" else f"e2eapp.tests.test_{point}"


def selected(point: str) -> int:
    """How many tests the point's label selects."""
    return {"migrate": 2, "import": 1}.get(point, 4)


def markers(point: str, parallel: bool) -> int:
    """How many processes reach the point: each worker under --parallel, where the tests run."""
    return 2 if parallel and point in _BODIES else 1


@dataclass
class Stopped:
    code: int
    output: str
    elapsed: float
    junit: list[tuple[str, str]] | None
    durations: dict[str, float] | None
    left: dict[str, list[str]] = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]


def stop_run(
    project: Project,
    point: str,
    signals: str,
    command: str = "arunner",
    parallel: bool = False,
    keepdb: bool = False,
) -> Stopped:
    """Run the point's tests, stop them with ``signals`` once every process reached the
    point, and return what the run left.

    ``signals``: ``"int"`` (one Ctrl-C, then the held tests may end), ``"int2"`` (two
    Ctrl-C), ``"int3"`` (three), ``"term"`` (SIGTERM to the main process).
    """
    for pattern in ("at-*", "*-journal", "*-wal", "*-shm", "tmp/*"):
        for path in project.root.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    with contextlib.suppress(FileNotFoundError):
        (project.root / "go").unlink()
    junit, durations = project.root / "junit.xml", project.root / "durations.json"
    for path in (junit, durations):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    tmp = project.root / "tmp"
    tmp.mkdir(exist_ok=True)
    args = ["--junit-xml", str(junit), "--durations-file", str(durations), "--noinput"]
    args.append(label(point))
    if parallel:
        args[:0] = ["--parallel", "2"]
    if keepdb:
        args.insert(0, "--keepdb")
    if command == "arunner":
        argv = [sys.executable, "-m", "arunner", *args]
    else:
        argv = [sys.executable, "manage.py", "test", *args]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "e2eproject.settings",
        "TMPDIR": str(tmp),
        "STOPS_AT": point,
        "ARUNNER_EXECUTOR": EXECUTORS.get(point, "inline"),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        argv,
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_markers(proc, project.root, markers(point, parallel))
        started = time.monotonic()
        if signals == "term":
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
            for _ in range({"int2": 1, "int3": 2}.get(signals, 0)):
                time.sleep(0.3)
                os.killpg(proc.pid, signal.SIGINT)
            if signals == "int":
                time.sleep(0.3)
                (project.root / "go").touch()
        try:
            output, _ = proc.communicate(timeout=STOP_WITHIN * 4)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            output, _ = proc.communicate()
            output += "\n[the run did not end; killed]"
        elapsed = time.monotonic() - started
        # Workers must not outlive the run.
        time.sleep(0.2)
        group_alive = _group_alive(proc.pid)
    finally:
        _kill_group(proc.pid)
    stopped = Stopped(proc.returncode, output, elapsed, _junit(junit), _durations(durations))
    stopped.left = left_behind(project, keepdb)
    if group_alive:
        stopped.left["processes"] = ["a process of the run outlived it"]
    return stopped


def _wait_for_markers(proc: subprocess.Popen, root: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(list(root.glob("at-*"))) < count:
        if proc.poll() is not None or time.monotonic() > deadline:
            _kill_group(proc.pid)
            raise AssertionError("the run never reached its point:\n" + proc.communicate()[0])
        time.sleep(0.05)


def _junit(path: Path) -> list[tuple[str, str]] | None:
    """(test name, outcome) per case of a valid JUnit file; None when there is none."""
    if not path.exists():
        return None
    cases = []
    for case in ElementTree.parse(path).iter("testcase"):
        outcome = "passed"
        for kind in ("error", "failure", "skipped"):
            if case.find(kind) is not None:
                outcome = kind
        cases.append((case.get("name"), outcome))
    return cases


def _durations(path: Path) -> dict[str, float] | None:
    """The durations of a valid ``--durations-file``; None when there is none."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == 1, data
    return data["durations"]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def left_behind(project: Project, keepdb: bool = False) -> dict[str, list[str]]:
    """What a stopped run must not leave: test databases (unless ``keepdb``), server
    sessions on them, journal files, temp directories. Empty lists are dropped."""
    left = {
        "databases": [] if keepdb else project.test_dbs_left(),
        "sessions": _sessions(f"test_{project.name}"),
        "files": sorted(
            path.name
            for pattern in ("*-journal", "*-wal", "*-shm")
            for path in project.root.glob(pattern)
        ),
        "temp": sorted(path.name for path in (project.root / "tmp").glob("*")),
    }
    return {kind: items for kind, items in left.items() if items}


def _sessions(prefix: str) -> list[str]:
    """Server sessions on the project's test databases (none on SQLite). A session a
    killed worker left may take a moment to go, so look for up to 2 s."""
    if BACKEND == "sqlite":
        return []
    from tests.e2e import _server_cursor

    deadline = time.monotonic() + 2
    while True:
        cursor, close = _server_cursor(None)
        try:
            if BACKEND == "postgres":
                cursor.execute(
                    "SELECT datname || ': ' || coalesce(query, '') FROM pg_stat_activity "
                    "WHERE datname LIKE %s",
                    [prefix + "%"],
                )
            else:
                cursor.execute(
                    "SELECT CONCAT(db, ': ', COALESCE(info, '')) FROM "
                    "information_schema.processlist WHERE db LIKE %s",
                    [prefix + "%"],
                )
            rows = sorted(row[0] for row in cursor.fetchall())
        finally:
            close()
        if not rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)
