"""``sync_to_async`` calls that the inline executor serves, without asgiref's trip to a thread.

With ``--executor inline``, each thread-sensitive call of a test runs in place, on the loop's
thread. asgiref's ``SyncToAsync.__call__`` still prepares it for another thread: it submits a
job, shields the future it gets back, and copies every context variable into the job and
back out again, re-homing asgiref ``Local`` storage to the worker thread on each crossing.
For a call that never leaves the thread, that work changes nothing, yet it costs more than
the Python side of a small ORM query (design notes, section 2b: the per-call cost decides
the speed of a coroutine test).

During a run with the inline executor, ``SyncToAsync.__call__`` is replaced by one that
serves exactly the calls asgiref would send to that executor and hands every other
call (other executors, other threads' loops, ``thread_sensitive=False``, an explicit
``context=``) to asgiref's own code. What a call sees is what asgiref gives it: a copy of
the caller's context whose changes are copied back afterwards, the caller's loop noted for a
nested ``async_to_sync``, the exception being handled, and any ``thread_handler`` a subclass
adds.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Coroutine
from types import MethodType
from typing import Any

from asgiref.sync import SyncToAsync

from . import inventory
from .loop import SERVED, InlineExecutor

_MISSING = object()

AsyncCall = Callable[..., Coroutine[Any, Any, Any]]


def serving(fallback: AsyncCall) -> AsyncCall:
    """A ``SyncToAsync.__call__`` that serves the inline executor's calls in place and sends
    every other call to ``fallback``, the ``__call__`` it replaces.

    A call is served when asgiref would send it to an inline executor: thread-sensitive, in
    the caller's context, from inside the ``ThreadSensitiveContext`` of an inline loop
    (``loop.SERVED``), with no sync caller further up the stack. An exited context is no
    longer listed, so asgiref's own refusal of it applies.
    """

    async def call(wrapper: Any, /, *args: Any, **kwargs: Any) -> Any:
        # A keyword named ``self`` fails in asgiref's ``__call__``; it must fail here too.
        if "self" not in kwargs:
            executor = inventory.served_executor(wrapper, SERVED)
            if executor is not None:
                return _serve(executor, wrapper, args, kwargs)
        return await fallback(wrapper, *args, **kwargs)

    return call


def _serve(executor: InlineExecutor, wrapper: Any, args: Any, kwargs: Any) -> Any:
    """One call, as asgiref's worker would make it, on this thread.

    Kept to one frame and a few C calls: each ``a*`` ORM call of a test comes through here.
    Contexts are compared in C, at once when they share one mapping (most calls change no
    variable); a value that refuses comparison counts as a change.
    """
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    try:
        clean = context == executor.clean
    except Exception:
        clean = False
    if not clean:
        foreign = inventory.foreign_local_storage(context)
        if foreign:
            context.run(_rehome, foreign)
        else:
            executor.clean = context.copy()
    try:
        if type(wrapper) is SyncToAsync or inventory.plain_thread_handler(wrapper):
            # asgiref's own handler, less the re-raise of the exception being handled: the
            # call runs inside the caller's frames here, so it sees that exception anyway.
            inventory.note_caller_loop(loop)
            return executor.call_detached(loop, context.run, wrapper.func, *args, **kwargs)
        child = functools.partial(wrapper.func, *args, **kwargs)
        return executor.call_detached(
            loop, inventory.run_thread_handler, wrapper, loop, context.run, child
        )
    finally:
        try:
            unchanged = context == contextvars.copy_context()
        except Exception:
            unchanged = False
        if not unchanged:
            _copy_back(context)
        # Only asgiref's own single-thread path sets it; writing it when it is not set would
        # give the caller's context a new mapping, and the next call's comparisons a slow path.
        if wrapper.deadlock_context.get(False):
            inventory.end_thread_sensitive_call(wrapper)


def _rehome(foreign: list[tuple[Any, Any]]) -> None:
    for var, storage in foreign:
        inventory.rehome_local_storage(var, storage)


def _copy_back(context: contextvars.Context) -> None:
    """Carry the call's context changes into the caller's, as asgiref does after each call.

    Unlike asgiref, this does not re-home ``Local`` storage to the thread: the call ran on
    the caller's own thread, so the storage it set already belongs there.
    """
    for var, value in context.items():
        if var.get(_MISSING) is not value:
            var.set(value)


def constructing(original: Callable[..., None]) -> Callable[..., None]:
    """A ``SyncToAsync.__init__`` that builds the wrapper of a bound method from what
    ``original`` built for another bound method of the same function.

    Every ``a*`` ORM call wraps a fresh bound method (``sync_to_async(self.count)``), and
    asgiref's checks and ``functools.update_wrapper`` cost as much as serving the call. What
    they produce depends only on the function, apart from ``inventory.PER_CALLABLE``: on the
    attributes ``update_wrapper`` copies from it, which are compared at each call. Subclasses
    (their ``__init__`` may keep state of its own), any other callable or arguments, and a
    function whose copied attributes changed go to ``original``.
    """
    known: dict[Any, tuple[dict[str, Any], Any] | None] = {}

    def __init__(
        self: Any,
        func: Any,
        thread_sensitive: bool = True,
        executor: Any = None,
        context: Any = None,
    ) -> None:
        if (
            type(func) is not MethodType
            or type(self) is not SyncToAsync
            or not (thread_sensitive is True and executor is None and context is None)
        ):
            original(self, func, thread_sensitive, executor, context)
            return
        function = func.__func__
        sources = inventory.update_wrapper_sources(function)
        entry = known.get(function, _MISSING)
        if entry is None or sources is None:  # the state may depend on more than the function
            original(self, func)
            return
        if entry is _MISSING or entry[1] != sources:  # type: ignore[index]
            original(self, func)
            state = inventory.function_state(self, func)
            known[function] = None if state is None else (state, (sources[0], dict(sources[1])))
            return
        attributes = vars(self)
        attributes.update(entry[0])  # type: ignore[index]
        attributes["func"] = attributes["__wrapped__"] = func
        attributes["__self__"] = func.__self__

    return __init__


class Installed:
    """The serving ``SyncToAsync.__call__`` and the constructor above in place until
    ``undo``, which puts back what they replaced (asgiref's, or a wrapper another library
    installed)."""

    def __init__(self) -> None:
        self.replaced = inventory.sync_to_async_call()
        self.replaced_init = inventory.sync_to_async_init()
        inventory.set_sync_to_async_call(serving(self.replaced))
        inventory.set_sync_to_async_init(constructing(self.replaced_init))

    def undo(self) -> None:
        inventory.set_sync_to_async_init(self.replaced_init)
        inventory.set_sync_to_async_call(self.replaced)
