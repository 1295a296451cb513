"""Time test-runner variants side by side on a generated Django project.

Shared machines are noisy, so variants are never timed in separate sessions:
one invocation runs them in alternation and reports medians and ratios, and only
ratios from the same invocation are meant to be compared. Each round starts one
variant later (A B C, B C A, C A B, ...), so that every variant takes every place
in the round in turn: with a fixed order, the place moved the ratios by more than
the changes being measured (bench/README.md).

The time that matters is unittest's ``Ran N tests in X.XXXs`` (the suite,
without test-database setup; for pytest the generated conftest's clock over the same span);
wall time, ``--timing``'s database set-up and the peak RSS are recorded beside it. Every run
must exit 0 and run exactly the expected number of tests, otherwise the benchmark
stops: timing failing or missing tests measures nothing.

Usage::

    python bench/run.py [--variants headline|parallel|a,b,...] [--repeat 7] [-n 1000]
        [--tables 40] [--flush-tests N] [--out PATH] [-- EXTRA]

``--against CHECKOUT`` adds the variants ``before-sync`` and ``before-async``: the same
runs with another checkout's arunner, so a change is timed against the code before it in
the same alternation.

Anything after ``--`` is appended to every ``manage.py test`` command line.
The database is chosen by ``ARUNNER_TEST_DB`` (sqlite, postgres or mariadb).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

# Run as a script, so this directory is on sys.path.
from generate import APP, DEFAULT_PER_CLASS, DEFAULT_TESTS, generate, tests_for
from report import RatioPairs, Results, markdown, table, write_json
from timing import BenchError, run_once

ARUNNER = "arunner.AsyncDiscoverRunner"


@dataclass(frozen=True)
class Variant:
    """One way of running one suite shape."""

    shape: str
    args: tuple[str, ...] = ()
    about: str = ""
    #: Runs arunner from the ``--against`` checkout instead of the installed one.
    before: bool = False
    #: Run by pytest (pytest-django + pytest-asyncio) instead of ``manage.py test``.
    pytest: bool = False


P2 = ("--parallel", "2")

VARIANTS: dict[str, Variant] = {
    "django-async": Variant("async", (), "DiscoverRunner, async TestCase suite"),
    "django-sync": Variant("sync", (), "DiscoverRunner, sync TestCase suite"),
    "django-transaction": Variant(
        "transaction", (), "DiscoverRunner, async TransactionTestCase suite"
    ),
    "pytest-transaction": Variant(
        "pytest_transaction",
        about="pytest-django + pytest-asyncio, @pytest.mark.django_db(transaction=True)",
        pytest=True,
    ),
    "pytest-db": Variant(
        "pytest_db",
        about="pytest-django + pytest-asyncio, default @pytest.mark.django_db (leaks rows)",
        pytest=True,
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
    "django-sync-p2": Variant("sync", P2, "DiscoverRunner --parallel 2, sync suite"),
    "arunner-async-p2": Variant(
        "async", ("--testrunner", ARUNNER, *P2), "arunner --parallel 2, async suite"
    ),
    "arunner-sync-p2": Variant(
        "sync", ("--testrunner", ARUNNER, *P2), "arunner --parallel 2, sync suite"
    ),
    "before-async": Variant(
        "async", ("--testrunner", ARUNNER), "the --against checkout's arunner, async suite", True
    ),
    "before-sync": Variant(
        "sync", ("--testrunner", ARUNNER), "the --against checkout's arunner, sync suite", True
    ),
}

#: Names ``--variants`` accepts for a set of variants.
GROUPS: dict[str, tuple[str, ...]] = {
    # arunner against what users run instead of it.
    "headline": (
        "django-sync",
        "django-async",
        "django-transaction",
        "pytest-transaction",
        "pytest-db",
        "arunner-async",
        "arunner-sync",
    ),
    # Item 2: --parallel 2 against one process, set-up (cloning) included.
    "parallel": (
        "django-sync",
        "django-sync-p2",
        "arunner-async",
        "arunner-async-p2",
        "arunner-sync",
        "arunner-sync-p2",
    ),
    # The variants this script ran by default before the groups.
    "executors": (
        "django-async",
        "django-sync",
        "django-transaction",
        "arunner-async",
        "arunner-async-inline",
        "arunner-async-hop",
        "arunner-sync",
    ),
}

PARALLEL_RATIOS: tuple[tuple[str, str], ...] = (
    # --parallel 2's speed-up: one process over two.
    ("django-sync", "django-sync-p2"),
    ("arunner-async", "arunner-async-p2"),
    ("arunner-sync", "arunner-sync-p2"),
    # arunner's set-up (its clones) and run against Django's.
    ("arunner-async-p2", "django-sync-p2"),
    ("arunner-sync-p2", "django-sync-p2"),
)

RATIOS: tuple[tuple[str, str], ...] = (
    ("arunner-async", "django-async"),
    ("arunner-async", "django-sync"),
    ("arunner-async-inline", "django-sync"),
    ("arunner-async-hop", "django-sync"),
    ("arunner-sync", "django-sync"),
    ("django-async", "django-sync"),
    ("django-transaction", "django-async"),
    # How many times slower than arunner's async tests the alternatives are.
    ("django-transaction", "arunner-async"),
    ("pytest-transaction", "arunner-async"),
    ("pytest-db", "arunner-async"),
    ("before-async", "django-sync"),
    ("before-sync", "django-sync"),
    ("arunner-async", "before-async"),
    ("arunner-sync", "before-sync"),
    *PARALLEL_RATIOS,
)
SHOWN = RatioPairs(times=RATIOS, setup=PARALLEL_RATIOS)


def command(python: str, variant: Variant, extra: list[str]) -> list[str]:
    """The command line of one run. ``--timing`` makes ``manage.py test`` print its database
    set-up time; ``extra`` (after ``--``) goes to ``manage.py test`` runs only."""
    module = f"{APP}.test_{variant.shape}"
    if variant.pytest:
        return [python, "-m", "pytest", "-q", f"{module.replace('.', '/')}.py"]
    return [python, "manage.py", "test", "--noinput", "--timing", *variant.args, *extra, module]


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
        def version(name):
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                return "not installed"
        print(json.dumps({
            "python": platform.python_version(),
            "django": django.get_version(),
            "asgiref": asgiref.__version__,
            "arunner": arunner_v,
            "pytest-django": version("pytest-django"),
            "pytest-asyncio": version("pytest-asyncio"),
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


def stolen_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests so far (``steal`` in ``/proc/stat``), all
    CPUs together; None where there is no such count. A run with much of it stolen is one
    whose times say more about the neighbours than about the runners."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        description="Time test-runner variants side by side on a generated Django project.",
        epilog="variants: "
        + "; ".join(f"{k} = {v.about}" for k, v in VARIANTS.items())
        + ". groups: "
        + "; ".join(f"{k} = {','.join(v)}" for k, v in GROUPS.items())
        + ". Arguments after -- are passed to every manage.py test run (not to pytest).",
    )
    parser.add_argument(
        "--variants",
        default="headline",
        help="comma-separated variants and groups below (default: headline)",
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
        "--tables", type=int, default=1, help="models the tests spread over (default 1)"
    )
    parser.add_argument(
        "--flush-tests",
        type=int,
        help="tests in the flush-based suites (TransactionTestCase, transaction=True); "
        "default: -n. Ratios are per test either way",
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds before a run counts as hung (600)"
    )
    parser.add_argument(
        "--out", type=Path, help="also write a markdown report here, and its data as .json"
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        help="generate the project here and keep it (default: a temporary directory)",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for the test runs (default: this one)"
    )
    args = parser.parse_args(argv)
    names = [n for v in args.variants.split(",") if v for n in GROUPS.get(v, (v,))]
    names = list(dict.fromkeys(names))
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        parser.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
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
    generate(project, shapes, args.tests, args.per_class, args.tables, args.flush_tests)
    commands = {v: command(args.python, VARIANTS[v], extra) for v in args.variants}
    tests = {v: tests_for(VARIANTS[v].shape, args.tests, args.flush_tests) for v in args.variants}
    results = Results(args.variants, tests, {v: [] for v in args.variants})
    total = args.warmup + args.repeat
    for rnd in range(total):
        timed = rnd >= args.warmup
        label = f"round {rnd - args.warmup + 1}/{args.repeat}" if timed else "warm-up"
        turn = rnd % len(args.variants)
        for name in args.variants[turn:] + args.variants[:turn]:
            variant = VARIANTS[name]
            against = args.against if variant.before else None
            sample = run_once(
                commands[name], project, tests[name], args.timeout, against, variant.pytest
            )
            setup = "" if sample.setup is None else f"  setup {sample.setup:6.2f}s"
            print(
                f"{label:<12} {name:<22} suite {sample.suite:8.3f}s  cpu {sample.cpu:7.3f}s"
                f"  wall {sample.wall:7.2f}s{setup}  rss {sample.rss_kib / 1024:6.1f} MiB",
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
        env["tables"] = str(args.tables)
        if args.against is not None:
            env["against"] = describe_checkout(args.against)
        print(" ".join(f"{k}={v}" for k, v in env.items()), flush=True)
        wants_arunner = any(ARUNNER in VARIANTS[v].args for v in args.variants)
        if wants_arunner and env["arunner"].startswith("not usable"):
            print(f"\nBENCHMARK ABORTED: arunner is {env['arunner']}", file=sys.stderr)
            return 1
        wants_pytest = any(VARIANTS[v].pytest for v in args.variants)
        missing = [p for p in ("pytest-django", "pytest-asyncio") if env[p] == "not installed"]
        if wants_pytest and missing:
            print(
                f"\nBENCHMARK ABORTED: the pytest variants need {', '.join(missing)}"
                " (pip install -e '.[bench]')",
                file=sys.stderr,
            )
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
    print(table(results, SHOWN))
    if args.out:
        commands = {v: shlex.join(command("python", VARIANTS[v], extra)) for v in args.variants}
        argv_shown = ["python", "bench/run.py", *raw]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown(results, SHOWN, env, argv_shown, commands))
        write_json(args.out.with_suffix(".json"), results, SHOWN, env, argv_shown)
        print(f"\nwrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
