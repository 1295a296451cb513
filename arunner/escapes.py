"""Public: the errors of ORM statements refused outside the test's transaction, and
``expected_refusals`` for tests that check a refusal.

The guard itself lives in ``arunner.guards`` (``threadguard``, ``threadscope``); this module
is where users import these names from, and the name the errors carry in tracebacks.
"""

from __future__ import annotations

from arunner.guards.threadguard import expected_refusals
from arunner.guards.threadscope import EscapedQueryError, LeakedWriteError

__all__ = ["EscapedQueryError", "LeakedWriteError", "expected_refusals"]
