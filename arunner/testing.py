"""Async counterparts of Django's query-capture assertions, for coroutine tests that must also
run under ``DiscoverRunner``.

Under arunner, Django's own ``self.assertNumQueries`` and ``self.captureOnCommitCallbacks``
work in coroutine tests (``queryassertions``). Under ``DiscoverRunner`` they look the
connection up on the loop's thread, where the lookup either finds another connection (nothing
captured) or raises ``SynchronousOnlyOperation``. These helpers enter and leave Django's own
context managers through thread-sensitive calls instead, which both runners send to the thread
that holds the test's transaction.
"""

from __future__ import annotations

import unittest
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

__all__ = ["assert_num_queries", "capture_on_commit_callbacks", "capture_queries"]


def _enter_capture(using: str) -> CaptureQueriesContext:
    context = CaptureQueriesContext(connections[using])
    context.__enter__()
    return context


@asynccontextmanager
async def capture_queries(using: str = DEFAULT_DB_ALIAS) -> AsyncIterator[CaptureQueriesContext]:
    """``async with capture_queries() as ctx``: ``ctx.captured_queries`` after the block."""
    context = await sync_to_async(_enter_capture)(using)
    try:
        yield context
    finally:
        await sync_to_async(context.__exit__)(None, None, None)


@asynccontextmanager
async def assert_num_queries(
    test: unittest.TestCase, num: int, using: str = DEFAULT_DB_ALIAS
) -> AsyncIterator[CaptureQueriesContext]:
    """``async with assert_num_queries(self, 2):`` fails the test unless 2 queries ran."""
    async with capture_queries(using) as context:
        yield context
    executed = len(context)
    queries = "\n".join(
        f"{i}. {query['sql']}" for i, query in enumerate(context.captured_queries, start=1)
    )
    test.assertEqual(
        executed,
        num,
        f"{executed} queries executed, {num} expected\nCaptured queries were:\n{queries}",
    )


@asynccontextmanager
async def capture_on_commit_callbacks(
    *, using: str = DEFAULT_DB_ALIAS, execute: bool = False
) -> AsyncIterator[list[Callable[[], Any]]]:
    """``async with capture_on_commit_callbacks(execute=True) as callbacks:``.

    With ``execute=True`` the callbacks run on the test's thread when the block exits, so
    they may use the ORM.
    """
    manager = TestCase.captureOnCommitCallbacks(using=using, execute=execute)
    callbacks = await sync_to_async(manager.__enter__)()
    try:
        yield callbacks
    finally:
        await sync_to_async(manager.__exit__)(None, None, None)
