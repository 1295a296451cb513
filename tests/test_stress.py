"""Stress: worker-thread ORM calls, 1000 iterations per database, route mode and strict mode.

An iteration mixes the routes: ``to_thread`` writers and executor jobs gathered concurrently
with the test's own write; nested atomic blocks, one without a savepoint; ``.iterator()``; a
failing statement and a failing save. Each test runs a few iterations and leaves a worker
behind that the next test releases: its call must be refused, and must not land. One test in
ten is sync, with a thread pool and a plain thread. Strict mode runs the same routes, each
expecting the error. Iterations per test keep the cost of connections that strict mode opens
(and closes after every test) within CI's budget.

The bar, asserted throughout: no wait for the connection longer than ``MAX_WAIT``;
``savepoint_ids`` back to the test's own after every iteration and empty after the class; row
counts as expected after every iteration, and back at the post-migration state (plus the
class's data) after every test, and at it after the class.

Whatever the order, each test's ``setUp`` releases the worker of the test before it (the last
one's, ``tearDownClass``). Run on every Python and Django, the stress would re-test the same
code: it runs in one env of the CI matrix, on every database (tag ``one_env``).
"""

import asyncio
import contextvars
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from time import perf_counter

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.utils import DatabaseError
from django.test import TestCase, tag

from arunner.escapes import EscapedQueryError, expected_refusals
from arunner.guards import route
from tests.testapp.models import Item

ITERATIONS = 1000
ROUTED_PER_TEST = 4
STRICT_PER_TEST = 10
MAX_WAIT = 5.0
#: Rows a route-mode mix adds: 2 writers, 2 from the nested blocks, 1 after the failures, 1
#: by the test itself.
ASYNC_ROWS = 6
SYNC_ROWS = 5

_leftover: dict[str, object] = {}


def write(name):
    Item.objects.create(name=name)


def nested_atomics(name):
    with transaction.atomic():
        Item.objects.create(name=f"{name} outer")
        try:
            with transaction.atomic():
                Item.objects.create(name=f"{name} inner")
                raise LookupError("roll the inner block back")
        except LookupError:
            pass
        with transaction.atomic(savepoint=False):
            Item.objects.create(name=f"{name} no savepoint")


def iterate():
    return sum(1 for _ in Item.objects.order_by("pk").iterator(chunk_size=2))


def fail_then_write(name):
    for failing in (_bad_statement, lambda: Item.objects.create(name=None)):
        try:
            failing()
        except EscapedQueryError:
            raise
        except DatabaseError:
            pass
    Item.objects.create(name=f"{name} after failures")


def _bad_statement():
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM arunner_no_such_table")


def _savepoint_ids():
    return list(connection.savepoint_ids)


def _leave_worker(kind):
    """Start a worker that calls the ORM once the next test has started."""
    release = threading.Event()
    outcome: Future = Future()

    def late():
        release.wait(10)
        try:
            write("late")
        except Exception as exc:
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    if kind == "thread":
        threading.Thread(target=late, name="stress-leftover").start()
    else:
        _pool().submit(contextvars.copy_context().run, late)
    _leftover.update(release=release, outcome=outcome)


def _pool():
    if "pool" not in _leftover:
        _leftover["pool"] = ThreadPoolExecutor(1, thread_name_prefix="stress-pool")
    return _leftover["pool"]


def _settle_leftover():
    """Release the previous test's worker; return what its call did (NOTHING: no worker)."""
    if "release" not in _leftover:
        return NOTHING
    _leftover.pop("release").set()
    return _leftover.pop("outcome").result(timeout=10)


NOTHING = object()


class Stress(TestCase):
    """The checks every stress class makes; subclasses add the tests."""

    @classmethod
    def setUpClass(cls):
        cls.post_migration = Item.objects.using(DEFAULT_DB_ALIAS).count()
        cls.longest_wait = 0.0
        cls.started = perf_counter()
        super().setUpClass()

    @classmethod
    def setUpTestData(cls):
        Item.objects.create(name="class data")

    @classmethod
    def tearDownClass(cls):
        outcome = _settle_leftover()
        super().tearDownClass()
        if "pool" in _leftover:
            _leftover.pop("pool").shutdown()
        cls.seconds = perf_counter() - cls.started
        assert outcome is NOTHING or isinstance(outcome, EscapedQueryError), outcome
        assert connection.savepoint_ids == [], connection.savepoint_ids
        assert Item.objects.count() == cls.post_migration
        assert cls.longest_wait <= MAX_WAIT, cls.longest_wait

    def setUp(self):
        outcome = _settle_leftover()
        if outcome is not NOTHING:
            self.assertIsInstance(outcome, EscapedQueryError)
        self.assertEqual(len(connection.savepoint_ids), 1)
        self.assertEqual(Item.objects.count(), self.post_migration + 1)

    def tearDown(self):
        session = route.active_session()
        if session is not None:
            type(self).longest_wait = max(self.longest_wait, session.longest_wait)
            self.assertLessEqual(session.longest_wait, MAX_WAIT)


