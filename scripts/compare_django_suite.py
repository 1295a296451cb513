#!/usr/bin/env python3
"""Compare a test runner against Django's DiscoverRunner on Django's own test suite.

arunner claims to be a drop-in replacement for ``django.test.runner.DiscoverRunner``.
The strongest evidence for that claim is Django's own suite: it exercises the runner
contract (constructor kwargs passed by ``tests/runtests.py``, parallel suite hooks,
database setup and teardown, skips, class-level fixtures) far harder than our own tests.
This script runs ``tests/runtests.py`` from the sdist of the *installed* Django twice,
once per runner, and demands the same failed, errored, skipped and unexpected-success
test IDs and the same test counts. Any deliberate deviation must be recorded in
``INTENDED_DIFFERENCES`` below together with its reason, so that the difference list is
the documentation.

Usage (run with the Python whose Django and runner you want to compare)::

    .venv/bin/python scripts/compare_django_suite.py                 # arunner vs DiscoverRunner
    .venv/bin/python scripts/compare_django_suite.py --parallel 2
    .venv/bin/python scripts/compare_django_suite.py basic async     # other module list
    .venv/bin/python scripts/compare_django_suite.py \\
        --runner-b django.test.runner.DiscoverRunner                 # validates this script
    .venv/bin/python scripts/compare_django_suite.py --all           # the whole suite
    .venv/bin/python scripts/compare_django_suite.py --all --reuse A # B again, A's old logs

``--all`` runs Django's entire suite (every module runtests.py finds, ``--parallel 2``): the
strongest check, and far too slow for CI, where the module subset runs. Each run leaves its
logs and a ``<label>.run.json`` (runner, command, exit status, seconds) in the log directory;
``--reuse`` compares a side from those instead of running it again.

Exit status: 0 when both runs agree (modulo the allow-list), 1 when they differ, 2 when
the comparison could not be set up (sdist download, import of the runner, ...).

Only the standard library is used so that the script runs in any venv that has Django.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parent
# Git-ignored: holds downloaded sdists, their extracted trees and the run logs.
DEFAULT_CACHE_DIR = SCRIPT_DIR / ".django-src"

DISCOVER_RUNNER = "django.test.runner.DiscoverRunner"
DEFAULT_RUNNER_B = "arunner.AsyncDiscoverRunner"

# The modules named by the issue: they cover async tests, the test utilities and
# client, transactions, database backends, handlers and the runner itself.
DEFAULT_MODULES: tuple[str, ...] = (
    "async",
    "test_utils",
    "transactions",
    "backends",
    "test_client",
    "handlers",
    "basic",
    "test_runner",
)

# --all: Django's entire suite, as the issue asks, on two processes per run.
ALL_PARALLEL = 2
ALL_TIMEOUT = 4 * 3600
SUBSET_TIMEOUT = 900
# Environment of both --all runs (DiscoverRunner reads none of it). Django's whole suite can
# hold a module that does not import on the Python at hand (mail.test_backends needs
# email.errors.HeaderWriteError, which Python 3.12.1 lacks), and runtests.py names three
# packages that hold no tests (base, custom_migration_operations, migrations2: code other
# tests use): DiscoverRunner reports the first as one error and runs nothing for the others,
# arunner stops the run for either unless told to carry on.
ALL_ENV: dict[str, str] = {"ARUNNER_CONTINUE_ON_COLLECTION_ERRORS": "1"}

# Test requirements (import name -> requirement name in tests/requirements/py3.txt) that
# change results for the default modules. Found by running the modules in a venv holding
# only Django: without tblib five test_runner.test_parallel tests skip ("requires tblib to
# be installed") and a --parallel run cannot ship tracebacks back from its workers.
# Nothing else in py3.txt (selenium, Pillow, ...) changes a result for these modules.
NEEDED_TEST_REQUIREMENTS: dict[str, str] = {"tblib": "tblib"}

# Intended differences between runner A and runner B. Key: (category, test ID); value:
# the reason. Categories: "failed", "errored", "skipped", "unexpected_success",
# "expected_failure" and "ran" (the test has a result line in only one run). A listed ID
# may differ in either direction. Keep this empty unless the difference is deliberate.
INTENDED_DIFFERENCES: dict[tuple[str, str], str] = {
    ("failed", "test_runner.tests.ManageCommandTests.test_durations_lt_py312"): (
        "Django checks that --durations is refused on Python < 3.12; arunner offers it on "
        "every supported Python (its own durations table), as its CLI issue asks. The test "
        "is skipped on 3.12+."
    ),
    **{
        ("skipped", f"timezones.tests.ForcedTimeZoneDatabaseTests.{name}"): (
            "A skip of a whole class (skipUnlessDBFeature on the class skips setUpClass) is "
            "printed as 'setUpClass (...) ... skipped' by DiscoverRunner without --parallel "
            "and by arunner in both modes; Django's --parallel workers tell it of a test of "
            "the batch instead (arunner.parallel.AsyncParallelTestSuite.handle_event)."
        )
        for name in ("setUpClass", "test_write_datetime")
    },
}

# Tests whose outcome depends on how busy the machine is: each times its own code and asserts
# a ratio of elapsed times. Under --all both runners share two cores with a parallel worker,
# and such a test fails now and then under either one. A difference in one of these (or its
# subtests) is listed as allowed, not as a difference between the runners.
LOAD_DEPENDENT: dict[str, str] = {
    "serializers.test_deserialization.TestDeserializer.test_crafted_xml_performance": (
        "asserts that deserialising grows at most twice as fast as its input, by timing "
        "it; a busy machine fails it under either runner"
    ),
}

CATEGORIES: tuple[str, ...] = (
    "failed",
    "errored",
    "skipped",
    "unexpected_success",
    "expected_failure",
)

SEPARATOR1 = "=" * 70
SEPARATOR2 = "-" * 70

# "name (where)" optionally followed by a subtest description and/or " ... status".
# Python < 3.11 prints "test_x (module.Class)", 3.11+ "test_x (module.Class.test_x)",
# class and module fixtures "setUpClass (module.Class)" / "setUpModule (module)".
DESCRIPTION_RE = re.compile(r"^\s*(?P<name>[^\s()]+) \((?P<where>[\w.]+)\)(?P<rest>(?: .*)?)$")
STATUS_RE = re.compile(
    r"^(?:(?P<status>ok|FAIL|ERROR|expected failure|unexpected success)"
    r"|(?P<skipped>skipped)(?: (?P<reason>.*))?)$"
)
PROGRESS_SEPARATOR_RE = re.compile(r" \.\.\.(?: |$)")
TRAILING_STATUS_RE = re.compile(
    r"(?:(?P<status>ok|FAIL|ERROR|expected failure|unexpected success)"
    r"|(?P<skipped>skipped) (?P<reason>(['\"]).*\4))$"
)
SUMMARY_HEADER_RE = re.compile(r"^(?P<flavour>FAIL|ERROR|UNEXPECTED SUCCESS): (?P<desc>.*)$")
RAN_RE = re.compile(r"^Ran (?P<count>\d+) tests? in ")
FOUND_RE = re.compile(r"^Found (?P<count>\d+) test\(s\)\.", re.MULTILINE)
FINAL_RE = re.compile(r"^(?P<outcome>OK|FAILED)(?: \((?P<counts>.*)\))?$")

STATUS_TO_CATEGORY: dict[str, str] = {
    "FAIL": "failed",
    "ERROR": "errored",
    "skipped": "skipped",
    "unexpected success": "unexpected_success",
    "expected failure": "expected_failure",
}
# unittest's closing "FAILED (failures=1, skipped=2)" keys, for the parser sanity check.
SUMMARY_KEY_TO_CATEGORY: dict[str, str] = {
    "failures": "failed",
    "errors": "errored",
    "skipped": "skipped",
    "unexpected successes": "unexpected_success",
    "expected failures": "expected_failure",
}


class SetupError(Exception):
    """The comparison cannot run at all, which is not the same as the runners differing."""


@dataclass
class RunResult:
    """What one runtests.py invocation reported, reduced to what the issue compares."""

    label: str
    runner: str
    settings: str
    returncode: int | None
    seconds: float
    log_paths: list[Path]
    statuses: dict[str, str] = field(default_factory=dict)
    # Every progress line's (test ID, category, skip reason), in order, repeats included:
    # what the class-by-class comparison counts when A's lines name the wrong tests.
    events: list[tuple[str, str, str]] = field(default_factory=list)
    skip_reasons: dict[str, str] = field(default_factory=dict)
    error_texts: dict[str, str] = field(default_factory=dict)
    ran: int | None = None
    found: int | None = None
    summary_counts: dict[str, int] = field(default_factory=dict)
    tail: str = ""
    # The test whose progress line has no status yet when the output ends: in a run that
    # did not finish, the test it crashed or hung in.
    in_progress: str | None = None

    def ids(self, category: str) -> set[str]:
        return {test_id for test_id, cat in self.statuses.items() if cat == category}


# --------------------------------------------------------------------------- parsing


def normalise_test_id(name: str, where: str, extra: str = "") -> str:
    """One ID for the same test whatever Python version printed it.

    Before 3.11 the parenthesised part lacks the method name; fixtures such as
    ``setUpClass (module.Class)`` never carry it. Appending it when absent gives the
    dotted ``module.Class.method`` form in every case. Subtest descriptions are kept,
    because two failing subtests of one test are two failures.

    Under ``--parallel`` a worker's unterminated write to the shared stderr can run into the
    start of the line (``durations=10test_x (module.Class.test_x)``); a name that ends with
    the method name in the parentheses is that method.
    """
    method = where.rsplit(".", 1)[-1]
    garbled = method.startswith("test") and name.endswith(method)
    same = garbled or where == name or where.endswith("." + name)
    base = where if same else f"{where}.{name}"
    extra = extra.strip()
    return f"{base} {extra}" if extra else base


def match_status(text: str) -> tuple[str, str | None] | None:
    """Return (status, skip reason) when ``text`` is exactly one unittest status."""
    match = STATUS_RE.match(text.rstrip())
    if match is None:
        return None
    return match.group("status") or "skipped", match.group("reason")


def split_status(text: str) -> tuple[str, str, str | None] | None:
    """Split "description ... status" at the separator that is followed by a status.

    Docstrings and skip reasons may themselves contain " ... ", so the first separator
    is not necessarily the right one.
    """
    start = 0
    while True:
        index = text.find(" ... ", start)
        if index < 0:
            return None
        status = match_status(text[index + 5 :])
        if status is not None:
            return text[:index], status[0], status[1]
        start = index + 1


def trailing_status(text: str) -> tuple[str, str | None] | None:
    """Find a status glued to the end of output that a test wrote without a newline."""
    match = TRAILING_STATUS_RE.search(text.rstrip())
    if match is None:
        return None
    return match.group("status") or "skipped", match.group("reason")


def category_of(status: str) -> str:
    return STATUS_TO_CATEGORY.get(status, "passed")


def parse_output(text: str, result: RunResult) -> None:
    """Fill ``result`` from runtests.py's verbosity-2 output.

    Two sources are combined: the per-test "... status" lines (the only place skips and
    expected failures are named) and the closing "FAIL:/ERROR:" blocks, which are immune
    to test output interleaved with the progress lines and carry the traceback text.
    """
    lines = text.splitlines()
    pending: str | None = None  # test ID whose status has not been printed yet
    last_id: str | None = None  # most recent test ID seen on a progress line
    in_summary = False

    def record(test_id: str, status: str, reason: str | None) -> None:
        category = category_of(status)
        if not in_summary:
            result.events.append((test_id, category, reason or ""))
        previous = result.statuses.get(test_id)
        # A FAIL/ERROR beats a pass if a test ID is reported twice.
        if previous in ("failed", "errored") and category not in ("failed", "errored"):
            return
        result.statuses[test_id] = category
        if category == "skipped":
            result.skip_reasons[test_id] = reason or ""

    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if (match := RAN_RE.match(line)) is not None:
            result.ran = int(match.group("count"))
            in_summary = False
            continue
        if (match := FOUND_RE.match(line)) is not None:
            result.found = int(match.group("count"))
            continue
        if (match := FINAL_RE.match(line)) is not None and result.ran is not None:
            for part in (match.group("counts") or "").split(","):
                key, _, value = part.strip().partition("=")
                if key in SUMMARY_KEY_TO_CATEGORY and value.isdigit():
                    result.summary_counts[SUMMARY_KEY_TO_CATEGORY[key]] = int(value)
            continue
        if line == SEPARATOR1 and index < len(lines):
            header = SUMMARY_HEADER_RE.match(lines[index])
            if header is None:
                continue
            in_summary = True
            pending = None
            index += 1
            described = DESCRIPTION_RE.match(header.group("desc"))
            if described is None:
                continue
            test_id = normalise_test_id(
                described.group("name"), described.group("where"), described.group("rest")
            )
            flavour = header.group("flavour")
            record(
                test_id, {"UNEXPECTED SUCCESS": "unexpected success"}.get(flavour, flavour), None
            )
            if flavour == "UNEXPECTED SUCCESS":
                continue
            # Skip the docstring line (if any) up to the dashed separator, then take the
            # traceback up to the next separator.
            while index < len(lines) and lines[index] != SEPARATOR2:
                index += 1
            index += 1
            body: list[str] = []
            while index < len(lines) and lines[index] not in (SEPARATOR1, SEPARATOR2):
                body.append(lines[index])
                index += 1
            result.error_texts[test_id] = "\n".join(body).strip("\n")
            continue
        if in_summary:
            continue

        described = DESCRIPTION_RE.match(line)
        if described is not None:
            rest = described.group("rest")
            # After the first " ... " comes the status, or output the test wrote mid-line
            # (the status then ends this or a later line), or, when Python 3.10 prints
            # nothing for a test with failing subtests, the next test's description.
            head, tail = rest, None
            status: tuple[str, str | None] | None = None
            for separator in PROGRESS_SEPARATOR_RE.finditer(rest):
                after = rest[separator.end() :]
                if tail is None:
                    head, tail = rest[: separator.start()], after
                if (status := match_status(after)) is not None:
                    break
                if DESCRIPTION_RE.match(after):
                    lines.insert(index, after)
                    tail = None
                    break
            if status is None and tail is not None:
                status = trailing_status(tail)
            test_id = normalise_test_id(described.group("name"), described.group("where"), head)
            last_id = test_id
            if status is not None:
                record(test_id, *status)
                pending = None
            else:
                pending = test_id
            continue
        if pending is None:
            # unittest (3.10 to 3.13 at least) omits the description of a class-level skip
            # or error that directly follows an expected failure or unexpected success and
            # prints a bare status. Anchor it to its predecessor so both runs name it alike.
            bare = match_status(line.strip()) if line == line.lstrip() else None
            if bare is not None and last_id is not None:
                record(f"<unnamed result after {last_id}>", *bare)
            continue
        # Docstring line "First line of docstring ... ok", a bare status after output a
        # test wrote on its own lines, or a status glued to output without a newline.
        split = split_status(line)
        status = split[1:] if split else match_status(line.strip()) or trailing_status(line)
        if status is not None:
            record(pending, *status)
            pending = None

    result.in_progress = pending
    result.tail = "\n".join(lines[-60:])


def parser_warnings(result: RunResult) -> list[str]:
    """Cross-check parsed sets against unittest's own closing counts.

    A mismatch means the output had a shape the parser does not know, and the set
    comparison for that category cannot be trusted.
    """
    warnings: list[str] = []
    if result.ran is None:
        return [f"{result.label}: no 'Ran N tests' line; the run did not finish"]
    for category in CATEGORIES:
        expected = result.summary_counts.get(category, 0)
        parsed = len(result.ids(category))
        if expected != parsed:
            warnings.append(
                f"{result.label}: unittest reports {category}={expected}, parsed {parsed}"
            )
    return warnings


# --------------------------------------------------------------------------- setup


def installed_django_version() -> str:
    try:
        return importlib.metadata.version("django")
    except importlib.metadata.PackageNotFoundError as exc:
        raise SetupError(f"Django is not installed for {sys.executable}") from exc


def find_sdist(directory: Path, version: str) -> Path | None:
    # Older sdists are named "Django-X.tar.gz", newer ones "django-X.tar.gz".
    for candidate in sorted(directory.glob("*.tar.gz")):
        if candidate.name.lower() == f"django-{version}.tar.gz":
            return candidate
    return None


def fetch_django_source(version: str, cache_dir: Path) -> Path:
    """Return the extracted source tree of exactly the installed Django version.

    The test suite must match the installed code: a newer tests/ tree tests behaviour the
    installed Django does not have. Downloading through pip honours the user's index
    configuration, and the cache makes reruns offline and quick.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    tree = cache_dir / f"django-{version}"
    if (tree / "tests" / "runtests.py").is_file():
        return tree
    sdist = find_sdist(cache_dir, version)
    if sdist is None:
        print(f"Downloading the Django {version} sdist into {cache_dir} ...", flush=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"django=={version}",
            "-d",
            str(cache_dir),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        sdist = find_sdist(cache_dir, version)
        if completed.returncode != 0 or sdist is None:
            raise SetupError(
                "pip download of the Django sdist failed:\n"
                + completed.stdout[-2000:]
                + completed.stderr[-2000:]
            )
    print(f"Extracting {sdist.name} ...", flush=True)
    # Extract beside the final location and rename, so an interrupted extraction never
    # leaves a half tree that the is_file() check above would accept.
    staging = Path(tempfile.mkdtemp(prefix="extract-", dir=cache_dir))
    try:
        with tarfile.open(sdist) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(staging, filter="data")
            else:  # Python without extraction filters (< 3.10.12 / 3.11.4).
                archive.extractall(staging)  # the sdist comes from the configured index
        roots = [path for path in staging.iterdir() if path.is_dir()]
        if len(roots) != 1 or not (roots[0] / "tests" / "runtests.py").is_file():
            raise SetupError(f"{sdist} does not contain tests/runtests.py")
        if tree.exists():
            shutil.rmtree(tree)
        roots[0].rename(tree)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tree


def requirement_spec(tree: Path, requirement: str) -> str:
    """Take the version constraint Django itself asks for, falling back to the bare name."""
    requirements = tree / "tests" / "requirements" / "py3.txt"
    if requirements.is_file():
        for raw in requirements.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            name = re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0]
            if name.lower() == requirement.lower():
                return line.split(";", 1)[0].strip()
    return requirement


