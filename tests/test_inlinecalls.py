"""``arunner.inlinecalls``: ``sync_to_async`` served in place gives what asgiref gives.

Each check makes the same call twice from a coroutine test: once as the run serves it, and
once through asgiref's own ``SyncToAsync.__call__`` (which reaches the same inline executor
through ``run_in_executor``), and compares what the call and its caller saw.
"""

import asyncio
import contextvars
import sys
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor
from types import MethodType
from unittest import mock

from asgiref.local import Local
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from django.test import SimpleTestCase, TestCase

from arunner import inlinecalls, inventory
from arunner.loop import InlineExecutor, OutsideTestError
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


def each_way(func):
    """The two calls to compare, each given its own name as argument so that what one call
    changes cannot pass for the other's: (name, coroutine) pairs, each made when reached."""
    yield "in place", sync_to_async(func)("in place")
    yield "asgiref", asgirefs(func, "asgiref")


def serving_installed():
    return SyncToAsync.__call__.__module__ == inlinecalls.__name__


def asgirefs_path_refused():
    """While active, a call that takes asgiref's path to the inline executor fails: asgiref
    submits its job through ``run_in_executor``, which runs it with ``run_into``."""
    return mock.patch.object(InlineExecutor, "run_into", side_effect=AssertionError("asgiref"))


class InlineOnly:
    """Skips the class unless the run serves calls in place (``--executor inline``); asked
    when the class starts, inside the run, not when the module is imported."""

    @classmethod
    def setUpClass(cls):
        if not serving_installed():
            raise unittest.SkipTest("the run's executor is not inline")
        super().setUpClass()


class ServedInPlace(InlineOnly, TestCase):
    async def test_sync_to_async_is_served_in_place(self):
        with asgirefs_path_refused():
            holder = await sync_to_async(threading.get_ident)()
        self.assertEqual(holder, threading.get_ident())

    async def test_asgirefs_path_is_what_the_refusal_catches(self):
        with asgirefs_path_refused(), self.assertRaisesMessage(AssertionError, "asgiref"):
            await asgirefs(threading.get_ident)

    async def test_orm_calls_are_served_in_place_and_rolled_back(self):
        with asgirefs_path_refused():
            await Item.objects.acreate(name="in place")
            self.assertEqual(await Item.objects.acount(), 1)

    async def test_an_explicit_context_goes_to_asgiref(self):
        with asgirefs_path_refused(), self.assertRaisesMessage(AssertionError, "asgiref"):
            await sync_to_async(threading.get_ident, context=contextvars.copy_context())()

    async def test_thread_sensitive_false_goes_to_a_pool_thread(self):
        worker = await sync_to_async(threading.get_ident, thread_sensitive=False)()
        self.assertNotEqual(worker, threading.get_ident())

    async def test_another_thread_sensitive_context_keeps_its_executor(self):
        executor = ThreadPoolExecutor(1)
        try:
            async with ThreadSensitiveContext(executor=executor):
                used = await sync_to_async(threading.get_ident)()
            own = executor.submit(threading.get_ident).result()
        finally:
            executor.shutdown()
        self.assertEqual(used, own)

    async def test_a_keyword_named_self_fails_as_in_asgiref(self):
        with self.assertRaises(TypeError):
            await sync_to_async(dict)(self=1)

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

        for value, coro in each_way(change):
            self.assertEqual(await coro, value)
            self.assertEqual(VAR.get(), value)
            self.assertEqual(LOCAL.value, value)

    async def test_context_changes_come_back_when_the_call_raises(self):
        def change_then_fail(value):
            VAR.set(value)
            raise LookupError(value)

        for value, coro in each_way(change_then_fail):
            with self.assertRaises(LookupError):
                await coro
            self.assertEqual(VAR.get(), value)

    async def test_context_changes_come_back_past_values_that_refuse_comparison(self):
        """The quick check that a call changed nothing compares the contexts' values; a
        value whose ``==`` raises must not lose the call's changes."""

        class Incomparable:
            def __eq__(self, other):
                raise TypeError("not comparable")

            __hash__ = object.__hash__

        stubborn: contextvars.ContextVar[object] = contextvars.ContextVar("stubborn")

        def change():
            made = Incomparable()
            stubborn.set(made)
            return made

        for coro in both(change):
            stubborn.set(Incomparable())
            made = await coro
            self.assertIs(stubborn.get(), made)

    async def test_the_call_runs_in_a_copy_of_the_callers_context(self):
        def set_var():
            return VAR.set("call")

        for coro in both(set_var):
            token = await coro
            with self.assertRaises(ValueError):  # made in another Context
                VAR.reset(token)

    async def test_the_call_sees_the_callers_context(self):
        VAR.set("caller")

        def read():
            return VAR.get()

        for coro in both(read):
            self.assertEqual(await coro, "caller")

    async def test_local_data_set_on_another_thread_is_seen_by_the_call_and_after(self):
        """asgiref moves ``Local`` data with the context it runs a call in; data that
        arrived from another thread becomes this thread's."""
        loop = asyncio.get_running_loop()

        async def on_loop():
            seen = await sync_to_async(getattr)(LOCAL, "value", None)
            return seen, getattr(LOCAL, "value", None)

        def worker():
            LOCAL.value = "set in worker"
            return asyncio.run_coroutine_threadsafe(on_loop(), loop).result()

        self.assertEqual(await asyncio.to_thread(worker), ("set in worker", "set in worker"))

    async def test_the_deadlock_flag_is_cleared(self):
        for coro in both(int):
            SyncToAsync.deadlock_context.set(True)
            await coro
            self.assertIs(SyncToAsync.deadlock_context.get(), False)

    async def test_the_call_knows_the_callers_loop(self):
        def main_loop():
            return SyncToAsync.threadlocal.main_event_loop

        loop = asyncio.get_running_loop()
        for coro in both(main_loop):
            SyncToAsync.threadlocal.main_event_loop = None
            self.assertIs(await coro, loop)

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

    async def test_a_call_from_another_tests_task_is_refused(self):
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


