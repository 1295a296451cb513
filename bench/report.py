"""run.py's results: medians, ratios, the printed table, the markdown file and its JSON twin.

Ratios are of times per test, so that a variant run on a smaller suite (``--flush-tests``)
still compares with the others; when every variant ran the same count, that is the plain
ratio of medians.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from timing import Sample


@dataclass
class Results:
    variants: list[str]
    #: Tests each variant ran.
    tests: dict[str, int]
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def suite(self, name: str) -> list[float]:
        return [s.suite for s in self.samples[name]]

    def cpu(self, name: str) -> list[float]:
        return [s.cpu for s in self.samples[name]]

    def wall(self, name: str) -> list[float]:
        return [s.wall for s in self.samples[name]]

    def with_setup(self, name: str) -> list[float]:
        """Suite time plus ``--timing``'s database set-up (cloning included)."""
        return [s.suite + (s.setup or 0.0) for s in self.samples[name]]

    def setup(self, name: str) -> list[float]:
        return [s.setup or 0.0 for s in self.samples[name]]

    def clone(self, name: str) -> list[float]:
        return [s.clone or 0.0 for s in self.samples[name]]

    def has(self, name: str, clock: Clock) -> bool:
        """Whether every run of ``name`` reported what ``clock`` needs."""
        if clock not in SETUP_CLOCKS:
            return True
        attr = "clone" if clock is Results.clone else "setup"
        return all(getattr(s, attr) is not None for s in self.samples[name])


Clock = Callable[[Results, str], list[float]]
Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RatioPairs:
    """Which ratios to show: ``times`` on the suite clocks; ``setup`` on the clocks with
    database set-up, which matter where set-up differs (``--parallel``'s clones)."""

    times: Pairs
    setup: Pairs

    def for_clock(self, clock: Clock) -> Pairs:
        return self.setup if clock in SETUP_CLOCKS else self.times


#: (title, clock, per test): the set-up alone is not per test.
CLOCKS: tuple[tuple[str, Clock, bool], ...] = (
    ("suite time", Results.suite, True),
    ("suite CPU time", Results.cpu, True),
    ("suite + database set-up", Results.with_setup, True),
    ("database set-up alone", Results.setup, False),
    ("cloning alone", Results.clone, False),
)
#: Clocks that only variants run with ``--timing`` (and ``--parallel``, for cloning) have.
SETUP_CLOCKS = (Results.with_setup, Results.setup, Results.clone)


def ratio_rows(
    results: Results,
    pairs: Pairs,
    clock: Clock = Results.suite,
    per_test: bool = True,
) -> list[tuple[str, float, float, float]]:
    """Ratio of medians (per test unless ``per_test`` is false), plus the spread of per-round
    ratios as a noise gauge.

    Runs of one round are adjacent in time, so the per-round ratio cancels
    slow drifts in machine load that the medians alone would hide.
    """
    rows = []
    for a, b in pairs:
        if a not in results.samples or b not in results.samples:
            continue
        if not (results.has(a, clock) and results.has(b, clock)):
            continue
        scale = results.tests[b] / results.tests[a] if per_test else 1.0
        xs, ys = clock(results, a), clock(results, b)
        if not all(ys):
            continue  # a zero time (SQLite's in-memory clones under fork take 0.000 s)
        per_round = [scale * x / y for x, y in zip(xs, ys, strict=True)]
        med = scale * statistics.median(xs) / statistics.median(ys)
        rows.append((f"{a} / {b}", med, min(per_round), max(per_round)))
    return rows


def stats(results: Results, name: str) -> dict[str, float]:
    """A variant's suite-time median, min, max and ms per test, and its other medians."""
    suite = results.suite(name)
    med = statistics.median(suite)
    out = {
        "median": med,
        "min": min(suite),
        "max": max(suite),
        "ms/test": 1000 * med / results.tests[name],
        "cpu": statistics.median(results.cpu(name)),
        "wall": statistics.median(results.wall(name)),
        "rss MiB": statistics.median(s.rss_kib for s in results.samples[name]) / 1024,
    }
    if results.has(name, Results.setup):
        out["setup"] = statistics.median(results.setup(name))
    return out


