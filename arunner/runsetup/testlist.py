"""``--list`` (``--collect-only``): the selected tests' ids, and nothing else, on stdout.

The list feeds other programs (``circleci tests split``, ``wc -l``, ``--labels-from``), so
stdout carries the ids alone, one a line, and whatever else the runner says goes to stderr:
its notes (``Found N test(s).``, the ``--lf`` and ``--shard`` lines) and, last, ``N tests
collected``. A list is not a run: no database is created or even connected to, no check runs,
and there is no ``passed/failed/skipped`` closing line, which would count tests nobody ran.
"""

from __future__ import annotations

import unittest
from typing import TextIO

from django.test.utils import iter_test_cases


def write(suite: unittest.TestSuite, out: TextIO, err: TextIO) -> None:
    ids = [test.id() for test in iter_test_cases(suite)]
    out.write("".join(f"{test_id}\n" for test_id in ids))
    out.flush()
    err.write(f"{len(ids)} test{'' if len(ids) == 1 else 's'} collected\n")
