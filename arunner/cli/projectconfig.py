"""Defaults from the project's files: ``[tool.arunner]`` in ``pyproject.toml``, ``manage.py``.

Both are read from the current directory only, the directory ``manage.py test`` runs in, so
relative paths in the config file mean what they mean on the command line. click reads no
files and ignores ``default_map`` keys it does not know; this module does both jobs: it turns
the table into a ``default_map`` keyed by parameter name and refuses unknown keys by name.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from arunner.core.errors import ConfigurationError

PYPROJECT = "pyproject.toml"
_SETTINGS_IN_MANAGE = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


@dataclass(frozen=True)
class FileConfig:
    """The ``[tool.arunner]`` table as written, keyed by long option name, dashes as underscores."""

    path: Path | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{self.path.name if self.path else PYPROJECT} [tool.arunner]"


def load(directory: Path) -> FileConfig:
    path = directory / PYPROJECT
    if not path.is_file():
        return FileConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"{path}: not valid TOML: {exc}", hint="fix the file, or move it aside"
        ) from exc
    table = data.get("tool", {}).get("arunner", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: tool.arunner must be a table, not {table!r}")
    return FileConfig(path, table)


def settings_from_manage_py(directory: Path) -> str | None:
    """The settings module a ``manage.py`` in ``directory`` sets as its default, if any."""
    manage = directory / "manage.py"
    if not manage.is_file():
        return None
    match = _SETTINGS_IN_MANAGE.search(manage.read_text(encoding="utf-8", errors="replace"))
    return match.group(1) if match else None


def default_map(
    config: FileConfig, params: Iterable[click.Parameter], strict: bool = True
) -> dict[str, Any]:
    """The table as click's ``default_map``; an unknown key is an error when ``strict``."""
    known = {p.config_key: p for p in params if getattr(p, "config_key", None)}  # type: ignore[attr-defined]  # arunner's own parameters (commandline.ConfigurableMixin)
    defaults: dict[str, Any] = {}
    for key, value in config.values.items():
        param = known.get(key)
        if param is None:
            if not strict:
                continue
            close = difflib.get_close_matches(key.replace("-", "_"), known, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else "keys are the long option names of 'arunner --help', dashes as underscores"
            )
            raise ConfigurationError(f"{config.source}: unknown key {key!r}", hint=hint)
        try:
            defaults[param.name] = param.from_config(value)  # type: ignore[attr-defined]  # one of arunner's own parameters, as above
        except ValueError as exc:
            raise ConfigurationError(f"{config.source}: {key} = {value!r}: {exc}") from exc
    return defaults
