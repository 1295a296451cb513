"""Time test-runner variants side by side on a generated Django project.

Shared machines are noisy, so variants are never timed in separate sessions:
one invocation runs them in alternation and reports medians and ratios, and only
ratios from the same invocation are meant to be compared. Each round starts one
variant later (A B C, B C A, C A B, ...), so that every variant takes every place
in the round in turn: with a fixed order, the place moved the ratios by more than
the changes being measured (bench/README.md).

The time that matters is unittest's ``Ran N tests in X.XXXs`` (the suite,
without test-database setup); wall time is recorded beside it. Every run must
exit 0 and run exactly the expected number of tests, otherwise the benchmark
stops: timing failing or missing tests measures nothing.

Usage::

    python bench/run.py [--variants a,b,...] [--repeat 7] [-n 1000] [--out PATH] [-- EXTRA]

``--against CHECKOUT`` adds the variants ``before-sync`` and ``before-async``: the same
runs with another checkout's arunner, so a change is timed against the code before it in
the same alternation.

Anything after ``--`` is appended to every ``manage.py test`` command line.
The database is chosen by ``ARUNNER_TEST_DB`` (sqlite, postgres or mariadb).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, so this directory is on sys.path.
from generate import APP, DEFAULT_PER_CLASS, DEFAULT_TESTS, generate

# Bound at import so that nothing the harness imports later can distort it.
perf_counter = time.perf_counter

ARUNNER = "arunner.AsyncDiscoverRunner"


@dataclass(frozen=True)
class Variant:
    """One way of running one suite shape."""

    shape: str
    args: tuple[str, ...] = ()
    about: str = ""
    #: Runs arunner from the ``--against`` checkout instead of the installed one.
    before: bool = False


VARIANTS: dict[str, Variant] = {
    "django-async": Variant("async", (), "DiscoverRunner, async TestCase suite"),
    "django-sync": Variant("sync", (), "DiscoverRunner, sync TestCase suite"),
    "django-transaction": Variant(
        "transaction", (), "DiscoverRunner, async TransactionTestCase suite"
    ),
    "arunner-async": Variant(
        "async", ("--testrunner", ARUNNER), "arunner, async suite, default executor"
    ),
    "arunner-async-inline": Variant(
        "async", ("--testrunner", ARUNNER, "--executor", "inline"), "arunner, inline executor"
    ),
    "arunner-async-hop": Variant(
        "async", ("--testrunner", ARUNNER, "--executor", "hop"), "arunner, hop executor"
    ),
    "arunner-sync": Variant("sync", ("--testrunner", ARUNNER), "arunner, sync TestCase suite"),
    "before-async": Variant(
        "async", ("--testrunner", ARUNNER), "the --against checkout's arunner, async suite", True
    ),
    "before-sync": Variant(
        "sync", ("--testrunner", ARUNNER), "the --against checkout's arunner, sync suite", True
    ),
}

RATIOS: tuple[tuple[str, str], ...] = (
    ("arunner-async", "django-async"),
    ("arunner-async", "django-sync"),
    ("arunner-async-inline", "django-sync"),
    ("arunner-async-hop", "django-sync"),
    ("arunner-sync", "django-sync"),
    ("django-async", "django-sync"),
    ("django-transaction", "django-async"),
    ("before-async", "django-sync"),
    ("before-sync", "django-sync"),
    ("arunner-async", "before-async"),
    ("arunner-sync", "before-sync"),
)

RAN_RE = re.compile(r"^Ran (\d+) tests? in ([0-9.]+)s$", re.MULTILINE)
#: Printed by the generated ``manage.py`` (``generate.MANAGE_PY``).
CPU_RE = re.compile(r"^Suite CPU time: ([0-9.]+)s$", re.MULTILINE)


class BenchError(Exception):
    """A run that must not be timed: it failed, or ran the wrong tests."""


@dataclass
class Sample:
    suite: float
    wall: float
    cpu: float


@dataclass
class Results:
    variants: list[str]
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def suite(self, name: str) -> list[float]:
        return [s.suite for s in self.samples[name]]

    def cpu(self, name: str) -> list[float]:
        return [s.cpu for s in self.samples[name]]

    def wall(self, name: str) -> list[float]:
        return [s.wall for s in self.samples[name]]


def command(python: str, variant: Variant, extra: list[str]) -> list[str]:
    return [
        python,
        "manage.py",
        "test",
        "--noinput",
        *variant.args,
        *extra,
        f"{APP}.test_{variant.shape}",
    ]


def run_once(
    cmd: list[str], project: Path, expected: int, timeout: float, against: Path | None = None
) -> Sample:
    """One timed run; raises BenchError unless it passed with exactly ``expected`` tests.

    ``against``, a checkout, goes first on ``PYTHONPATH``: its ``arunner`` package is then
    the one imported, ahead of the installed one.

    A run that hangs gets SIGABRT, which faulthandler (enabled through the
    environment) turns into a stack dump of every thread: a hang is a runner bug
    to report, and the stacks are what the report needs.
    """
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    if against is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(against), env.get("PYTHONPATH")]))
    problem = None
    start = perf_counter()
    with subprocess.Popen(
        cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            problem = f"no result after {timeout:.0f}s; sent SIGABRT for a stack dump"
            proc.send_signal(signal.SIGABRT)
            try:
                stdout, stderr = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
    wall = perf_counter() - start
    output = stdout + stderr
    found = RAN_RE.findall(output)
    cpu = CPU_RE.findall(output)
    if problem is None and proc.returncode != 0:
        problem = f"exit code {proc.returncode}"
    if problem is None and len(found) != 1:
        problem = f"expected one 'Ran N tests in X.XXXs' line, found {len(found)}"
    if problem is None and int(found[0][0]) != expected:
        problem = f"ran {found[0][0]} tests, expected {expected}"
    if problem is None and len(cpu) != 1:
        problem = f"expected one 'Suite CPU time: X.XXXs' line, found {len(cpu)}"
    if problem:
        tail = "\n".join(output.splitlines()[-80:])
        raise BenchError(
            f"{shlex.join(cmd)}\n  in {project}: {problem}\n--- output tail ---\n{tail}"
        )
    return Sample(suite=float(found[0][1]), wall=wall, cpu=float(cpu[0]))


def environment(python: str, project: Path) -> dict[str, str]:
    """Versions as seen by the interpreter that runs the tests, from the project directory.

    The working directory matters: from the repository root a bare ``arunner/``
    folder imports as a namespace package and would look installed.
    """
    probe = textwrap.dedent(
        """
        import json, platform
        from importlib import metadata
        import asgiref, django
        try:
            from arunner import AsyncDiscoverRunner  # noqa: F401
            arunner_v = metadata.version("arunner")
        except Exception as exc:
            arunner_v = f"not usable ({type(exc).__name__}: {exc})"
        print(json.dumps({
            "python": platform.python_version(),
            "django": django.get_version(),
            "asgiref": asgiref.__version__,
            "arunner": arunner_v,
        }))
        """
    )
    out = subprocess.run(
        [python, "-c", probe], cwd=project, capture_output=True, text=True, check=True
    )
    env: dict[str, str] = json.loads(out.stdout)
    env["database"] = os.environ.get("ARUNNER_TEST_DB", "sqlite")
    env["nproc"] = str(
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    )
    env["platform"] = sys.platform
    env["load average before"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    repo = Path(__file__).resolve().parent.parent
    git = subprocess.run(
        ["git", "-C", str(repo), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    env["git"] = git.stdout.strip() or "unknown"
    return env


def describe_checkout(checkout: Path) -> str:
    """The ``--against`` checkout as the report names it: its path and commit."""
    git = subprocess.run(
        ["git", "-C", str(checkout), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{checkout} ({git.stdout.strip() or 'not a git checkout'})"


Clock = Callable[[Results, str], list[float]]


def stolen_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests so far (``steal`` in ``/proc/stat``), all
    CPUs together; None where there is no such count. A run with much of it stolen is one
    whose times say more about the neighbours than about the runners."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def ratio_rows(
    results: Results, clock: Clock = Results.suite
) -> list[tuple[str, float, float, float]]:
    """Ratio of medians, plus the spread of per-round ratios as a noise gauge.

    Runs of one round are adjacent in time, so the per-round ratio cancels
    slow drifts in machine load that the medians alone would hide.
    """
    rows = []
    for a, b in RATIOS:
        if a not in results.samples or b not in results.samples:
            continue
        per_round = [x / y for x, y in zip(clock(results, a), clock(results, b), strict=True)]
        med = statistics.median(clock(results, a)) / statistics.median(clock(results, b))
        rows.append((f"{a} / {b}", med, min(per_round), max(per_round)))
    return rows


def stats(results: Results, name: str, n: int) -> tuple[float, float, float, float, float, float]:
    """(median, min, max, ms per test) of a variant's suite times, and its median CPU and
    wall times."""
    suite = results.suite(name)
    med = statistics.median(suite)
    cpu = statistics.median(results.cpu(name))
    return med, min(suite), max(suite), 1000 * med / n, cpu, statistics.median(results.wall(name))


def table(results: Results, n: int) -> str:
    lines = [
        f"{'variant':<22} {'median s':>9} {'min s':>7} {'max s':>7} {'ms/test':>8} {'cpu s':>7}"
        f" {'wall s':>7}",
    ]
    for name in results.variants:
        med, low, high, per_test, cpu, wall = stats(results, name, n)
        lines.append(
            f"{name:<22} {med:>9.3f} {low:>7.3f} {high:>7.3f} {per_test:>8.3f} {cpu:>7.3f}"
            f" {wall:>7.2f}"
        )
    for title, clock in (("suite time", Results.suite), ("suite CPU time", Results.cpu)):
        rows = ratio_rows(results, clock)
        if rows:
            lines += ["", f"{f'ratio ({title})':<46} {'median':>7} {'rounds min-max':>15}"]
            lines += [f"{label:<46} {m:>7.2f} {lo:>7.2f}-{hi:<7.2f}" for label, m, lo, hi in rows]
    return "\n".join(lines)


def markdown(
    results: Results, env: dict[str, str], argv: list[str], n: int, commands: dict[str, str]
) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"# Benchmark run {now}",
        "",
        "```",
        shlex.join(argv),
        "```",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in env.items()),
        f"| tests per run | {n} |",
        f"| load average after | {' '.join(f'{x:.2f}' for x in os.getloadavg())} |",
        "",
        "Times are unittest's suite time (`Ran N tests in X s`, no DB setup), in seconds;",
        "the suite's CPU time (process time over the same span, printed by the generated",
        "`manage.py`) is a second clock that leaves out the time a busy machine keeps the",
        "process waiting. Only ratios within this file are comparable.",
        "",
        "## Medians",
        "",
        "| variant | median s | min s | max s | ms/test | median CPU s | median wall s | command |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in results.variants:
        med, low, high, per_test, cpu, wall = stats(results, name, n)
        out.append(
            f"| {name} | {med:.3f} | {low:.3f} | {high:.3f} | {per_test:.3f} | {cpu:.3f} | "
            f"{wall:.2f} | `{commands[name]}` |"
        )
    for title, clock in (("suite time", Results.suite), ("suite CPU time", Results.cpu)):
        rows = ratio_rows(results, clock)
        if rows:
            out += [
                "",
                f"## Ratios ({title})",
                "",
                "| pair | ratio of medians | per-round min | per-round max |",
            ]
            out += ["|---|---:|---:|---:|"]
            out += [f"| {label} | {m:.2f} | {lo:.2f} | {hi:.2f} |" for label, m, lo, hi in rows]
    out += ["", "## Raw runs (suite s / CPU s / wall s)", ""]
    out.append("| round | " + " | ".join(results.variants) + " |")
    out.append("|---:|" + "---:|" * len(results.variants))
    rounds = len(results.samples[results.variants[0]])
    for i in range(rounds):
        cells = [
            f"{results.samples[v][i].suite:.3f} / {results.samples[v][i].cpu:.3f}"
            f" / {results.samples[v][i].wall:.2f}"
            for v in results.variants
        ]
        out.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        description="Time test-runner variants side by side on a generated Django project.",
        epilog="variants: "
        + "; ".join(f"{k} = {v.about}" for k, v in VARIANTS.items())
        + ". Arguments after -- are passed to every manage.py test run.",
    )
    parser.add_argument(
        "--variants",
        default=",".join(k for k, v in VARIANTS.items() if not v.before),
        help="comma-separated subset of the variants below (default: all but before-*)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="a checkout of another arunner revision, for the before-* variants",
    )
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed rounds first; they also catch failures early"
    )
    parser.add_argument(
        "-n", "--tests", type=int, default=DEFAULT_TESTS, help="tests per suite (default 1000)"
    )
    parser.add_argument("--per-class", type=int, default=DEFAULT_PER_CLASS)
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds before a run counts as hung (600)"
    )
    parser.add_argument("--out", type=Path, help="also write a markdown report here")
    parser.add_argument(
        "--project-dir",
        type=Path,
        help="generate the project here and keep it (default: a temporary directory)",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for the test runs (default: this one)"
    )
    args = parser.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        parser.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if len(set(names)) != len(names):
        parser.error("a variant is listed twice")
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be >= 1 and --warmup >= 0")
    wants_before = any(VARIANTS[v].before for v in names)
    if wants_before and args.against is None:
        parser.error("the before-* variants need --against CHECKOUT")
    if args.against is not None:
        args.against = args.against.resolve()
        if not (args.against / "arunner" / "__init__.py").is_file():
            parser.error(f"--against {args.against}: no arunner package there")
    args.variants = names
    return args, extra


def bench(args: argparse.Namespace, extra: list[str], project: Path) -> Results:
    shapes = sorted({VARIANTS[v].shape for v in args.variants})
    generate(project, shapes, args.tests, args.per_class)
    commands = {v: command(args.python, VARIANTS[v], extra) for v in args.variants}
    results = Results(args.variants, {v: [] for v in args.variants})
    total = args.warmup + args.repeat
    for rnd in range(total):
        timed = rnd >= args.warmup
        label = f"round {rnd - args.warmup + 1}/{args.repeat}" if timed else "warm-up"
        turn = rnd % len(args.variants)
        for name in args.variants[turn:] + args.variants[:turn]:
            against = args.against if VARIANTS[name].before else None
            sample = run_once(commands[name], project, args.tests, args.timeout, against)
            print(
                f"{label:<12} {name:<22} suite {sample.suite:8.3f}s  cpu {sample.cpu:7.3f}s"
                f"  wall {sample.wall:7.2f}s",
                flush=True,
            )
            if timed:
                results.samples[name].append(sample)
    return results


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args, extra = parse_args(raw)
    with contextlib.ExitStack() as stack:
        if args.project_dir:
            project = args.project_dir.resolve()
            project.mkdir(parents=True, exist_ok=True)
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="arunner-bench-"))
            project = Path(tmp)
        env = environment(args.python, project)
        if args.against is not None:
            env["against"] = describe_checkout(args.against)
        print(" ".join(f"{k}={v}" for k, v in env.items()), flush=True)
        wants_arunner = any(ARUNNER in VARIANTS[v].args for v in args.variants)
        if wants_arunner and env["arunner"].startswith("not usable"):
            print(f"\nBENCHMARK ABORTED: arunner is {env['arunner']}", file=sys.stderr)
            return 1
        stolen = stolen_seconds()
        try:
            results = bench(args, extra, project)
        except BenchError as exc:
            print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
            return 1
        now = stolen_seconds()
        if stolen is not None and now is not None:
            env["CPU time stolen by the host during the rounds"] = f"{now - stolen:.1f} s"
    print()
    print(table(results, args.tests))
    if args.out:
        commands = {v: shlex.join(command("python", VARIANTS[v], extra)) for v in args.variants}
        argv_shown = ["python", "bench/run.py", *raw]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown(results, env, argv_shown, args.tests, commands))
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
