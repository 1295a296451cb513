"""In-process tests of ``--shard`` (``arunner.runsetup.shard``), what it takes
(``arunner.core.shardspec``) and ``--labels-from`` (``arunner.runsetup.labelsfile``)."""

import io
import random
import sys
import tempfile
import types
import unittest
from pathlib import Path
from unittest import mock

from django.test import SimpleTestCase

from arunner.core.errors import ConfigurationError
from arunner.core.shardspec import shard_numbers, shard_text
from arunner.runsetup import labelsfile, shard

#: Iterations of the property tests: enough to meet small, large, empty and lopsided suites.
ITERATIONS = 300


def fake_suite(rng: random.Random, module: str) -> list[unittest.TestCase]:
    """A random suite: 1 to 40 classes of 1 to 30 tests, in a module of its own."""
    tests = []
    for c in range(rng.randint(1, 40)):
        names = [f"test_{i:03d}" for i in range(rng.randint(1, 30))]
        body = {name: lambda self: None for name in names}
        cls = type(f"Case{c}", (unittest.TestCase,), {**body, "__module__": module})
        tests += [cls(name) for name in names]
    return tests


def random_times(rng: random.Random, tests: list[unittest.TestCase]) -> dict[str, float] | None:
    """Recorded times for some of the tests (none at all, now and then), and some strays."""
    if rng.random() < 0.2:
        return None
    known = rng.random()
    times = {t.id(): rng.lognormvariate(-3, 1.5) for t in tests if rng.random() < known}
    times["gone.Case.test_removed"] = 5.0
    return times


