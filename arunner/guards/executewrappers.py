"""arunner's execute wrappers, out of the project's sight.

arunner watches statements through Django's public execute-wrapper hook: the end of a test's
transaction (``transactionend``), worker-thread statements (``threadguard``), routed statements
(``route``). A test that inspects ``connection.execute_wrappers`` must still see only the
wrappers it installed, as under DiscoverRunner; Django's own suite asserts the exact list.

So a connection arunner watches gets a list that holds the project's wrappers, as a list,
and arunner's beside them: Django applies ``reversed(execute_wrappers)``
(``inventory.EXECUTE_WRAPPERS_APPLIED``), where arunner's come last, outermost. Equality,
length, ``repr``, ``append`` and ``pop`` (``connection.execute_wrapper()``) see the
project's only. The connection gets a plain list back once arunner's last wrapper is off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

Wrapper = Callable[..., Any]


class ExecuteWrappers(list[Wrapper]):
    """The project's execute wrappers (the list's items) and arunner's (``hidden``)."""

    __slots__ = ("hidden",)

    def __init__(self, visible: list[Wrapper]) -> None:
        super().__init__(visible)
        self.hidden: list[Wrapper] = []

    def __reversed__(self) -> Iterator[Wrapper]:
        """Django's order of application: the project's, then arunner's around them."""
        yield from super().__reversed__()
        yield from reversed(self.hidden)


def add(connection: BaseDatabaseWrapper, wrapper: Wrapper, *, outermost: bool = False) -> None:
    """Run ``wrapper`` around every statement of ``connection`` (once, however often added)."""
    wrappers = connection.execute_wrappers
    if not isinstance(wrappers, ExecuteWrappers):
        wrappers = ExecuteWrappers(wrappers)
        connection.execute_wrappers = wrappers
    if wrapper not in wrappers.hidden:
        wrappers.hidden.insert(0 if outermost else len(wrappers.hidden), wrapper)


def remove(connection: BaseDatabaseWrapper, wrapper: Wrapper) -> None:
    """Take ``wrapper`` off ``connection``; the last one off leaves Django's plain list."""
    wrappers = connection.execute_wrappers
    if not isinstance(wrappers, ExecuteWrappers) or wrapper not in wrappers.hidden:
        return
    wrappers.hidden.remove(wrapper)
    if not wrappers.hidden:
        connection.execute_wrappers = list(wrappers)
