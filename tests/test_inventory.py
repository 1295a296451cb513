"""Canaries: one per private name in ``arunner.inventory``.

Each fails loudly, naming the private name, when a release of Django, asgiref, unittest or
asyncio changes it. CI runs them on the oldest and newest supported releases.
"""

import asyncio
import contextvars
import inspect
import os
import sys
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor

from asgiref.local import Local
from asgiref.sync import (
    AsyncToSync,
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    sync_to_async,
)
from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.test import SimpleTestCase, TestCase
from django.test import runner as django_runner

from arunner import inventory


class AsyncioPrivates(SimpleTestCase):
    def test_running_loop_accessors(self):
        loop = asyncio.new_event_loop()
        try:
            self.assertIsNone(inventory.get_running_loop_or_none())
            inventory.set_running_loop(loop)
            self.assertIs(inventory.get_running_loop_or_none(), loop)
        finally:
            inventory.set_running_loop(None)
            loop.close()

    def test_shield_callback_name(self):
        async def main():
            inner = asyncio.ensure_future(asyncio.sleep(1))
            outer = asyncio.ensure_future(asyncio.shield(inner))
            await asyncio.sleep(0)
            plain = asyncio.ensure_future(asyncio.sleep(1))
            found = (inventory.is_shielded(inner), inventory.is_shielded(plain))
            for task in (inner, outer, plain):
                task.cancel()
            await asyncio.gather(inner, outer, plain, return_exceptions=True)
            return found

        self.assertEqual(asyncio.run(main()), (True, False))


class AsgirefPrivates(SimpleTestCase):
    def test_loop_thread_executors_is_the_fallback_map(self):
        self.assertIs(inventory.loop_thread_executors, AsyncToSync.loop_thread_executors)
        self.assertIsInstance(AsyncToSync.loop_thread_executors, dict)

    def test_async_to_sync_falls_back_to_a_new_loop_on_runtime_error(self):
        """The inline executor relies on this: a RuntimeError from call_soon_threadsafe of
        the outer loop makes AsyncToSync run the coroutine on a loop of its own."""
        source = inspect.getsource(AsyncToSync.__call__)
        self.assertIn("call_soon_threadsafe", source)
        self.assertIn("except RuntimeError", source)

    def test_thread_handler_name_for_job_names(self):
        from asgiref.sync import SyncToAsync

        self.assertEqual(SyncToAsync.thread_handler.__qualname__, "SyncToAsync.thread_handler")


