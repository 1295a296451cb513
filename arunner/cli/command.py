"""The ``arunner`` command: ``manage.py test`` with arunner's runner, no ``manage.py`` needed.

The data path reads in one direction:

1. ``projectconfig.load``: the ``[tool.arunner]`` table of ``pyproject.toml`` in the current
   directory.
2. ``_bootstrap``: the command's own options (``--settings``, ``--pythonpath``, ...), parsed
   leniently, because the runner class, and so the rest of the options, depends on them.
3. ``_setup``: import path, settings, ``django.setup()``, the runner class.
4. ``build_command``: a click command with the runner's ``add_arguments`` options, defaults
   from ``[tool.arunner]``; it parses the command line for real and runs the tests.

Anything that stops the run before a test starts is a ``ConfigurationError`` (or click's
``UsageError``): one line and a hint on stderr, exit 2, a traceback only with ``--traceback``.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource
from django.core.management.base import CommandError

from arunner.cli import clickoptions, projectconfig
from arunner.core import options, optionvalues, termination
from arunner.core.errors import ConfigurationError, ExitCode

COMMAND_GROUP = "Command"

SETTINGS_HINT = (
    'pass --settings, set DJANGO_SETTINGS_MODULE, add settings = "..." to [tool.arunner] '
    "in pyproject.toml, or run arunner where manage.py is"
)

EPILOG = (
    "Every option can also be set in the environment as ARUNNER_<NAME> (ARUNNER_PARALLEL=4) "
    "and in pyproject.toml under [tool.arunner], keyed by its long name with underscores "
    '(junit_xml = "report.xml"). The command line wins over the environment, which wins '
    "over pyproject.toml. Exit codes: 0 passed, 1 tests failed, 2 usage or configuration "
    "error, 130 interrupted, 143 terminated (SIGTERM)."
)


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    import importlib.metadata  # here: reading the installed metadata takes a few ms a start

    import django

    try:
        own = importlib.metadata.version("arunner")
    except importlib.metadata.PackageNotFoundError:
        own = "unknown"
    click.echo(f"arunner {own}, Django {django.get_version()}")
    ctx.exit(0)


def command_options() -> list[clickoptions.RunnerOption]:
    """The options of the command itself: ``manage.py``'s, under the same names."""

    def option(*decls: str, **kwargs: Any) -> clickoptions.RunnerOption:
        return clickoptions.RunnerOption(decls, group=COMMAND_GROUP, **kwargs)

    return [
        option(
            "--settings",
            "settings",
            envvar="DJANGO_SETTINGS_MODULE",
            default=lambda: projectconfig.settings_from_manage_py(Path.cwd()),
            show_default="from DJANGO_SETTINGS_MODULE, [tool.arunner] or manage.py",
            metavar="MODULE",
            help="The settings module, e.g. myproject.settings.",
        ),
        option(
            "--pythonpath",
            "pythonpath",
            multiple=True,
            metavar="DIR",
            help="A directory to add to the import path (the current directory always is). "
            "Can be used multiple times.",
        ),
        option(
            "-v",
            "--verbosity",
            "verbosity",
            type=click.IntRange(0, 3),
            default=1,
            metavar="{0,1,2,3}",
            help="0 quiet, 1 progress, 2 a line per test, 3 everything.",
        ),
        option(
            "--noinput",
            "--no-input",
            "interactive",
            is_flag=True,
            flag_value=False,
            default=lambda: sys.stdin.isatty(),
            show_default=False,
            help="Never prompt (e.g. to delete an old test database). Default: prompt only "
            "when stdin is a terminal.",
        ),
        option(
            "--testrunner",
            "testrunner",
            metavar="CLASS",
            help="An AsyncDiscoverRunner subclass to use instead of settings.TEST_RUNNER.",
        ),
        option(
            "--traceback",
            "traceback",
            is_flag=True,
            show_default=False,
            help="Show the traceback behind a configuration error.",
        ),
        option(
            "--no-color",
            "no_color",
            is_flag=True,
            show_default=False,
            help="No colour (as does a non-empty NO_COLOR).",
        ),
        option(
            "--force-color",
            "force_color",
            is_flag=True,
            show_default=False,
            help="Colour even off a terminal (as does a non-empty FORCE_COLOR).",
        ),
        option(
            "--version",
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_print_version,
            show_default=False,
            help="Show arunner's and Django's versions and exit.",
        ),
    ]


