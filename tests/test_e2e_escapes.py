"""Worker threads and the ORM in a real run: errors, the switches of route mode, teardown."""

from django.test import SimpleTestCase, tag

from tests.databases import BACKEND, skip_missing
from tests.e2e import Project

SWALLOWED = """
import asyncio

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import TestCase

from e2eapp.models import Marker


def write_quietly():
    try:
        Marker.objects.create(label="escaped")
    except Exception:
        pass


class Swallowed(TestCase):
    async def test_escape_swallowed_by_the_thread(self):
        await asyncio.to_thread(write_quietly)

    def test_leak_swallowed_by_the_test(self):
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("INSERT INTO e2eapp_marker (label) VALUES ('leaked')")
        except Exception:
            pass
        finally:
            BaseDatabaseWrapper.close(other)

    async def test_clean(self):
        self.assertEqual(await Marker.objects.acount(), 0)
"""

ROUTED = """
import asyncio
import threading

from django.test import TestCase

from e2eapp.models import Item


def write(name):
    Item.objects.create(name=name)
    return Item.objects.count()


class Routed(TestCase):
    async def test_1_to_thread(self):
        await Item.objects.acreate(name="main")
        self.assertEqual(await asyncio.to_thread(write, "worker"), 2)

    def test_2_thread_in_a_sync_test(self):
        counts = []
        thread = threading.Thread(target=lambda: counts.append(write("thread")))
        thread.start()
        thread.join()
        self.assertEqual(counts, [1])

    async def test_3_rolled_back(self):
        self.assertEqual(await Item.objects.acount(), 0)
"""

BAD_ATTRIBUTE = """
from django.test import TestCase


class Misspelt(TestCase):
    arunner_db_threads = "routed"

    def test_anything(self):
        pass
"""

LEFT_OPEN = """
import threading
from concurrent.futures import ThreadPoolExecutor

from django.test import TestCase, TransactionTestCase

from e2eapp.models import Item

POOL = ThreadPoolExecutor(2)  # threads that outlive every test, and the run


def count():
    return Item.objects.count()


class Commits(TransactionTestCase):
    def test_pool_threads_connect_and_stay(self):
        Item.objects.create(name="committed")
        self.assertEqual(POOL.submit(count).result(), 1)
        thread = threading.Thread(target=count)
        thread.start()
        thread.join()


class Routed(TestCase):
    arunner_db_threads = "route"

    def test_pool_threads_are_routed(self):
        Item.objects.create(name="rolled back")
        self.assertEqual(POOL.submit(count).result(), 1)
"""

FASTAPI_HOP = """
import asyncio

import httpx
from django.test import TestCase
from fastapi import FastAPI

from e2eapp.models import Item

app = FastAPI()


@app.post("/items")
def create_item():
    Item.objects.create(name="api")
    return {"count": Item.objects.count()}


class Api(TestCase):
    async def test_sync_endpoint(self):
        await Item.objects.acreate(name="main")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/items")
        self.assertEqual(response.json(), {"count": 2})
        self.assertEqual(await asyncio.to_thread(Item.objects.count), 2)
"""

#: Work a test leaves running, called in a later test. Each class's tests rely on running in
#: the order of their names, as they do in the inner run.
LEFTOVERS = """
import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connections
from django.test import TestCase, TransactionTestCase

from arunner.guards import routedconnection
from arunner.escapes import EscapedQueryError
from e2eapp.models import Item

LEFT = {}


def write(name):
    Item.objects.create(name=name)
    return Item.objects.count()


def catch(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:
        return exc


class Leftovers(TestCase):
    arunner_db_threads = "route"

    def test_1_sync_test_leaves_a_thread(self):
        go = threading.Event()

        def late():
            go.wait(10)
            LEFT["thread"] = catch(write, "late thread")

        LEFT["go"], LEFT["joined"] = go, threading.Thread(target=late, name="leftover")
        LEFT["joined"].start()

    async def test_2_async_test_leaves_a_pool_job(self):
        LEFT["go"].set()
        LEFT["joined"].join()
        go = threading.Event()

        def late():
            go.wait(10)
            return catch(write, "late job")

        LEFT["go"], LEFT["pool"] = go, ThreadPoolExecutor(1)
        LEFT["job"] = LEFT["pool"].submit(contextvars.copy_context().run, late)

    async def test_3_neither_lands_nor_fails_this_test(self):
        LEFT["go"].set()
        job = await asyncio.wrap_future(LEFT["job"])
        LEFT["pool"].shutdown()
        self.assertIsInstance(LEFT["thread"], EscapedQueryError)
        self.assertIn("belongs to an earlier test", str(LEFT["thread"]))
        self.assertIsInstance(job, EscapedQueryError)
        self.assertIn("test_2_async_test_leaves_a_pool_job, which has ended", str(job))
        self.assertEqual(await Item.objects.acount(), 0)


class KeptWrapper(TestCase):
    arunner_db_threads = "route"

    def test_1_thread_keeps_the_routed_wrapper(self):
        go, kept = threading.Event(), {}

        def keep():
            kept["wrapper"] = connections["default"]
            go.wait(10)
            kept["later"] = catch(lambda: kept["wrapper"].cursor().execute("SELECT 1"))

        thread = threading.Thread(target=keep, name="keeper")
        thread.start()
        while "wrapper" not in kept and thread.is_alive():
            thread.join(0.001)
        self.assertIs(kept["wrapper"], connections["default"])
        LEFT.update(keeper=thread, keeper_go=go, kept=kept)

    def test_2_its_later_call_is_refused(self):
        LEFT["keeper_go"].set()
        LEFT["keeper"].join()
        later = LEFT["kept"]["later"]
        self.assertIsInstance(later, routedconnection.RouteEndedError)
        self.assertIn("from thread 'keeper': it belongs to a test that has ended", str(later))


class Committed(TransactionTestCase):
    arunner_db_threads = "route"

    def test_1_worker_commits(self):
        with ThreadPoolExecutor(1) as pool:
            LEFT["wrapper"] = pool.submit(lambda: connections["default"]).result()
            self.assertEqual(pool.submit(write, "committed").result(), 1)
        self.assertIsNot(LEFT["wrapper"], connections["default"])
        self.assertEqual(Item.objects.count(), 1)

    def test_2_its_connection_was_closed(self):
        self.assertIsNone(LEFT["wrapper"].connection)
        self.assertEqual(Item.objects.count(), 0)
"""


