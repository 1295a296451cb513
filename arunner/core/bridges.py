"""How the main thread runs a test's event loop: a ``Bridge`` is one loop (``loops``) plus the
executor that brings its thread-sensitive calls to the test's thread.

``InlineBridge`` runs the loop on the main thread, which runs each thread-sensitive call in
place; ``HopBridge`` runs it on one reused loop thread (``LoopThread``) while the main thread
serves the calls. ``Bridges`` makes bridges of the chosen kind, sharing one executor (and loop
thread) among them, so the rest of arunner does not care which arrangement is in use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from asgiref.sync import ThreadSensitiveContext

from arunner.core import inventory
from arunner.core.loops import (
    EXECUTORS,
    OWNER,
    SLOW_CALLBACK,
    HomeThreadExecutor,
    InlineExecutor,
    TrackingLoop,
    loop_class,
)

T = TypeVar("T")


def _complete(context: contextvars.Context, coro: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine that never suspends (``ThreadSensitiveContext`` enter and exit) to
    completion inside ``context``, so the context variables it sets stay there."""

    def step() -> None:
        try:
            coro.send(None)
        except StopIteration:
            return
        coro.close()
        raise RuntimeError("arunner: expected a coroutine that does not suspend")

    context.run(step)


class Bridge:
    """One event loop plus the executor E that brings its thread-sensitive calls home.

    The main thread talks to the loop only through these methods, so the rest of arunner
    does not care which arrangement is in use.
    """

    executor: InlineExecutor | HomeThreadExecutor
    loop: TrackingLoop
    context: contextvars.Context

    def start(
        self, coro: Coroutine[Any, Any, T], context: contextvars.Context | None = None
    ) -> Any:
        """Start a coroutine on the loop, in ``context`` (default: a fresh copy of the loop's);
        return a future for ``wait``."""
        raise NotImplementedError

    def wait(self, future: Any) -> Any:
        """Block the main thread until ``future`` (what ``start`` returned) is done, serving E;
        return its result."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop from the main thread and return its result."""
        result: T = self.wait(self.start(coro))
        return result

    def session_context(self, owner: object) -> contextvars.Context:
        """A copy of the loop's context in which ``OWNER`` is ``owner``: where a test session
        runs its phases."""
        context = self.context.copy()
        context.run(OWNER.set, owner)
        return context

    def run_phase(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
        """Run one phase of a test session in ``context`` and return its result; the phase
        calls ``phase_over`` last."""
        result: T = self.wait(self.start(coro, context))
        return result

    def phase_over(self) -> None:
        """Called by a session's phase in its last step, on the loop."""

    def begin_session(self, owner: object) -> None:
        """From now on E serves ``owner``'s thread-sensitive calls (a test session's)."""
        self.executor.active = owner

    def refuse_late_calls(self) -> None:
        """E serves no session any more: a call from a task of the last one is refused."""
        self.executor.active = None

    def end_session(self) -> None:
        """The session is over: E serves nobody, and refuses what is still on its way."""
        self.executor.active = None

    def _new_loop(self, factory: Callable[[], TrackingLoop]) -> TrackingLoop:
        loop = factory()
        inventory.loop_thread_executors[loop] = self.executor
        self.context = contextvars.copy_context()
        self._sensitive = ThreadSensitiveContext(executor=self.executor)
        _complete(self.context, self._sensitive.__aenter__())
        return loop

    def _create_task(
        self, coro: Coroutine[Any, Any, T], context: contextvars.Context | None
    ) -> asyncio.Task[T]:
        """A task in a copy of the loop's context, where the thread-sensitive context with
        E is already entered: entering one per test costs more than the rest of a test's
        overhead together, and Django's ``ASGIHandler`` must find it to send sync views
        to E instead of a new thread.

        The task is arunner's own, so it skips the loop's task factory: the drain never
        looks for it, and finding its creation site would cost every test a stack walk.
        """
        if context is None:
            context = self.context.copy()
        return asyncio.Task(coro, loop=self.loop, context=context)

    def _finish_loop(self) -> None:
        """Close the loop the way ``asyncio.run`` does; runs on the loop's thread.

        Each step is bounded: after a second Ctrl-C or SIGTERM a phase may still be pending
        (its task stops the loop when it ends), or a task may swallow its cancellation, and
        the run must still end. A task still pending then is let go of without the
        "destroyed but pending" warning: its test was reported already.
        """
        loop = self.loop
        inventory.loop_thread_executors.pop(loop, None)
        _complete(self.context, self._sensitive.__aexit__(None, None, None))
        try:
            leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in leftovers:
                task.cancel()
            _spin(loop, leftovers, FINISH_WITHIN)
            for step in (loop.shutdown_asyncgens(), loop.shutdown_default_executor()):
                task = loop.create_task(step)
                _spin(loop, [task], FINISH_WITHIN)
                leftovers.append(task)
            _let_go(loop, [task for task in leftovers if not task.done()])
        finally:
            loop.close()


#: Seconds each step of closing a loop may take before it is given up.
FINISH_WITHIN = 1.0


#: Seconds closing a hop-mode loop may take (its steps, bounded above) before its thread is
#: given up as stuck.
CLOSE_WITHIN = 5.0


#: Tasks that would not end when their loop closed: kept, so that their coroutines are not
#: closed mid-run by the garbage collector (whose ``GeneratorExit`` they may swallow too).
_ABANDONED: list[asyncio.Task[Any]] = []


def _let_go(loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]]) -> None:
    if not tasks:
        return
    _ABANDONED.extend(tasks)
    default = loop.get_exception_handler()

    def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("task") in tasks:
            return
        if default is None:
            loop.default_exception_handler(context)
        else:
            default(loop, context)

    loop.set_exception_handler(quiet)


