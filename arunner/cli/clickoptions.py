"""Click options generated from a runner class's argparse ``add_arguments``.

``manage.py test`` gets its options from ``DiscoverRunner.add_arguments(parser)``, and a
runner subclass adds its own there. Recording those calls (argparse still validates them)
and turning each into a ``click.Option`` keeps the ``arunner`` command in step with
``manage.py test`` for any runner class, with no hand-copied list of Django's options.
argparse groups become the sections of ``arunner --help``; each option's config-file key is
its long flag without the leading dashes, with underscores (``junit_xml``, ``no_faulthandler``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from arunner.core.errors import ConfigurationError
from arunner.core.optionvalues import BOOLEAN_VALUES

if TYPE_CHECKING:
    from django.test.runner import DiscoverRunner

#: Section for the options of ``DiscoverRunner`` itself, added outside any argparse group.
DJANGO_GROUP = "Django test options"

#: Stands for an argparse ``const`` of None: click would take a None ``flag_value`` as unset.
_CONST = object()


class UnsupportedOption(Exception):
    """A runner option uses an argparse feature that has no click equivalent here."""


@dataclass(frozen=True)
class Recorded:
    """One ``add_argument`` call: the action argparse made, how it was asked for, its group."""

    action: argparse.Action
    kind: Any
    group: str | None


class RecordingParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that remembers every argument added, directly or in a group."""

    def __init__(self) -> None:
        super().__init__(add_help=False)
        self.recorded: list[Recorded] = []

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.recorded.append(Recorded(action, kwargs.get("action", "store"), None))
        return action

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:
        group = super().add_argument_group(*args, **kwargs)
        self._record_into(group, group.title)
        return group

    def add_mutually_exclusive_group(self, **kwargs: Any) -> Any:
        group = super().add_mutually_exclusive_group(**kwargs)
        self._record_into(group, None)
        return group

    def _record_into(self, container: Any, title: str | None) -> None:
        add_argument = container.add_argument
        add_exclusive = container.add_mutually_exclusive_group

        def record(*args: Any, **kwargs: Any) -> argparse.Action:
            action: argparse.Action = add_argument(*args, **kwargs)
            self.recorded.append(Recorded(action, kwargs.get("action", "store"), title))
            return action

        def exclusive(**kwargs: Any) -> Any:
            group = add_exclusive(**kwargs)
            self._record_into(group, title)
            return group

        container.add_argument = record
        container.add_mutually_exclusive_group = exclusive


def record_arguments(add_arguments: Callable[[argparse.ArgumentParser], None]) -> list[Recorded]:
    parser = RecordingParser()
    add_arguments(parser)
    return parser.recorded


class ArgparseType(click.ParamType):  # type: ignore[type-arg, unused-ignore]  # generic from click 8.4; a subscript breaks click 8.1-8.3
    """Converts like argparse: ``type`` applies to strings only, then ``choices`` are checked."""

    def __init__(self, action: argparse.Action) -> None:
        self.func = action.type if callable(action.type) else None
        self.choices = action.choices
        self.const = action.const
        self.name = getattr(self.func, "__name__", "text")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is _CONST:
            return self.const
        if isinstance(value, str) and self.func is not None:
            try:
                value = self.func(value)
            except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
                self.fail(str(exc) or f"invalid {self.name} value: {value!r}", param, ctx)
        if self.choices is not None and value not in self.choices:
            choices = ", ".join(map(str, self.choices))
            self.fail(f"{value!r} is not one of {choices}", param, ctx)
        return value


class ConfigurableMixin:
    """What every parameter of the command knows: its help section and config-file key."""

    group: str
    config_key: str

    def from_config(self, value: Any) -> Any:
        """The parameter value a ``[tool.arunner]`` entry stands for."""
        return value


