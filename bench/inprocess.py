"""Per-test cost of the runners, measured in one process: a low-noise companion to run.py.

run.py times whole ``manage.py test`` processes, whose suite times swing by tens of percent
on a shared machine. This script sets the generated project's test database up once, then
runs the same suites many times in one process, in alternation, and reports the fastest
round of each variant in microseconds per test: the floor that machine load only raises.
It measures arunner's suite machinery (sessions, hooks, guards, reports) as ``manage.py
test`` runs it, without process start-up, and answers "did this change make a test
cheaper?" to within about a microsecond.

Usage::

    python bench/inprocess.py [--rounds 15] [-n 1000] [--out PATH] [--arunner CHECKOUT]

``--arunner`` imports arunner from another checkout. ``--against`` also loads another
checkout's arunner, as the package ``arunner_before``, and adds its runs of both suites to
the alternation: a before/after comparison within one process, which machine load cannot
tilt (``git worktree add /tmp/before REV``, then ``--against /tmp/before``).

Stdlib plus Django and arunner; SQLite only.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import statistics
import sys
import tempfile
import time
import unittest
from collections.abc import Callable
from pathlib import Path

# Run as a script, so this directory is on sys.path.
from generate import APP, generate

perf_counter = time.perf_counter

#: variant -> (suite shape, runs under arunner)
VARIANTS = {
    "django-sync": ("sync", False),
    "arunner-sync": ("sync", True),
    "arunner-async": ("async", True),
}


def setup(project: Path) -> Callable[[], None]:
    """Import the generated project and create its test database; return the teardown."""
    sys.path.insert(0, str(project))
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchproj.settings"
    os.environ["ARUNNER_TEST_DB"] = "sqlite"
    os.chdir(project)  # where arunner keeps its last-failed record
    import django
    from django.test.runner import DiscoverRunner
    from django.test.utils import setup_test_environment

    django.setup()
    setup_test_environment()
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old = runner.setup_databases()
    return lambda: runner.teardown_databases(old)


def load_before(checkout: Path) -> str:
    """Import ``checkout``'s arunner as the package ``arunner_before``; return that name."""
    name = "arunner_before"
    package = checkout.resolve() / "arunner"
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"no arunner package in {checkout}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return name


def run_round(shape: str, under_arunner: bool, package: str = "arunner") -> float:
    """Run one fresh suite of ``shape`` the way ``manage.py test`` would (the runner's own
    ``run_suite``, quiet), under ``package``'s runner or DiscoverRunner; return microseconds
    per test."""
    from django.test.runner import DiscoverRunner
    from django.test.utils import iter_test_cases

    arunner = importlib.import_module(package)

    tests = list(
        iter_test_cases(unittest.defaultTestLoader.loadTestsFromName(f"{APP}.test_{shape}"))
    )
    runner_class = arunner.AsyncDiscoverRunner if under_arunner else DiscoverRunner
    runner = runner_class(verbosity=0, interactive=False)
    suite = runner.test_suite(tests)  # the runner's own suite class, whatever its module
    with contextlib.redirect_stderr(io.StringIO()):
        started = perf_counter()
        result = runner.run_suite(suite)
        elapsed = perf_counter() - started
    if not result.wasSuccessful() or result.testsRun != len(tests) or not tests:
        raise SystemExit(f"{shape} suite failed: {(result.errors or result.failures)[:1]}")
    return elapsed / result.testsRun * 1e6


def measure(rounds: int, before: str | None = None) -> dict[str, list[float]]:
    variants = {name: (shape, under, "arunner") for name, (shape, under) in VARIANTS.items()}
    if before is not None:
        variants["before-sync"] = ("sync", True, before)
        variants["before-async"] = ("async", True, before)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (shape, under_arunner, package) in variants.items():
            samples[name].append(run_round(shape, under_arunner, package))
    return samples


def report(samples: dict[str, list[float]], command: str) -> str:
    base = min(samples["django-sync"])
    lines = [
        "```",
        command,
        "```",
        "",
        f"python {sys.version.split()[0]}; microseconds per test, {len(samples['django-sync'])}"
        " alternating rounds in one process; ratios of the fastest rounds.",
        "",
        "| variant | fastest | median | / django-sync |",
        "|---|---:|---:|---:|",
    ]
    for name, values in samples.items():
        fastest = min(values)
        lines.append(
            f"| {name} | {fastest:.1f} | {statistics.median(values):.1f} | {fastest / base:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("-n", "--tests", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--arunner", type=Path, help="import arunner from this checkout")
    parser.add_argument(
        "--against", type=Path, help="also time this checkout's arunner, in alternation"
    )
    args = parser.parse_args(argv)
    out = args.out.resolve() if args.out is not None else None  # setup changes directory
    if args.arunner is not None:
        sys.path.insert(0, str(args.arunner.resolve()))
    with tempfile.TemporaryDirectory(prefix="arunner-inprocess-") as tmp:
        project = generate(Path(tmp), ["sync", "async"], args.tests)
        teardown = setup(project)
        try:
            before = load_before(args.against) if args.against is not None else None
            samples = measure(args.rounds, before)
        finally:
            teardown()
    command = "python bench/inprocess.py " + " ".join(argv if argv is not None else sys.argv[1:])
    from arunner import __file__ as imported

    text = report(samples, command.strip()) + f"\narunner imported from `{Path(imported).parent}`\n"
    print(text)
    if out is not None:
        out.write_text(f"# In-process per-test cost\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