def _bootstrap(args: Sequence[str], file_config: projectconfig.FileConfig) -> click.Context:
    """The command's own options, read before Django is set up; the rest is left alone."""
    params = [p for p in command_options() if p.name != "version"]
    boot = click.Command(
        "arunner",
        params=[*params, click.Argument(["rest"], nargs=-1)],
        add_help_option=False,
        context_settings={
            "ignore_unknown_options": True,
            "allow_extra_args": True,
            "auto_envvar_prefix": "ARUNNER",
            "default_map": projectconfig.default_map(file_config, params, strict=False),
        },
    )
    return boot.make_context("arunner", list(args))


def _import_path(directories: Sequence[str]) -> None:
    """The current directory first, as for ``manage.py``, then each ``--pythonpath``."""
    for directory in reversed([os.getcwd(), *directories]):
        path = os.path.abspath(directory)
        if path not in sys.path:
            sys.path.insert(0, path)


def _settings_error(module: str, source: str, exc: BaseException) -> ConfigurationError:
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}:{exc.lineno}:{exc.offset}"
        return ConfigurationError(
            f"{where}: SyntaxError: {exc.msg} (settings module {module!r}, {source})",
            hint="fix the syntax error",
        )
    if isinstance(exc, ModuleNotFoundError) and exc.name and module.startswith(exc.name):
        return ConfigurationError(
            f"settings module {module!r} ({source}) cannot be imported: {exc}",
            hint="run arunner in the project's directory, add it with --pythonpath, or fix "
            "the module name",
        )
    return ConfigurationError(
        f"Django setup failed with settings {module!r} ({source}): "
        f"{type(exc).__name__}: {exc}".replace("\n", " "),
        hint="--traceback shows where",
    )


_SOURCES: dict[ParameterSource | None, str] = {
    ParameterSource.COMMANDLINE: "from --settings",
    ParameterSource.ENVIRONMENT: "from DJANGO_SETTINGS_MODULE",
    ParameterSource.DEFAULT_MAP: "from pyproject.toml",
    ParameterSource.DEFAULT: "from manage.py",
}


def _setup(boot: click.Context, wants_help: bool) -> type:
    """Settings, ``django.setup()`` and the runner class; ``AsyncDiscoverRunner`` for help."""
    from arunner.runner import AsyncDiscoverRunner

    module = boot.params["settings"]
    if not module:
        if wants_help:
            return AsyncDiscoverRunner
        raise ConfigurationError("no settings module found", hint=SETTINGS_HINT)
    source = _SOURCES.get(boot.get_parameter_source("settings"), "")
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    import django
    from django.conf import settings
    from django.test.utils import get_runner

    try:
        django.setup()
    except Exception as exc:
        if wants_help:
            return AsyncDiscoverRunner
        raise _settings_error(module, source, exc) from exc
    chosen = boot.params["testrunner"]
    name = chosen or settings.TEST_RUNNER
    try:
        runner_class = get_runner(settings, chosen)
    except Exception as exc:
        raise ConfigurationError(
            f"test runner {name!r} cannot be imported: {type(exc).__name__}: {exc}",
            hint="check settings.TEST_RUNNER or --testrunner",
        ) from exc
    if isinstance(runner_class, type) and issubclass(runner_class, AsyncDiscoverRunner):
        return runner_class
    if chosen:
        raise ConfigurationError(
            f"--testrunner {name!r} is not an AsyncDiscoverRunner subclass",
            hint="subclass arunner.AsyncDiscoverRunner, or leave --testrunner out",
        )
    if not wants_help:
        click.echo(
            f"arunner: TEST_RUNNER {name!r} is not an AsyncDiscoverRunner subclass; "
            "running arunner.AsyncDiscoverRunner",
            err=True,
        )
    return AsyncDiscoverRunner


