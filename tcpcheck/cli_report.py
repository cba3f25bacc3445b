"""`tcpcheck report`: `check`, the endpoint diagram and the behaviour map written as one
self-contained HTML page (tcpcheck.report makes the page; this module runs the phases under
the command's limits and says what a limit cut)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import load
from .cli_io import (command_deadline, default_model, fail_input, max_states_option,
                     memory_option, time_limit_option)
from .diagnostics import TcpcheckError
from .explore import Deadline, LimitReached, StopReason, explore
from .verdicts import ExitStatus, exit_status


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The page to write (.html).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Fix a model parameter (repeatable), for the specs and for the model's own "
                   "sections, as with check.")
@max_states_option()
@time_limit_option()
@memory_option
def report(files, output, params, max_states, time_limit, max_memory):
    """Write an HTML report: verdicts, runs as ladders, the endpoint diagram, the map.

    FILES are a model (.tcpm, at most one) and spec files (default: specs/*.spec, each
    against the model it names), as for `check`. The page is one file with its CSS and
    diagrams (inline SVG) inside: no script, no network; it reads at laptop width and prints.

    \b
    Example:
      tcpcheck report specs/teardown.spec -o out/report.html

    Exit status: as `check`: 0 every property holds, 1 one is violated or in error, 2 bad
    input, 3 a limit or a signal cut something short (the page says what).
    """
    from .report import report_html  # deferred: report loads z3 and graphviz
    from .render import write_whole
    from .verify import DEFAULT_SPEC_DIR, check_model, group_by_model, merge_params, spec_files

    if output.suffix.lower() not in (".html", ".htm"):
        raise click.BadParameter(f"'{output}' must end in .html", param_hint="-o/--output")
    deadline = command_deadline(time_limit, max_memory)
    results = []
    try:
        specs, model_arg = spec_files(list(files), DEFAULT_SPEC_DIR)
        groups = group_by_model(specs, model_arg, default_model(), list(params))
        for (model_path, spec_params), group in groups.items():
            if deadline.expired():
                break
            results.append(check_model(model_path, group, merge_params(spec_params, list(params)),
                                       max_states, None, deadline=deadline))
        overview = _overview(model_arg or default_model(), list(params), max_states, deadline)
    except TcpcheckError as err:
        fail_input(err, False)
    cut = [] if len(results) == len(groups) else [
        f"{len(groups) - len(results)} of {len(groups)} model configurations not checked "
        f"({deadline.reason})"]
    if overview is None:
        cut.append(f"the model's own exploration was not made ({deadline.reason})")
    elif not overview.exploration.complete:
        cut.append(f"the model's own exploration is partial ({overview.exploration.stop_reason})")
    cut_short = "Partial: " + "; ".join(cut) + "." if cut else None
    drawing_stop = None
    try:
        page = report_html(results, overview, cut_short, deadline)
    except LimitReached as stop:
        drawing_stop = stop.reason
        page = report_html(results, overview, cut_short, deadline,
                           not_drawn=f"the drawings stopped ({stop.reason})")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_whole(output, page.encode("utf-8"))
    except OSError as err:
        click.echo(f"tcpcheck: cannot write {output}: {err.strerror or err}", err=True)
        sys.exit(ExitStatus.BAD_INPUT)
    for line in cut + ([f"drawings stopped ({drawing_stop})"] if drawing_stop else []):
        click.echo(f"tcpcheck: {line}", err=True)
    verdicts = [v.verdict for r in results for v in r.verdicts]
    click.echo(f"wrote {output}: {len(verdicts)} properties")
    model_error = any(r.exploration.stop_reason is StopReason.MODEL_ERROR for r in results)
    sys.exit(exit_status(verdicts, model_error=model_error,
                         partial=bool(cut) or drawing_stop is not None,
                         interrupted=deadline.signal is not None))


def _overview(model: Path, params: list[str], max_states: int | None, deadline: Deadline):
    """The model at its own parameters: its exploration and behaviour map (None when the
    deadline passed first). The map needs every run: a partial search maps nothing."""
    from .behaviour import map_rows  # deferred: behaviour loads z3
    from .report import Overview

    if deadline.expired():
        return None
    ex = explore(load(model, params), max_states=max_states, deadline=deadline)
    if not ex.complete:
        return Overview(ex, (), str(ex.stop_reason))
    rows = []
    try:
        for row in map_rows(ex, deadline):
            rows.append(row)
    except LimitReached as stop:
        return Overview(ex, tuple(rows), str(stop.reason))
    return Overview(ex, tuple(rows))
