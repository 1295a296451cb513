"""What arunner replaces during a run is put back when the run ends (``arunner.core.inventory``)."""

from django.test import SimpleTestCase, tag

from tests.e2e import Project

TESTS = """
from django.test import TestCase

from arunner.core import inventory
from e2eapp.models import Item


class WithAsyncData(TestCase):
    @classmethod
    async def setUpTestData(cls):
        await Item.objects.acreate(name="from setUpTestData")

    async def test_sees_its_data(self):
        self.assertEqual(await Item.objects.acount(), 1)
        print("DURING", sorted(inventory.replaced_now()))
"""

RUNNER = """
import inspect

from arunner import AsyncDiscoverRunner
from arunner.core import inventory


class CheckingRunner(AsyncDiscoverRunner):
    def run_tests(self, *args, **kwargs):
        failures = super().run_tests(*args, **kwargs)
        from e2eapp.tests.test_undo import WithAsyncData

        own = vars(WithAsyncData).get("setUpTestData")
        restored = inspect.iscoroutinefunction(getattr(own, "__func__", None))
        print("AFTER", sorted(inventory.replaced_now()), "restored" if restored else "patched")
        return failures
"""


@tag("one_db")
class ReplacementsAreUndone(SimpleTestCase):
    def test_library_and_user_classes_are_as_before_once_the_run_ends(self):
        with Project({"test_undo": TESTS}, runner="e2eapp.checkrunner.CheckingRunner") as project:
            project.write("e2eapp/checkrunner.py", RUNNER)
            run = project.run("e2eapp", command="manage.py")
        self.assertEqual(run.code, 0, run.output)
        during = next(line for line in run.output.splitlines() if line.startswith("DURING"))
        self.assertIn("'Thread.start'", during)
        self.assertIn("'TestCase.doCleanups'", during)
        self.assertIn("AFTER [] restored", run.output)