def ensure_test_requirements(tree: Path, install: bool) -> None:
    missing = [
        requirement_spec(tree, requirement)
        for module, requirement in NEEDED_TEST_REQUIREMENTS.items()
        if importlib.util.find_spec(module) is None
    ]
    if not missing:
        return
    if not install:
        print(
            f"warning: missing test requirements {missing}; both runs will skip the "
            "tests that need them",
            flush=True,
        )
        return
    print(f"Installing test requirements {missing} into {sys.prefix} ...", flush=True)
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", *missing],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SetupError(
            "pip install failed:\n" + completed.stdout[-2000:] + completed.stderr[-2000:]
        )


def write_settings(directory: Path, module: str, runner: str) -> None:
    # Everything but TEST_RUNNER comes from the stock settings so that the runner is the
    # only variable between the two runs.
    (directory / f"{module}.py").write_text(
        '"""Django\'s test_sqlite settings with a different TEST_RUNNER."""\n'
        "from test_sqlite import *  # noqa: F403\n\n"
        f"TEST_RUNNER = {runner!r}\n"
    )


def subprocess_env(settings_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # The generated settings live outside the cached tree so the tree stays pristine;
    # PYTHONPATH also reaches worker processes started with the spawn method.
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(settings_dir), env.get("PYTHONPATH", "")) if part
    )
    return env


