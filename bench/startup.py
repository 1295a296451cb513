"""Start-up: how long from starting the command to the first test, ``arunner`` against
``manage.py test``, on the sample project.

Each run starts a fresh process in a copy of ``sampleproject/`` (so no cache or bytecode
left by another run in the checkout is shared, and nothing is written into it). A
``sitecustomize`` module put first on ``PYTHONPATH`` waits for ``unittest.result`` to be
imported, by whichever runner, and wraps ``TestResult.startTest`` so that the first call
writes the machine-wide monotonic clock to stderr; every runner reports each test's start
there. The harness reads the same clock just before it starts the process, so the time
includes the interpreter's start, Django's set-up, imports, discovery and the test
database's creation (migrations): everything a user waits for before the first test.

Variants, alternated round by round as in ``run.py``:

- ``arunner``: the ``arunner`` command (the console script beside ``--python``);
- ``manage-arunner``: ``manage.py test`` with the sample's ``TEST_RUNNER``, arunner's;
- ``manage-django``: ``manage.py test`` with Django's ``DiscoverRunner``
  (``SAMPLE_RUNNER=django``).

Every variant discovers (imports) the whole suite but runs only the tests matching ``-k``
(default ``test_testcase``), which pass under both runners: under ``DiscoverRunner`` some of
the sample's tests fail by design (sampleproject/README.md), and a failing run must not be
timed. Peak RSS and the whole run's wall time are recorded beside.

Usage::

    python bench/startup.py [--repeat 7] [--out bench/results/DATE-startup-DB.md]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Run as a script, so this directory is on sys.path.
from report import header
from timing import BenchError, fail, precompile, spawn

REPO = Path(__file__).resolve().parent.parent

HOOK = '''\
"""Written by bench/startup.py: report when the first test starts (machine-wide clock)."""

import importlib.util
import os
import sys
import time


class _FirstTest:
    """Patches unittest.result when something imports it; imports nothing itself."""

    def find_spec(self, name, path=None, target=None):
        if name != "unittest.result":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            start_test = module.TestResult.startTest

            def startTest(self, test):
                if module.TestResult.startTest is startTest:
                    module.TestResult.startTest = start_test
                    os.write(2, f"\\nbench first test at {time.monotonic():.6f}\\n".encode())
                start_test(self, test)

            module.TestResult.startTest = startTest

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _FirstTest())
'''

FIRST_RE = re.compile(r"^bench first test at ([0-9.]+)$", re.MULTILINE)

RATIOS = (
    ("arunner", "manage-django"),
    ("arunner", "manage-arunner"),
    ("manage-arunner", "manage-django"),
)


@dataclass
class Start:
    first_test: float
    wall: float
    rss_kib: int


def commands(python: str, pattern: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each variant's command line and the environment it adds."""
    script = Path(python).parent / "arunner"
    arunner = [str(script)] if script.exists() else [python, "-m", "arunner"]
    manage = [python, "manage.py", "test", "--noinput", "-k", pattern]
    return {
        "arunner": ([*arunner, "-k", pattern], {}),
        "manage-arunner": (manage, {}),
        "manage-django": (manage, {"SAMPLE_RUNNER": "django"}),
    }


def shown_command(cmd: list[str], extra_env: dict[str, str]) -> str:
    """The command as the report shows it: no local interpreter path."""
    first = "arunner" if Path(cmd[0]).name == "arunner" else "python"
    return " ".join([*(f"{k}={v}" for k, v in extra_env.items()), shlex.join([first, *cmd[1:]])])


