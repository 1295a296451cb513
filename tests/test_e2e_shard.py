"""``--shard``, ``--list`` and ``--labels-from`` on throwaway projects: the parts of a suite,
the CI variables of ``--shard auto``, the errors, the list that touches no database."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from django.test import SimpleTestCase, tag

from arunner.runsetup.shard import CI_VARIABLES
from tests.databases import BACKEND
from tests.e2e import NOT_INHERITED, RUN_TIMEOUT, Project

#: Five groups: four classes, and a module with ``setUpModule`` whose three classes go together.
#: Each class and module set-up appends a name to the file in SETUP_LOG, so a test can see
#: where they ran.
ALPHA = """
import os

from django.test import SimpleTestCase, TestCase

from e2eapp.models import Item


def note(cls):
    with open(os.environ["SETUP_LOG"], "a") as log:
        log.write(cls.__name__ + "\\n")


class Small(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        note(cls)

    def test_one(self):
        pass

    def test_two(self):
        pass


class Writes(TestCase):
    @classmethod
    def setUpTestData(cls):
        note(cls)
        Item.objects.create(name="class")

    def test_sees_class_data(self):
        self.assertEqual(Item.objects.count(), 1)

    async def test_async_write(self):
        await Item.objects.acreate(name="more")
        self.assertEqual(await Item.objects.acount(), 2)

    def test_third(self):
        pass
"""

BETA = """
from django.test import SimpleTestCase, TestCase, tag


class Tagged(SimpleTestCase):
    @tag("slow")
    def test_slow_one(self):
        pass

    @tag("slow")
    def test_slow_two(self):
        pass

    def test_quick(self):
        pass


class Big(TestCase):
""" + "".join(f"    def test_{i:02d}(self):\n        pass\n\n" for i in range(8))

GAMMA = """
import os

from django.test import SimpleTestCase


def setUpModule():
    with open(os.environ["SETUP_LOG"], "a") as log:
        log.write("gamma-module\\n")


class First(SimpleTestCase):
    def test_module_set_up_ran(self):
        pass


class Second(SimpleTestCase):
    def test_module_set_up_ran(self):
        pass


class Lone(SimpleTestCase):
    def test_alone(self):
        pass
"""

TESTS = {"test_alpha": ALPHA, "test_beta": BETA, "test_gamma": GAMMA}
PREFIX = "e2eapp.tests."
ALL_IDS = sorted(
    PREFIX + i
    for i in [
        *("test_alpha.Small.test_one", "test_alpha.Small.test_two"),
        *(f"test_alpha.Writes.{n}" for n in ("test_sees_class_data", "test_async_write")),
        "test_alpha.Writes.test_third",
        *(f"test_beta.Tagged.{n}" for n in ("test_slow_one", "test_slow_two", "test_quick")),
        *(f"test_beta.Big.test_{i:02d}" for i in range(8)),
        "test_gamma.First.test_module_set_up_ran",
        "test_gamma.Second.test_module_set_up_ran",
        "test_gamma.Lone.test_alone",
    ]
)

#: What a project run must not inherit from the run of arunner's own tests: its options and
#: the CI's shard variables (a CircleCI job of arunner's suite has them).
INHERITED = (
    *NOT_INHERITED,
    *(name for _, index, count, _ in CI_VARIABLES for name in (index, count)),
)


@dataclass
class Done:
    code: int
    out: str
    err: str

    @property
    def ids(self) -> list[str]:
        return self.out.splitlines()


def run(project, *args, env=None, stdin="", command="arunner") -> Done:
    """A run in ``project`` with stdout and stderr apart (``Project.run`` joins them)."""
    if command == "arunner":
        argv = [sys.executable, "-m", "arunner", *args]
    else:
        argv = [sys.executable, "manage.py", "test", *args]
    full_env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    full_env.update(
        DJANGO_SETTINGS_MODULE="e2eproject.settings",
        SETUP_LOG=str(project.root / "setup.log"),
        **(env or {}),
    )
    done = subprocess.run(
        argv,
        cwd=project.root,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def junit_ids(path) -> list[str]:
    root = ET.parse(path).getroot()
    return [f"{case.get('classname')}.{case.get('name')}" for case in root.iter("testcase")]


def class_of(test_id: str) -> str:
    return test_id.rsplit(".", 1)[0]


def group_of(test_id: str) -> str:
    """The class, or the module for the module with ``setUpModule``."""
    return test_id.rsplit(".", 2)[0] if ".test_gamma." in test_id else class_of(test_id)


class Parts(SimpleTestCase):
    """Running every part runs every test once, each class (and a module with module set-up)
    in one part, its class and module set-up in that part only. (Under ``--parallel``,
    Django runs a module's set-up once per class in a worker: still in one part.)"""

    def assert_parts(self, project, count, *extra):
        seen, setups = [], []
        for k in range(1, count + 1):
            report = project.root / f"part{k}.xml"
            (project.root / "setup.log").unlink(missing_ok=True)
            done = run(project, "--shard", f"{k}/{count}", "--junit-xml", str(report), *extra)
            self.assertEqual(done.code, 0, done.out + done.err)
            self.assertRegex(done.err.splitlines()[-1], r"^\d+ passed, 0 failed, 0 skipped$")
            ids = junit_ids(report)
            self.assertIn(f"shard {k}/{count} (--shard {k}/{count}): {len(ids)} of ", done.out)
            groups = {group_of(i) for i in ids}
            for other in seen:
                self.assertFalse(groups & {group_of(i) for i in other}, (k, groups))
            seen.append(ids)
            log = project.root / "setup.log"
            setups.append(set(log.read_text().split()) if log.exists() else set())
        everything = sorted(i for ids in seen for i in ids)
        self.assertEqual(everything, ALL_IDS)
        names = sorted(name for part in setups for name in part)
        self.assertEqual(names, ["Small", "Writes", "gamma-module"])  # each in one part only
        return seen

    @tag("cross")
    def test_the_parts_are_the_whole_suite_once(self):
        with Project(TESTS) as project:
            for count in (1, 3):
                with self.subTest(count=count):
                    self.assert_parts(project, count)
            self.assertFalse(project.test_dbs_left())

    @tag("cross")
    def test_with_parallel_shuffle_and_reverse(self):
        """The part is chosen before the workers get their classes and before the order."""
        with Project(TESTS) as project:
            plain = self.assert_parts(project, 2)
            shuffled = self.assert_parts(project, 2, "--parallel", "2", "--shuffle", "5")
            reversed_ = self.assert_parts(project, 2, "--reverse")
            for k in range(2):
                self.assertEqual(sorted(plain[k]), sorted(shuffled[k]))
                self.assertEqual(sorted(plain[k]), sorted(reversed_[k]))
            self.assertFalse(project.test_dbs_left())

    @tag("one_db")
    def test_labels_k_and_tags_select_before_the_split(self):
        with Project(TESTS) as project:
            for selection in (["-k", "slow"], ["--exclude-tag", "slow"], [PREFIX + "test_beta"]):
                whole = run(project, "--list", *selection)
                parts = [run(project, "--list", "--shard", f"{k}/2", *selection) for k in (1, 2)]
                with self.subTest(selection):
                    self.assertEqual(whole.code, 0, whole.err)
                    self.assertEqual(sorted(parts[0].ids + parts[1].ids), sorted(whole.ids))
                    self.assertFalse(set(parts[0].ids) & set(parts[1].ids))

    @tag("one_db")
    def test_a_part_with_no_test_passes(self):
        """More parts than groups: a CI job whose part is empty succeeds, running nothing."""
        with Project(TESTS) as project:
            done = run(project, "--shard", "9/9")
        self.assertEqual(done.code, 0, done.out + done.err)
        self.assertIn("shard 9/9 (--shard 9/9): 0 of 19 tests", done.out)
        self.assertEqual(done.err.splitlines()[-1], "0 passed, 0 failed, 0 skipped")


@tag("one_db")
class Durations(SimpleTestCase):
    def test_balanced_by_recorded_time(self):
        """Big holds 8 of 19 tests but nearly no time; Small's two take most of it: by count
        Big's part is Big and Small, by time Small is a part of its own."""
        times = {i: 0.01 for i in ALL_IDS}
        times.update({PREFIX + "test_alpha.Small.test_one": 5.0})
        times.update({PREFIX + "test_alpha.Small.test_two": 5.0})
        del times[PREFIX + "test_gamma.Lone.test_alone"]  # unknown: counted at the mean
        with Project(TESTS) as project:
            path = project.root / "durations.json"
            path.write_text(json.dumps({"version": 1, "durations": times}))
            by_time = [
                run(project, "--list", "--shard", f"{k}/2", "--durations-file", str(path))
                for k in (1, 2)
            ]
            by_count = [run(project, "--list", "--shard", f"{k}/2") for k in (1, 2)]
        small = {PREFIX + "test_alpha.Small.test_one", PREFIX + "test_alpha.Small.test_two"}
        self.assertEqual(set(by_time[0].ids), small)
        self.assertIn("balanced by recorded durations", by_time[0].err)
        by_class = {class_of(i) for i in by_count[0].ids}
        expected = {"test_beta.Big", "test_alpha.Small"}  # 8 + 2 of 19 (the module: 3)
        self.assertEqual(by_class, {PREFIX + name for name in expected})
        self.assertIn("balanced by test count", by_count[0].err)

    def test_a_missing_durations_file_balances_by_count(self):
        with Project(TESTS) as project:
            done = run(project, "--list", "--shard", "1/2", "--durations-file", "none.json")
        self.assertEqual(done.code, 0, done.err)
        self.assertIn("balanced by test count", done.err)


@tag("one_db")
class Auto(SimpleTestCase):
    def test_k_and_n_from_each_ci_system(self):
        cases = [
            ({"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "3"}, "2/3"),
            ({"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "3"}, "1/3"),
            ({"BUILDKITE_PARALLEL_JOB": "2", "BUILDKITE_PARALLEL_JOB_COUNT": "3"}, "3/3"),
        ]
        with Project(TESTS) as project:
            for environ, part in cases:
                auto = run(project, "--list", "--shard", "auto", env=environ)
                given = run(project, "--list", "--shard", part)
                with self.subTest(environ):
                    self.assertEqual(auto.code, 0, auto.err)
                    self.assertTrue(auto.ids)
                    self.assertEqual(auto.ids, given.ids)
                    first = next(iter(environ))
                    self.assertIn(f"shard {part} (", auto.err)
                    self.assertIn(f"{first}={environ[first]}", auto.err)
            from_env = run(project, "--list", env={"ARUNNER_SHARD": "auto", **cases[0][0]})
            self.assertEqual(from_env.ids, run(project, "--list", "--shard", "2/3").ids)


@tag("one_db")
class Errors(SimpleTestCase):
    def assert_error(self, done, message):
        self.assertEqual(done.code, 2, done.out + done.err)
        self.assertEqual(done.out, "")
        lines = done.err.strip().splitlines()
        self.assertEqual(lines[0], f"arunner: error: {message}")
        self.assertTrue(lines[1].startswith("  hint: "), lines)

    def test_malformed_values_from_every_source(self):
        with Project(TESTS) as project:
            for value, why in [("0/4", "K must be 1 to 4"), ("5/4", "K must be 1 to 4")]:
                done = run(project, "--shard", value)
                self.assert_error(done, f"--shard: {value!r} is not a valid value ({why})")
            done = run(project, env={"ARUNNER_SHARD": "abc"})
            self.assert_error(done, "ARUNNER_SHARD: 'abc' is not a valid value (not K/N)")
            project.write("pyproject.toml", '[tool.arunner]\nshard = "1/0"\n')
            done = run(project)
            self.assertEqual(done.code, 2, done.err)
            self.assertIn("'1/0' is not a valid value (N must be 1 or more)", done.err)
            self.assertIn("[tool.arunner] shard: '1/0'", done.err)

    def test_auto_without_ci_variables(self):
        with Project(TESTS) as project:
            self.assert_error(
                run(project, "--shard", "auto"),
                "--shard auto: none of CI_NODE_INDEX/CI_NODE_TOTAL, "
                "CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL, "
                "BUILDKITE_PARALLEL_JOB/BUILDKITE_PARALLEL_JOB_COUNT is set",
            )
            self.assert_error(
                run(project, "--shard", "auto", env={"CIRCLE_NODE_INDEX": "4"}),
                "--shard auto: CircleCI CIRCLE_NODE_INDEX=4 CIRCLE_NODE_TOTAL=None: "
                "CIRCLE_NODE_TOTAL is not set",
            )
            done = run(project, "--shard", "9/4", command="manage.py")
            self.assertEqual(done.code, 2, done.err)
            self.assertIn("--shard: '9/4' is not a valid value (K must be 1 to 4)", done.err)

    def test_an_unreadable_labels_file(self):
        with Project(TESTS) as project:
            self.assert_error(
                run(project, "--labels-from", "missing.txt"),
                "--labels-from missing.txt: cannot read it: No such file or directory",
            )


class List(SimpleTestCase):
    @tag("cross")
    def test_prints_the_ids_only_and_touches_no_database(self):
        with Project(TESTS) as project:
            for command in ("arunner", "manage.py"):
                for flag in ("--list", "--collect-only"):
                    done = run(project, flag, "--parallel", "2", command=command)
                    with self.subTest(command=command, flag=flag):
                        self.assertEqual(done.code, 0, done.err)
                        self.assertEqual(sorted(done.ids), ALL_IDS)
                        self.assertEqual(done.err.splitlines()[-1], "19 tests collected")
                        self.assertNotIn("passed", done.err)
            self.assertEqual(project.test_dbs_left(), [])
            self.assertFalse(project.real_db_exists())
            if BACKEND != "sqlite":
                self.assertFalse(project.test_db_exists())

    @tag("one_db")
    def test_no_connection_at_all(self):
        """A database nobody answers on: the list does not notice, a run would."""
        with Project(TESTS) as project:
            settings = (project.root / "e2eproject/settings.py").read_text()
            unreachable = (
                '{"ENGINE": "django.db.backends.postgresql", "NAME": "x", "HOST": "127.0.0.1", '
                '"PORT": "1"}'
            )
            project.write(
                "e2eproject/settings.py", settings + f"\nDATABASES = {{'default': {unreachable}}}\n"
            )
            done = run(project, "--list", "--shard", "1/2", "-k", "test_")
            self.assertEqual(done.code, 0, done.err)
            self.assertTrue(done.ids)
            self.assertNotEqual(run(project).code, 0)

    @tag("one_db")
    def test_last_failed_then_list(self):
        with Project(TESTS) as project:
            project.write(
                "e2eapp/tests/test_delta.py",
                """
                import os
                from django.test import SimpleTestCase


                class Flaky(SimpleTestCase):
                    def test_fails_once(self):
                        self.assertFalse(os.environ.get("FAIL"))
                """,
            )
            self.assertEqual(run(project, env={"FAIL": "1"}).code, 1)
            done = run(project, "--list", "--lf")
            self.assertEqual(done.ids, [PREFIX + "test_delta.Flaky.test_fails_once"])
            self.assertIn("arunner: ", done.err)


class LabelsFrom(SimpleTestCase):
    @tag("cross")
    def test_a_file_with_comments_and_labels_given_too(self):
        labels = (
            "# chosen by hand\n\n"
            f"{PREFIX}test_alpha.Writes\n"
            f"  {PREFIX}test_beta.Tagged.test_quick  \n"
            f"# {PREFIX}test_beta.Big\n"
        )
        with Project(TESTS) as project:
            project.write("labels.txt", labels)
            for command in ("arunner", "manage.py"):
                done = run(
                    project,
                    "--labels-from",
                    "labels.txt",
                    PREFIX + "test_gamma.Lone",
                    "-v",
                    "2",
                    command=command,
                )
                with self.subTest(command):
                    self.assertEqual(done.code, 0, done.out + done.err)
                    self.assertEqual(done.err.splitlines()[-1], "5 passed, 0 failed, 0 skipped")
                    self.assertIn("test_quick", done.err)
                    self.assertNotIn("test_slow_one", done.err)
            self.assertFalse(project.test_dbs_left())

    @tag("cross")
    def test_stdin_from_an_external_split(self):
        """``arunner --list | splitter | arunner --labels-from -``, with a splitter that
        takes every other id."""
        with Project(TESTS) as project:
            listed = run(project, "--list")
            chosen = "".join(f"{i}\n" for i in listed.ids[::2])
            report = project.root / "part.xml"
            done = run(project, "--labels-from", "-", "--junit-xml", str(report), stdin=chosen)
            self.assertEqual(done.code, 0, done.out + done.err)
            self.assertEqual(sorted(junit_ids(report)), sorted(listed.ids[::2]))
            empty = run(project, "--labels-from", "-", stdin="# nothing for this job\n")
            self.assertEqual(empty.code, 0, empty.out + empty.err)
            self.assertIn("holds no label; no test to run", empty.out + empty.err)
            self.assertEqual(empty.err.splitlines()[-1], "0 passed, 0 failed, 0 skipped")
            self.assertFalse(project.test_dbs_left())

    @tag("one_db")
    def test_a_listed_stand_in_for_a_broken_module_runs_that_module(self):
        with Project({**TESTS, "test_broken": "import no_such_module_here\n"}) as project:
            keep = "--continue-on-collection-errors"
            listed = run(project, "--list", keep)
            stand_in = "unittest.loader._FailedTest.e2eapp.tests.test_broken"
            self.assertIn(stand_in, listed.ids)
            done = run(project, "--labels-from", "-", keep, stdin=f"{stand_in}\n")
        self.assertEqual(done.code, 1, done.out + done.err)
        self.assertEqual(done.err.splitlines()[-1], "0 passed, 1 failed, 0 skipped")
