"""``arunner-merge``: one report from the shards' report files, for a final CI job.

    arunner-merge junit OUT IN...                 # JUnit XML files (report.junitmerge)
    arunner-merge durations [--base OLD] OUT IN... # --durations-file files (report.durations)

A command of its own, not ``arunner merge``: ``arunner`` takes test labels as its positional
arguments, and ``merge`` is a valid label. ``python -m arunner.cli.merge`` runs it too. OUT may
be one of the inputs; every input is read before OUT is written (whole, as the runner writes
its reports). An input that cannot be merged stops the command with one line on stderr and
exit code 2, as the runner's configuration errors do; nothing is written then.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click

from arunner.core.errors import ExitCode
from arunner.report import durations, junitmerge, reportfiles

PROG = "arunner-merge"


class _Refused(click.ClickException):
    """One line on stderr, exit 2, no traceback."""

    exit_code = ExitCode.USAGE_ERROR

    def show(self, file: object = None) -> None:
        click.echo(f"{PROG}: error: {self.message}", err=True)


def _write(path: str, data: bytes) -> None:
    try:
        reportfiles.write(Path(path), data)
    except OSError as exc:
        raise _Refused(f"cannot write {path}: {exc.strerror or exc}") from None


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def command() -> None:
    """Merge the report files of a suite's shards into one (see each subcommand's --help).
    Exit codes: 0 merged, 2 an input or OUT refused (one line on stderr says why)."""


@command.command(name="junit")
@click.argument("out", metavar="OUT")
@click.argument("inputs", metavar="IN...", nargs=-1, required=True)
def junit(out: str, inputs: tuple[str, ...]) -> None:
    """Merge JUnit XML files (--junit-xml of each shard) into OUT.

    Suites of the same name become one, every testcase is kept once (of a testcase in
    several inputs, the copy with the worst outcome), counts are counted again and times
    summed. All inputs must be one --junit-family; OUT is written in it.
    """
    try:
        merged = junitmerge.merge([junitmerge.read(path) for path in inputs])
    except junitmerge.MergeError as exc:
        raise _Refused(str(exc)) from None
    _write(out, merged.to_bytes())
    counts = merged.counts()
    note = f", {merged.dropped} duplicate testcases dropped" if merged.dropped else ""
    click.echo(
        f"{PROG}: {out}: {merged.inputs} files, {counts['tests']} tests, "
        f"{counts['failures']} failures, {counts['errors']} errors, {counts['time']}s "
        f"({merged.family}{note})"
    )


def _read_durations(path: str) -> dict[str, float]:
    try:
        return durations.read(Path(path))
    except OSError as exc:
        raise _Refused(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _Refused(f"{path}: {exc}") from None


@command.command(name="durations", short_help="Merge --durations-file files into OUT.")
@click.option(
    "--base",
    metavar="FILE",
    help="The durations file the shards started from (the CI cache): a time equal to its "
    "own is one a shard kept, not one it measured, and gives way to a measured one.",
)
@click.argument("out", metavar="OUT")
@click.argument("inputs", metavar="IN...", nargs=-1, required=True)
def durations_command(out: str, inputs: tuple[str, ...], base: str | None) -> None:
    """Merge --durations-file files into OUT: every test's time, the measured one where the
    inputs differ (with --base), else the later input's."""
    base_times = _read_durations(base) if base else None
    merged = durations.merge([_read_durations(path) for path in inputs], base_times)
    _write(out, durations.encode(merged))
    click.echo(f"{PROG}: {out}: {len(inputs)} files, {len(merged)} tests")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else list(argv)
    sys.exit(command.main(args, prog_name=PROG, standalone_mode=True))


if __name__ == "__main__":
    main()
