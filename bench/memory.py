"""Memory: the peak RSS of a run of 10,000 tests against a run of 1,000.

A runner that keeps something per test (reports, results, tracebacks, loops) grows with the
suite; one that does not stays flat. Two projects are generated, one per size, with the
same shapes as ``run.py``'s; each round runs every variant on both, in a rotating order as
in ``run.py``, and the peak resident set size of each ``manage.py test`` process is read
from ``wait4`` (``ru_maxrss``). The report gives the medians and, per variant, the ratio of
the large run's peak to the small run's, with its per-round spread.

Usage::

    python bench/memory.py [--variants arunner-async,arunner-sync,django-sync]
        [--small 1000] [--large 10000] [--repeat 3] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

# Run as a script, so this directory is on sys.path.
from generate import DEFAULT_PER_CLASS, generate
from report import header
from run import VARIANTS, command
from timing import BenchError, Sample, precompile, run_once


def ratios(rss: dict[tuple[str, int], list[int]], names: list[str], small: int, large: int):
    """Per variant: (label, ratio of median peaks, per-round min, per-round max)."""
    rows = []
    for name in names:
        big, little = rss[name, large], rss[name, small]
        per_round = [b / s for b, s in zip(big, little, strict=True)]
        med = statistics.median(big) / statistics.median(little)
        rows.append((f"{name}: {large} / {small}", med, min(per_round), max(per_round)))
    return rows


def report(
    samples: dict[tuple[str, int], list[Sample]],
    names: list[str],
    sizes: tuple[int, int],
    env: dict[str, str],
    argv: list[str],
) -> str:
    rss = {k: [s.rss_kib for s in v] for k, v in samples.items()}
    out = [
        *header("Memory: peak RSS against suite size", argv, env),
        "",
        "Peak resident set size of the `manage.py test` process (`ru_maxrss` from `wait4`),",
        "MiB; suite time per test beside, for scale.",
        "",
        "| variant | tests | median RSS MiB | min | max | ms/test | command |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name in names:
        for n in sizes:
            peaks = [kib / 1024 for kib in rss[name, n]]
            suite = statistics.median(s.suite for s in samples[name, n])
            shown = shlex.join(command("python", VARIANTS[name], []))
            out.append(
                f"| {name} | {n} | {statistics.median(peaks):.1f} | {min(peaks):.1f} | "
                f"{max(peaks):.1f} | {1000 * suite / n:.3f} | `{shown}` |"
            )
    out += ["", "| ratio | of medians | per-round min | per-round max |", "|---|---:|---:|---:|"]
    for label, med, low, high in ratios(rss, names, *sizes):
        out.append(f"| {label} | {med:.2f} | {low:.2f} | {high:.2f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description="Peak RSS of a large run against a small one.")
    parser.add_argument("--variants", default="arunner-async,arunner-sync,django-sync")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--per-class", type=int, default=DEFAULT_PER_CLASS)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--out", type=Path, help="markdown report (and its .json twin)")
    args = parser.parse_args(raw)
    names = [v for v in args.variants.split(",") if v]
    bad = [v for v in names if v not in VARIANTS or VARIANTS[v].pytest or VARIANTS[v].before]
    if bad:
        parser.error(f"not a manage.py variant of run.py: {bad}")
    sizes = (args.small, args.large)
    shapes = sorted({VARIANTS[v].shape for v in names})
    runs = [(name, n) for name in names for n in sizes]
    samples: dict[tuple[str, int], list[Sample]] = {run: [] for run in runs}
    env = {
        "database": os.environ.get("ARUNNER_TEST_DB", "sqlite"),
        "python": sys.version.split()[0],
        "nproc": str(len(os.sched_getaffinity(0))),
        "load average before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    with tempfile.TemporaryDirectory(prefix="arunner-memory-") as tmp:
        projects = {n: generate(Path(tmp) / str(n), shapes, n, args.per_class) for n in sizes}
        for project in projects.values():
            env["bytecode"] = precompile(args.python, project)
        try:
            for rnd in range(args.repeat):
                turn = rnd % len(runs)
                for name, n in runs[turn:] + runs[:turn]:
                    cmd = command(args.python, VARIANTS[name], [])
                    sample = run_once(cmd, projects[n], n, args.timeout)
                    print(
                        f"round {rnd + 1:<3} {name:<16} {n:>6} tests"
                        f"  rss {sample.rss_kib / 1024:7.1f} MiB  suite {sample.suite:7.2f}s",
                        flush=True,
                    )
                    samples[name, n].append(sample)
        except BenchError as exc:
            print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
            return 1
    env["load average after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rss = {k: [s.rss_kib for s in v] for k, v in samples.items()}
    for label, med, low, high in ratios(rss, names, *sizes):
        print(f"{label:<36} {med:6.2f}  rounds {low:.2f}-{high:.2f}")
    if args.out:
        argv_shown = ["python", "bench/memory.py", *raw]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report(samples, names, sizes, env, argv_shown))
        data = {
            "argv": argv_shown,
            "environment": env,
            "rss_kib": {f"{name} {n}": rss[name, n] for name, n in runs},
            "sizes": {"small": args.small, "large": args.large},
            # Keyed by variant, whatever the sizes, for chart.py.
            "ratios": {
                label.split(":")[0]: [m, lo, hi] for label, m, lo, hi in ratios(rss, names, *sizes)
            },
        }
        args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