class SyncToAsyncPrivates(SimpleTestCase):
    """What ``arunner.inlinecalls`` relies on to serve calls as ``SyncToAsync.__call__`` does."""

    def test_the_replaced_call_is_asgirefs(self):
        self.assertEqual(inventory.SYNC_TO_ASYNC_CALL.__qualname__, "SyncToAsync.__call__")
        self.assertEqual(inventory.SYNC_TO_ASYNC_CALL.__module__, "asgiref.sync")
        self.assertTrue(inspect.iscoroutinefunction(inventory.SYNC_TO_ASYNC_CALL))

    def test_set_sync_to_async_call_replaces_and_restores(self):
        current = inventory.sync_to_async_call()
        self.assertIs(current, SyncToAsync.__call__)

        async def stand_in(wrapper, *args, **kwargs):
            return "stand-in"

        try:
            inventory.set_sync_to_async_call(stand_in)
            self.assertEqual(asyncio.run(sync_to_async(int)()), "stand-in")
        finally:
            inventory.set_sync_to_async_call(current)
        self.assertIs(SyncToAsync.__call__, current)

    def test_the_entered_thread_sensitive_context_and_its_executor(self):
        """``served_executor`` finds a call's executor by ``SyncToAsync.thread_sensitive_context``:
        asgiref sends a call made inside that context to the context's executor."""
        executor = ThreadPoolExecutor(1)
        entered = ThreadSensitiveContext(executor=executor)
        served = {entered: executor}

        async def main():
            outside = inventory.served_executor(sync_to_async(int), served)
            async with entered:
                inside = inventory.served_executor(sync_to_async(int), served)
                used = await sync_to_async(threading.get_ident)()
            return outside, inside, used

        try:
            outside, inside, used = asyncio.run(main())
            worker = executor.submit(threading.get_ident).result()
        finally:
            executor.shutdown()
        self.assertIsNone(outside)
        self.assertIs(inside, executor)
        self.assertEqual(used, worker)

    def test_only_thread_sensitive_calls_in_the_callers_context_are_served(self):
        executor = ThreadPoolExecutor(1)
        entered = ThreadSensitiveContext(executor=executor)
        served = {entered: executor}

        async def main():
            async with entered:
                return [
                    inventory.served_executor(wrapper, served)
                    for wrapper in (
                        sync_to_async(int),
                        sync_to_async(int, thread_sensitive=False),
                        sync_to_async(int, context=contextvars.copy_context()),
                    )
                ]

        try:
            found = asyncio.run(main())
        finally:
            executor.shutdown()
        self.assertEqual(found, [executor, None, None])

    def test_a_sync_caller_up_the_stack_comes_first(self):
        """``AsyncToSync.executors.current``: a coroutine run by ``async_to_sync`` from a
        sync thread sends its thread-sensitive calls back to that thread, whatever context
        it inherited, so ``served_executor`` finds none there."""
        executor = ThreadPoolExecutor(1)
        entered = ThreadSensitiveContext(executor=executor)
        served = {entered: executor}

        async def inner():
            return inventory.served_executor(sync_to_async(int), served)

        def sync_caller():
            seen = async_to_sync(inner)()
            return seen, threading.get_ident(), async_to_sync(sync_to_async(threading.get_ident))()

        async def main():
            async with entered:
                return await sync_to_async(sync_caller)()

        try:
            seen, caller, served_on = asyncio.run(main())
        finally:
            executor.shutdown()
        self.assertIsNone(seen)
        self.assertEqual(served_on, caller)

    def test_served_executor_reads_the_sync_callers_local(self):
        """The direct read agrees with ``AsyncToSync.executors.current``: set, unset, and
        seen from another thread (whose context is a copy of this one's)."""
        marker = object()
        entered = ThreadSensitiveContext()
        served = {entered: marker}

        def found():
            return inventory.served_executor(sync_to_async(int), served)

        def check():
            SyncToAsync.thread_sensitive_context.set(entered)
            before = found()
            AsyncToSync.executors.current = object()
            here = found()
            context = contextvars.copy_context()
            elsewhere = ThreadPoolExecutor(1)
            try:
                there = elsewhere.submit(context.run, found).result()
                asgiref_there = elsewhere.submit(
                    context.run, getattr, AsyncToSync.executors, "current", None
                ).result()
            finally:
                elsewhere.shutdown()
            return before, here, there, asgiref_there

        before, here, there, asgiref_there = contextvars.Context().run(check)
        self.assertIs(before, marker)
        self.assertIsNone(here)
        self.assertIs(there, marker)
        self.assertIsNone(asgiref_there)

    def test_a_wrapper_holds_its_function_and_the_per_callable_attributes(self):
        """What ``inlinecalls.constructing`` relies on: asgiref's own ``__init__`` gives
        wrappers of two bound methods of one function the same state, apart from
        ``PER_CALLABLE``, and takes the arguments it is given."""
        self.assertEqual(
            list(inspect.signature(inventory.SYNC_TO_ASYNC_INIT).parameters),
            ["self", "func", "thread_sensitive", "executor", "context"],
        )

        class Owner:
            def __init__(self, name):
                self.name = name

            def __repr__(self):
                return self.name

            def method(self):
                return self.name

        one, two = Owner("one"), Owner("two")
        wrappers, states = [], []
        for owner in (one, two):
            method = owner.method
            wrapper = SyncToAsync.__new__(SyncToAsync)
            inventory.SYNC_TO_ASYNC_INIT(wrapper, method)
            wrappers.append(wrapper)
            states.append(inventory.function_state(wrapper, method))
        self.assertIsNotNone(states[0])
        self.assertEqual(states[0], states[1])
        self.assertEqual(wrappers[1].func, two.method)
        self.assertIs(wrappers[1].__self__, two)
        self.assertIsNone(inventory.function_state(wrappers[0], two.method))

    def test_plain_thread_handler(self):
        self.assertTrue(inventory.plain_thread_handler(sync_to_async(int)))
        self.assertFalse(inventory.plain_thread_handler(database_sync_to_async(int)))

    def test_note_caller_loop_is_what_asgirefs_thread_handler_sets(self):
        source = inspect.getsource(SyncToAsync.thread_handler)
        for line in (
            "self.threadlocal.main_event_loop = loop",
            "self.threadlocal.main_event_loop_pid = os.getpid()",
            "self.threadlocal.task_context = task_context",
        ):
            self.assertIn(line, source)
        loop = object()

        def check():
            inventory.note_caller_loop(loop)
            local = SyncToAsync.threadlocal
            return local.main_event_loop, local.main_event_loop_pid, local.task_context

        elsewhere = ThreadPoolExecutor(1)
        try:
            noted, pid, tasks = elsewhere.submit(check).result()
        finally:
            elsewhere.shutdown()
        self.assertIs(noted, loop)
        self.assertEqual(pid, os.getpid())
        self.assertEqual(tasks, [])

    def test_end_thread_sensitive_call_clears_the_deadlock_flag(self):
        def check():
            SyncToAsync.deadlock_context.set(True)
            inventory.end_thread_sensitive_call(sync_to_async(int))
            return SyncToAsync.deadlock_context.get()

        self.assertIs(contextvars.copy_context().run(check), False)
        source = inspect.getsource(inventory.SYNC_TO_ASYNC_CALL)
        self.assertIn("self.deadlock_context.set(False)", source)

    def test_run_thread_handler_notes_the_loop_and_the_handled_exception(self):
        loop = asyncio.new_event_loop()
        seen = {}

        def probe(*args, **kwargs):
            seen["args"], seen["kwargs"] = args, kwargs
            seen["loop"] = SyncToAsync.threadlocal.main_event_loop
            seen["handled"] = sys.exc_info()[1]
            return "done"

        try:
            try:
                raise KeyError("handled")
            except KeyError as exc:
                handled = exc
                result = inventory.run_thread_handler(sync_to_async(probe), loop, probe, 1, 2)
        finally:
            loop.close()
        self.assertEqual(result, "done")
        self.assertEqual(seen["args"], (1, 2))
        self.assertEqual(seen["kwargs"], {})
        self.assertIs(seen["loop"], loop)
        self.assertIs(seen["handled"], handled)


