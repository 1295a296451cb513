"""``--shard K/N``: the K-th of N parts of the selected tests, the same part on every machine.

A CI system starts N jobs of one command, and each must take its part with no coordination.
So the split depends only on what every job sees alike: the ids of the selected tests and,
with ``--durations-file``, their recorded times; never on the order the loader found them in,
hash seeds or set order (groups are dealt out sorted by weight, then id).

Tests are dealt in groups: a test class, whose ``setUpClass`` must run in one job only, or a
whole module when it has ``setUpModule``/``tearDownModule``. Largest group first, each goes to
the part with the least load so far (the lowest-numbered on a tie): greedy least-loaded-first,
which leaves the slowest part at most one group above the ideal. The load is the recorded
time (a test without one counts at the mean of those with one), or the number of tests when
no time of the selected tests is known.

The runner splits the suite that labels, ``-k``, tags and ``--lf`` selected, before ``--shuffle``
and ``--reverse`` order it and before ``--parallel`` hands it to workers: the split ignores the
order, and Django's shuffle orders tests by a hash of seed and id, so a part's order is the
order it would have in the whole run.
"""

from __future__ import annotations

import heapq
import math
import os
import sys
import unittest
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.test.runner import DiscoverRunner, partition_suite_by_case

from arunner.core.errors import ConfigurationError
from arunner.core.shardspec import AUTO, shard_numbers

#: (CI system, variable of the job's index, variable of the job count, the first index), in
#: the order ``--shard auto`` looks for them. GitHub Actions has none: a matrix passes K/N.
CI_VARIABLES: tuple[tuple[str, str, str, int], ...] = (
    ("GitLab", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1),
    ("CircleCI", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0),
    ("Buildkite", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0),
)

AUTO_HINT = (
    "on GitHub Actions pass --shard ${{ matrix.shard }}/N from a matrix; elsewhere --shard K/N"
)


@dataclass(frozen=True)
class Shard:
    """The part this run takes: ``index`` of ``count``, counted from 1; ``source`` says from
    where (``--shard 2/4``, ``CircleCI CIRCLE_NODE_INDEX=1 CIRCLE_NODE_TOTAL=4``)."""

    index: int
    count: int
    source: str


def resolve(spec: str, environ: Mapping[str, str] = os.environ) -> Shard:
    """The part ``--shard`` names; for ``auto``, the one the CI's variables name."""
    if spec != AUTO:
        index, count = shard_numbers(spec)
        return Shard(index, count, f"--shard {spec}")
    for system, index_name, count_name, first in CI_VARIABLES:
        raw_index, raw_count = environ.get(index_name), environ.get(count_name)
        if raw_index is None and raw_count is None:
            continue
        source = f"{system} {index_name}={raw_index} {count_name}={raw_count}"
        if raw_index is None or raw_count is None:
            missing = index_name if raw_index is None else count_name
            raise ConfigurationError(f"--shard auto: {source}: {missing} is not set", AUTO_HINT)
        try:
            index, count = shard_numbers(f"{int(raw_index) - first + 1}/{int(raw_count)}")
        except ValueError:
            numbering = f"{first} to {count_name}" + (" - 1" if first == 0 else "")
            raise ConfigurationError(
                f"--shard auto: {source} is not a job of the count",
                f"{system} numbers jobs from {numbering}",
            ) from None
        return Shard(index, count, source)
    names = ", ".join(f"{i}/{c}" for _, i, c, _ in CI_VARIABLES)
    raise ConfigurationError(f"--shard auto: none of {names} is set", AUTO_HINT)


def group_key(test: unittest.TestCase) -> str:
    """What stays in one part with ``test``: its module when the module has set-up or
    tear-down of its own, else its class."""
    cls = type(test)
    module = sys.modules.get(cls.__module__)
    if hasattr(module, "setUpModule") or hasattr(module, "tearDownModule"):
        return cls.__module__
    return f"{cls.__module__}.{cls.__qualname__}"


def deal(weights: Mapping[str, float], count: int) -> dict[str, int]:
    """Each group's part (0-based): largest first to the least loaded, ties by id and part."""
    loads = [(0.0, part) for part in range(count)]
    chosen = {}
    for key in sorted(weights, key=lambda key: (-weights[key], key)):
        load, part = heapq.heappop(loads)
        chosen[key] = part
        heapq.heappush(loads, (load + weights[key], part))
    return chosen


def weights_of(
    test_ids: Iterable[str], times: Mapping[str, float] | None
) -> tuple[dict[str, float], bool]:
    """Each test's weight: its recorded time, the mean of the known ones when it has none;
    1 each when none is known (then False: balanced by count)."""
    ids = sorted(set(test_ids))
    known = {i: times[i] for i in ids if times and _usable(times.get(i))}
    if not known:
        return dict.fromkeys(ids, 1.0), False
    mean = math.fsum(known.values()) / len(known)
    return {i: known.get(i, mean) for i in ids}, True


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value >= 0


def split(
    tests: Sequence[unittest.TestCase], shard: Shard, times: Mapping[str, float] | None
) -> tuple[list[unittest.TestCase], str]:
    """The tests of ``shard``, in their order in ``tests``; and a note saying what it took."""
    weights, timed = weights_of((t.id() for t in tests), times)
    groups: dict[str, list[float]] = {}
    for test in tests:
        groups.setdefault(group_key(test), []).append(weights[test.id()])
    parts = deal({key: math.fsum(sorted(w)) for key, w in groups.items()}, shard.count)
    kept = [t for t in tests if parts[group_key(t)] == shard.index - 1]
    by = "recorded durations" if timed else "test count"
    note = (
        f"shard {shard.index}/{shard.count} ({shard.source}): {len(kept)} of {len(tests)} "
        f"tests, balanced by {by}"
    )
    return kept, note


def distribute(runner: DiscoverRunner, suite: unittest.TestSuite) -> unittest.TestSuite:
    """The part as ``--parallel`` runs it: the last step of Django's ``build_suite``, which the
    runner holds back until the part is chosen (a class per worker, no more workers than
    classes, ``runner.parallel`` lowered to match, as the number of test databases follows it)."""
    if runner.parallel <= 1:
        return suite
    subsuites = partition_suite_by_case(suite)
    runner.parallel = min(runner.parallel, len(subsuites))
    if runner.parallel <= 1:
        return suite
    return runner.parallel_test_suite(  # type: ignore[no-any-return]  # Django is untyped
        subsuites, runner.parallel, runner.failfast, runner.debug_mode, runner.buffer
    )