def check_runner_importable(runner: str, tests_dir: Path, env: dict[str, str]) -> None:
    """Fail fast, before spending minutes on the baseline run."""
    module, _, attribute = runner.rpartition(".")
    code = f"import importlib; getattr(importlib.import_module({module!r}), {attribute!r})"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tests_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SetupError(
            f"cannot import {runner} with {sys.executable}:\n{completed.stderr.strip()[-2000:]}"
        )


# --------------------------------------------------------------------------- running


def stop_hung_run(process: subprocess.Popen[bytes]) -> None:
    """End a run that exceeded its timeout, leaving its stack in the stderr log.

    DiscoverRunner enables faulthandler, so SIGABRT makes the hung process print every
    thread's stack before dying: that stack is what one needs to fix a hang.
    """
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGABRT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_suite(
    label: str,
    runner: str,
    settings: str,
    tests_dir: Path,
    env: dict[str, str],
    modules: Sequence[str],
    parallel: int,
    log_dir: Path,
    timeout: float,
) -> RunResult:
    command = [
        sys.executable,
        "runtests.py",
        "--settings",
        settings,
        "--noinput",
        "--parallel",
        str(parallel),
        "-v",
        "2",
        *modules,
    ]
    stdout_path, stderr_path = log_paths(log_dir, label)
    print(f"[{label}] {runner} (settings {settings}): {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    returncode: int | None
    # stdout and stderr go to separate files: unittest's progress lines are on stderr,
    # and merging a block-buffered stdout into them would split progress lines.
    with stdout_path.open("w") as out, stderr_path.open("w") as err:
        # A new session makes the run and its --parallel workers one process group that
        # can be ended together on timeout without touching anything else.
        process = subprocess.Popen(
            command,
            cwd=tests_dir,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = None
            stop_hung_run(process)
    seconds = time.monotonic() - started
    meta = {
        "runner": runner,
        "settings": settings,
        "returncode": returncode,
        "seconds": round(seconds, 1),
        "command": command[1:],
    }
    meta_path(log_dir, label).write_text(json.dumps(meta, indent=2) + "\n")
    result = read_run(label, log_dir)
    status = "timed out" if returncode is None else f"exit {returncode}"
    print(f"[{label}] {status}, ran {result.ran}, {seconds:.1f}s", flush=True)
    return result


def log_paths(log_dir: Path, label: str) -> tuple[Path, Path]:
    return log_dir / f"{label}.stdout.log", log_dir / f"{label}.stderr.log"


def meta_path(log_dir: Path, label: str) -> Path:
    return log_dir / f"{label}.run.json"


def read_run(label: str, log_dir: Path) -> RunResult:
    """A finished run, from its logs and ``<label>.run.json``: what --reuse compares."""
    stdout_path, stderr_path = log_paths(log_dir, label)
    try:
        meta = json.loads(meta_path(log_dir, label).read_text())
        stderr = stderr_path.read_text(errors="replace")
        stdout = stdout_path.read_text(errors="replace")
    except (OSError, ValueError) as exc:
        raise SetupError(f"no complete run {label} in {log_dir}: {exc}") from exc
    result = RunResult(
        label,
        meta["runner"],
        meta["settings"],
        meta["returncode"],
        meta["seconds"],
        [stdout_path, stderr_path],
    )
    parse_output(stderr, result)
    if result.found is None:  # Django prints "Found N test(s)." on stdout.
        found = FOUND_RE.search(stdout)
        result.found = int(found.group("count")) if found else None
    return result


# --------------------------------------------------------------------------- comparing


def describe(result: RunResult, test_id: str) -> str:
    category = result.statuses.get(test_id)
    if category is None:
        return "no result line"
    if category == "skipped":
        return f"skipped {result.skip_reasons.get(test_id, '')}".rstrip()
    return category


def misreported_skips(a: RunResult, b: RunResult) -> str | None:
    """Why A's result lines cannot be compared test by test, when its skip lines disagree
    with its own skip count while B's agree.

    Under ``--parallel`` from Python 3.12, a test skipped by a decorator never starts, and
    Django's ``RemoteTestResult`` numbers tests by ``testsRun``: DiscoverRunner prints that
    skip, and every later event of the batch, against the test before it (the first test's
    against the last). arunner's workers number tests by position
    (``arunner.parallel.workers.RemoteResult``). A batch is one test class, so the outcomes of each
    class still compare, as counts: ``class_outcomes``.
    """
    counted = a.summary_counts.get("skipped", 0), b.summary_counts.get("skipped", 0)
    parsed = len(a.ids("skipped")), len(b.ids("skipped"))
    # B's skip lines, repeats included (a test's skipped subtests), must add up to its count;
    # an unfinished B has no count.
    b_lines = sum(1 for _, category, _ in b.events if category == "skipped")
    b_wrong = b.ran is not None and b_lines != counted[1]
    if a.ran is None or counted[0] - parsed[0] <= counted[1] - parsed[1] or b_wrong:
        return None
    return (
        f"A prints {parsed[0]} distinct skipped tests for the {counted[0]} skips it counts "
        "(B names each): DiscoverRunner's --parallel output tells a decorator-skipped test's "
        "skip, and the later results of its class, of the test before it on Python 3.12+, "
        "where such a test never starts; this class's outcomes are the same in both runs"
    )


def base_test_id(test_id: str) -> str:
    """The test a subtest's result belongs to (its id without the subtest description)."""
    return test_id.split(" ", 1)[0]


def class_of(test_id: str) -> str:
    """The test class (or, for module fixtures and stand-ins, the module) of a result."""
    test_id = test_id.removeprefix("<unnamed result after ").removesuffix(">")
    return test_id.split(" ", 1)[0].rsplit(".", 1)[0]


def class_outcomes(result: RunResult) -> dict[str, Counter[tuple[str, str]]]:
    """How many results of each (category, skip reason) each class's progress lines show."""
    outcomes: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for test_id, category, reason in result.events:
        outcomes[class_of(test_id)][category, reason] += 1
    return outcomes


def class_differences(a: RunResult, b: RunResult) -> tuple[list[str], set[str]]:
    """The classes whose outcomes differ as counts, described, and the classes that agree."""
    outcomes_a, outcomes_b = class_outcomes(a), class_outcomes(b)
    texts: list[str] = []
    agreeing: set[str] = set()
    names = outcomes_a.keys() | outcomes_b.keys()
    if a.ran is None or b.ran is None:  # only the classes both runs got to compare
        names = outcomes_a.keys() & outcomes_b.keys()
    for name in sorted(names):
        counts_a, counts_b = outcomes_a.get(name, Counter()), outcomes_b.get(name, Counter())
        if counts_a == counts_b:
            agreeing.add(name)
            continue
        lines = [f"outcomes of class {name} differ (count in A, count in B):"]
        for category, reason in sorted(counts_a.keys() | counts_b.keys()):
            got_a, got_b = counts_a[category, reason], counts_b[category, reason]
            if got_a != got_b:
                what = f"{category} {reason}".rstrip()
                lines.append(f"    {what}: {got_a}, {got_b}")
        texts.append("\n".join(lines))
    return texts, agreeing


def compare(a: RunResult, b: RunResult) -> tuple[list[str], list[str]]:
    """Return (blocking differences, allowed differences) as printable paragraphs."""
    blocking: list[str] = []
    allowed: list[str] = []

    # Categories whose allowed differences can legitimately flip runtests.py's exit status.
    allowed_outcome_categories: set[str] = set()
    skip_lines_wrong = misreported_skips(a, b)
    agreeing: set[str] = set()
    if skip_lines_wrong is not None:
        texts, agreeing = class_differences(a, b)
        blocking.extend(texts)
    shifted: list[str] = []

    def add(category: str, test_id: str, text: str) -> None:
        reason = INTENDED_DIFFERENCES.get((category, test_id)) or LOAD_DEPENDENT.get(
            base_test_id(test_id)
        )
        if reason is None and class_of(test_id) in agreeing:
            shifted.append(test_id)  # summed up below: one line each would be thousands
            return
        if reason is None:
            blocking.append(text)
        else:
            allowed.append(f"{text}\n    allowed: {reason}")
            allowed_outcome_categories.add(category)

    finished = a.ran is not None and b.ran is not None
    ran_a, ran_b = set(a.statuses), set(b.statuses)
    for result in (a, b):
        if result.ran is None:
            how = "timed out" if result.returncode is None else f"exit {result.returncode}"
            blocking.append(
                f"{result.label} did not finish ({how}) in test {result.in_progress}; "
                "its stderr tail is printed below"
            )
    for category in CATEGORIES:
        ids_a, ids_b = a.ids(category), b.ids(category)
        if not finished:
            # Only tests with a result in both runs can be compared; the rest is summed
            # up below rather than listed one by one.
            ids_a, ids_b = ids_a & ran_b, ids_b & ran_a
        for side, only in (("A", ids_a - ids_b), ("B", ids_b - ids_a)):
            for test_id in sorted(only):
                lines = [
                    f"{category} only in {side}: {test_id}",
                    f"    A: {describe(a, test_id)}",
                    f"    B: {describe(b, test_id)}",
                ]
                for label, result in (("A", a), ("B", b)):
                    text = result.error_texts.get(test_id)
                    if text:
                        lines.append(f"    {label} error text:")
                        lines.append(textwrap.indent(text, "      | "))
                add(category, test_id, "\n".join(lines))

    # A test may vanish without failing (e.g. a broken setUpClass that the runner
    # swallows); the per-category sets would not notice, so compare the ran sets too.
    for side, only in (("A", ran_a - ran_b), ("B", ran_b - ran_a)):
        if not finished and only:
            blocking.append(f"{len(only)} tests have a result line only in {side}")
            continue
        for test_id in sorted(only):
            if any(test_id in r.ids(c) for r in (a, b) for c in CATEGORIES):
                continue  # Already reported in its category above.
            status = describe(a if side == "A" else b, test_id)
            add("ran", test_id, f"ran only in {side}: {test_id} ({status})")

    if shifted:
        classes = {class_of(test_id) for test_id in shifted}
        allowed.append(
            f"{len(set(shifted))} tests of {len(classes)} classes have a different result line "
            f"in A and B\n    allowed: {skip_lines_wrong}"
        )

    # Count differences are acceptable only when allow-listed tests explain them.
    count_explained = bool(ran_a ^ ran_b) and all(
        ("ran", test_id) in INTENDED_DIFFERENCES for test_id in ran_a ^ ran_b
    )
    count_explained = count_explained or (skip_lines_wrong is not None and a.ran == b.ran)
    exit_explained = bool(allowed_outcome_categories & {"failed", "errored", "unexpected_success"})
    for name, value_a, value_b, explained in (
        ("tests ran", a.ran, b.ran, count_explained),
        ("tests found", a.found, b.found, count_explained),
        ("exit status", a.returncode, b.returncode, exit_explained),
    ):
        if value_a != value_b:
            text = f"{name} differ: A={value_a} B={value_b}"
            (allowed if explained else blocking).append(text)
    return blocking, allowed


def print_report(
    a: RunResult, b: RunResult, blocking: list[str], allowed: list[str], warnings: Iterable[str]
) -> None:
    print()
    print("=" * 78)
    for label, result in (("A", a), ("B", b)):
        print(f"{label}: {result.runner} (settings {result.settings})")
        print(
            f"   exit {result.returncode}, found {result.found}, ran {result.ran}, "
            f"{result.seconds:.1f}s; logs: {', '.join(str(p) for p in result.log_paths)}"
        )
    print()
    print(f"{'category':<20}{'A':>8}{'B':>8}")
    for category in CATEGORIES:
        print(f"{category:<20}{len(a.ids(category)):>8}{len(b.ids(category)):>8}")
    print(f"{'result lines':<20}{len(a.statuses):>8}{len(b.statuses):>8}")
    for warning in warnings:
        print(f"warning: {warning}")
    if allowed:
        print()
        print(f"Intended differences ({len(allowed)}):")
        for text in allowed:
            print(textwrap.indent(text, "  "))
    if blocking:
        print()
        print(f"DIFFERENCES ({len(blocking)}):")
        for text in blocking:
            print(textwrap.indent(text, "  "))
        for result in (a, b):
            if result.ran is None:
                print(f"\nLast lines of {result.label} stderr:\n{result.tail}")
    print()
    verdict = "DIFFERENT" if blocking else "IDENTICAL" + (" (modulo allow-list)" if allowed else "")
    print(f"RESULT: {verdict}")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "modules",
        nargs="*",
        help=f"Django test modules (default: {' '.join(DEFAULT_MODULES)})",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help=f"run Django's entire suite (default --parallel {ALL_PARALLEL}, --timeout "
        f"{ALL_TIMEOUT}, logs in a directory of their own), with {' '.join(ALL_ENV)}=1",
    )
    parser.add_argument(
        "--reuse",
        action="append",
        choices=("A", "B"),
        default=[],
        help="compare this side from the logs of its last run in the log directory instead "
        "of running it (may be given twice)",
    )
    parser.add_argument(
        "--runner-a", default=DISCOVER_RUNNER, help=f"baseline runner (default: {DISCOVER_RUNNER})"
    )
    parser.add_argument(
        "--runner-b",
        default=DEFAULT_RUNNER_B,
        help=f"runner under test (default: {DEFAULT_RUNNER_B})",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=None,
        help=f"runtests.py --parallel value for both runs (default: 1, {ALL_PARALLEL} with --all)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help=f"sdist cache and extraction directory (default: {DEFAULT_CACHE_DIR})",
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="where run logs go (default: CACHE_DIR/logs/django-X-pyXY)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds allowed per run; a hung run gets its stack dumped first (default: "
        f"{SUBSET_TIMEOUT}, {ALL_TIMEOUT} with --all)",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="do not pip-install missing test requirements (tblib)",
    )
    args = parser.parse_args(argv)
    if args.all and args.modules:
        parser.error("--all runs every module; name modules, or give --all, not both")
    if not args.all and not args.modules:
        args.modules = list(DEFAULT_MODULES)
    if args.parallel is None:
        args.parallel = ALL_PARALLEL if args.all else 1
    if args.timeout is None:
        args.timeout = ALL_TIMEOUT if args.all else SUBSET_TIMEOUT
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        version = installed_django_version()
        print(f"Python {sys.version.split()[0]} ({sys.executable}), Django {version}", flush=True)
        tree = fetch_django_source(version, args.cache_dir.resolve())
        tests_dir = tree / "tests"
        ensure_test_requirements(tree, install=not args.no_install)
        python_tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
        run_name = f"django-{version}-{python_tag}" + ("-all" if args.all else "")
        log_dir = args.log_dir or args.cache_dir / "logs" / run_name
        log_dir = log_dir.resolve()
        log_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="compare-settings-") as settings_root:
            settings_dir = Path(settings_root)
            env = subprocess_env(settings_dir)
            if args.all:
                env.update(ALL_ENV)
            sides: list[tuple[str, str, str]] = []
            for label, runner in (("A", args.runner_a), ("B", args.runner_b)):
                # The baseline is literally the stock settings; any other runner gets a
                # module that differs from them in TEST_RUNNER only.
                if label == "A" and runner == DISCOVER_RUNNER:
                    settings = "test_sqlite"
                else:
                    settings = f"test_compare_{label.lower()}_sqlite"
                    write_settings(settings_dir, settings, runner)
                check_runner_importable(runner, tests_dir, env)
                sides.append((label, runner, settings))
            results = [
                read_run(label, log_dir)
                if label in args.reuse
                else run_suite(
                    label,
                    runner,
                    settings,
                    tests_dir,
                    env,
                    args.modules,
                    args.parallel,
                    log_dir,
                    args.timeout,
                )
                for label, runner, settings in sides
            ]
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    a, b = results
    blocking, allowed = compare(a, b)
    warnings = parser_warnings(a) + parser_warnings(b)
    print_report(a, b, blocking, allowed, warnings)
    print(f"Total time: {time.monotonic() - started:.1f}s")
    return 1 if blocking else 0


if __name__ == "__main__":
    sys.exit(main())