class LocalStoragePrivates(SimpleTestCase):
    def test_storage_from_another_thread_is_found_and_rehomed(self):
        local = Local()

        def set_in_thread():
            local.value = "there"
            return contextvars.copy_context()

        with ThreadPoolExecutor(1) as pool:
            context = pool.submit(contextvars.copy_context().run, set_in_thread).result()
        foreign = inventory.foreign_local_storage(context)
        self.assertEqual(len(foreign), 1)
        self.assertFalse(context.run(hasattr, local, "value"))
        var, storage = foreign[0]
        context.run(inventory.rehome_local_storage, var, storage)
        self.assertEqual(context.run(getattr, local, "value"), "there")
        self.assertEqual(inventory.foreign_local_storage(context), [])


class UnittestPrivates(SimpleTestCase):
    def test_phase_hooks_exist(self):
        for name in inventory.UNITTEST_PHASES:
            self.assertTrue(callable(getattr(unittest.TestCase, name, None)), name)

    def test_phase_hooks_are_called_by_run(self):
        source = inspect.getsource(unittest.TestCase.run)
        for name in ("_callSetUp", "_callTestMethod", "_callTearDown"):
            self.assertIn(name, source)
        do_cleanups = unittest.TestCase.doCleanups
        original = getattr(do_cleanups, "arunner_original", do_cleanups)  # arunner runs this
        self.assertIn("_callCleanup", inspect.getsource(original))

    def test_run_ends_with_do_cleanups(self):
        self.assertIn("self.doCleanups()", inspect.getsource(unittest.TestCase.run))

    def test_test_part_records_an_error_and_the_test_goes_on(self):
        reached = []

        class Case(unittest.TestCase):
            def test_it(self):
                with inventory.test_part(self):
                    raise ValueError("recorded")
                reached.append(True)

        result = unittest.TestResult()
        Case("test_it").run(result)
        self.assertEqual(reached, [True])
        self.assertEqual(len(result.errors), 1)
        self.assertIn("ValueError: recorded", result.errors[0][1])

    def test_no_test_part_outside_run(self):
        self.assertIsNone(inventory.test_part(unittest.TestCase()))

    def test_isolated_asyncio_loop_setup_names(self):
        for name in inventory.ISOLATED_ASYNCIO_SETUP:
            self.assertTrue(callable(getattr(unittest.IsolatedAsyncioTestCase, name, None)), name)

    def test_suite_class_setup_hook(self):
        self.assertTrue(callable(unittest.TestSuite._handleClassSetUp))
        self.assertIn("_handleClassSetUp", inspect.getsource(unittest.TestSuite.run))

    def test_thread_target(self):
        def work():
            pass

        thread = threading.Thread(target=work)
        self.assertIs(inventory.thread_target(thread), work)


