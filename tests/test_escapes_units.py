"""The small parts of the escape guard on their own: the unit lock and the write check."""

import threading
import time

from django.test import SimpleTestCase

from arunner.guards.sqlkind import writes
from arunner.guards.unitlock import ConnectionWaitTimeout, UnitLock


class Writes(SimpleTestCase):
    def test_data_and_schema_changes(self):
        for sql in (
            'INSERT INTO "t" ("a") VALUES (%s)',
            "  update t set a = 1",
            "DELETE FROM t",
            "/* comment */ -- another\n TRUNCATE t",
            "CREATE TABLE x (id integer)",
            "ALTER TABLE x ADD COLUMN y integer",
            "DROP TABLE x",
            "REPLACE INTO t VALUES (1)",
            "WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone",
            "with u as (update t set a = 1 returning a) select 1",
        ):
            self.assertTrue(writes(sql), sql)

    def test_reads_and_transaction_control(self):
        for sql in (
            "SELECT 1",
            "(SELECT 1) UNION (SELECT 2)",
            "WITH x AS (SELECT 1) SELECT * FROM t FOR UPDATE",
            'SAVEPOINT "s1"',
            "BEGIN",
            "SET TIME ZONE 'UTC'",
            "",
        ):
            self.assertFalse(writes(sql), sql)


class UnitLockBehaviour(SimpleTestCase):
    def test_reentrant_for_its_owner(self):
        lock = UnitLock("the connection", 1)
        lock.acquire("a cursor")
        lock.acquire("a statement")
        self.assertEqual((lock.depth, lock.held_for), (2, "a cursor"))
        lock.release()
        lock.release()
        self.assertIsNone(lock.owner)

    def test_waiters_are_served_in_order(self):
        lock = UnitLock("the connection", 5)
        served = []
        lock.acquire("setup")
        threads = []
        for n in range(4):
            thread = threading.Thread(target=self._take, args=(lock, n, served))
            thread.start()
            while len(lock._waiting) < n + 1:
                time.sleep(0.001)
            threads.append(thread)
        lock.release()
        for thread in threads:
            thread.join()
        self.assertEqual(served, [0, 1, 2, 3])
        self.assertGreater(lock.longest_wait, 0)

    @staticmethod
    def _take(lock, n, served):
        lock.acquire(f"unit {n}")
        served.append(n)
        lock.release()

    def test_a_wait_is_bounded_and_names_both_threads(self):
        lock = UnitLock("the test's connection to 'default'", 0.05)
        holding = threading.Event()
        done = threading.Event()

        def hold():
            lock.acquire("an atomic block")
            holding.set()
            done.wait(5)
            lock.release()

        holder = threading.Thread(target=hold, name="holder")
        holder.start()
        holding.wait(5)
        try:
            with self.assertRaises(ConnectionWaitTimeout) as caught:
                lock.acquire("a statement")
        finally:
            done.set()
            holder.join()
        message = str(caught.exception)
        self.assertIn("thread 'MainThread' waited 0.05s for the test's connection", message)
        self.assertIn("to run a statement; thread 'holder' holds it for an atomic block", message)
        self.assertIn("in hold", message)
        self.assertIn("test_a_wait_is_bounded_and_names_both_threads", message)
        # The waiter that gave up is not served later: the free lock is taken at once.
        lock.acquire("a later statement")
        self.assertEqual(lock.held_for, "a later statement")
