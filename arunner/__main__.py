"""``python -m arunner`` and the ``arunner`` console script.

A Ctrl-C or SIGTERM that arrives while Django and the rest of arunner are still being
imported (the first moments of every run) ends the command as a stop at any other point
does: the ``arunner: interrupted`` / ``terminated`` line and the closing line, exit 130 or
143, no traceback. From ``cli.command.main`` on, ``arunner.core.termination`` takes over.
"""

from __future__ import annotations

import signal
import sys
from typing import Any, NoReturn


class _TerminatedWhileImporting(KeyboardInterrupt):
    """SIGTERM before ``arunner.core.termination`` is loaded."""


def _terminated(signum: int, frame: Any) -> None:
    raise _TerminatedWhileImporting


def main() -> NoReturn:
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        from arunner.cli.command import main as run_command
    except KeyboardInterrupt as exc:
        word, code = (
            ("terminated", 143)
            if isinstance(exc, _TerminatedWhileImporting)
            else ("interrupted", 130)
        )
        sys.stderr.write(f"arunner: {word}\n\n0 passed, 0 failed, 0 skipped\n")
        raise SystemExit(code) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    run_command()


if __name__ == "__main__":
    main()