async def _async_mix(n):
    loop = asyncio.get_running_loop()
    return await asyncio.gather(
        asyncio.to_thread(write, f"{n} a"),
        loop.run_in_executor(None, write, f"{n} b"),
        asyncio.to_thread(nested_atomics, n),
        asyncio.to_thread(iterate),
        asyncio.to_thread(fail_then_write, n),
        Item.objects.acreate(name=f"{n} main"),
        return_exceptions=True,
    )


def _sync_mix(n):
    with ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(write, f"{n} a"),
            pool.submit(nested_atomics, n),
            pool.submit(fail_then_write, n),
        ]
        Item.objects.create(name=f"{n} main")
        outcomes = [_outcome(future) for future in futures]
    thread_outcome = []
    thread = threading.Thread(target=lambda: thread_outcome.append(_outcome_of(iterate)))
    thread.start()
    thread.join()
    return [*outcomes, *thread_outcome]


def _outcome(future):
    exc = future.exception()
    return exc if exc is not None else future.result()


def _outcome_of(fn):
    try:
        return fn()
    except Exception as exc:
        return exc


def _routed_test(n, iterations):
    if n % 10 == 9:

        def test(self):
            for i in range(iterations):
                before = _savepoint_ids()
                outcomes = _sync_mix(f"{n}.{i}")
                self.assertFalse([o for o in outcomes if isinstance(o, Exception)], outcomes)
                rows = self.post_migration + 1 + SYNC_ROWS * (i + 1)
                self.assertEqual(Item.objects.count(), rows)
                self.assertEqual(_savepoint_ids(), before)
            _leave_worker("thread")

    else:

        async def test(self):
            for i in range(iterations):
                before = await sync_to_async(_savepoint_ids)()
                outcomes = await _async_mix(f"{n}.{i}")
                self.assertFalse([o for o in outcomes if isinstance(o, Exception)], outcomes)
                rows = self.post_migration + 1 + ASYNC_ROWS * (i + 1)
                self.assertEqual(await Item.objects.acount(), rows)
                self.assertEqual(await sync_to_async(_savepoint_ids)(), before)
            _leave_worker("pool job")

    return test


def _strict_test(n, iterations):
    if n % 10 == 9:

        def test(self):
            for i in range(iterations):
                with expected_refusals() as refused:
                    outcomes = _sync_mix(f"{n}.{i}")
                self._check_refused(outcomes, refused)
                self.assertEqual(Item.objects.count(), self.post_migration + 2 + i)
            _leave_worker("thread")

    else:

        async def test(self):
            for i in range(iterations):
                with expected_refusals() as refused:
                    *outcomes, main = await _async_mix(f"{n}.{i}")
                self.assertNotIsInstance(main, Exception)
                self._check_refused(outcomes, refused)
                self.assertEqual(await Item.objects.acount(), self.post_migration + 2 + i)
            _leave_worker("pool job")

    return test


@tag("one_env")
class RoutedStress(Stress):
    arunner_db_threads = "route"


@tag("one_env")
class StrictStress(Stress):
    arunner_db_threads = "strict"

    def _check_refused(self, outcomes, refused):
        self.assertTrue(all(isinstance(o, EscapedQueryError) for o in outcomes), outcomes)
        self.assertEqual(len(refused), len(outcomes))


for _n in range(ITERATIONS // ROUTED_PER_TEST):
    setattr(RoutedStress, f"test_{_n:04d}", _routed_test(_n, ROUTED_PER_TEST))
for _n in range(ITERATIONS // STRICT_PER_TEST):
    setattr(StrictStress, f"test_{_n:04d}", _strict_test(_n, STRICT_PER_TEST))
