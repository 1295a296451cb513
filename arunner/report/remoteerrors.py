"""A ``--parallel`` worker's failures reach the parent with their tracebacks, tblib or not.

A worker sends each outcome to the parent pickled, and a traceback cannot be pickled. Django's
answer is tblib, when it is installed; without it the first failing test ends the run with
``TypeError: cannot pickle 'traceback' object``, and even with it an exception that does not
pickle (one holding a socket, a lock, a class defined in a test) does the same. So the worker
formats the traceback itself, as unittest would, and sends the exception without it: the
text rides on the exception (``TEXT``), and an exception or class that does not pickle is
replaced by a stand-in of the same kind (failure or error) with the same message. The parent's
result shows the text the worker made (``worker_text``).
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterator
from typing import Any

from arunner.report.model import ResultMixinBase, describe_error

#: The attribute of a worker's exception that holds its formatted traceback.
TEXT = "arunner_worker_traceback"

__unittest = True


class WorkerError(Exception):
    """Stands for an error a ``--parallel`` worker's test raised that could not be sent."""


class WorkerFailure(AssertionError):
    """Stands for a failure a ``--parallel`` worker's test raised that could not be sent."""


def _pickles(obj: Any) -> bool:
    try:
        pickle.loads(pickle.dumps(obj))
    except Exception:
        return False
    return True


class _Text:
    """The traceback text of ``err``, made when it is pickled: when the test's events are
    sent, after the notes arunner adds to a failure at the test's end."""

    def __init__(self, err: Any) -> None:
        self.err = err

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return str, (describe_error(self.err)[2],)


def portable(err: Any, test: Any) -> Any:
    """``err`` (an exc_info tuple) as it can be sent: no traceback, its text on the value."""
    exctype, value, tb = err
    if tb is None or value is None:
        return err
    text = _Text(err)
    if not (_pickles(exctype) and _pickles(value)):
        failure = issubclass(exctype, getattr(test, "failureException", AssertionError))
        exctype = WorkerFailure if failure else WorkerError
        value = exctype(f"{type(err[1]).__qualname__}: {err[1]}")
    try:
        setattr(value, TEXT, text)
    except AttributeError:  # an exception class with __slots__ and no __dict__
        value = WorkerError(str(value))
        setattr(value, TEXT, text)
    return exctype, value, None


def worker_text(err: Any) -> str | None:
    """The traceback text a worker made for ``err``, if it came from one."""
    if err is None or err[2] is not None:
        return None
    text = getattr(err[1], TEXT, None)
    return text if isinstance(text, str) else None


class PortableErrors(ResultMixinBase):
    """Result mixin for a worker: every outcome it passes on carries no traceback."""

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, portable(err, test))

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, portable(err, test))

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        super().addExpectedFailure(test, portable(err, test))

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            err = portable(err, test)
        super().addSubTest(test, subtest, err)


class ShowsWorkerText(ResultMixinBase):
    """Result mixin for the parent: a failure a worker sent shows the worker's traceback
    rather than the bare exception line unittest would make of it."""

    def addError(self, test: Any, err: Any) -> None:
        with _worker_entry(self, err):
            super().addError(test, err)

    def addFailure(self, test: Any, err: Any) -> None:
        with _worker_entry(self, err):
            super().addFailure(test, err)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        with _worker_entry(self, err):
            super().addSubTest(test, subtest, err)


@contextlib.contextmanager
def _worker_entry(result: Any, err: Any) -> Iterator[None]:
    """Around an ``add...``: the entry it appended gets the worker's text."""
    text = worker_text(err)
    if text is None:
        yield
        return
    lists = [entries for entries in (result.errors, result.failures) if isinstance(entries, list)]
    lengths = [len(entries) for entries in lists]
    yield
    for entries, length in zip(lists, lengths, strict=True):
        if len(entries) > length:
            entries[-1] = (entries[-1][0], text)
