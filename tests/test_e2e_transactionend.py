"""A test that ends its transaction behind Django's back fails itself; later tests run."""

from django.test import SimpleTestCase, tag

from tests.e2e import Project

ENDS_ITS_TRANSACTION = """
import unittest

from asgiref.sync import sync_to_async
from django.db import connection
from django.test import TestCase

from e2eapp.models import Item, Marker


def raw(statement):
    with connection.cursor() as cursor:
        cursor.execute(statement)


class Commits(TestCase):
    @classmethod
    def setUpTestData(cls):
        Marker.objects.create(label="class data")

    def test_1_raw_commit(self):
        Item.objects.create(name="committed by a raw COMMIT")
        raw("COMMIT")

    def test_2_after_it(self):
        self.assertTrue(Marker.objects.exists())  # setUpTestData's, committed or not
        Item.objects.create(name="rolled back")

    def test_3_driver_commit(self):
        Item.objects.create(name="committed on the driver connection")
        connection.connection.commit()

    def test_4_after_it(self):
        Item.objects.create(name="rolled back")
        self.assertEqual(Item.objects.filter(name="rolled back").count(), 1)


class RollsBack(TestCase):
    def test_1_raw_rollback(self):
        raw("ROLLBACK")

    def test_2_after_it(self):
        Item.objects.create(name="rolled back")


class CoroutineCommits(unittest.TestCase):
    async def test_commit(self):
        await sync_to_async(Item.objects.create)(name="committed by a coroutine test")
        await sync_to_async(raw)("COMMIT")

    async def test_no_query(self):
        pass  # its transaction never began on the server: that is no ending


class ReadsNoTable(TestCase):
    def test_select_one(self):
        raw("SELECT 1")  # on MariaDB this begins no transaction: that is no ending either
"""

FAILED = (
    ("Commits.test_1_raw_commit", "it ran 'COMMIT' through a cursor"),
    ("Commits.test_3_driver_commit", "it committed or rolled back on the driver's connection "),
    ("RollsBack.test_1_raw_rollback", "it ran 'ROLLBACK' through a cursor"),
    ("CoroutineCommits.test_commit", "it ran 'COMMIT' through a cursor"),
)


@tag("cross")
class TransactionEnded(SimpleTestCase):
    def test_the_test_fails_the_next_ones_pass_the_run_warns(self):
        with Project({"test_commits": ENDS_ITS_TRANSACTION}) as project:
            for command in ("arunner", "manage"):
                with self.subTest(command=command):
                    run = project.run("--keepdb", command=command)
                    self.assertEqual(run.code, 1, run.output)
                    self.assertEqual(run.closing_line, "5 passed, 4 failed, 0 skipped")
                    for test, did in FAILED:
                        self.assertIn(f"ERROR: test_{test.split('.test_')[1]} (e2eapp", run.output)
                        self.assertIn(
                            f"TransactionEndedError: arunner: test e2eapp.tests."
                            f"test_commits.{test} ended its transaction",
                            run.output,
                        )
                        self.assertIn(
                            f"{test} ended its transaction on database 'default' "
                            f"behind Django's back: {did}",
                            run.output,
                        )
                    self.assertIn("is now permanent in the test database", run.output)
                    self.assertNotIn("An error occurred in the current transaction", run.output)
                    self.assertIn(
                        "arunner: warning: the test database may hold rows committed by 4 test(s)",
                        run.output,
                    )
                    self.assertIn("--keepdb keeps it", run.output)
            committed = {
                "committed by a raw COMMIT",
                "committed on the driver connection",
                "committed by a coroutine test",
            }
            self.assertEqual(project.test_db_count("e2eapp_item"), 2 * len(committed))
            self.assertEqual(project.test_db_count("e2eapp_marker"), 2)
