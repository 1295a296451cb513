"""Where arunner's per-test cost goes: each piece switched off in turn.

A measurement aid, not a way to run tests: it replaces parts of arunner with no-ops in this
process and times a generated suite in one process as ``inprocess.py`` does, in alternation
with DiscoverRunner's run of the sync suite. What a piece costs is how much faster the suite
runs without it.

* ``--suite sync`` (default): the thread guard, the per-test diagnostics, the reports, the
  whole per-test preparation.
* ``--suite async``: everything a coroutine test gets beyond a bare run of its coroutine on
  the class's loop (the session, the phase hooks, the drain, the owner checks).
  The bare run is the floor of this design: what is left is the loop and the ORM calls.

Usage::

    python bench/attribute.py [--suite sync|async] [--rounds 9] [--out PATH]
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


def sync_experiments() -> dict[str, Callable[[], object]]:
    """Name -> a context manager that switches one piece off."""
    from arunner.guards import diagnostics, threadguard
    from arunner.report import recorder
    from arunner.suite import runcontext

    def nothing(*args: object, **kwargs: object) -> None:
        return None

    return {
        "arunner": lambda: replaced(),
        "without the thread guard": lambda: replaced(
            (threadguard.ThreadGuard, "begin", nothing), (threadguard.ThreadGuard, "end", nothing)
        ),
        "without diagnostics": lambda: replaced(
            (diagnostics.TestDiagnostics, "begin", nothing),
            (diagnostics.TestDiagnostics, "end", nothing),
        ),
        "without reports": lambda: replaced((recorder.ReportRecorder, "records", False)),
        "without per-test preparation": lambda: replaced(
            (runcontext.RunContext, "before_test", nothing)
        ),
    }


class _BareRun:
    """Stands in for ``PhaseHooks``: the test method's coroutine runs on the class's loop and
    nothing else happens (no session, drain or owner checks)."""

    def __init__(self, context: object, test: object) -> None:
        self.context = context
        self.test = test

    def install(self) -> None:
        test = self.test
        name = test._testMethodName  # type: ignore[attr-defined]
        coroutine_function = getattr(type(test), name)
        bridge = self.context.class_bridge  # type: ignore[attr-defined]
        attributes = vars(test)
        attributes["_callTestMethod"] = lambda method: bridge().run(coroutine_function(test))
        attributes[name] = lambda: None

    def finish(self) -> None:
        """Nothing to drain: no session ran."""

    def uninstall(self) -> None:
        vars(self.test).pop("_callTestMethod", None)


def _bare_run(test: object, _method: bool, context: object, _aliases: object) -> _BareRun:
    """Made where ``RunContext.before_test`` makes a coroutine test's ``PhaseHooks``."""
    return _BareRun(context, test)


def async_experiments() -> dict[str, Callable[[], object]]:
    from arunner.suite import testcase

    return {
        "arunner": lambda: replaced(),
        "bare loop run of the coroutine": lambda: replaced((testcase, "PhaseHooks", _bare_run)),
    }


def measure(suite: str, rounds: int) -> dict[str, list[float]]:
    cases = sync_experiments() if suite == "sync" else async_experiments()
    samples: dict[str, list[float]] = {"DiscoverRunner": [], **{name: [] for name in cases}}
    for _ in range(rounds):
        samples["DiscoverRunner"].append(run_round("sync", False))
        for name, switch in cases.items():
            with switch():  # type: ignore[attr-defined]
                samples[name].append(run_round(suite, True))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("sync", "async"), default="sync")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out = args.out.resolve() if args.out else None  # setup() moves into the project
    with tempfile.TemporaryDirectory(prefix="arunner-attribute-") as tmp:
        teardown = setup(generate(Path(tmp), ["sync", "async"]))
        try:
            samples = measure(args.suite, args.rounds)
        finally:
            teardown()
    base = min(samples["DiscoverRunner"])
    lines = [
        "```",
        "python bench/attribute.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "```",
        "",
        f"python {sys.version.split()[0]}; the {args.suite} suite under arunner, the sync suite "
        f"under DiscoverRunner; microseconds per test, fastest of {args.rounds} alternating "
        "rounds in one process.",
        "",
        "| variant | fastest | over DiscoverRunner's sync | ratio | median |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in samples.items():
        lines.append(
            f"| {name} | {min(values):.1f} | +{min(values) - base:.1f} "
            f"| {min(values) / base:.3f} | {statistics.median(values):.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        title = f"# {args.suite.capitalize()} per-test cost by piece"
        out.write_text(f"{title}\n\n{text}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
