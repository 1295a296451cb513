"""The event loops arunner owns, and how their thread-sensitive calls reach the test's thread.

A Django test holds its rolled-back ``atomic()`` blocks on the main thread, so every
thread-sensitive sync call a coroutine test makes (each ``a*`` ORM call) must run there.
Two arrangements do that (design notes, section 2b):

* ``inline``: the loop runs on the main thread and the executor runs each call in place, with
  the running loop detached around it. No thread hop; the loop is paused while the call runs.
* ``hop``: the loop runs on one reused helper thread and the main thread serves the calls while
  it waits. One thread hop per call; the loop keeps running during sync calls.

Both present the same ``Bridge`` interface to the rest of arunner.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import queue
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from types import FrameType
from typing import Any, TypeVar, TypeVarTuple, cast

from asgiref.sync import ThreadSensitiveContext

from . import inventory

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

EXECUTORS = ("inline", "hop")

#: With ``--asyncio-debug``, a callback that holds the loop longer than this is reported.
SLOW_CALLBACK = 0.1


class OutsideTestError(RuntimeError):
    """A thread-sensitive call arrived when no test of this loop could serve it."""


#: The test session a task belongs to; set in the session's context, where every phase runs,
#: and inherited by the tasks the test spawns. Executors compare it with the session they
#: serve, so a task that outlives its test can never run a call inside the next test's
#: transaction.
OWNER: contextvars.ContextVar[object | None] = contextvars.ContextVar("arunner_owner", default=None)


def _caller_site(skip_modules: tuple[str, ...] = ("asyncio", "concurrent", "arunner")) -> str:
    """Where user code asked for a task or job: the first frame outside the machinery."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(skip_modules) and not module.startswith("asgiref"):
            return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "<unknown>"


def callable_name(func: Any) -> str:
    """A readable name for what a job runs, seen through ``partial`` and asgiref's wrappers."""
    while True:
        if isinstance(func, functools.partial):
            wrapper = getattr(func.func, "__qualname__", "")
            if wrapper == "Context.run" and func.args:
                func = func.args[0]
            elif wrapper == "SyncToAsync.thread_handler" and func.args:
                func = func.args[-1]
            else:
                func = func.func
        elif getattr(func, "__qualname__", "") == "Context.run":
            return "Context.run"
        else:
            return getattr(func, "__qualname__", None) or repr(func)


class TrackedJob:
    """An executor job started from the loop, remembered so a test can drain it."""

    __slots__ = ("future", "name", "site")

    def __init__(self, future: asyncio.Future[Any], func: Callable[..., Any], site: str) -> None:
        self.future = future
        self.name = callable_name(func)
        self.site = site


