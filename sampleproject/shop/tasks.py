"""Fire-and-forget background work."""

import asyncio

from .models import Event

AUDIT_DELAY = 0.05

# Keep references so running tasks are not garbage-collected (see asyncio.create_task docs).
_background_tasks = set()


async def write_audit(kind):
    await asyncio.sleep(AUDIT_DELAY)
    return await Event.objects.acreate(kind=kind)


def spawn_audit(kind):
    """Record an audit event in the background; the caller does not wait for it."""
    task = asyncio.create_task(write_audit(kind))
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)
    return task