def run_start(cmd: list[str], extra_env: dict[str, str], project: Path, hook: Path) -> Start:
    env = {**os.environ, **extra_env, "PYTHONFAULTHANDLER": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    started = time.monotonic()
    child = spawn(cmd, project, env, timeout=600)
    found = FIRST_RE.findall(child.output)
    problem = child.problem
    if problem is None and child.returncode != 0:
        problem = f"exit code {child.returncode}"
    if problem is None and len(found) != 1:
        problem = f"expected one first-test line, found {len(found)}"
    if problem:
        raise fail(cmd, project, problem, child.output)
    return Start(float(found[0]) - started, child.wall, child.rss_kib)


def report(
    samples: dict[str, list[Start]], env: dict[str, str], argv: list[str], shown: dict[str, str]
) -> str:
    out = [
        *header("Start-up: time to the first test", argv, env),
        "",
        "From just before the process starts to the first `startTest` (seconds): interpreter,",
        "Django set-up, imports, discovery of the whole suite, test database creation. The",
        "run's wall time and peak RSS beside. Only ratios within this file are comparable.",
        "",
        "| variant | median s | min s | max s | median wall s | median RSS MiB | command |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, runs in samples.items():
        first = [r.first_test for r in runs]
        out.append(
            f"| {name} | {statistics.median(first):.3f} | {min(first):.3f} | {max(first):.3f}"
            f" | {statistics.median(r.wall for r in runs):.2f}"
            f" | {statistics.median(r.rss_kib for r in runs) / 1024:.1f} | `{shown[name]}` |"
        )
    out += ["", "| ratio | of medians | per-round min | per-round max |", "|---|---:|---:|---:|"]
    for label, med, low, high in ratios(samples):
        out.append(f"| {label} | {med:.2f} | {low:.2f} | {high:.2f} |")
    return "\n".join(out) + "\n"


def ratios(samples: dict[str, list[Start]]) -> list[tuple[str, float, float, float]]:
    rows = []
    for a, b in RATIOS:
        if a in samples and b in samples:
            xs = [r.first_test for r in samples[a]]
            ys = [r.first_test for r in samples[b]]
            per_round = [x / y for x, y in zip(xs, ys, strict=True)]
            med = statistics.median(xs) / statistics.median(ys)
            rows.append((f"{a} / {b}", med, min(per_round), max(per_round)))
    return rows


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description="Time to the first test, per runner.")
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("-k", dest="pattern", default="test_testcase", help="tests to run")
    parser.add_argument("--project", type=Path, default=REPO / "sampleproject")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--out", type=Path, help="markdown report (and its .json twin)")
    args = parser.parse_args(raw)
    variants = commands(args.python, args.pattern)
    names = list(variants)
    samples: dict[str, list[Start]] = {name: [] for name in names}
    env = {
        "database": os.environ.get("ARUNNER_TEST_DB", "sqlite"),
        "python": sys.version.split()[0],
        "nproc": str(len(os.sched_getaffinity(0))),
        "load average before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="arunner-startup-")))
        project = Path(shutil.copytree(args.project, tmp / "project"))
        hook = tmp / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK)
        env["bytecode"] = precompile(args.python, project)
        try:
            for rnd in range(args.warmup + args.repeat):
                timed = rnd >= args.warmup
                turn = rnd % len(names)
                for name in names[turn:] + names[:turn]:
                    cmd, extra = variants[name]
                    start = run_start(cmd, extra, project, hook)
                    label = f"round {rnd - args.warmup + 1}" if timed else "warm-up"
                    print(
                        f"{label:<10} {name:<16} first test {start.first_test:6.3f}s"
                        f"  wall {start.wall:6.2f}s  rss {start.rss_kib / 1024:6.1f} MiB",
                        flush=True,
                    )
                    if timed:
                        samples[name].append(start)
        except BenchError as exc:
            print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
            return 1
    env["load average after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    shown = {name: shown_command(*variants[name]) for name in names}
    for label, med, low, high in ratios(samples):
        print(f"{label:<32} {med:6.2f}  rounds {low:.2f}-{high:.2f}")
    if args.out:
        argv_shown = ["python", "bench/startup.py", *raw]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report(samples, env, argv_shown, shown))
        data = {
            "argv": argv_shown,
            "environment": env,
            "samples": {n: [asdict(s) for s in runs] for n, runs in samples.items()},
            "ratios": {label: [m, lo, hi] for label, m, lo, hi in ratios(samples)},
        }
        args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
