"""A PNG of the headline ratios per database, from committed result files.

Reads the JSON twins that ``run.py``, ``startup.py`` and ``memory.py`` write beside their
markdown (``--out X.md`` also writes ``X.json``), takes each headline ratio from the files
that have it, and draws one bar per database with the per-round min-max as its whisker
and the issue's target as a mark. The x axis is logarithmic: the ratios range from about
1 to tens. Needs matplotlib (the ``bench`` extra).

Usage::

    python bench/chart.py bench/results/DATE-*.json [--out bench/results/headline-ratios.png]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

DATABASES = ("sqlite", "postgres", "mariadb")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "headline-ratios.png"


@dataclass(frozen=True)
class Headline:
    """One bar group: where its ratio is in a result file, and the issue's target."""

    title: str
    #: The kind of result file it is read from (``kind``).
    source: str
    clock: str | None
    key: str
    target: float | None
    #: "<=" when lower is better, ">=" when higher is.
    sense: str


HEADLINES = (
    Headline(
        "arunner async / Django sync TestCase",
        "headline",
        "suite time",
        "arunner-async / django-sync",
        1.2,
        "<=",
    ),
    Headline(
        "arunner async / Django async TestCase",
        "headline",
        "suite time",
        "arunner-async / django-async",
        None,
        "<=",
    ),
    Headline(
        "Django async TransactionTestCase / arunner async",
        "headline",
        "suite time",
        "django-transaction / arunner-async",
        20,
        ">=",
    ),
    Headline(
        "pytest-django transaction=True / arunner async",
        "headline",
        "suite time",
        "pytest-transaction / arunner-async",
        20,
        ">=",
    ),
    Headline(
        "pytest-django default (leaks) / arunner async",
        "headline",
        "suite time",
        "pytest-db / arunner-async",
        None,
        ">=",
    ),
    Headline(
        "arunner sync / Django sync",
        "headline",
        "suite time",
        "arunner-sync / django-sync",
        None,
        "<=",
    ),
    Headline(
        "arunner async: one process / --parallel 2 (with set-up)",
        "parallel",
        "suite + database set-up",
        "arunner-async / arunner-async-p2",
        1.7,
        ">=",
    ),
    Headline(
        "start-up: arunner / manage.py test (Django's runner)",
        "startup",
        None,
        "arunner / manage-django",
        1.1,
        "<=",
    ),
    Headline(
        "peak RSS: arunner async, large / small run (default 10,000 / 1,000)",
        "memory",
        None,
        "arunner-async",
        1.2,
        "<=",
    ),
)


def kind(data: dict) -> str:
    """headline, parallel (a run.py file with ``--parallel`` variants), startup or memory."""
    script = Path(data["argv"][1]).stem
    if script != "run":
        return script
    return "parallel" if any(v.endswith("-p2") for v in data["samples"]) else "headline"


def load(paths: list[Path]) -> dict[tuple[str, str], tuple[list[float], str]]:
    """(headline title, database) -> ([ratio, per-round min, max], file name). Of two files
    of one kind and database, the later one on the command line wins."""
    found: dict[tuple[str, str], tuple[list[float], str]] = {}
    for path in paths:
        data = json.loads(path.read_text())
        database = data["environment"]["database"]
        for head in HEADLINES:
            if head.source != kind(data):
                continue
            table = data["ratios"] if head.clock is None else data["ratios"].get(head.clock, {})
            if head.key in table:
                found[head.title, database] = (table[head.key], path.name)
    return found


def draw(found: dict[tuple[str, str], tuple[list[float], str]], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = [h for h in HEADLINES if any(k[0] == h.title for k in found)]
    fig, ax = plt.subplots(figsize=(10, 0.9 * len(heads) + 1.6))
    height = 0.8 / len(DATABASES)
    for d, database in enumerate(DATABASES):
        ys, values, lows, highs = [], [], [], []
        for i, head in enumerate(heads):
            if (head.title, database) in found:
                med, low, high = found[head.title, database][0]
                ys.append(i + (d - 1) * height)
                values.append(med)
                lows.append(med - low)
                highs.append(high - med)
        if ys:
            ax.barh(ys, values, height, xerr=[lows, highs], label=database, capsize=2)
            for y, v, up in zip(ys, values, highs, strict=True):
                ax.annotate(f"{v:.2f}", (v + up, y), xytext=(4, -3), textcoords="offset points")
    for i, head in enumerate(heads):
        if head.target is not None:
            ax.plot([head.target] * 2, [i - 0.45, i + 0.45], color="black", linestyle="--")
            ax.annotate(
                f"target {head.sense} {head.target:g}",
                (head.target, i + 0.45),
                xytext=(3, -1),
                textcoords="offset points",
                fontsize=7,
            )
    ax.set_xscale("log")
    reach = [v[0][2] for v in found.values()] + [h.target for h in heads if h.target]
    ax.set_xlim(right=2.5 * max(reach))
    ax.set_yticks(range(len(heads)), [h.title for h in heads], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ratio (log scale; whiskers: per-round min-max)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chart the headline ratios per database.")
    parser.add_argument("files", nargs="+", type=Path, help="result .json files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--title", default="arunner: headline ratios per database")
    args = parser.parse_args(argv)
    found = load(args.files)
    if not found:
        parser.error("no headline ratio in those files")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    draw(found, args.out, args.title)
    for (title, database), ((med, low, high), name) in sorted(found.items()):
        print(f"{database:<9} {title:<58} {med:6.2f} ({low:.2f}-{high:.2f})  {name}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
