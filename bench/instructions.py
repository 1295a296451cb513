"""Instructions per test, counted by valgrind: a measure of arunner's overhead that machine
load cannot move.

Whole runs and even in-process rounds swing by several percent here, more than most changes
to arunner's per-test work. ``valgrind --tool=callgrind`` counts the instructions a process
executes, the same from run to run for one generated project (not from one project to another:
bench/README.md). Each variant runs twice in a child process under
callgrind, once with one round of the generated suite and once with none (both after a warm-up
round); the difference divided by the test count is what one test costs. Garbage collection is
off in those children, so that the count does not depend on when a collection falls.

Instructions are not time: code that misses the caches costs more per instruction, and the
async path does. Use it to compare revisions; quote times from ``run.py`` and ``inprocess.py``.

Usage::

    python bench/instructions.py [-n 200] [--against CHECKOUT] [--out PATH]

Stdlib plus Django and arunner; SQLite; needs valgrind.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from generate import generate

#: variant -> (suite shape, runs under arunner, from the --against checkout)
VARIANTS = {
    "django-sync": ("sync", False, False),
    "arunner-sync": ("sync", True, False),
    "arunner-async": ("async", True, False),
    "before-sync": ("sync", True, True),
    "before-async": ("async", True, True),
}

CHILD = """
import gc, sys
sys.path.insert(0, {bench!r})
from pathlib import Path
from inprocess import load_before, run_round, setup
teardown = setup(Path({project!r}))
package = load_before(Path({against!r})) if {against!r} else "arunner"
gc.disable()
run_round({shape!r}, {under!r}, package)
for _ in range({rounds}):
    run_round({shape!r}, {under!r}, package)
teardown()
"""


def count(project: Path, shape: str, under: bool, against: str, rounds: int) -> int:
    """Instructions of one child process running ``rounds`` timed rounds."""
    with tempfile.TemporaryDirectory(prefix="arunner-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        script = CHILD.format(
            bench=str(Path(__file__).resolve().parent),
            project=str(project),
            against=against,
            shape=shape,
            under=under,
            rounds=rounds,
        )
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        if shutil.which("setarch"):  # the same addresses in every child: hash tables alike
            command = ["setarch", "-R", *command]
        command += [sys.executable, "-c", script]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            raise SystemExit(f"callgrind run failed:\n{done.stdout}\n{done.stderr}")
        totals = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
        if totals is None:
            raise SystemExit(f"no totals in {out}")
        return int(totals.group(1))


def precompile(*folders: Path) -> None:
    """Write the bytecode caches first: otherwise whichever child imports a module first
    compiles it, and that child's count (one with a round or one without) holds the cost."""
    for folder in folders:
        compileall.compile_dir(folder, quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-n", "--tests", type=int, default=200)
    parser.add_argument("--against", type=Path, help="also count this checkout's arunner")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    against = str(args.against.resolve()) if args.against else ""
    variants = {k: v for k, v in VARIANTS.items() if against or not v[2]}
    with tempfile.TemporaryDirectory(prefix="arunner-instructions-") as tmp:
        project = generate(Path(tmp), ["sync", "async"], args.tests)
        packages = [Path(__file__).resolve().parents[1], *([Path(against)] if against else [])]
        precompile(project, *(checkout / "arunner" for checkout in packages))
        jobs = {
            (name, rounds): (shape, under, against if before else "", rounds)
            for name, (shape, under, before) in variants.items()
            for rounds in (0, 1)
        }
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            futures = {key: pool.submit(count, project, *job) for key, job in jobs.items()}
            totals = {key: future.result() for key, future in futures.items()}
    per_test = {name: (totals[name, 1] - totals[name, 0]) / args.tests for name in variants}
    base = per_test["django-sync"]
    command = "python bench/instructions.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "```",
        command.strip(),
        "```",
        "",
        f"python {sys.version.split()[0]}; instructions per test (valgrind callgrind), "
        f"{args.tests} tests a round, garbage collection off.",
        "",
        "| variant | instructions per test | over django-sync | / django-sync |",
        "|---|---:|---:|---:|",
    ]
    for name, value in per_test.items():
        lines.append(f"| {name} | {value:,.0f} | {value - base:+,.0f} | {value / base:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(f"# Instructions per test\n\n{text}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
