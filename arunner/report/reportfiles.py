"""Report files (``--junit-xml``, ``--durations-file``, the last-failed record): checked before
the run, written whole, with the permissions a new file gets.

A path mistake must not cost a whole run: ``check`` tries the path before any database is made
(creating a missing directory, as pytest does) and names the path as the user gave it. A
report is written to a temporary file renamed over the target, so a reader never sees half of
one; the temporary file is created with mode 0666 for the umask to narrow (``mkstemp`` would
make it 0600, unreadable by a CI artifact uploader running as another user).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from arunner.core.errors import ConfigurationError

_NEW_FILE_MODE = 0o666
_ATTEMPTS = 100


def check(given: str, flag: str) -> Path | None:
    """Refuse a report path that cannot be written; the directory made for it, if one was."""
    path = Path(given)
    directory = path.parent
    created = None
    for ancestor in reversed(path.parents):
        if ancestor.exists() and not ancestor.is_dir():
            raise ConfigurationError(
                f"{flag} {given}: {ancestor} is a file, not a directory",
                hint=f"give {flag} a path in a directory you can write to",
            )
    if not directory.is_dir():
        created = _missing_ancestor(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"{flag} {given}: cannot create the directory {directory}: {_reason(exc)}",
                hint=f"give {flag} a path in a directory you can write to",
            ) from None
    if path.is_dir():
        raise ConfigurationError(
            f"{flag} {given}: is a directory", hint=f"give {flag} a file name, e.g. {path}/report"
        )
    try:
        temporary = _create_temporary(path)
    except OSError as exc:
        raise ConfigurationError(
            f"{flag} {given}: cannot be written: {_reason(exc)}",
            hint=f"give {flag} a path in a directory you can write to",
        ) from None
    os.close(temporary[0])
    temporary[1].unlink()
    return created


def write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step; an ``OSError`` names ``path`` itself."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = _create_temporary(path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file beside ``path``, opened for writing, mode 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        with contextlib.suppress(FileExistsError):
            return os.open(temporary, flags, _NEW_FILE_MODE), temporary
    raise FileExistsError(f"no free temporary name beside {path}")


def _missing_ancestor(directory: Path) -> Path:
    """The outermost directory of ``directory``'s path that does not exist yet."""
    missing = directory
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    return missing


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
