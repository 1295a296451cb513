"""arunner: an async-aware Django test runner.

Set ``TEST_RUNNER = "arunner.AsyncDiscoverRunner"`` or run the ``arunner`` command.
"""

from .runner import AsyncDiscoverRunner
from .timeouts import timeout

__all__ = ["AsyncDiscoverRunner", "timeout"]
