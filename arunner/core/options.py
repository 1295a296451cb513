"""The options arunner adds to Django's runner: one table, read by ``add_arguments``.

Each value comes from, in order: the command line (or the runner's constructor keyword), the
environment variable, the default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arunner.core import optionvalues
from arunner.core.loops import EXECUTORS
from arunner.core.optionvalues import OptionError, boolean, count, processes, seconds
from arunner.core.shardspec import shard_text

LOOP_SCOPES = ("class", "test", "run")
DB_THREAD_MODES = ("strict", "route")


#: Titles of the ``--help`` sections (argparse groups) the options below fall into.
LOOP_GROUP = "arunner: event loop"
REPORTS_GROUP = "arunner: reports"
RERUNS_GROUP = "arunner: reruns"
DIAGNOSTICS_GROUP = "arunner: timeouts and diagnostics"
LOOPS = ("asyncio", "uvloop")
#: ``--junit-family``: xunit1 (file and line on each testcase) or xunit2 (Jenkins' schema).
JUNIT_FAMILIES = ("xunit1", "xunit2")


@dataclass(frozen=True)
class Option:
    dest: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    type: Callable[[str], Any] = str
    metavar: str | None = None
    group: str = LOOP_GROUP
    #: The flag when it is not ``--`` plus the dest with dashes (``--lf`` for last_failed).
    name: str | None = None
    #: An on/off option: the flag takes no value.
    is_flag: bool = False
    #: More flags for the same option (``--collect-only`` for ``--list``).
    aliases: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return self.name or "--" + self.dest.replace("_", "-")

    @property
    def env(self) -> str:
        return "ARUNNER_" + self.dest.upper()

    def parse(self, raw: Any, source: str) -> Any:
        """Check a value from any source: a string (environment, command line) or what a
        caller or ``[tool.arunner]`` gave already typed (``timeout = -1``)."""
        try:
            value = self.type(raw)
        except (TypeError, ValueError) as exc:
            raise OptionError(
                f"{source}: {raw!r} is not a valid value ({exc})", hint=self.takes(source)
            ) from None
        if self.choices is not None and value not in self.choices:
            raise OptionError(
                f"{source}: {value!r} is not one of {', '.join(self.choices)}",
                hint=self.takes(source),
            )
        return value

    def takes(self, source: str) -> str:
        """What the option takes, for the hint under a bad value from ``source``."""
        if self.choices is not None:
            return f"{source} takes one of {', '.join(self.choices)}"
        described = optionvalues.takes(self.type)
        return f"{source} takes {described}" if described else f"see {self.flag} in --help"


OPTIONS: tuple[Option, ...] = (
    Option(
        "executor",
        "inline",
        "How thread-sensitive calls of coroutine tests reach the test's thread: 'inline' runs "
        "them in place on the loop's thread (fastest; the loop pauses during each call), 'hop' "
        "runs the loop on a helper thread and hands each call to the test's thread.",
        choices=EXECUTORS,
    ),
    Option(
        "loop_scope",
        "class",
        "How long one event loop lives: a test class (so async class-level objects live "
        "across its tests), each test, or the whole run. IsolatedAsyncioTestCase always gets "
        "a loop per test.",
        choices=LOOP_SCOPES,
    ),
    Option(
        "task_grace",
        0.5,
        "Seconds a coroutine test's leftover tasks, executor jobs and threads get to finish "
        "inside its transaction before arunner cancels them.",
        type=seconds,
        metavar="SECONDS",
    ),
    Option(
        "db_threads",
        "strict",
        "ORM calls from worker threads during a test: 'strict' refuses them with an error, "
        "'route' runs them on the test's own connection.",
        choices=DB_THREAD_MODES,
    ),
    Option(
        "compat",
        False,
        "DiscoverRunner's behaviour for every protective refusal at once (worker-thread SQL, "
        "writes through a second connection, connection.close() in a test's transaction, "
        "leftover work that cannot be stopped, the rollback of unittest coroutine tests, "
        "connections to databases without a test database), keeping arunner's loop, "
        "executor, drain and the rollback of Django TestCases: for a project migrating step "
        "by step.",
        type=boolean,
        is_flag=True,
    ),
    Option(
        "junit_xml",
        None,
        "Write a JUnit XML report of the run to PATH (merged across --parallel workers; "
        "written even when the run is interrupted).",
        metavar="PATH",
        group=REPORTS_GROUP,
    ),
    Option(
        "junit_family",
        "xunit1",
        "The shape of the --junit-xml file: xunit1 puts file and line on each testcase and "
        "the skipped count on the root; xunit2 leaves them out and validates against "
        "Jenkins' junit-10.xsd, for consumers that check the schema.",
        choices=JUNIT_FAMILIES,
        group=REPORTS_GROUP,
    ),
    Option(
        "durations_file",
        None,
        "Record each test's duration in seconds, as JSON, in PATH (entries of tests this run "
        "did not run are kept, so shards can share one file).",
        metavar="PATH",
        group=REPORTS_GROUP,
    ),
    Option(
        "last_failed",
        False,
        "Run only the tests that failed last time (all of them when none did). The record "
        "is .arunner_cache/lastfailed.json in the current directory.",
        type=boolean,
        group=RERUNS_GROUP,
        name="--lf",
        is_flag=True,
    ),
    Option(
        "failed_first",
        False,
        "Run the tests that failed last time first, then the others.",
        type=boolean,
        group=RERUNS_GROUP,
        name="--ff",
        is_flag=True,
    ),
    Option(
        "reruns",
        0,
        "Run a failing or erroring test again, up to N more times, each time in a fresh "
        "transaction (and on a fresh loop session for a coroutine test); one that passes on a "
        "rerun is reported as flaky. Class- and module-level failures are not rerun.",
        type=count,
        metavar="N",
        group=RERUNS_GROUP,
    ),
    Option(
        "reruns_delay",
        0.0,
        "Seconds to wait before each rerun of a failed test (with --reruns).",
        type=seconds,
        metavar="SECONDS",
        group=RERUNS_GROUP,
    ),
)


OPTIONS += (
    Option(
        "timeout",
        0.0,
        "Fail a test that runs longer than SECONDS (0: no limit); a test or class can set "
        "its own with @arunner.timeout(SECONDS) or arunner_timeout = SECONDS.",
        type=seconds,
        metavar="SECONDS",
        group=DIAGNOSTICS_GROUP,
    ),
    Option(
        "strict_tasks",
        False,
        "Make a leftover task that arunner had to cancel an error of its test.",
        type=boolean,
        group=DIAGNOSTICS_GROUP,
        is_flag=True,
    ),
    Option(
        "strict",
        False,
        "Fail a test during which a coroutine was created and never awaited.",
        type=boolean,
        group=DIAGNOSTICS_GROUP,
        is_flag=True,
    ),
    Option(
        "asyncio_debug",
        False,
        "Run the loops in asyncio debug mode and report, per test, callbacks that blocked "
        "the loop for more than 0.1 s.",
        type=boolean,
        group=DIAGNOSTICS_GROUP,
        is_flag=True,
    ),
    Option(
        "loop",
        "asyncio",
        "The event loop implementation: asyncio, or uvloop (pip install uvloop).",
        choices=LOOPS,
        group=LOOP_GROUP,
    ),
)


#: Title of the ``--help`` section of what arunner does when loading the tests goes wrong.
COLLECTION_GROUP = "arunner: collection"

OPTIONS += (
    Option(
        "continue_on_collection_errors",
        False,
        "Run the tests that load even when a test module does not import or a label matches "
        "nothing, as DiscoverRunner does: each module that cannot be imported is reported as "
        "one failing test, a label without tests runs none. Without it, such a problem stops "
        "the run before any database is created.",
        type=boolean,
        group=COLLECTION_GROUP,
        is_flag=True,
    ),
)


#: Title of the ``--help`` section of which tests a run takes.
SELECTION_GROUP = "arunner: selection and shards"

OPTIONS += (
    Option(
        "shard",
        None,
        "Run the K-th of N parts of the selected tests (2/4), or auto: K and N from GitLab's, "
        "CircleCI's or Buildkite's variables. Classes stay whole; balanced by the times in "
        "--durations-file, else by test count; split before --shuffle/--reverse.",
        type=shard_text,
        metavar="K/N|auto",
        group=SELECTION_GROUP,
    ),
    Option(
        "collect_only",
        False,
        "Print the selected test ids (after labels, -k, tags, --lf, --shard), one a line, and "
        "exit without touching a database.",
        type=boolean,
        group=SELECTION_GROUP,
        name="--list",
        is_flag=True,
        aliases=("--collect-only",),
    ),
    Option(
        "labels_from",
        None,
        "Read more labels from FILE (- for stdin): one a line; blanks and # lines ignored.",
        metavar="FILE",
        group=SELECTION_GROUP,
    ),
)


#: Options of Django's runner that take any integer, checked before a database is made.
#: Their defaults (0: no --parallel) are what the runner receives when none is given.
CHECKED_DJANGO_OPTIONS: tuple[Option, ...] = (
    Option("parallel", 0, "", type=processes),
    Option("durations", None, "", type=count),
)


@dataclass(frozen=True)
class RunConfig:
    """What the suite needs to know to run; picklable, so ``--parallel`` workers get it too."""

    executor: str = "inline"
    loop_scope: str = "class"
    task_grace: float = 0.5
    db_threads: str = "strict"
    compat: bool = False
    timeout: float = 0.0
    strict_tasks: bool = False
    strict: bool = False
    asyncio_debug: bool = False
    loop: str = "asyncio"
    reruns: int = 0
    reruns_delay: float = 0.0
    keepdb: bool = False
    test_aliases: frozenset[str] = field(default_factory=frozenset)


def run_config(values: Mapping[str, Any], **extra: Any) -> RunConfig:
    """The suite's share of the resolved option values, plus what the runner knows."""
    fields = {name: values[name] for name in RunConfig.__dataclass_fields__ if name in values}
    return RunConfig(**{**fields, **extra})


def add_arguments(parser: Any) -> None:
    groups: dict[str, Any] = {}
    for option in OPTIONS:
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(option.group)
        if option.is_flag:
            groups[option.group].add_argument(
                option.flag,
                *option.aliases,
                dest=option.dest,
                action="store_true",
                default=None,
                help=f"{option.help} (env {option.env}).",
            )
            continue
        groups[option.group].add_argument(
            option.flag,
            *option.aliases,
            dest=option.dest,
            default=None,
            choices=option.choices,
            metavar=option.metavar,
            help=f"{option.help}{_default_text(option)} (env {option.env}).",
        )


def _default_text(option: Option) -> str:
    return "" if option.default is None else f" Default: {option.default}"


def resolve(given: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Each option's value: the keyword given, else the environment variable, else default."""
    values = {}
    for option in OPTIONS:
        raw = given.get(option.dest)
        if raw is not None:
            values[option.dest] = option.parse(raw, option.flag)
        elif option.env in environ:
            values[option.dest] = option.parse(environ[option.env], option.env)
        else:
            values[option.dest] = option.default
    return values
