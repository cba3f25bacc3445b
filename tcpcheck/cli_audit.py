"""`tcpcheck replay CAPTURE --all`: every connection of a capture, a row each, summary first.

Called by the replay command (tcpcheck/cli_conform.py) when --all is given; tcpcheck.audit does
the work, this prints it: the summary and the rows as text, or JSON lines (a row per
connection, then the summary), the ladders of rejected connections with --draw, a progress
bar on a terminal (rich, on stderr). Exit status as `replay` of a directory: 0 every
connection accepted, 1 one rejected, 2 the file is damaged part way (the rows before the
damage are printed), 3 a signal or --max-memory stopped it (the summary of what was decided
is printed).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .audit import Auditor, json_lines, row_lines, run_audit, summary_lines
from .cli_io import fail_input, save_drawing
from .diagnostics import TcpcheckError, render_all
from .verdicts import exit_status


def _drawer(directory: Path):
    """Draws a rejected connection's ladder into `directory` as conn-N.svg (or .dot without
    Graphviz): the capture beside the nearest run of the model."""
    from .replay_report import replay_dot   # deferred: ladders pull in graphviz and networkx

    directory.mkdir(parents=True, exist_ok=True)

    def draw(number: int, r) -> str | None:
        source = replay_dot(r)
        if source is None:
            return None
        written = save_drawing(source, directory / f"conn-{number}.svg")
        return str(written.image_path or written.dot_path)
    return draw


class _Progress:
    """A progress bar on stderr while a long capture is read (rich; only on a terminal): the
    bytes of the file read, the frames, the connections decided and those open."""

    def __init__(self, target: Path):
        from rich.console import Console   # deferred: only a terminal shows it
        from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TransferSpeedColumn)

        self.bar = Progress(TextColumn("[bold]replay --all"), BarColumn(),
                            TextColumn("{task.percentage:>3.0f}%"), TransferSpeedColumn(),
                            TimeElapsedColumn(), TextColumn("{task.fields[counts]}"),
                            console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task("read", total=target.stat().st_size or None,
                                      counts="")

    def __enter__(self) -> _Progress:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def __call__(self, frames: int, decided: int, still_open: int, position: int) -> None:
        self.bar.update(self.task, completed=position,
                        counts=f"{frames:,} frames, {decided:,} connections decided, "
                               f"{still_open:,} open")


def audit_command(model: Path, target: Path, params: list[str], side: str | None,
                  prefix: bool, draw: Path | None, limits, as_json: bool) -> None:
    """Run the audit and exit with its status (--time-limit, --max-memory and the signals
    stop it with the rows decided so far). `limits` is the command's ReplayLimits: --delay,
    the deadline, --max-states for each connection's search."""
    deadline = limits.deadline
    try:
        auditor = Auditor(model, params, side=side, prefix=prefix, deadline=deadline,
                          on_rejected=_drawer(draw) if draw is not None else None,
                          delay=limits.delay, max_nodes=limits.max_nodes)
        if sys.stderr.isatty() and target.is_file():
            with _Progress(target) as progress:
                audit = run_audit(target, auditor, progress)
        else:
            audit = run_audit(target, auditor)
    except TcpcheckError as err:
        fail_input(err, as_json)
    if as_json:
        click.echo("\n".join(json_lines(audit)))
    else:
        click.echo("\n".join(summary_lines(audit) + [""] + row_lines(audit)))
    if audit.error is not None:
        click.echo(render_all(audit.error.diagnostics, {}), err=True)
        click.echo(f"tcpcheck: the rows above are the {len(audit.rows)} connections read "
                   "before the damage", err=True)
    if audit.stopped is not None:
        click.echo(f"tcpcheck: replay --all stopped ({audit.stopped}) after {audit.frames:,} "
                   f"frames and {len(audit.rows)} connections; {audit.undecided} not decided",
                   err=True)
    sys.exit(exit_status(audit.verdicts, interrupted=audit.stopped is not None))
