"""What a test left running, and the drain that waits for it before the rollback.

A test that returns while its tasks, executor jobs or threads are still working would lose
their writes (DiscoverRunner cancels them silently) or let them land after the rollback. The
drain gives them a grace period inside the test's transaction, cancels what remains, and
reports both kinds: cancelled leftovers as a warning, what could not be stopped as an error.

What could not be stopped is an error only where the test's isolation is at stake
(``threadscope.Choice.at_stake``): the test holds a transaction that is rolled back, so the
work's later writes would land after the rollback, where no test undoes them. A test that
holds none (``SimpleTestCase``, ``TransactionTestCase``, a unittest coroutine test with no
database) would see those writes commit with or without the leftover, so its leftover is a
warning, as is everyone's under ``--compat``. ``--strict-tasks`` is asked for by name and
applies to every test.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from arunner.core import inventory
from arunner.core.loops import TrackedJob, TrackingLoop

__unittest = True

#: How long cancelled tasks get to finish before they count as impossible to stop.
CANCEL_WAIT = 0.1

_POOL_MODULES = ("concurrent.futures", "asyncio", "anyio", "asgiref", "arunner", "threading")


class LeftoverTaskWarning(UserWarning):
    """A test returned while tasks it started were still running; they were cancelled."""


class LeftoverError(RuntimeError):
    """Work a test started was still running after the grace period and could not be stopped."""


@dataclass
class Started:
    """One thing a test started, described for the report."""

    kind: str
    name: str
    site: str
    thread: threading.Thread | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.name} (created at {self.site})"


_NO_THREADS: frozenset[threading.Thread] = frozenset()


class ThreadWatch:
    """Records the threads started while a test runs, with where they were started.

    Pool workers (``concurrent.futures``, anyio, asyncio) are left out: they outlive every job
    by design, and their jobs are tracked as jobs.
    """

    def __init__(self) -> None:
        self.recording: list[tuple[threading.Thread, str]] | None = None
        self.started: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        #: Whether any test started a thread yet: asked before every test.
        self._any = False
        self._original_start: Any = None

    def install(self) -> None:
        original = threading.Thread.start
        watch = self

        def start(thread: threading.Thread) -> None:
            original(thread)
            frame = sys._getframe(1)
            module = frame.f_globals.get("__name__", "")
            if not module.startswith(_POOL_MODULES):
                watch.started.add(thread)
                watch._any = True
                if watch.recording is not None:
                    site = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
                    watch.recording.append((thread, site))

        self._original_start = original
        threading.Thread.start = start  # type: ignore[method-assign, assignment]  # the watch wraps Thread.start while it is installed

    def before_now(self) -> frozenset[threading.Thread]:
        """The threads tests started so far that are still referenced."""
        return frozenset(self.started) if self._any else _NO_THREADS

    def alive(self) -> list[threading.Thread]:
        """Threads tests started that are still running."""
        return [thread for thread in self.started if thread.is_alive()]

    def uninstall(self) -> None:
        if self._original_start is not None:
            threading.Thread.start = self._original_start  # type: ignore[method-assign]  # puts back what install wrapped
            self._original_start = None


_NO_TASKS: frozenset[asyncio.Task[Any]] = frozenset()

#: What was already running when a test started, so the drain sees only the test's own: the
#: loop's tasks, and how many of its executor jobs came before.
Before = tuple[frozenset["asyncio.Task[Any]"] | set["asyncio.Task[Any]"], int]


def snapshot(loop: TrackingLoop) -> Before:
    """Taken as a coroutine test starts; most loops have nothing running then."""
    jobs = loop.jobs
    if jobs:
        jobs[:] = [job for job in jobs if not job.future.done()]
    return (set(loop.task_sites) if loop.task_sites else _NO_TASKS), len(jobs)


def anything_left(
    loop: TrackingLoop, before: Before, threads: list[tuple[threading.Thread, str]]
) -> bool:
    """Whether the test left anything running: asked by every coroutine test, so it builds
    nothing."""
    tasks, jobs = loop.task_sites, loop.jobs
    before_tasks, jobs_from = before
    return bool(
        (tasks and any(not task.done() and task not in before_tasks for task in tasks))
        or (len(jobs) > jobs_from and any(not job.future.done() for job in jobs[jobs_from:]))
        or (threads and any(thread.is_alive() for thread, _ in threads))
    )


def _thread_name(thread: threading.Thread) -> str:
    target = inventory.thread_target(thread)
    name = getattr(target, "__qualname__", None) or "run"
    return f"{thread.name!r} ({name})"


class Drain:
    """Waits for what the test started, then cancels and describes what is left."""

    def __init__(
        self,
        loop: TrackingLoop,
        before: Before,
        threads: list[tuple[threading.Thread, str]],
        grace: float,
    ) -> None:
        self.loop = loop
        self.before_tasks, self.jobs_from = before
        self.threads = threads
        self.grace = grace

    def _tasks(self) -> set[asyncio.Task[Any]]:
        current = asyncio.current_task()
        return {
            task
            for task in self.loop.task_sites
            if task is not current and task not in self.before_tasks and not task.done()
        }

    def _jobs(self) -> list[TrackedJob]:
        return [job for job in self.loop.jobs[self.jobs_from :] if not job.future.done()]

    def _threads(self) -> list[tuple[threading.Thread, str]]:
        return [(t, site) for t, site in self.threads if t.is_alive()]

    async def run(self) -> tuple[list[Started], list[Started]]:
        """Return (cancelled, stuck): leftovers that were cancelled, and what could not be.

        Only for a test that ``anything_left``.
        """
        deadline = self.loop.time() + self.grace
        while True:
            tasks, jobs, threads = self._tasks(), self._jobs(), self._threads()
            remaining = deadline - self.loop.time()
            if not (tasks or jobs or threads) or remaining <= 0:
                break
            waitables = tasks | {job.future for job in jobs}
            step = min(remaining, 0.01) if threads or not waitables else remaining
            if waitables:
                await asyncio.wait(waitables, timeout=step, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(step)
        described = {task: self._describe_task(task) for task in tasks}
        cancelled = await self._cancel(tasks)
        stuck_tasks, stuck_jobs = self._tasks(), self._jobs()
        for future in [*stuck_tasks, *(job.future for job in stuck_jobs)]:
            future.add_done_callback(_consume_outcome)
        stuck = [described.get(t) or self._describe_task(t) for t in stuck_tasks]
        stuck += [Started("executor job", job.name, job.site) for job in stuck_jobs]
        stuck += [Started("thread", _thread_name(t), site, t) for t, site in self._threads()]
        return [described[t] for t in cancelled], stuck

    async def _cancel(self, tasks: Iterable[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
        targets = [t for t in tasks if not t.done() and not inventory.is_shielded(t)]
        for task in targets:
            task.cancel()
        if targets:
            await asyncio.wait(targets, timeout=CANCEL_WAIT)
        return [t for t in targets if t.done()]

    def _describe_task(self, task: asyncio.Task[Any]) -> Started:
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", None) or task.get_name()
        return Started("task", name, self.loop.task_sites.get(task, "<unknown>"))


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    """Mark the late outcome of stuck work as seen: its test already failed for it, and
    its late writes are refused, so asyncio's "never retrieved" log would only be noise."""
    if not future.cancelled():
        future.exception()


