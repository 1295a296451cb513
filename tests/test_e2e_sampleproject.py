"""The sample project under DiscoverRunner and under arunner: the bug, and the fix.

Runs ``sampleproject/manage.py test`` as a user would, once per runner, on the database of
the outer run, and compares which tests fail. SQLite hides the connection-closing bugs
(closing its in-memory test database is a no-op), so those are expected on servers only.
"""

import os
import re
import sys
from pathlib import Path

from django.test import SimpleTestCase, tag

from tests.databases import BACKEND
from tests.e2e import _drop_server_db, run_command

SAMPLE = Path(__file__).resolve().parent.parent / "sampleproject"

#: Tests that fail under DiscoverRunner on every database: today's bugs.
EVERYWHERE = {
    "test_async_hooks.AsyncHooksTests",
    "test_background_tasks.BackgroundTaskTests.test_2",
    "test_unittest_cases.IsolatedAsyncioOrmTests.test_2",
    "test_unittest_cases.PlainUnittestAsyncTests",
    "test_worker_threads.WorkerThreadOrmTests",
}
#: And on PostgreSQL / MariaDB: close_old_connections closing the test's connection.
SERVERS_ONLY = {"test_asgi_views.AsgiApplicationTests", "test_channels.ItemConsumerTests"}

_FAILURE = re.compile(r"^(?:ERROR|FAIL): \w+ \(shop\.tests\.([\w.]+)\)", re.MULTILINE)


def run_sample(runner: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "ARUNNER_TEST_DB": BACKEND,
        "DJANGO_SETTINGS_MODULE": "sampleproject.settings",
    }
    if runner == "django":
        env["SAMPLE_RUNNER"] = "django"
    else:
        env.pop("SAMPLE_RUNNER", None)
    run = run_command([sys.executable, "manage.py", "test", "--noinput"], SAMPLE, env)
    return run.code, run.output


def failing(output: str) -> set[str]:
    return set(_FAILURE.findall(output))


def covered_by(test_id: str, groups: set[str]) -> bool:
    return any(
        test_id == group or test_id.startswith(group + ".") or test_id.startswith(group + "_")
        for group in groups
    )


@tag("cross")
class SampleProject(SimpleTestCase):
    @classmethod
    def tearDownClass(cls):
        if BACKEND != "sqlite":
            _drop_server_db("test_sampleproject")  # DiscoverRunner leaves it on PostgreSQL
        super().tearDownClass()

    def test_discover_runner_shows_the_bugs_and_arunner_fixes_them(self):
        code, django_output = run_sample("django")
        self.assertNotEqual(code, 0, django_output)
        broken = failing(django_output)
        expected = EVERYWHERE | (SERVERS_ONLY if BACKEND != "sqlite" else set())
        for group in expected:
            self.assertTrue(
                any(covered_by(test, {group}) for test in broken),
                f"{group} passed under DiscoverRunner:\n{django_output}",
            )
        unexpected = {test for test in broken if not covered_by(test, expected)}
        self.assertEqual(unexpected, set(), django_output)

        code, arunner_output = run_sample("arunner")
        self.assertEqual(code, 0, arunner_output)
        self.assertEqual(failing(arunner_output), set(), arunner_output)
        self.assertRegex(arunner_output, r"\n35 passed, 0 failed, 0 skipped\n?$")
