"""``--labels-from FILE``: labels read from a file or stdin, added to those given as arguments.

An external splitter (``circleci tests split``, a hand-written script) decides which tests a
job runs and writes their ids one a line; ``arunner --list`` writes the ids it can take. Blank
lines and lines starting with ``#`` are skipped, so a file kept in the repository can say why.
The runner reads a listed stand-in for a module that does not import (under
``--continue-on-collection-errors``) as that module, as ``--lf`` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from arunner.core.errors import ConfigurationError

STDIN = "-"


def read(source: str) -> list[str]:
    """The labels in ``source`` (a path, or ``-`` for stdin), in order."""
    try:
        text = sys.stdin.read() if source == STDIN else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigurationError(
            f"--labels-from {source}: cannot read it: {reason}",
            hint="give a readable file of test labels, one a line, or - for stdin",
        ) from exc
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]