def _runner_kwargs(ctx: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """Values as ``manage.py test`` passes them: argparse's None for an unused list option."""
    kwargs = {}
    by_name = {p.name: p for p in ctx.command.params}
    for name, value in params.items():
        param = by_name[name]
        if getattr(param, "multiple", False):
            value = list(value) if value else param.default
        kwargs[name] = value
    if kwargs.get("parallel") == "auto":
        from django.test.runner import get_max_test_processes

        kwargs["parallel"] = get_max_test_processes()
    return kwargs


def _check_values_by_source(ctx: click.Context) -> None:
    """Refuse a bad value of arunner's own options naming where it came from.

    The runner checks them too, but it sees only keywords and would name the flag for a
    value that came from ``ARUNNER_...`` or ``[tool.arunner]``.
    """
    by_name = {p.name: p for p in ctx.command.params}
    for option in (*options.OPTIONS, *options.CHECKED_DJANGO_OPTIONS):
        value = ctx.params.get(option.dest)
        source = ctx.get_parameter_source(option.dest)
        if value is None or option.dest not in by_name or source is ParameterSource.DEFAULT:
            continue
        try:
            option.parse(value, clickoptions.source_name(ctx, by_name[option.dest]))
        except optionvalues.OptionError as exc:
            raise ConfigurationError(str(exc), hint=exc.hint) from None


def _run_tests(runner_class: type, labels: tuple[str, ...], **params: Any) -> int:
    ctx = click.get_current_context()
    _check_values_by_source(ctx)
    runner = runner_class(**_runner_kwargs(ctx, params))
    failures = runner.run_tests(list(labels))
    if getattr(runner, "interrupted", False):
        return ExitCode.INTERRUPTED
    return ExitCode.TESTS_FAILED if failures else ExitCode.OK


def build_command(runner_class: type, file_config: projectconfig.FileConfig) -> click.Command:
    """The full command for ``runner_class``, with ``[tool.arunner]`` as its defaults."""
    try:
        runner_params = clickoptions.runner_options(runner_class)
    except clickoptions.UnsupportedOption as exc:
        raise ConfigurationError(
            f"{runner_class.__qualname__}.add_arguments: {exc}",
            hint="use store, store_true/false/const, append, count or nargs='?' options",
        ) from exc
    params = [
        *command_options(),
        *runner_params,
        clickoptions.LabelsArgument(["labels"], nargs=-1),
    ]
    return clickoptions.SectionedCommand(
        "arunner",
        params=params,
        callback=functools.partial(_run_tests, runner_class),
        help=f"Run the tests of a Django project with {runner_class.__qualname__}. LABELS are "
        "what manage.py test takes: test modules, classes, methods or directories.",
        epilog=EPILOG,
        context_settings={
            "auto_envvar_prefix": "ARUNNER",
            "show_default": True,
            "help_option_names": ["-h", "--help"],
            "max_content_width": 100,
            "default_map": projectconfig.default_map(file_config, params),
        },
    )


def _report(exc: BaseException, show_traceback: bool) -> None:
    if show_traceback:
        traceback.print_exception(exc)
    message = exc.message if isinstance(exc, ConfigurationError) else str(exc)
    click.echo(f"arunner: error: {message}", err=True)
    hint = getattr(exc, "hint", "") or (
        "" if show_traceback else "run with --traceback to see where it was raised"
    )
    if hint:
        click.echo(f"  hint: {hint}", err=True)


def _interrupted(exc: BaseException) -> int:
    """Ctrl-C or SIGTERM before the tests (settings, Django's set-up): say so; no test ran.
    Once the tests are under way, the runner says what ran and exits itself."""
    stopped = exc.__context__ if isinstance(exc, click.Abort) else exc
    termination.report(stopped, sys.stderr, "0 passed, 0 failed, 0 skipped")
    return termination.exit_code(stopped)


def run(args: Sequence[str]) -> int:
    """Run the command with ``args``; the exit code (``ExitCode``)."""
    args = list(args)
    wants_help = any(a in ("-h", "--help", "--version") for a in args)  # work without settings
    show_traceback = "--traceback" in args
    with termination.stopper(sys.stderr):
        return _run(args, wants_help, show_traceback)


def _run(args: list[str], wants_help: bool, show_traceback: bool) -> int:
    try:
        file_config = projectconfig.load(Path.cwd())
        boot = _bootstrap(args, file_config)
        show_traceback = bool(boot.params["traceback"])
        _import_path(boot.params["pythonpath"])
        runner_class = _setup(boot, wants_help)
        command = build_command(runner_class, file_config)
        return int(command.main(args, prog_name="arunner", standalone_mode=False))
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        _report(clickoptions.usage_error(exc), show_traceback)
        return ExitCode.USAGE_ERROR
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE_ERROR
    except (click.Abort, KeyboardInterrupt) as exc:
        return _interrupted(exc)
    except CommandError as exc:
        _report(exc, show_traceback)
        return ExitCode.USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(sys.argv[1:] if argv is None else argv))
