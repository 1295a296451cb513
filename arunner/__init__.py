"""arunner: an async-aware Django test runner.

Set ``TEST_RUNNER = "arunner.AsyncDiscoverRunner"`` or run the ``arunner`` command.

The public API: ``arunner.AsyncDiscoverRunner`` (the runner), ``arunner.timeout`` (a test's
own time limit), ``arunner.testing`` (async query assertions that also run under
``DiscoverRunner``), ``arunner.escapes`` (the refusal errors and ``expected_refusals``).
Everything else is arunner's own, laid out in layers (``ARCHITECTURE.md``).

The public names are imported on first use, so that the ``arunner`` command starts with
nothing but its entry point loaded: a Ctrl-C or SIGTERM while Django is still being imported
then ends the command quietly (``arunner.__main__``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arunner.runner import AsyncDiscoverRunner
    from arunner.timeouts.watchdog import timeout

__all__ = ["AsyncDiscoverRunner", "timeout"]

_HOMES = {"AsyncDiscoverRunner": "arunner.runner", "timeout": "arunner.timeouts.watchdog"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'arunner' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