@tag("cross")
class StrictAndLeaks(SimpleTestCase):
    def test_swallowed_escapes_and_leaks_fail_the_test_and_never_commit(self):
        with Project({"test_swallowed": SWALLOWED}) as project:
            run = project.run("--keepdb", "-v", "2", command="manage")
            out = run.output
            self.assertEqual(run.code, 1, out)
            self.assertIn("ERROR: test_escape_swallowed_by_the_thread", out)
            self.assertIn("EscapedQueryError: arunner refused SQL from thread 'asyncio_0'", out)
            self.assertIn("ERROR: test_leak_swallowed_by_the_test", out)
            self.assertIn("LeakedWriteError", out)
            self.assertIn("INSERT INTO e2eapp_marker (label) VALUES ('leaked')", out)
            self.assertIn("from thread 'MainThread'", out)
            self.assertEqual(run.closing_line, "1 passed, 2 failed, 0 skipped")
            self.assertEqual(project.test_db_count("e2eapp_marker"), 0)

    def test_a_misspelt_class_attribute_fails_the_test(self):
        with Project({"test_bad": BAD_ATTRIBUTE}) as project:
            run = project.run(command="manage")
            self.assertEqual(run.code, 1, run.output)
            self.assertIn(
                "Misspelt.arunner_db_threads = 'routed' is not one of strict, route", run.output
            )


@tag("cross")
class RouteSwitches(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = Project({"test_routed": ROUTED})

    @classmethod
    def tearDownClass(cls):
        cls.project.cleanup()
        super().tearDownClass()

    def test_strict_by_default(self):
        run = self.project.run(command="manage")
        self.assertEqual(run.code, 1, run.output)
        self.assertIn("ERROR: test_1_to_thread", run.output)
        # Its own assertion fails first; the refusal joins that one block.
        block = run.output.split("FAIL: test_2_thread_in_a_sync_test", 1)[1].split("=" * 70)[0]
        self.assertIn("At the end of the test, arunner also found:", block)
        self.assertIn("EscapedQueryError", block)
        self.assertEqual(run.closing_line, "1 passed, 2 failed, 0 skipped")

    def test_flag(self):
        run = self.project.run("--db-threads", "route", command="manage")
        self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)

    def test_environment_variable(self):
        run = self.project.run(command="manage", env={"ARUNNER_DB_THREADS": "route"})
        self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)

    def test_config_key(self):
        self.project.write("pyproject.toml", '[tool.arunner]\ndb_threads = "route"\n')
        try:
            run = self.project.run()
        finally:
            (self.project.root / "pyproject.toml").unlink()
        self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)

    def test_hop_executor(self):
        run = self.project.run("--db-threads", "route", "--executor", "hop", command="manage")
        self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)


@tag("cross")
class Cleanup(SimpleTestCase):
    """Worker connections never keep the test database from being dropped, and are closed
    before they could warn (``-W error::ResourceWarning``)."""

    def _run(self, project):
        run = project.run(command="manage", env={"PYTHONWARNINGS": "error::ResourceWarning"})
        self.assertEqual(run.code, 0, run.output)
        self.assertEqual(run.closing_line, "2 passed, 0 failed, 0 skipped", run.output)
        self.assertNotIn("ResourceWarning", run.output)
        self.assertNotIn("being accessed by other users", run.output)

    def test_threads_that_outlive_the_run(self):
        with Project({"test_left_open": LEFT_OPEN}) as project:
            self._run(project)

    def test_psycopg_pool(self):
        if BACKEND != "postgres":
            self.skipTest("the pool option is PostgreSQL's")
        try:
            import psycopg_pool  # noqa: F401
        except ImportError:
            skip_missing(self, "psycopg_pool is not installed")
        with Project({"test_left_open": LEFT_OPEN}) as project:
            settings = (project.root / "e2eproject" / "settings.py").read_text()
            project.write(
                "e2eproject/settings.py",
                settings + '\nDATABASES["default"]["OPTIONS"] = {"pool": {"max_size": 4}}\n',
            )
            self._run(project)


@tag("cross")
class Leftovers(SimpleTestCase):
    """Work a test leaves running is refused in a later test, and does not fail it; a
    ``TransactionTestCase`` worker's connection, which commits by design, is closed."""

    def test_later_calls_are_refused_and_worker_connections_closed(self):
        with Project({"test_leftovers": LEFTOVERS}) as project:
            run = project.run("-v", "2")
        self.assertEqual(run.code, 0, run.output)
        self.assertEqual(run.closing_line, "7 passed, 0 failed, 0 skipped", run.output)


@tag("cross")
class ThirdPartyThreads(SimpleTestCase):
    def test_fastapi_sync_endpoint_routed_under_the_hop_executor(self):
        with Project({"test_api": FASTAPI_HOP}) as project:
            run = project.run("--db-threads", "route", "--executor", "hop", command="manage")
            self.assertEqual(run.closing_line, "1 passed, 0 failed, 0 skipped", run.output)
