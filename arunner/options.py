"""The options arunner adds to Django's runner: one table, read by ``add_arguments``.

Each value comes from, in order: the command line (or the runner's constructor keyword), the
environment variable, the default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .loop import EXECUTORS

LOOP_SCOPES = ("class", "test", "run")
DB_THREAD_MODES = ("strict", "route")


class OptionError(ValueError):
    """An option has a value arunner cannot use; the message names the option and its source."""


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


@dataclass(frozen=True)
class Option:
    dest: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    type: Callable[[str], Any] = str
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")

    @property
    def env(self) -> str:
        return "ARUNNER_" + self.dest.upper()

    def parse(self, raw: Any, source: str) -> Any:
        try:
            value = self.type(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            raise OptionError(f"{source}: {raw!r} is not a valid value ({exc})") from None
        if self.choices is not None and value not in self.choices:
            raise OptionError(
                f"{source}: {value!r} is not one of {', '.join(self.choices)}"
            )
        return value


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
        type=_seconds,
        metavar="SECONDS",
    ),
    Option(
        "db_threads",
        "strict",
        "ORM calls from worker threads during a test: 'strict' refuses them with an error, "
        "'route' runs them on the test's own connection.",
        choices=DB_THREAD_MODES,
    ),
)


@dataclass(frozen=True)
class RunConfig:
    """What the suite needs to know to run; picklable, so ``--parallel`` workers get it too."""

    executor: str = "inline"
    loop_scope: str = "class"
    task_grace: float = 0.5
    db_threads: str = "strict"
    test_aliases: frozenset[str] = field(default_factory=frozenset)


def add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("arunner")
    for option in OPTIONS:
        group.add_argument(
            option.flag,
            dest=option.dest,
            default=None,
            choices=option.choices,
            metavar=option.metavar,
            help=f"{option.help} Default: {option.default} (env {option.env}).",
        )


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
