"""How even are ``--shard`` parts? Slowest part / (total / N) on generated suites.

Builds suites of 2000 tests (real ``unittest.TestCase`` classes, so the split groups them as
a run does) in classes of uneven size, gives each test a lognormal time (a per-class factor
on top, so whole classes are slow, as with ``setUpTestData`` or a live server), and splits
them with arunner's own ``arunner.runsetup.shard.split``. Three scenarios, each measured on
the tests' true times:

- ``recorded``: every time is in the durations file (the issue's target: ≤ 1.1 for N = 4);
- ``10% new``: a tenth of the tests have no recorded time (counted at the mean);
- ``by count``: no durations file.

Each scenario runs over many seeds; the file gives the median and the worst ratio. No
database and no subprocess: the split is pure, and its input is what a run reads.

    python bench/shardbalance.py --out bench/results/$(date +%F)-shardbalance.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import random
import statistics
import subprocess
import sys
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's arunner, not an installed one

from report import header  # noqa: E402

from arunner.runsetup import shard  # noqa: E402


def generate(rng: random.Random, size: int, index: int) -> tuple[list, dict[str, float]]:
    """``size`` tests in classes of 1 to 60 tests, and each test's true time in seconds."""
    tests: list[unittest.TestCase] = []
    times: dict[str, float] = {}
    number = 0
    while len(tests) < size:
        count = min(size - len(tests), max(1, int(rng.lognormvariate(2.2, 0.8))), 60)
        names = [f"test_{i:03d}" for i in range(count)]
        body = {name: lambda self: None for name in names}
        module = f"bench_suite_{index}.module_{number % 40}"
        cls = type(f"Case{number}", (unittest.TestCase,), {**body, "__module__": module})
        factor = rng.lognormvariate(0, 1.0)
        for name in names:
            test = cls(name)
            tests.append(test)
            times[test.id()] = factor * rng.lognormvariate(-3.5, 1.2)
        number += 1
    return tests, times


def ratio(tests: list, parts: int, known: dict[str, float] | None, true: dict[str, float]) -> float:
    """Slowest part / ideal, in true time, when the split saw ``known``."""
    loads = []
    for k in range(1, parts + 1):
        kept, _ = shard.split(tests, shard.Shard(k, parts, "bench"), known)
        loads.append(sum(true[t.id()] for t in kept))
    return max(loads) / (sum(loads) / parts)


def measure(size: int, parts: int, seeds: int) -> tuple[dict[str, list[float]], float, int]:
    ratios: dict[str, list[float]] = {"recorded": [], "10% new": [], "by count": []}
    split_seconds = []
    classes = 0
    for seed in range(seeds):
        rng = random.Random(seed)
        tests, true = generate(rng, size, seed)
        classes += len({type(t) for t in tests})
        started = time.perf_counter()
        ratios["recorded"].append(ratio(tests, parts, true, true))
        split_seconds.append((time.perf_counter() - started) / parts)
        partial = {k: v for k, v in true.items() if rng.random() >= 0.1}
        ratios["10% new"].append(ratio(tests, parts, partial, true))
        ratios["by count"].append(ratio(tests, parts, None, true))
    return ratios, statistics.median(split_seconds), classes // seeds


def git_revision() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--tests", type=int, default=2000)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    ratios, split_seconds, classes = measure(args.tests, args.parts, args.seeds)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    env = {
        "python": platform.python_version(),
        "git": git_revision(),
        "tests per suite": str(args.tests),
        "classes per suite (mean)": str(classes),
        "parts": str(args.parts),
        "suites (seeds)": str(args.seeds),
        "one split of a suite (median)": f"{split_seconds * 1000:.1f} ms",
    }
    lines = [
        *header(f"Shard balance {now}", ["python", *sys.argv], env),
        "",
        "Slowest part's true time / (total / parts). Target: `recorded` worst ≤ 1.1.",
        "",
        "| scenario | median | worst | ≤ 1.1 |",
        "|---|---:|---:|---|",
    ]
    for name, values in ratios.items():
        worst = max(values)
        verdict = "yes" if worst <= 1.1 else "no"
        lines.append(f"| {name} | {statistics.median(values):.4f} | {worst:.4f} | {verdict} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if max(ratios["recorded"]) > 1.1:
        sys.exit(1)


if __name__ == "__main__":
    main()
