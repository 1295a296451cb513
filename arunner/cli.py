"""The ``arunner`` command: ``manage.py test`` with arunner's runner, no ``manage.py`` needed."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

_SETTINGS_IN_MANAGE = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


def _settings_from_manage_py(directory: Path) -> str | None:
    manage = directory / "manage.py"
    if not manage.is_file():
        return None
    match = _SETTINGS_IN_MANAGE.search(manage.read_text(encoding="utf-8"))
    return match.group(1) if match else None


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, os.getcwd())
    if not any(a == "--settings" or a.startswith("--settings=") for a in args):
        found = _settings_from_manage_py(Path.cwd())
        if found and "DJANGO_SETTINGS_MODULE" not in os.environ:
            os.environ["DJANGO_SETTINGS_MODULE"] = found
    from django.core.management import execute_from_command_line

    if not any(a == "--testrunner" or a.startswith("--testrunner=") for a in args):
        args = ["--testrunner", _runner_path(args), *args]
    execute_from_command_line(["arunner", "test", *args])


def _runner_path(args: list[str]) -> str:
    """settings.TEST_RUNNER when it is an AsyncDiscoverRunner subclass, else ours."""
    import django
    from django.conf import settings
    from django.test.utils import get_runner

    from .runner import AsyncDiscoverRunner

    for i, arg in enumerate(args):
        if arg == "--settings" and i + 1 < len(args):
            os.environ["DJANGO_SETTINGS_MODULE"] = args[i + 1]
        elif arg.startswith("--settings="):
            os.environ["DJANGO_SETTINGS_MODULE"] = arg.split("=", 1)[1]
    django.setup()
    runner = get_runner(settings)
    if isinstance(runner, type) and issubclass(runner, AsyncDiscoverRunner):
        return settings.TEST_RUNNER
    return "arunner.AsyncDiscoverRunner"
