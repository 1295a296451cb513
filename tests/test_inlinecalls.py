"""``arunner.inlinecalls``: ``sync_to_async`` served in place gives what asgiref gives.

Each check makes the same call twice from a coroutine test: once as the run serves it, and
once through asgiref's own ``SyncToAsync.__call__`` (which reaches the same inline executor
through ``run_in_executor``), and compares what the call and its caller saw.
"""

import asyncio
import contextvars
import sys
import threading
from unittest import mock

from asgiref.local import Local
from asgiref.sync import SyncToAsync, async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from django.test import SimpleTestCase, TestCase

from arunner import inlinecalls, inventory
from arunner.loop import OutsideTestError
from tests.testapp.models import Item

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("inlinecalls_test_var")
LOCAL = Local()
THREAD_CRITICAL = Local(thread_critical=True)


def asgirefs(func, /, *args, **kwargs):
    """The coroutine asgiref's own ``__call__`` makes for ``sync_to_async(func)``."""
    return inventory.SYNC_TO_ASYNC_CALL(sync_to_async(func), *args, **kwargs)


def both(func, /, *args, **kwargs):
    """The two coroutines to compare: served in place, and asgiref's."""
    return sync_to_async(func)(*args, **kwargs), asgirefs(func, *args, **kwargs)


class ServedInPlace(TestCase):
    async def test_the_run_serves_sync_to_async(self):
        self.assertIs(SyncToAsync.__call__, inlinecalls.call)
        with mock.patch.object(inventory, "SYNC_TO_ASYNC_CALL", side_effect=AssertionError):
            holder = await sync_to_async(threading.get_ident)()
        self.assertEqual(holder, threading.get_ident())

    async def test_orm_calls_are_served_in_place_and_rolled_back(self):
        with mock.patch.object(inventory, "SYNC_TO_ASYNC_CALL", side_effect=AssertionError):
            await Item.objects.acreate(name="in place")
            self.assertEqual(await Item.objects.acount(), 1)

    async def test_other_calls_go_to_asgiref(self):
        original = inventory.SYNC_TO_ASYNC_CALL
        with mock.patch.object(
            inventory, "SYNC_TO_ASYNC_CALL", side_effect=original, autospec=True
        ) as asgiref_call:
            await sync_to_async(threading.get_ident, thread_sensitive=False)()
            await sync_to_async(threading.get_ident, context=contextvars.copy_context())()
        self.assertEqual(asgiref_call.call_count, 2)

    async def test_the_loop_is_detached_during_the_call(self):
        def running_loop():
            return inventory.get_running_loop_or_none()

        for coro in both(running_loop):
            self.assertIsNone(await coro)
        self.assertIsNotNone(inventory.get_running_loop_or_none())

    async def test_context_changes_come_back(self):
        def change(value):
            VAR.set(value)
            LOCAL.value = value
            return VAR.get()

        for value in ("in place", "asgiref"):
            coro = sync_to_async(change)(value) if value == "in place" else asgirefs(change, value)
            self.assertEqual(await coro, value)
            self.assertEqual(VAR.get(), value)
            self.assertEqual(LOCAL.value, value)

    async def test_the_call_sees_the_callers_context_but_not_the_reverse(self):
        VAR.set("caller")
        seen = []

        def read_then_reset():
            seen.append(VAR.get())
            token = VAR.set("call")
            VAR.reset(token)

        for coro in both(read_then_reset):
            await coro
        self.assertEqual(seen, ["caller", "caller"])
        self.assertEqual(VAR.get(), "caller")

    async def test_a_thread_critical_local_stays_where_it_was_set(self):
        def set_it():
            THREAD_CRITICAL.value = "sync side"

        outcomes = []
        for coro in both(set_it):
            await coro
            outcomes.append(getattr(THREAD_CRITICAL, "value", None))
        self.assertEqual(outcomes[0], outcomes[1])

    async def test_exceptions_come_back_unchanged(self):
        def fail(message):
            raise LookupError(message)

        for coro in both(fail, "no such row"):
            with self.assertRaisesMessage(LookupError, "no such row"):
                await coro

    async def test_the_handled_exception_is_visible_to_the_call(self):
        def handled():
            return sys.exc_info()[1]

        try:
            raise KeyError("being handled")
        except KeyError as exc:
            for coro in both(handled):
                self.assertIs(await coro, exc)

    async def test_keyword_arguments_named_like_the_machinery(self):
        def echo(*args, **kwargs):
            return args, kwargs

        for coro in both(echo, 1, wrapper=2, loop=3, func=4, fn=5):
            self.assertEqual(await coro, ((1,), {"wrapper": 2, "loop": 3, "func": 4, "fn": 5}))

    async def test_nested_async_to_sync_runs_on_a_loop_of_its_own(self):
        async def inner():
            return asyncio.get_running_loop()

        outer = asyncio.get_running_loop()
        for coro in both(async_to_sync(inner)):
            self.assertIsNot(await coro, outer)

    async def test_a_subclass_thread_handler_still_runs(self):
        """Channels' ``database_sync_to_async`` closes old connections in its
        ``thread_handler``; the test's own connection survives it, on either path."""
        calls = []
        handler = type(database_sync_to_async(int)).thread_handler

        def counting(wrapper, loop, *args, **kwargs):
            calls.append(wrapper)
            return handler(wrapper, loop, *args, **kwargs)

        with mock.patch.object(type(database_sync_to_async(int)), "thread_handler", counting):
            await database_sync_to_async(Item.objects.create)(name="channels")
            await inventory.SYNC_TO_ASYNC_CALL(database_sync_to_async(Item.objects.count))
        self.assertEqual(len(calls), 2)
        self.assertEqual(await Item.objects.acount(), 1)

    async def test_a_task_that_outlives_its_test_is_still_refused(self):
        self.outside = None

        async def late():
            from arunner.loop import OWNER

            OWNER.set(object())
            try:
                await sync_to_async(threading.get_ident)()
            except OutsideTestError as exc:
                self.outside = exc

        await asyncio.create_task(late())
        self.assertIsInstance(self.outside, OutsideTestError)


class InstalledForTheRun(SimpleTestCase):
    def test_undo_puts_asgirefs_call_back(self):
        self.assertIs(SyncToAsync.__call__, inlinecalls.call)
        try:
            inlinecalls.Installed().undo()
            self.assertIs(SyncToAsync.__call__, inventory.SYNC_TO_ASYNC_CALL)
        finally:
            inventory.set_sync_to_async_call(inlinecalls.call)
