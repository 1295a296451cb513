"""One timed child process: its clocks, its peak memory, and the checks that it ran right.

Shared by ``run.py``, ``startup.py`` and ``memory.py``. The child's output goes to files,
not pipes, so that the harness can reap it with ``os.wait4`` and read the child's own peak
resident set size (``ru_maxrss``) rather than the running maximum over all children that
``getrusage(RUSAGE_CHILDREN)`` keeps.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

perf_counter = time.perf_counter

#: unittest's own summary line.
RAN_RE = re.compile(r"^Ran (\d+) tests? in ([0-9.]+)s$", re.MULTILINE)
#: pytest's summary (``N passed in X s``) and the generated conftest's suite clock.
PASSED_RE = re.compile(r"\b(\d+) passed\b")
PYTEST_SUITE_RE = re.compile(r"^Suite time: ([0-9.]+)s$", re.MULTILINE)
#: Printed by the generated ``manage.py`` and ``conftest.py``.
CPU_RE = re.compile(r"^Suite CPU time: ([0-9.]+)s$", re.MULTILINE)
#: Django's ``--timing`` (``TimeKeeper.print_results``).
SETUP_RE = re.compile(r"^Total database setup took ([0-9.]+)s$", re.MULTILINE)
#: One line per ``--parallel`` clone, inside the set-up.
CLONE_RE = re.compile(r"^  Cloning '[^']+' took ([0-9.]+)s$", re.MULTILINE)


class BenchError(Exception):
    """A run that must not be timed: it failed, or ran the wrong tests."""


@dataclass
class Sample:
    suite: float
    wall: float
    cpu: float
    #: ``Total database setup`` from ``--timing``; None where the runner does not say.
    setup: float | None
    #: Peak resident set size of the child process, in KiB.
    rss_kib: int
    #: The part of ``setup`` spent cloning (``--parallel``); None when nothing was cloned.
    clone: float | None = None


@dataclass
class Child:
    """What a finished child left: its exit status, output, wall time and peak RSS."""

    returncode: int
    output: str
    wall: float
    rss_kib: int
    problem: str | None


def precompile(python: str, project: Path) -> str:
    """Compile the project's modules and the measured arunner to bytecode, and say so for the
    report. An installed package has its bytecode (``pip install`` writes it, as it did for
    Django's) and a project's is written on its first run; with ``PYTHONDONTWRITEBYTECODE``
    set, as on this machine, every start would compile them from source instead, which
    costs start-up time and, for a generated module of 10,000 tests, a peak of memory that
    no real run has."""
    code = (
        "import compileall, os, sys, arunner; d = os.path.dirname(arunner.__file__); "
        "ok = compileall.compile_dir(d, quiet=1) and compileall.compile_dir('.', quiet=1); "
        "print(d); sys.exit(not ok)"
    )
    done = subprocess.run([python, "-c", code], cwd=project, capture_output=True, text=True)
    if done.returncode:
        raise BenchError(f"compiling to bytecode failed in {project}: {done.stderr.strip()}")
    return f"the project and arunner ({done.stdout.strip()}) compiled first"


def spawn(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Child:
    """Run ``cmd`` to its end and reap it with ``os.wait4``; its output is stdout, then
    stderr (each to a file of its own, so that neither can split the other's lines).

    A run that hangs gets SIGABRT, which faulthandler (enabled through the environment by
    the callers) turns into a stack dump of every thread: a hang is a runner bug to report,
    and the stacks are what the report needs. The harness blocks in ``wait4`` meanwhile, so
    it takes no CPU from the run.
    """
    problems: list[str] = []
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = perf_counter()
        child = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)

        def abort() -> None:
            problems.append(f"no result after {timeout:.0f}s; sent SIGABRT for a stack dump")
            child.send_signal(signal.SIGABRT)

        timers = [threading.Timer(timeout, abort), threading.Timer(timeout + 15, child.kill)]
        for timer in timers:
            timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            for timer in timers:
                timer.cancel()
        wall = perf_counter() - start
        # Reaped here, not by Popen: tell it, so that it never waits for the pid again.
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        output = out.read() + err.read()
        problem = problems[0] if problems else None
        return Child(child.returncode, output, wall, usage.ru_maxrss, problem)


def fail(cmd: list[str], cwd: Path, problem: str, output: str) -> BenchError:
    tail = "\n".join(output.splitlines()[-80:])
    return BenchError(f"{shlex.join(cmd)}\n  in {cwd}: {problem}\n--- output tail ---\n{tail}")


def one(pattern: re.Pattern[str], output: str, what: str) -> re.Match[str]:
    """The single match of ``pattern``; raises ValueError naming ``what`` otherwise."""
    found = list(pattern.finditer(output))
    if len(found) != 1:
        raise ValueError(f"expected one {what!r} line, found {len(found)}")
    return found[0]


def run_once(
    cmd: list[str],
    project: Path,
    expected: int,
    timeout: float,
    against: Path | None = None,
    pytest: bool = False,
) -> Sample:
    """One timed run; raises BenchError unless it passed with exactly ``expected`` tests.

    ``against``, a checkout, goes first on ``PYTHONPATH``: its ``arunner`` package is then
    the one imported, ahead of the installed one. ``pytest`` reads pytest's summary and the
    generated conftest's suite clock instead of unittest's ``Ran N tests`` line.
    """
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    if against is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(against), env.get("PYTHONPATH")]))
    child = spawn(cmd, project, env, timeout)
    output = child.output
    problem = child.problem
    if problem is None and child.returncode != 0:
        problem = f"exit code {child.returncode}"
    try:
        if problem is None:
            if pytest:
                ran = int(one(PASSED_RE, output, "N passed")[1])
                suite = float(one(PYTEST_SUITE_RE, output, "Suite time: X.XXXs")[1])
            else:
                found = one(RAN_RE, output, "Ran N tests in X.XXXs")
                ran, suite = int(found[1]), float(found[2])
            if ran != expected:
                problem = f"ran {ran} tests, expected {expected}"
            cpu = float(one(CPU_RE, output, "Suite CPU time: X.XXXs")[1])
    except ValueError as exc:
        problem = str(exc)
    if problem:
        raise fail(cmd, project, problem, output)
    setup = SETUP_RE.findall(output)
    clones = CLONE_RE.findall(output)
    return Sample(
        suite=suite,
        wall=child.wall,
        cpu=cpu,
        setup=float(setup[0]) if len(setup) == 1 else None,
        rss_kib=child.rss_kib,
        clone=sum(map(float, clones)) if clones else None,
    )
