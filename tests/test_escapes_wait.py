"""Route mode: a worker waits for the test's connection only so long, then says who holds it.

The limit is 10 s; this module lowers it to 0.2 s for its tests. It is lowered for the whole
module (before any of its tests begins, when arunner sets a test's routing up), so that no
other test runs with a limit that short.
"""

import threading
import unittest
from unittest import mock

from django.test import TestCase

from arunner.guards import routedconnection
from arunner.guards.unitlock import ConnectionWaitTimeout
from tests.testapp.models import Item

LIMIT = 0.2


def setUpModule():
    unittest.enterModuleContext(mock.patch.object(routedconnection, "WAIT_LIMIT", LIMIT))


def write():
    Item.objects.create(name="worker")


class BoundedWait(TestCase):
    arunner_db_threads = "route"

    @classmethod
    def setUpTestData(cls):
        Item.objects.bulk_create([Item(name="first"), Item(name="second")])

    def test_a_wait_is_bounded_and_shows_both_stacks(self):
        rows = Item.objects.iterator(chunk_size=1)
        next(rows)  # the test's thread holds the connection until the iterator is done
        outcome = []

        def waiter():
            try:
                write()
            except ConnectionWaitTimeout as exc:
                outcome.append(exc)

        thread = threading.Thread(target=waiter, name="waiter")
        thread.start()
        thread.join()
        list(rows)
        self.assertEqual(len(outcome), 1, "the worker did not time out")
        message = str(outcome[0])
        self.assertIn(f"thread 'waiter' waited {LIMIT:g}s", message)
        self.assertIn("thread 'MainThread' holds it", message)
        self.assertIn("Stack of 'MainThread'", message)
        self.assertIn("Stack of 'waiter'", message)
        self.assertIn("test_a_wait_is_bounded_and_shows_both_stacks", message)
        self.assertEqual(Item.objects.count(), 2)
