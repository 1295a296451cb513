"""Canaries: one per private name in ``arunner.core.inventory``.

Each fails loudly, naming the private name, when a release of Django, asgiref, unittest or
asyncio changes it. CI runs them on the oldest and newest supported releases.
"""

import asyncio
import contextvars
import inspect
import os
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor

from asgiref.current_thread_executor import CurrentThreadExecutor
from asgiref.local import Local
from asgiref.sync import (
    AsyncToSync,
    SyncToAsync,
    async_to_sync,
)
from django.db import connection, connections, transaction
from django.db.backends.utils import CursorWrapper
from django.test import SimpleTestCase, TestCase
from django.test import runner as django_runner

from arunner.core import inventory
from arunner.guards import executewrappers
from arunner.suite import reruns


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

    def test_async_to_sync_queues_its_main_wrap(self):
        """``is_async_to_sync_call``: what ``AsyncToSync`` hands the outer loop's
        ``create_task`` is a ``main_wrap`` coroutine, and nothing else is taken for one."""
        source = inspect.getsource(AsyncToSync.__call__)
        self.assertIn("awaitable = self.main_wrap(", source)
        self.assertIn("main_event_loop.create_task, awaitable", source)

        class Recording(asyncio.SelectorEventLoop):
            queued = []

            def call_soon_threadsafe(self, callback, *args, context=None):
                self.queued.extend(args)
                raise RuntimeError("refused")

        async def inner():
            return "ran"

        async def plain():
            pass

        loop = Recording()

        def sync_caller():
            SyncToAsync.threadlocal.main_event_loop = loop
            SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
            return async_to_sync(inner)()

        elsewhere = ThreadPoolExecutor(1)
        try:
            ran = elsewhere.submit(contextvars.copy_context().run, sync_caller).result()
        finally:
            elsewhere.shutdown()
            loop.close()
        self.assertEqual(ran, "ran")
        self.assertEqual(len(Recording.queued), 1)
        self.assertTrue(inventory.is_async_to_sync_call(Recording.queued[0]))
        Recording.queued[0].close()
        other = plain()
        self.assertFalse(inventory.is_async_to_sync_call(other))
        other.close()
        self.assertFalse(inventory.is_async_to_sync_call(None))

    def test_thread_handler_name_for_job_names(self):
        from asgiref.sync import SyncToAsync

        self.assertEqual(SyncToAsync.thread_handler.__qualname__, "SyncToAsync.thread_handler")


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

    def test_the_suite_knows_a_test_class_by_its_class_attribute(self):
        self.assertIn("test(result)", inspect.getsource(unittest.TestSuite.run))
        for name in inventory.SUITE_FIXTURES_BY_CLASS:
            source = inspect.getsource(getattr(unittest.TestSuite, name))
            self.assertIn("test.__class__", source, name)

    def test_a_rerun_stand_in_gets_its_class_fixtures_once(self):
        """What ``--reruns`` relies on, end to end in one suite: class fixtures run once
        around a stand-in's runs, and a failing run is run again."""
        calls = []

        class Case(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                calls.append("setUpClass")

            @classmethod
            def tearDownClass(cls):
                calls.append("tearDownClass")

            def test_flaky(self):
                calls.append("run")
                self.assertGreater(calls.count("run"), 1)

            def test_passes(self):
                calls.append("passes")

        suite = unittest.TestSuite(
            reruns.Rerunning(Case(name), 1, 0.0, None) for name in ("test_flaky", "test_passes")
        )
        result = unittest.TestResult()
        suite.run(result)
        self.assertEqual(calls, ["setUpClass", "run", "run", "passes", "tearDownClass"])
        self.assertEqual((result.testsRun, result.failures, result.errors), (2, [], []))

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


class HiddenExecuteWrappers(TestCase):
    """``executewrappers`` relies on Django applying ``reversed(execute_wrappers)``."""

    def test_django_applies_the_hidden_wrappers_outside_the_projects(self):
        calls = []

        def hidden(execute, sql, params, many, context):
            calls.append(("hidden", sql))
            return execute(sql, params, many, context)

        def project(execute, sql, params, many, context):
            calls.append(("project", sql))
            return execute(sql, params, many, context)

        executewrappers.add(connection, hidden)
        try:
            with connection.execute_wrapper(project):
                self.assertEqual(connection.execute_wrappers, [project])
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
        finally:
            executewrappers.remove(connection, hidden)
        self.assertEqual(calls, [("hidden", "SELECT 1"), ("project", "SELECT 1")])
        self.assertIn("_execute_with_wrappers", inventory.EXECUTE_WRAPPERS_APPLIED)
        self.assertIn(
            "reversed(self.db.execute_wrappers)", _source(CursorWrapper._execute_with_wrappers)
        )

    def test_the_last_removal_gives_back_a_plain_list(self):
        def hidden(execute, sql, params, many, context):
            return execute(sql, params, many, context)

        fresh = connections.create_connection("default")
        executewrappers.add(fresh, hidden)
        executewrappers.add(fresh, hidden)
        self.assertEqual(fresh.execute_wrappers, [])
        self.assertEqual(list(reversed(fresh.execute_wrappers)), [hidden])
        executewrappers.remove(fresh, hidden)
        self.assertIs(type(fresh.execute_wrappers), list)


class CleanupCount(SimpleTestCase):
    def test_cleanup_count_reads_registered_cleanups(self):
        before = inventory.cleanup_count(self)
        self.addCleanup(lambda: None)
        self.assertEqual(inventory.cleanup_count(self), before + 1)


class RoutePrivates(SimpleTestCase):
    """The names route mode touches (``arunner.guards.route``)."""

    def test_connection_storage_backs_connection_lookups(self):
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


class NamesArunnerReads(SimpleTestCase):
    def test_test_method_name(self):
        class Probe(unittest.TestCase):
            def test_it(self):
                pass

        self.assertEqual(inventory.test_method_name(Probe("test_it")), "test_it")

    def test_a_module_that_does_not_import_becomes_the_failed_test(self):
        suite = unittest.defaultTestLoader.loadTestsFromName("arunner_no_such_module_xyz")
        (test,) = list(suite)
        self.assertIsInstance(test, inventory.FAILED_TEST)
        self.assertTrue(test.id().startswith(inventory.FAILED_TEST_PREFIX))
        self.assertEqual(
            test.id().removeprefix(inventory.FAILED_TEST_PREFIX), "arunner_no_such_module_xyz"
        )

    def test_the_sync_caller_executor_is_set_inside_async_to_sync_only(self):
        async def inside():
            return inventory.sync_caller_executor()

        self.assertIsNone(inventory.sync_caller_executor())
        self.assertIsInstance(async_to_sync(inside)(), CurrentThreadExecutor)

    def test_parallel_initargs_are_what_django_passes_its_worker_initializer(self):
        parameters = list(inspect.signature(django_runner.ParallelTestSuite.init_worker).parameters)
        self.assertEqual(parameters, ["counter", *inventory.PARALLEL_INITARGS])
        source = _source(django_runner.ParallelTestSuite.run)
        expected = ["counter"] + [
            f"self.{name}.__func__" if name == "process_setup" else f"self.{name}"
            for name in inventory.PARALLEL_INITARGS
        ]
        listed = source.split("initargs=[", 1)[1].split("]", 1)[0]
        self.assertEqual([part.strip() for part in listed.split(",") if part.strip()], expected)
        suite = django_runner.ParallelTestSuite([], 2)
        self.assertEqual(len(inventory.parallel_initargs(suite)), len(inventory.PARALLEL_INITARGS))


class WhatArunnerReplaces(SimpleTestCase):
    def test_every_replaced_attribute_exists(self):
        for item in (*inventory.REPLACED_GLOBALLY, *inventory.REPLACED_PER_INSTANCE):
            with self.subTest(item.name):
                self.assertTrue(hasattr(item.owner, item.name), item)
                self.assertIn(item.until, ("test", "run", "process"))

    def test_inside_a_run_the_run_wide_replacements_are_in_place(self):
        # This test runs under arunner: its run has installed them.
        replaced = inventory.replaced_now()
        for name in ("Thread.start", "TestCase.doCleanups", "BaseDatabaseWrapper.connect"):
            self.assertIn(name, replaced)
