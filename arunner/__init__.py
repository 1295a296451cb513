"""arunner: an async-aware Django test runner.

Set ``TEST_RUNNER = "arunner.AsyncDiscoverRunner"`` or run the ``arunner`` command.

The public names are imported on first use, so that the ``arunner`` command starts with
nothing but its entry point loaded: a Ctrl-C or SIGTERM while Django is still being imported
then ends the command quietly (``arunner.__main__``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import AsyncDiscoverRunner
    from .timeouts import timeout

__all__ = ["AsyncDiscoverRunner", "timeout"]

_HOMES = {"AsyncDiscoverRunner": ".runner", "timeout": ".timeouts"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'arunner' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