class RunnerOption(ConfigurableMixin, click.Option):
    def __init__(
        self, decls: Sequence[str], *, group: str, optional_value: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(list(decls), **kwargs)
        self.group = group
        #: The value may be left out (argparse ``nargs="?"``): ``true`` in the config file
        #: then means the flag alone.
        self.optional_value = optional_value
        self.config_key = max(self.opts, key=len).lstrip("-").replace("-", "_")

    def from_config(self, value: Any) -> Any:
        if self.count:
            return _require(value, int, "a number")
        if self.is_flag and not self.secondary_opts:
            on = _require(value, bool, "true or false")
            if isinstance(self.flag_value, bool):
                return self.flag_value if on else not self.flag_value
            return self.flag_value if on else self.default
        if self.multiple:
            items = [value] if isinstance(value, str) else value
            return _require(items, list, "a list")
        if value is True and self.optional_value:
            return self.flag_value
        return value


class LabelsArgument(ConfigurableMixin, click.Argument):
    group = "Command"
    config_key = "labels"

    def from_config(self, value: Any) -> Any:
        return _require([value] if isinstance(value, str) else value, list, "a list")


def _require(value: Any, kind: type, described: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"must be {described}")
    return value


def _help(action: argparse.Action) -> str | None:
    if not action.help or action.help == argparse.SUPPRESS:
        return action.help
    try:
        return action.help % {**vars(action), "prog": "arunner"}
    except (KeyError, TypeError, ValueError):
        return action.help


def to_click(recorded: Recorded, group: str) -> RunnerOption:
    """The click option that takes what the argparse action takes, under the same flags."""
    action, kind = recorded.action, recorded.kind
    if not action.option_strings:
        raise UnsupportedOption(f"positional argument {action.dest!r}")
    common: dict[str, Any] = {
        "group": group,
        "help": _help(action),
        "hidden": action.help == argparse.SUPPRESS,
        "required": action.required,
        "default": None if action.default is argparse.SUPPRESS else action.default,
    }
    flags = list(action.option_strings)
    if kind in ("store_true", "store_false", "store_const"):
        return RunnerOption(
            [*flags, action.dest],
            is_flag=True,
            flag_value=action.const,
            show_default=False,
            **common,
        )
    if kind == "count":
        return RunnerOption([*flags, action.dest], count=True, **common)
    if kind == argparse.BooleanOptionalAction:
        positive = [f for f in flags if not f.startswith("--no-")]
        pairs = [f"{f}/--no-{f[2:]}" if f.startswith("--") else f for f in positive]
        return RunnerOption([*pairs, action.dest], show_default=False, **common)
    metavar = action.metavar or (
        "[" + "|".join(map(str, action.choices)) + "]" if action.choices else action.dest.upper()
    )
    typed: dict[str, Any] = {
        "type": ArgparseType(action),
        "metavar": metavar,
        "show_default": action.default not in (None, False, argparse.SUPPRESS),
    }
    if kind == "append":
        return RunnerOption([*flags, action.dest], multiple=True, **typed, **common)
    if kind == "store" and action.nargs is None:
        return RunnerOption([*flags, action.dest], **typed, **common)
    if kind == "store" and action.nargs == "?":
        const = _CONST if action.const is None else action.const
        return RunnerOption(
            [*flags, action.dest],
            is_flag=False,
            flag_value=const,
            optional_value=True,
            **typed,
            **common,
        )
    described = kind if isinstance(kind, str) else getattr(kind, "__name__", repr(kind))
    raise UnsupportedOption(
        f"{'/'.join(flags)} uses argparse action={described!r} nargs={action.nargs!r}"
    )


def runner_options(runner_class: type[DiscoverRunner]) -> list[RunnerOption]:
    """Every option ``runner_class.add_arguments`` defines, grouped for ``--help``.

    Options added outside an argparse group are ``DiscoverRunner``'s, or the subclass's: the
    latter get a section named after the class.
    """
    from django.test.runner import DiscoverRunner

    django_dests = {r.action.dest for r in record_arguments(DiscoverRunner.add_arguments)}
    options = []
    for recorded in record_arguments(runner_class.add_arguments):
        group = recorded.group
        if group is None:
            own = recorded.action.dest in django_dests
            group = DJANGO_GROUP if own else f"{runner_class.__name__} options"
        options.append(to_click(recorded, group))
    return options


#: A negative number, which argparse takes as an option's value, not as an option.
_NEGATIVE_NUMBER = re.compile(r"-\d")


def negative_values_kept(args: Sequence[str], flags: set[str]) -> list[str]:
    """``args`` with a negative number after one of ``flags`` (options whose value may be left
    out) marked as that option's value, as argparse reads it.

    click takes a word that starts with ``-`` there as the next option, so ``--parallel -1``
    became "No such option '-1'". A leading space hides the dash from click; ``int`` and
    ``float`` ignore it.
    """
    kept = list(args)
    for index, arg in enumerate(kept):
        flag, equals, value = arg.partition("=")
        if flag not in flags:
            continue
        if equals and _NEGATIVE_NUMBER.match(value):
            kept[index] = f"{flag}= {value}"
        elif not equals and index + 1 < len(kept) and _NEGATIVE_NUMBER.match(kept[index + 1]):
            kept[index + 1] = " " + kept[index + 1]
    return kept


def source_name(ctx: click.Context, param: click.Parameter) -> str:
    """Where a parameter's value came from, as the user wrote it: flag, variable or key."""
    source = ctx.get_parameter_source(param.name or "")
    if source is ParameterSource.ENVIRONMENT:
        envvar = getattr(param, "envvar", None)
        if isinstance(envvar, str):
            return envvar
        return f"{ctx.auto_envvar_prefix}_{(param.name or '').upper()}"
    if source is ParameterSource.DEFAULT_MAP:
        return f"[tool.arunner] {getattr(param, 'config_key', param.name)}"
    return max(param.opts, key=len) if param.opts else param.human_readable_name


def usage_error(exc: click.UsageError) -> ConfigurationError:
    """click's usage error as arunner's: one line naming the flag, variable or config key the
    value came from, and a hint that says what it takes."""
    param = getattr(exc, "param", None)
    if not isinstance(exc, click.BadParameter) or param is None or exc.ctx is None:
        return ConfigurationError(exc.format_message(), hint="arunner --help lists the options")
    where = source_name(exc.ctx, param)
    message = exc.message
    if isinstance(param.type, click.types.BoolParamType):
        message = message.partition(" Recognized values")[0].rstrip(".")
        return ConfigurationError(f"{where}: {message}", hint=f"{where} takes {BOOLEAN_VALUES}")
    choices = getattr(param.type, "choices", None)
    if choices:
        hint = f"{where} takes one of {', '.join(map(str, choices))}"
    else:
        hint = f"'arunner --help' says what {max(param.opts, key=len)} takes"
    return ConfigurationError(f"{where}: {message}", hint=hint)


class SectionedCommand(click.Command):
    """A click command whose ``--help`` lists options in sections (click has no groups), and
    that reads a negative number after ``--parallel`` as argparse does."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        flags = {
            opt
            for param in self.params
            if getattr(param, "optional_value", False)
            for opt in param.opts
        }
        return super().parse_args(ctx, negative_values_kept(args, flags))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(getattr(param, "group", "Command"), []).append(record)
        for title, rows in sections.items():
            with formatter.section(title):
                formatter.write_dl(rows)