class DjangoPrivates(TestCase):
    def test_test_atomics_are_marked_and_found(self):
        self.assertTrue(inventory.in_test_atomic(connection))

    def test_user_atomic_is_not_a_test_atomic(self):
        with transaction.atomic():
            blocks = connection.atomic_blocks
            self.assertTrue(getattr(blocks[0], "_from_testcase", False))
            self.assertFalse(getattr(blocks[-1], "_from_testcase", False))

    def test_mark_testcase_atomic(self):
        atomic = transaction.atomic()
        inventory.mark_testcase_atomic(atomic)
        self.assertTrue(atomic._from_testcase)

    def test_testcase_enter_atomics_sets_the_flag(self):
        self.assertIn("_from_testcase", inspect.getsource(TestCase._enter_atomics))


class CleanupCount(SimpleTestCase):
    def test_cleanup_count_reads_registered_cleanups(self):
        before = inventory.cleanup_count(self)
        self.addCleanup(lambda: None)
        self.assertEqual(inventory.cleanup_count(self), before + 1)


class RoutePrivates(SimpleTestCase):
    """The names route mode touches (``arunner.route``)."""

    def test_connection_storage_backs_connection_lookups(self):
        from django.db import connections

        storage = inventory.connection_storage(connections)
        self.assertIn("getattr(self._connections, alias)", _source(type(connections).__getitem__))
        self.assertIn("hasattr(self._connections, alias)", _source(type(connections).all))

        class Spy:
            def __getattr__(self, alias):
                return ("spied", alias)

        inventory.set_connection_storage(connections, Spy())
        try:
            self.assertEqual(connections["default"], ("spied", "default"))
        finally:
            inventory.set_connection_storage(connections, storage)
        self.assertIs(inventory.connection_storage(connections), storage)

    def test_atomic_methods_are_the_class_ones(self):
        self.assertIs(inventory.ATOMIC_ENTER, transaction.Atomic.__enter__)
        self.assertIs(inventory.ATOMIC_EXIT, transaction.Atomic.__exit__)
        self.assertIs(type(transaction.atomic()), transaction.Atomic)
        for attribute in ("using", "savepoint"):
            self.assertIn(f"self.{attribute}", _source(transaction.Atomic.__init__))

    def test_mark_for_rollback_is_looked_up_on_the_module_at_each_call(self):
        from django.db.models import base, deletion, query

        self.assertIs(inventory.MARK_FOR_ROLLBACK_ON_ERROR, transaction.mark_for_rollback_on_error)
        for module, function in (
            (base, base.Model.save_base),
            (query, query.QuerySet.update),
            (deletion, deletion.Collector.delete),
        ):
            self.assertIs(module.transaction, transaction, module.__name__)
            self.assertIn("transaction.mark_for_rollback_on_error(", _source(function))

    def test_transaction_patches_replace_and_restore(self):
        def enter(atomic):
            raise AssertionError("patched")

        patches = inventory.TransactionPatches(enter, inventory.ATOMIC_EXIT, lambda using: None)
        try:
            self.assertIs(transaction.Atomic.__enter__, enter)
            self.assertIsNone(transaction.mark_for_rollback_on_error("default"))
        finally:
            patches.undo()
        self.assertIs(transaction.Atomic.__enter__, inventory.ATOMIC_ENTER)
        self.assertIs(transaction.mark_for_rollback_on_error, inventory.MARK_FOR_ROLLBACK_ON_ERROR)


def _source(function):
    return inspect.getsource(function)


class IsolatedAsyncioContext(SimpleTestCase):
    def test_isolated_asyncio_test_case_holds_a_context(self):
        class Probe(unittest.IsolatedAsyncioTestCase):
            async def test_it(self):
                pass

        probe = Probe("test_it")
        self.assertTrue(hasattr(probe, "_asyncioTestContext"))
        inventory.drop_asyncio_test_context(probe)
        self.assertIsNone(probe._asyncioTestContext)


class ParallelWorkerNumber(SimpleTestCase):
    def test_django_keeps_the_worker_number_in_a_module_global(self):
        self.assertIsInstance(inventory.worker_number(), int)
        source = _source(django_runner._init_worker)
        self.assertIn("global _worker_id", source)
        self.assertIn("_worker_id = counter.value", source)
        self.assertIn("setup_worker_connection(_worker_id)", source)


class ErrorHolder(SimpleTestCase):
    def test_the_stand_in_test_goes_by_its_description(self):
        holder = inventory.error_holder("setUpClass (app.tests.Case)")
        self.assertEqual((holder.id(), str(holder)), ("setUpClass (app.tests.Case)",) * 2)
        result = unittest.TestResult()
        result.addSkip(holder, "whole class")
        self.assertEqual(result.skipped, [(holder, "whole class")])