def table(results: Results, pairs: RatioPairs) -> str:
    lines = [
        f"{'variant':<22} {'tests':>6} {'median s':>9} {'min s':>7} {'max s':>7} {'ms/test':>8}"
        f" {'cpu s':>7} {'wall s':>7} {'setup s':>8} {'rss MiB':>8}",
    ]
    for name in results.variants:
        st = stats(results, name)
        setup = f"{st['setup']:>8.2f}" if "setup" in st else f"{'-':>8}"
        lines.append(
            f"{name:<22} {results.tests[name]:>6} {st['median']:>9.3f} {st['min']:>7.3f}"
            f" {st['max']:>7.3f} {st['ms/test']:>8.3f} {st['cpu']:>7.3f} {st['wall']:>7.2f}"
            f" {setup} {st['rss MiB']:>8.1f}"
        )
    for title, clock, per_test in CLOCKS:
        rows = ratio_rows(results, pairs.for_clock(clock), clock, per_test)
        if rows:
            lines += ["", f"{f'ratio ({title})':<46} {'median':>7} {'rounds min-max':>15}"]
            lines += [f"{label:<46} {m:>7.2f} {lo:>7.2f}-{hi:<7.2f}" for label, m, lo, hi in rows]
    return "\n".join(lines)


def header(title: str, argv: list[str], env: dict[str, str]) -> list[str]:
    """A result file's opening lines: its title, the command that made it, the environment."""
    return [
        f"# {title}",
        "",
        "```",
        shlex.join(argv),
        "```",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in env.items()),
    ]


def markdown(
    results: Results,
    pairs: RatioPairs,
    env: dict[str, str],
    argv: list[str],
    commands: dict[str, str],
) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sizes = sorted(set(results.tests.values()))
    out = [
        *header(f"Benchmark run {now}", argv, env),
        f"| tests per run | {' or '.join(map(str, sizes))} (column `tests`) |",
        f"| load average after | {' '.join(f'{x:.2f}' for x in os.getloadavg())} |",
        "",
        "Times are the suite's, in seconds, without database set-up: unittest's `Ran N tests in",
        "X s`, or for pytest the generated conftest's clock over the same span. The suite's CPU",
        "time (process time over the same span) is a second clock that leaves out the time a",
        "busy machine keeps the process waiting; with `--parallel` it counts the main process",
        "only. `setup s` is `--timing`'s `Total database setup` (migrations and clones), for",
        "`manage.py test` runs. `rss MiB` is the peak resident set size of the process",
        "(`ru_maxrss` from `wait4`; with `--parallel`, the largest of the process and its",
        "workers). Ratios are per test. Only ratios within this file are comparable.",
        "",
        "## Medians",
        "",
        "| variant | tests | median s | min s | max s | ms/test | median CPU s | median wall s"
        " | median setup s | median RSS MiB | command |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in results.variants:
        st = stats(results, name)
        setup = f"{st['setup']:.2f}" if "setup" in st else "-"
        out.append(
            f"| {name} | {results.tests[name]} | {st['median']:.3f} | {st['min']:.3f} | "
            f"{st['max']:.3f} | {st['ms/test']:.3f} | {st['cpu']:.3f} | {st['wall']:.2f} | "
            f"{setup} | {st['rss MiB']:.1f} | `{commands[name]}` |"
        )
    for title, clock, per_test in CLOCKS:
        rows = ratio_rows(results, pairs.for_clock(clock), clock, per_test)
        if rows:
            out += [
                "",
                f"## Ratios{' per test' if per_test else ''} ({title})",
                "",
                "| pair | ratio of medians | per-round min | per-round max |",
                "|---|---:|---:|---:|",
            ]
            out += [f"| {label} | {m:.2f} | {lo:.2f} | {hi:.2f} |" for label, m, lo, hi in rows]
    out += ["", "## Raw runs (suite s / CPU s / wall s / setup s)", ""]
    out.append("| round | " + " | ".join(results.variants) + " |")
    out.append("|---:|" + "---:|" * len(results.variants))
    for i in range(len(results.samples[results.variants[0]])):
        cells = []
        for v in results.variants:
            s = results.samples[v][i]
            setup = f"{s.setup:.2f}" if s.setup is not None else "-"
            cells.append(f"{s.suite:.3f} / {s.cpu:.3f} / {s.wall:.2f} / {setup}")
        out.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def write_json(
    path: Path,
    results: Results,
    pairs: RatioPairs,
    env: dict[str, str],
    argv: list[str],
) -> None:
    """The same run for programs (``chart.py``): every sample, and the ratios per clock."""
    data = {
        "argv": argv,
        "environment": env,
        "tests": results.tests,
        "samples": {v: [asdict(s) for s in results.samples[v]] for v in results.variants},
        "ratios": {
            title: {
                label: [m, lo, hi]
                for label, m, lo, hi in ratio_rows(results, pairs.for_clock(clock), clock, per_test)
            }
            for title, clock, per_test in CLOCKS
        },
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
