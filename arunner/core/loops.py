"""The event loops arunner owns, and the executors that bring their thread-sensitive calls home.

A Django test holds its rolled-back ``atomic()`` blocks on the main thread, so every
thread-sensitive sync call a coroutine test makes (each ``a*`` ORM call) must run there.
Two arrangements do that:

* ``inline``: the loop runs on the main thread and the executor runs each call in place, with
  the running loop detached around it. No thread hop; the loop is paused while the call runs.
* ``hop``: the loop runs on one reused helper thread and the main thread serves the calls while
  it waits. One thread hop per call; the loop keeps running during sync calls.

Both present the same ``Bridge`` interface (``arunner.core.bridges``) to the rest of arunner.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from types import FrameType
from typing import Any, TypeVar, TypeVarTuple, cast

from arunner.core import inventory

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
