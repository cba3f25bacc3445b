"""`tcpcheck fmt FILE...`: rewrite models (.tcpm) and specs (.spec) in the canonical layout
(tcpcheck.layout); a directory stands for the models and specs under it.

`--check` writes nothing: it names the files that would change and exits 1 if there are any
(for CI). A file that does not parse is reported located, as `check` reports it, and the
command exits 2 after doing the others. Registered on the main group by one `add_command` in
tcpcheck/cli.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .diagnostics import Diagnostic, TcpcheckError, render_all
from .layout import format_file
from .verdicts import ExitStatus

SUFFIXES = (".tcpm", ".spec")


def _files(paths: tuple[Path, ...]) -> list[Path]:
    """The files named, a directory's models and specs (sorted) in its place."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file())
        else:
            found.append(p)
    return found


@click.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; list the files that are not formatted and exit 1 if any.")
def fmt_command(paths: tuple[Path, ...], check_only: bool) -> None:
    """Lay out models (.tcpm) and specs (.spec) canonically, comments kept.

    \b
    Examples:
      tcpcheck fmt models/teardown.tcpm
      tcpcheck fmt --check models specs    # in CI: exit 1 if a file would change
    """
    from .render import write_whole  # deferred: render loads graphviz, every command's start-up

    unformatted: list[Path] = []
    errors: list[Diagnostic] = []
    sources: dict[str, str] = {}
    for path in _files(paths):
        try:
            text, formatted = format_file(path)
        except TcpcheckError as err:
            errors += err.diagnostics
            try:
                sources[str(path)] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                pass
            continue
        if formatted == text:
            continue
        unformatted.append(path)
        if not check_only:
            write_whole(path, formatted.encode("utf-8"))
    for path in unformatted:
        click.echo(f"{'would reformat' if check_only else 'reformatted'} {path}")
    if errors:
        click.echo(render_all(errors, sources), err=True)
        sys.exit(ExitStatus.BAD_INPUT)
    if check_only and unformatted:
        sys.exit(ExitStatus.VIOLATED)
