"""``-k``, ``--tag`` and ``--exclude-tag`` that select no test: a mistake, like a bad label.

A filter that matches nothing is usually a typo, and a CI job that runs no test would
otherwise pass. So it stops the run before any database is created (``ConfigurationError``,
exit 2), as a label that matches nothing does.
"""

from __future__ import annotations

import unittest
from collections.abc import Sequence

from arunner.core.errors import ConfigurationError


def check_filters(
    suite: unittest.TestSuite,
    patterns: Sequence[str] | None,
    tags: Sequence[str] | None,
    exclude_tags: Sequence[str] | None,
) -> None:
    """Raise ``ConfigurationError`` when filters were given and ``suite`` has no test."""
    given = [
        *(f"-k {p!r}" for p in patterns or ()),
        *(f"--tag {t!r}" for t in tags or ()),
        *(f"--exclude-tag {t!r}" for t in exclude_tags or ()),
    ]
    if not given or suite.countTestCases():
        return
    raise ConfigurationError(
        f"{', '.join(given)} {'selects' if len(given) == 1 else 'select'} no test",
        hint="check the spelling; leave the filter out to see which tests there are (-v 2)",
    )
