"""Where arunner's per-test cost on sync tests goes: each piece switched off in turn.

A measurement aid, not a way to run tests: it replaces parts of arunner with no-ops in this
process (the thread guard, the per-test diagnostics, the reports, the whole per-test
preparation) and times the generated sync suite in one process as ``inprocess.py`` does,
in alternation with DiscoverRunner. What a piece costs is how much faster the suite runs
without it.

Usage::

    python bench/attribute.py [--rounds 9] [--out PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from generate import generate
from inprocess import run_round, setup


@contextmanager
def replaced(*patches: tuple[object, str, object]) -> Iterator[None]:
    saved = [(target, name, getattr(target, name)) for target, name, _ in patches]
    for target, name, value in patches:
        setattr(target, name, value)
    try:
        yield
    finally:
        for target, name, value in saved:
            setattr(target, name, value)


def experiments() -> dict[str, Callable[[], object]]:
    """Name -> a context manager that switches one piece off."""
    from arunner import diagnostics, escapes, reports, suite

    def nothing(*args: object, **kwargs: object) -> None:
        return None

    return {
        "arunner": lambda: replaced(),
        "without the thread guard": lambda: replaced(
            (escapes.ThreadGuard, "begin", nothing), (escapes.ThreadGuard, "end", nothing)
        ),
        "without diagnostics": lambda: replaced(
            (diagnostics.TestDiagnostics, "begin", nothing),
            (diagnostics.TestDiagnostics, "end", nothing),
        ),
        "without reports": lambda: replaced((reports.ReportRecorder, "records", False)),
        "without per-test preparation": lambda: replaced(
            (suite.RunContext, "before_test", nothing)
        ),
    }


def measure(rounds: int) -> dict[str, list[float]]:
    cases = experiments()
    samples: dict[str, list[float]] = {"DiscoverRunner": [], **{name: [] for name in cases}}
    for _ in range(rounds):
        samples["DiscoverRunner"].append(run_round("sync", False))
        for name, switch in cases.items():
            with switch():  # type: ignore[attr-defined]
                samples[name].append(run_round("sync", True))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out = args.out.resolve() if args.out else None  # setup() moves into the project
    with tempfile.TemporaryDirectory(prefix="arunner-attribute-") as tmp:
        teardown = setup(generate(Path(tmp), ["sync"]))
        try:
            samples = measure(args.rounds)
        finally:
            teardown()
    base = min(samples["DiscoverRunner"])
    lines = [
        "```",
        "python bench/attribute.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "```",
        "",
        f"python {sys.version.split()[0]}; sync suite, microseconds per test, fastest of "
        f"{args.rounds} alternating rounds in one process.",
        "",
        "| variant | fastest | over DiscoverRunner | median |",
        "|---|---:|---:|---:|",
    ]
    for name, values in samples.items():
        lines.append(
            f"| {name} | {min(values):.1f} | +{min(values) - base:.1f} "
            f"| {statistics.median(values):.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.write_text("# Sync per-test cost by piece\n\n" + text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
