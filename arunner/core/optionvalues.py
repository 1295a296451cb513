"""What option values may be: the types every source's value is checked with (command line,
environment, ``[tool.arunner]``, a constructor keyword), the hint under a bad one, and
``OptionError``. Apart from the option table (``options``) so that the table stays one list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from arunner.core.shardspec import shard_text


class OptionError(ValueError):
    """An option has a value arunner cannot use; the message names the option and its source,
    ``hint`` the values it takes."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


BOOLEAN_VALUES = "1, true, yes, on or 0, false, no, off"


def seconds(value: str | float) -> float:
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError("must be a finite number")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def boolean(text: str | bool) -> bool:
    """An environment variable's value for an on/off option."""
    if isinstance(text, bool):
        return text
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"use {BOOLEAN_VALUES}")


def processes(value: str | int) -> str | int:
    if value == "auto":
        return value
    processes = int(value)
    if processes < 1:
        raise ValueError("must be at least 1")
    return processes


def count(value: str | int) -> int:
    count = int(value)
    if count < 0:
        raise ValueError("must not be negative")
    return count


#: What a value of each type looks like, for the hint under a bad one.
_TAKES: dict[Callable[[Any], Any], str] = {
    seconds: "a number of seconds, 0 or more",
    boolean: BOOLEAN_VALUES,
    processes: "a number of processes, 1 or more, or auto",
    count: "a number, 0 or more",
    shard_text: "K/N (the K-th of N parts, from 1/N to N/N) or auto (from the CI's variables)",
}


def takes(value_type: Callable[[Any], Any]) -> str:
    """What a value of ``value_type`` looks like ("" for a type without a description)."""
    return _TAKES.get(value_type, "")