class TrackingLoop(asyncio.AbstractEventLoop):
    """What arunner adds to an event loop (asyncio's or uvloop's): it records where tasks and
    executor jobs come from, so the drain can name what a test left running, and it keeps
    thread-sensitive calls on the fast path.
    """

    def __init__(self) -> None:
        super().__init__()
        self.owner_ident: int | None = None
        self.jobs: list[TrackedJob] = []
        self.task_sites: dict[asyncio.Task[Any], str] = {}
        self.set_task_factory(self._make_task)

    def _make_task(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        self.task_sites[task] = _caller_site()
        task.add_done_callback(self._forget_task)
        return task

    def _forget_task(self, task: asyncio.Task[Any]) -> None:
        self.task_sites.pop(task, None)

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts
    ) -> asyncio.Future[T]:
        if isinstance(executor, InlineExecutor):
            # The call completes before this returns, so skip the concurrent Future and the
            # thread-safe wake-up a normal executor needs: awaiting the result costs no loop
            # iteration at all.
            future = self.create_future()
            executor.run_into(future, func, *args)
            return future
        if isinstance(executor, HomeThreadExecutor):
            return super().run_in_executor(executor, func, *args)
        # Unlike ``to_thread``, ``run_in_executor`` does not carry context variables into the
        # job; carrying them ties the job to the test that started it (``OWNER``).
        run: Callable[..., T] = contextvars.copy_context().run
        # (cast: mypy cannot see that the partial takes what ``func`` takes)
        job = cast("Callable[[*Ts], T]", functools.partial(run, func))
        future = super().run_in_executor(executor, job, *args)
        self.jobs.append(TrackedJob(future, func, _caller_site()))
        return future

    def call_soon_threadsafe(
        self,
        callback: Any,
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        if threading.get_ident() == self.owner_ident and callback == self.create_task and args:
            return self._create_task_here(args, context)
        return super().call_soon_threadsafe(callback, *args, context=context)

    def _create_task_here(self, args: tuple[Any, ...], context: Any) -> asyncio.Handle:
        """A request, made on the loop's own thread, to create a task.

        asgiref remembers this loop as the "main event loop" of every thread that served a
        thread-sensitive call. When an ``async_to_sync`` on the loop's own thread then queues
        its coroutine here, the loop is either paused in an inline call or not running at
        all, and the caller would wait forever. asgiref treats a RuntimeError here as "no
        usable outer loop" and runs the coroutine on a loop of its own, as it does in any
        plain sync thread; only that caller is refused.

        Anyone else (asyncio's async-generator finaliser, a library) gets the task at once:
        on its own thread that is safe, and the task's first step still waits for the loop's
        next turn. Made now, the task belongs to the test that dropped the generator, so the
        test's drain waits for the generator's ``finally`` before the rollback; a callback
        left in the queue would run only after the test had ended. The returned handle is
        never scheduled.
        """
        if inventory.is_async_to_sync_call(args[0]):
            raise RuntimeError("arunner: this loop cannot run work for its own thread now")
        if context is None:
            self.create_task(*args)
        else:
            context.run(self.create_task, *args)
        return asyncio.Handle(self.create_task, args, self, context)


class ArunnerEventLoop(TrackingLoop, asyncio.SelectorEventLoop):
    """asyncio's default loop, tracked."""


@functools.cache
def loop_class(kind: str) -> type[TrackingLoop]:
    """The loop class for ``--loop``: asyncio's selector loop or uvloop's, tracked."""
    if kind == "asyncio":
        return ArunnerEventLoop
    try:
        import uvloop
    except ImportError:
        raise RuntimeError("--loop uvloop needs uvloop: pip install uvloop") from None
    return type("ArunnerUVLoop", (TrackingLoop, uvloop.Loop), {})


class InlineExecutor(Executor):
    """Runs each thread-sensitive call in place, on the loop's thread, with the loop detached.

    Reused by every test: ``ThreadSensitiveContext(executor=...)`` does not shut it down.
    """

    def __init__(self, owner_ident: int) -> None:
        self.owner_ident = owner_ident
        self.active: object | None = None

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        self.run_into(future, functools.partial(fn, *args, **kwargs))
        return future

    def run_into(self, future: Any, fn: Callable[..., T], *args: Any) -> None:
        """Run ``fn`` now and settle ``future`` with its outcome."""
        try:
            result = self.call(fn, *args)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` now, with the running loop detached, and return what it returns.

        Detached, the loop is invisible to the call: Django's ``async_unsafe`` check lets
        the ORM run, and a nested ``async_to_sync`` starts a loop of its own.
        """
        if threading.get_ident() != self.owner_ident:
            raise OutsideTestError(
                "arunner: a thread-sensitive call reached the inline executor from "
                f"thread {threading.current_thread().name!r}, not the test's thread"
            )
        _check_owner(self.active)
        loop = inventory.get_running_loop_or_none()
        inventory.set_running_loop(None)
        try:
            return fn(*args, **kwargs)
        finally:
            inventory.set_running_loop(loop)


def _check_owner(active: object | None) -> None:
    owner = OWNER.get()
    if owner is not None and owner is not active:
        _refuse_late_call(owner)


def _refuse_late_call(owner: object) -> None:
    raise OutsideTestError(
        f"arunner: a task started by {owner} made a thread-sensitive call after that test "
        "ended; tasks a test starts must finish before it does"
    )


_STOP = object()


class HomeThreadExecutor(Executor):
    """Runs submitted calls on the thread that owns it, while that thread waits in ``serve``.

    Unlike asgiref's ``CurrentThreadExecutor`` it is reusable, so one serves every test.
    It refuses work while closed, so a call that outlives its test never runs in the next one.
    """

    def __init__(self, owner_ident: int) -> None:
        self.owner_ident = owner_ident
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.open = False
        self.active: object | None = None

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if not self.open:
            raise OutsideTestError(
                "arunner: a thread-sensitive call arrived after its test ended; tasks a test "
                "starts must finish before it does"
            )
        if threading.get_ident() == self.owner_ident:
            raise RuntimeError("arunner: the test's thread cannot wait for itself")
        _check_owner(self.active)
        future: Future[T] = Future()
        self._queue.put((future, fn, args, kwargs))
        return future

    def serve(self, until: concurrent.futures.Future[Any]) -> None:
        until.add_done_callback(lambda _: self._queue.put(_STOP))
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

    def reject_queued(self) -> None:
        """Fail calls that were queued but never served: their test is over."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                item[0].set_exception(OutsideTestError("arunner: the test ended first"))


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
