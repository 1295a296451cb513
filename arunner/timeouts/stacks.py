"""Where everything is waiting: the report a timed-out test gets.

pytest-timeout dumps threads but never asyncio tasks; a hung async test is mostly tasks.
This formats both: the test's own task, every other pending task of its loop (with the await
chain where ``asyncio.capture_call_graph`` exists, Python 3.14+), and every thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import traceback
from typing import Any

_LIMIT = 30


def _task_stack(task: asyncio.Task[Any]) -> str:
    graph = getattr(asyncio, "format_call_graph", None)
    if graph is not None:
        with contextlib.suppress(Exception):  # a report must not fail on one odd task
            return str(graph(task)).rstrip()
    frames = _await_chain(task.get_coro())
    if not frames:
        return "    (not started or finished)"
    summary = traceback.StackSummary.extract((f, f.f_lineno) for f in frames)
    return "".join(summary.format()).rstrip()


def _await_chain(awaitable: Any) -> list[Any]:
    """The frames of a suspended coroutine and of what it awaits, down to the innermost.

    ``Task.get_stack`` gives only the task's own coroutine frame: for a test awaiting a
    helper awaiting ``asyncio.sleep``, it would stop at arunner's phase, never at the line of
    the test that waits.
    """
    frames: list[Any] = []
    while awaitable is not None and len(frames) < _LIMIT:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return frames


def tasks_report(loop: asyncio.AbstractEventLoop | None, own: Any = None) -> str:
    """The pending tasks of ``loop``, the test's own first (read from another thread: a
    best-effort snapshot, which is what a hang report needs)."""
    if loop is None or loop.is_closed():
        return "No event loop."
    try:
        tasks = [task for task in list(asyncio.all_tasks(loop)) if not task.done()]
    except RuntimeError:
        return "Tasks changed while being listed."
    tasks.sort(key=lambda task: task is not own)
    parts = []
    for task in tasks:
        label = "the test's task" if task is own else "task"
        parts.append(f"--- {label} {task.get_name()} ({task.get_coro()!r}):\n{_task_stack(task)}")
    return "\n".join(parts) if parts else "No pending tasks."


def threads_report() -> str:
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame, limit=_LIMIT)).rstrip()
        parts.append(f"--- thread {names.get(ident, ident)!r}:\n{stack}")
    return "\n".join(parts)


def report(test_id: str, seconds: float, loop: Any = None, own_task: Any = None) -> str:
    return (
        f"{test_id} exceeded its {seconds:g}s timeout.\n"
        f"Tasks:\n{tasks_report(loop, own_task)}\n"
        f"Threads:\n{threads_report()}"
    )
