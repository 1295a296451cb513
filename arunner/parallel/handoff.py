"""The files a ``--parallel`` worker leaves for the parent, beside Django's results.

Two kinds, in a directory the parent makes for the run: each worker's stream of test events
(a file per worker, length-prefixed pickled records, appended as each test ends, so a worker
killed mid-write leaves an incomplete record that is never read), and notes of batches whose
worker was lost (each written whole, then renamed into place).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__unittest = True

#: Bytes of the big-endian length before each pickled record of an events file.
RECORD_LENGTH = 8


@dataclasses.dataclass(frozen=True)
class Note:
    """What the parent learns about a batch whose worker was lost.

    ``test_id`` is the test the watchdog could not stop, ``None`` when the worker died on its
    own; ``events`` are the batch's result events up to that test.
    """

    batch: int
    test_id: str | None
    report: str
    events: list[tuple[Any, ...]]

    def write(self, directory: str) -> None:
        path = Path(directory) / uuid.uuid4().hex
        path.with_suffix(".tmp").write_bytes(pickle.dumps(self))
        os.replace(path.with_suffix(".tmp"), path.with_suffix(".note"))


def read_notes(directory: str, seen: set[str]) -> Iterator[Note]:
    for path in sorted(Path(directory).glob("*.note")):
        if path.name not in seen:
            seen.add(path.name)
            yield pickle.loads(path.read_bytes())


def read_records(path: Path, offset: int) -> tuple[list[Any], int]:
    """The complete records of a worker's events file from ``offset``, and where they end."""
    with open(path, "rb") as stream:
        stream.seek(offset)
        data = stream.read()
    records, position = [], 0
    while len(data) - position >= RECORD_LENGTH:
        size = int.from_bytes(data[position : position + RECORD_LENGTH], "big")
        end = position + RECORD_LENGTH + size
        if end > len(data):
            break
        records.append(pickle.loads(data[position + RECORD_LENGTH : end]))
        position = end
    return records, offset + position


class _EventsFile:
    """This worker's events file, opened once for appending: each test would otherwise open
    and close it again. One worker writes one file (its name has the pid); the descriptor
    closes when the worker exits, and the file goes with the parent's directory."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.fd = -1

    def append(self, path: Path, data: bytes) -> None:
        if path != self.path:
            self.close()
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self.path = path
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def close(self) -> None:
        if self.path is not None:
            os.close(self.fd)
            self.path, self.fd = None, -1


events_file = _EventsFile()


class EventStream(list[Any]):
    """A batch's result events, which reach the parent through this worker's file each time
    a test ends. Pickled (as Django returns them at the end of the batch, or in a note), it
    is a plain list of the events not sent yet: the parent reads the file first, so each
    event crosses once."""

    def __init__(self, path: Path, batch: int) -> None:
        super().__init__()
        self._path = path
        self._batch = batch
        self._sent = 0
        self._test_open = False

    def append(self, event: tuple[Any, ...]) -> None:
        super().append(event)
        if event[0] == "startTest":
            self._test_open = True
        elif event[0] == "stopTest":
            self._test_open = False
        if not self._test_open:
            self._send()

    def _send(self) -> None:
        payload = pickle.dumps((self._batch, self[self._sent :]))
        self._sent = len(self)
        events_file.append(self._path, len(payload).to_bytes(RECORD_LENGTH, "big") + payload)

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (self[self._sent :],)