class Named:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Named({self.name!r})"

    def get(self, suffix=""):
        return self.name + suffix


def wrapper_state(wrapper):
    return {k: v for k, v in vars(wrapper).items() if k not in inventory.PER_CALLABLE}


class Constructing(InlineOnly, SimpleTestCase):
    """Wrappers of bound methods built from an earlier wrapper of the same function are the
    ones asgiref builds."""

    def setUp(self):
        class Fresh(Named):  # a function no wrapper was built for yet
            def get(self, suffix=""):
                return self.name + suffix

        self.first, self.second = Fresh("first"), Fresh("second")

    def test_the_second_wrapper_is_asgirefs(self):
        by_asgiref = sync_to_async(self.first.get)
        with mock.patch("functools.update_wrapper", side_effect=AssertionError("asgiref")):
            built = sync_to_async(self.second.get)
        self.assertEqual(wrapper_state(built), wrapper_state(by_asgiref))
        for name in ("func", "__wrapped__"):
            self.assertEqual(getattr(built, name), self.second.get)
        self.assertIs(built.__self__, self.second)
        self.assertEqual(built.__name__, "get")
        self.assertEqual(asyncio.run(built("!")), "second!")
        self.assertEqual(asyncio.run(by_asgiref("?")), "first?")

    def test_changed_function_attributes_are_copied_again(self):
        sync_to_async(self.first.get)
        type(self.first).get.marked = "later"
        self.assertEqual(sync_to_async(self.second.get).marked, "later")
        type(self.first).get.__doc__ = "changed"
        self.assertEqual(sync_to_async(self.second.get).__doc__, "changed")

    def test_a_subclass_keeps_its_own_state(self):
        class Tagged(SyncToAsync):
            def __init__(self, func, tag):
                self.tag = tag
                super().__init__(func)

        self.assertEqual(Tagged(self.first.get, "one").tag, "one")
        self.assertEqual(Tagged(self.second.get, "two").tag, "two")
        self.assertFalse(hasattr(sync_to_async(self.second.get), "tag"))

    def test_a_bound_builtin_is_wrapped_as_by_asgiref(self):
        bound = MethodType(len, [1, 2])
        for _ in range(2):
            self.assertEqual(asyncio.run(sync_to_async(bound)()), 2)

    def test_other_arguments_and_callables_go_to_asgiref(self):
        sync_to_async(self.first.get)
        pool = ThreadPoolExecutor(1)
        self.addCleanup(pool.shutdown)
        own = sync_to_async(self.second.get, thread_sensitive=False, executor=pool)
        self.assertIs(own._executor, pool)
        self.assertFalse(own._thread_sensitive)
        context = contextvars.copy_context()
        self.assertIs(sync_to_async(self.second.get, context=context).context, context)

        async def coroutine_method(self):
            return None

        type(self.first).later = coroutine_method
        with self.assertRaises(TypeError):
            sync_to_async(self.first.later)


class InstalledForTheRun(InlineOnly, SimpleTestCase):
    def test_undo_puts_back_what_was_replaced(self):
        serving = SyncToAsync.__call__
        constructing = SyncToAsync.__init__

        async def wrapped(wrapper, *args, **kwargs):
            return "wrapped"

        def init(wrapper, func, *args, **kwargs):
            constructing(wrapper, func, *args, **kwargs)

        try:
            inventory.set_sync_to_async_call(wrapped)
            inventory.set_sync_to_async_init(init)
            installed = inlinecalls.Installed()
            self.assertEqual(SyncToAsync.__call__.__module__, inlinecalls.__name__)
            self.assertEqual(SyncToAsync.__init__.__module__, inlinecalls.__name__)
            self.assertEqual(asyncio.run(sync_to_async(int)()), "wrapped")
            installed.undo()
            self.assertIs(SyncToAsync.__call__, wrapped)
            self.assertIs(SyncToAsync.__init__, init)
        finally:
            inventory.set_sync_to_async_call(serving)
            inventory.set_sync_to_async_init(constructing)