def report(
    test_id: str,
    cancelled: list[Started],
    stuck: list[Started],
    grace: float,
    strict: bool = False,
    at_stake: bool = True,
) -> None:
    """Warn about cancelled leftovers (an error with ``--strict-tasks``); raise for what
    could not be stopped where the running test's isolation is at stake (``at_stake``, the
    thread guard's answer), warn otherwise."""
    if cancelled and not strict:
        _warn(test_id, f"arunner waited {grace:g}s, then cancelled them", cancelled)
    if stuck and not at_stake:
        _warn(
            test_id,
            f"arunner waited {grace:g}s and could not stop them, so they go on after the test",
            stuck,
        )
        stuck = []
    failing = [("could not be stopped", stuck)]
    if strict:
        failing.insert(0, ("cancelled (--strict-tasks)", cancelled))
    sections = [
        f"{label}:\n" + "\n".join(f"  - {item}" for item in items)
        for label, items in failing
        if items
    ]
    if sections:
        raise LeftoverError(
            f"{test_id} left work running past the {grace:g}s grace period. Its writes after "
            "the rollback are refused; await it in the test or give it more time "
            "(--task-grace).\n" + "\n".join(sections)
        )


def _warn(test_id: str, what: str, items: list[Started]) -> None:
    lines = "\n".join(f"  - {item}" for item in items)
    warnings.warn(
        LeftoverTaskWarning(f"{test_id} returned while these were still running; {what}:\n{lines}"),
        stacklevel=1,
    )