class SplitProperties(SimpleTestCase):
    def test_every_test_lands_in_exactly_one_part_with_its_class_whole(self):
        rng = random.Random(20261207)
        for iteration in range(ITERATIONS):
            tests = fake_suite(rng, f"fake_module_{iteration}")
            times = random_times(rng, tests)
            count = rng.randint(1, 16)
            parts = [
                shard.split(tests, shard.Shard(k, count, "test"), times)[0]
                for k in range(1, count + 1)
            ]
            ids = [t.id() for part in parts for t in part]
            with self.subTest(iteration=iteration, count=count):
                self.assertEqual(sorted(ids), sorted(t.id() for t in tests))
                self.assertEqual(len(ids), len(set(ids)))
                owners = {}
                for k, part in enumerate(parts):
                    for test in part:
                        self.assertEqual(owners.setdefault(type(test), k), k)
                for part in parts:  # each part keeps the order of the suite
                    order = [tests.index(t) for t in part]
                    self.assertEqual(order, sorted(order))

    def test_the_split_ignores_the_order_of_the_tests(self):
        """What every machine must agree on: the same ids and times give the same parts,
        whatever order the loader found the tests in."""
        rng = random.Random(7)
        for iteration in range(ITERATIONS // 3):
            tests = fake_suite(rng, f"fake_order_{iteration}")
            times = random_times(rng, tests)
            count = rng.randint(1, 16)
            shuffled = list(tests)
            rng.shuffle(shuffled)
            for k in range(1, count + 1):
                part = shard.Shard(k, count, "test")
                first = {t.id() for t in shard.split(tests, part, times)[0]}
                second = {t.id() for t in shard.split(shuffled, part, times)[0]}
                self.assertEqual(first, second, (iteration, k, count))

    def test_the_slowest_part_is_within_one_group_of_the_ideal(self):
        """Greedy least-loaded-first: a part got its last group while it was the least
        loaded, so it ends at most one (the largest) group above the mean."""
        rng = random.Random(11)
        for _ in range(ITERATIONS):
            weights = {f"g{i}": rng.lognormvariate(0, 1.5) for i in range(rng.randint(1, 200))}
            count = rng.randint(1, 16)
            chosen = shard.deal(weights, count)
            loads = [0.0] * count
            for key, part in chosen.items():
                loads[part] += weights[key]
            ideal = sum(weights.values()) / count
            self.assertLessEqual(max(loads), ideal + max(weights.values()) + 1e-9)

    def test_weights_known_times_and_the_mean_for_the_rest(self):
        weights, timed = shard.weights_of(["a", "b", "c"], {"a": 1.0, "b": 3.0, "x": 100.0})
        self.assertTrue(timed)
        self.assertEqual(weights, {"a": 1.0, "b": 3.0, "c": 2.0})
        weights, timed = shard.weights_of(["a", "b"], {"x": 1.0, "a": float("nan")})
        self.assertFalse(timed)
        self.assertEqual(weights, {"a": 1.0, "b": 1.0})

    def test_ties_go_by_id_then_to_the_lowest_part(self):
        self.assertEqual(shard.deal({"b": 1.0, "a": 1.0, "c": 1.0}, 2), {"a": 0, "b": 1, "c": 0})
        self.assertEqual(shard.deal({"a": 1.0, "b": 5.0}, 3), {"b": 0, "a": 1})

    def test_a_module_with_module_set_up_stays_whole(self):
        module = types.ModuleType("fake_set_up_module")
        module.setUpModule = lambda: None
        tests = []
        for c in range(6):
            cls = type(f"Case{c}", (unittest.TestCase,), {"test_a": lambda self: None})
            cls.__module__ = module.__name__
            tests.append(cls("test_a"))
        with mock.patch.dict(sys.modules, {module.__name__: module}):
            parts = [shard.split(tests, shard.Shard(k, 3, "t"), None)[0] for k in (1, 2, 3)]
        self.assertEqual(sorted(len(p) for p in parts), [0, 0, 6])
        self.assertEqual(shard.group_key(tests[0]), "fake_set_up_module.Case0")  # module gone

    def test_the_note_says_what_the_part_took(self):
        tests = fake_suite(random.Random(1), "fake_note")
        kept, note = shard.split(tests, shard.Shard(2, 2, "--shard 2/2"), None)
        self.assertEqual(
            note,
            f"shard 2/2 (--shard 2/2): {len(kept)} of {len(tests)} tests, balanced by test count",
        )
        _, note = shard.split(tests, shard.Shard(1, 2, "x"), {tests[0].id(): 0.5})
        self.assertTrue(note.endswith("balanced by recorded durations"), note)


class ShardSpec(SimpleTestCase):
    def test_k_of_n(self):
        self.assertEqual(shard_numbers("3/4"), (3, 4))
        self.assertEqual(shard_numbers(" 1/1 "), (1, 1))
        self.assertEqual(shard_text("auto"), "auto")
        for bad, why in [
            ("0/4", "K must be 1 to 4"),
            ("5/4", "K must be 1 to 4"),
            ("1/0", "N must be 1 or more"),
            ("abc", "not K/N"),
            ("1/", "not K/N"),
            ("-1/4", "not K/N"),
            ("2", "not K/N"),
            ("Auto", "not K/N"),
        ]:
            with self.subTest(bad), self.assertRaisesMessage(ValueError, why):
                shard_text(bad)


class Auto(SimpleTestCase):
    def test_each_ci_system(self):
        cases = [
            ({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "3"}, (1, 3), "GitLab"),
            ({"CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "3"}, (3, 3), "GitLab"),
            ({"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "4"}, (1, 4), "CircleCI"),
            ({"CIRCLE_NODE_INDEX": "3", "CIRCLE_NODE_TOTAL": "4"}, (4, 4), "CircleCI"),
            ({"BUILDKITE_PARALLEL_JOB": "1", "BUILDKITE_PARALLEL_JOB_COUNT": "2"}, (2, 2), "Bu"),
        ]
        for environ, expected, system in cases:
            with self.subTest(environ):
                part = shard.resolve("auto", environ)
                self.assertEqual((part.index, part.count), expected)
                self.assertTrue(part.source.startswith(system), part.source)

    def test_none_set_or_bad_values_are_one_clear_error(self):
        cases = [
            ({}, "--shard auto: none of CI_NODE_INDEX/CI_NODE_TOTAL, CIRCLE_NODE_INDEX/"),
            ({"CI_NODE_INDEX": "2"}, "CI_NODE_TOTAL is not set"),
            ({"CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "2"}, "is not a job of the count"),
            ({"CIRCLE_NODE_INDEX": "4", "CIRCLE_NODE_TOTAL": "4"}, "is not a job of the count"),
            ({"BUILDKITE_PARALLEL_JOB": "x", "BUILDKITE_PARALLEL_JOB_COUNT": "2"}, "not a job"),
        ]
        for environ, message in cases:
            with self.subTest(environ), self.assertRaisesMessage(ConfigurationError, message):
                shard.resolve("auto", environ)
        with self.assertRaises(ConfigurationError) as caught:
            shard.resolve("auto", {"CIRCLE_NODE_INDEX": "4", "CIRCLE_NODE_TOTAL": "4"})
        self.assertEqual(
            caught.exception.hint, "CircleCI numbers jobs from 0 to CIRCLE_NODE_TOTAL - 1"
        )
        self.assertNotIn("\n", caught.exception.message)

    def test_a_given_part_ignores_the_ci(self):
        part = shard.resolve("2/5", {"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "3"})
        self.assertEqual((part.index, part.count, part.source), (2, 5, "--shard 2/5"))


class LabelsFile(SimpleTestCase):
    TEXT = "# the first job's part\n\napp.tests.A\n  app.tests.B.test_x  \n#app.tests.C\n"

    def test_a_file(self):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "labels.txt"
            path.write_text(self.TEXT, encoding="utf-8")
            self.assertEqual(labelsfile.read(str(path)), ["app.tests.A", "app.tests.B.test_x"])

    def test_stdin(self):
        with mock.patch.object(sys, "stdin", io.StringIO(self.TEXT)):
            self.assertEqual(labelsfile.read("-"), ["app.tests.A", "app.tests.B.test_x"])

    def test_a_missing_file_is_a_configuration_error(self):
        with tempfile.TemporaryDirectory() as directory:
            missing = str(Path(directory) / "nope.txt")
            with self.assertRaisesMessage(ConfigurationError, f"--labels-from {missing}: cannot"):
                labelsfile.read(missing)