def _spin(loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]], seconds: float) -> None:
    """Run ``loop`` until ``tasks`` are done (the last one to end stops it) or ``seconds``
    have passed. Not ``run_until_complete``: a phase that ends stops the loop too, which
    would end that early, so the loop runs again until one of the two is true."""
    pending = [task for task in tasks if not task.done()]
    if not pending:
        return

    def stop_when_all_done(_: asyncio.Task[Any]) -> None:
        if all(task.done() for task in pending):
            loop.stop()

    for task in pending:
        task.add_done_callback(stop_when_all_done)
    deadline = time.monotonic() + seconds
    while any(not task.done() for task in pending):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        handle = loop.call_later(remaining, loop.stop)
        try:
            loop.run_forever()
        finally:
            handle.cancel()


class InlineBridge(Bridge):
    """The loop runs on the main thread, which also holds the test's atomics."""

    executor: InlineExecutor

    def __init__(self, executor: InlineExecutor, factory: Callable[[], TrackingLoop]) -> None:
        self.executor = executor
        self.loop = self._new_loop(factory)
        self.loop.owner_ident = threading.get_ident()

    def start(
        self, coro: Coroutine[Any, Any, T], context: contextvars.Context | None = None
    ) -> asyncio.Task[T]:
        return self._create_task(self._then_stop(coro), context)

    async def _then_stop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Stop the loop in the task's last step, so ``wait`` returns after that very turn
        of the loop; ``run_until_complete`` would take a second turn to notice the task is
        done, which is a good part of what a coroutine test costs."""
        try:
            return await coro
        finally:
            self.loop.stop()

    def wait(self, future: Any) -> Any:
        while not future.done():
            self.loop.run_forever()
        return future.result()

    def run_phase(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
        """``run`` without the stopping wrapper: the phase stops the loop itself."""
        loop = self.loop
        task = asyncio.Task(coro, loop=loop, context=context)
        while not task.done():
            loop.run_forever()
        return task.result()

    def phase_over(self) -> None:
        self.loop.stop()

    def close(self) -> None:
        self._finish_loop()


class LoopThread:
    """One long-lived helper thread that runs the hop-mode loops, one after another.

    Started lazily (never in a parent process before ``--parallel`` workers fork) and reused,
    so no test pays for a new thread.
    """

    def __init__(self) -> None:
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, "arunner-loop")
        return self._pool.submit(fn)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def give_up(self) -> None:
        """The thread is stuck in a call that does not return (a coroutine test blocking
        the loop, after a stop): later loops get a new thread, and nobody waits for it."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


def _copy_outcome(task: asyncio.Task[Any], future: concurrent.futures.Future[Any]) -> None:
    if task.cancelled():
        future.cancel()
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())


class HopBridge(Bridge):
    """The loop runs on the loop thread; the main thread serves E while it waits."""

    executor: HomeThreadExecutor

    def __init__(
        self,
        executor: HomeThreadExecutor,
        thread: LoopThread,
        factory: Callable[[], TrackingLoop],
    ) -> None:
        self.executor = executor
        self.thread = thread
        self.loop = self._new_loop(factory)
        started = threading.Event()
        self.loop.call_soon(started.set)
        self._running = thread.submit(self._run_forever)
        started.wait()

    def _run_forever(self) -> None:
        self.loop.owner_ident = threading.get_ident()
        try:
            self.loop.run_forever()
        finally:
            self._finish_loop()

    def start(
        self, coro: Coroutine[Any, Any, T], context: contextvars.Context | None = None
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def begin() -> None:
            task = self._create_task(coro, context)
            task.add_done_callback(lambda done: _copy_outcome(done, future))

        self.loop.call_soon_threadsafe(begin)
        return future

    def wait(self, future: Any) -> Any:
        self.executor.serve(future)
        return future.result()

    def begin_session(self, owner: object) -> None:
        super().begin_session(owner)
        self.executor.open = True

    def end_session(self) -> None:
        super().end_session()
        self.executor.open = False
        self.executor.reject_queued()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        was_open, self.executor.open = self.executor.open, True
        try:
            return super().run(coro)
        finally:
            self.executor.open = was_open

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        try:
            self._running.result(timeout=CLOSE_WITHIN)
        except concurrent.futures.TimeoutError:
            self.thread.give_up()


class Bridges:
    """Makes bridges of the chosen kind, sharing one executor (and loop thread) among them."""

    def __init__(self, kind: str, loop: str = "asyncio", debug: bool = False) -> None:
        if kind not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, not {kind!r}")
        self.kind = kind
        self._loop_class = loop_class(loop)
        self._debug = debug
        self._executor: InlineExecutor | HomeThreadExecutor | None = None
        self._thread = LoopThread()

    def _make_loop(self) -> TrackingLoop:
        loop = self._loop_class()
        if self._debug:
            loop.set_debug(True)
            loop.slow_callback_duration = SLOW_CALLBACK
        return loop

    def new(self) -> Bridge:
        ident = threading.get_ident()
        if self._executor is None or self._executor.owner_ident != ident:
            self._executor = (
                InlineExecutor(ident) if self.kind == "inline" else HomeThreadExecutor(ident)
            )
        if isinstance(self._executor, InlineExecutor):
            return InlineBridge(self._executor, self._make_loop)
        return HopBridge(self._executor, self._thread, self._make_loop)

    def shutdown(self) -> None:
        self._thread.shutdown()
