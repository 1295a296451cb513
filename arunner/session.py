"""One coroutine test, run as one task inside one ``ThreadSensitiveContext``.

Each phase (setUp, the test, tearDown, cleanups, the drain) is sent to the same session task,
so contextvars set by one phase are seen by the next, tasks the test spawns inherit the
context, and the context's executor E (the test's thread) is entered exactly once.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import sync_to_async

from . import escapes, pending, timeouts
from .loop import OWNER, Bridge, HomeThreadExecutor

__unittest = True


async def call_maybe_async(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Await a coroutine function; run a sync one on the test's thread, awaiting what it returns.

    Sync hooks go through E rather than being called directly so that they see the contextvars
    of the session, as ``IsolatedAsyncioTestCase`` promises for its sync ``setUp``.
    """
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    result = await sync_to_async(fn)(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def _settle(future: Any, outcome: tuple[Any, BaseException | None]) -> None:
    result, exc = outcome
    if exc is None:
        future.set_result(result)
    elif isinstance(exc, asyncio.CancelledError) and isinstance(future, asyncio.Future):
        future.cancel()
    else:
        future.set_exception(exc)


class TestSession:
    """The loop-side half of one test: a task that runs the phases it is sent, in order."""

    def __init__(
        self,
        bridge: Bridge,
        test_id: str,
        grace: float,
        threads: pending.ThreadWatch,
        strict_tasks: bool = False,
    ) -> None:
        self.bridge = bridge
        self.test_id = test_id
        self.grace = grace
        self.strict_tasks = strict_tasks
        self._threads = threads
        self.task: asyncio.Task[Any] | None = None
        self._timed_out: Any = None
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._served: Any = None
        self._snapshot: pending.Snapshot | None = None
        self.finished = False

    def __str__(self) -> str:
        return self.test_id

    def start(self) -> None:
        self._started_threads: list[Any] = []
        self._threads.recording = self._started_threads
        self.bridge.executor.active = self
        if isinstance(self.bridge.executor, HomeThreadExecutor):
            self.bridge.executor.open = True
        self._served = self.bridge.start(self._serve())

    def run(
        self, coro: Coroutine[Any, Any, Any], last: Callable[[], bool] | None = None
    ) -> Any:
        """Run one phase in the session task and return its result (main thread).

        When ``last()`` is true once the phase is over (nothing else will be sent), the
        session drains and closes in the same turn of the loop, saving the test a second
        wait in ``finish``.
        """
        future = self.bridge.future()
        self.bridge.post(self._inbox.put_nowait, (coro, future, last))
        return self.bridge.wait(future)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.run(call_maybe_async(fn, *args, **kwargs))

    def finish(self) -> None:
        """Drain what the test left running, then leave the context (the test's last cleanup)."""
        try:
            if not self._served.done():
                self.bridge.post(self._inbox.put_nowait, None)
            cancelled, stuck = self.bridge.wait(self._served)
        finally:
            self.finished = True
            self._threads.recording = None
            executor = self.bridge.executor
            executor.active = None
            if isinstance(executor, HomeThreadExecutor):
                executor.open = False
                executor.reject_queued()
        escapes.disown([item.thread for item in stuck if item.thread is not None])
        pending.report(self.test_id, cancelled, stuck, self.grace, self.strict_tasks)

    async def _serve(self) -> tuple[list[pending.Started], list[pending.Started]]:
        loop = self.bridge.loop
        self._snapshot = pending.snapshot(loop, self._started_threads)
        self.task = asyncio.current_task()
        self._snapshot.tasks.add(self.task)  # type: ignore[arg-type]
        OWNER.set(self)
        closing = None
        while (item := await self._inbox.get()) is not None:
            coro, future, last = item
            outcome = await self._outcome(coro)
            if last is not None and last():
                closing = future, outcome
                break
            _settle(future, outcome)
        drained = await self._drain()
        self.bridge.executor.active = None
        if closing is not None:
            _settle(*closing)
        return drained

    def cancel_for_timeout(self, armed: Any) -> None:
        """Cancel the phase in progress (any thread); it then fails with the timeout report."""
        self.bridge.loop.call_soon_threadsafe(self._cancel_phase, armed)

    def _cancel_phase(self, armed: Any) -> None:
        if self.task is not None and not self.task.done():
            self._timed_out = armed
            self.task.cancel()

    async def _outcome(self, coro: Coroutine[Any, Any, Any]) -> tuple[Any, BaseException | None]:
        try:
            return await coro, None
        except (KeyboardInterrupt, SystemExit):
            raise
        except asyncio.CancelledError as exc:
            armed, self._timed_out = self._timed_out, None
            if armed is None or self.task is None:
                return None, exc
            self.task.uncancel()
            armed.delivered = True
            return None, timeouts.TestTimeoutError(armed.report)
        except BaseException as exc:
            return None, exc

    async def _drain(self) -> tuple[list[pending.Started], list[pending.Started]]:
        assert self._snapshot is not None
        return await pending.Drain(self.bridge.loop, self._snapshot, self.grace).run()
