"""The `tcpcheck` command line: thin over the library.

Exit status (other tools rely on it): 0 all good; 1 a property is violated or the model
failed while exploring; 2 bad input (syntax, type, missing file, bad option); 3 inconclusive
(a limit stopped the search).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import DEFAULT_MODEL, __version__
from .diagnostics import Diagnostic, TcpcheckError, render, render_all

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3


def default_model() -> Path:
    local = Path("models/teardown.tcpm")
    return local if local.exists() else DEFAULT_MODEL


def _emit_json(doc: dict) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=False))


def _fail_input(err: TcpcheckError, as_json: bool) -> None:
    sources = {}
    for d in err.diagnostics:
        if d.span is not None and d.span.file not in sources:
            try:
                sources[d.span.file] = Path(d.span.file).read_text(encoding="utf-8")
            except OSError:
                pass
    click.echo(render_all(err.diagnostics, sources), err=True)
    if as_json:
        _emit_json({"error": "bad input", "diagnostics": [d.as_json() for d in err.diagnostics]})
    sys.exit(EXIT_BAD_INPUT)


def _progress_reporter(enabled: bool):
    """A rich progress display on a terminal; None when output is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(SpinnerColumn(), TextColumn("exploring: {task.fields[found]:,} states, "
                                                    "{task.fields[done]:,} expanded, "
                                                    "{task.fields[edges]:,} edges"),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = progress.add_task("explore", total=None, found=0, done=0, edges=0)

    def report(done: int, found: int, edges: int) -> None:
        progress.update(task, found=found, done=done, edges=edges)
    return progress, report


# ---------------------------------------------------------------- shared options

def _explore_options(f):
    # applied bottom-up, so --help lists them top-down in this order: param, limits, progress
    f = click.option("--no-progress", is_flag=True,
                     help="Do not show the progress display (it only appears on a terminal).")(f)
    f = click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
                     metavar="SECONDS", help="Stop after this many seconds (partial result, exit 3).")(f)
    f = click.option("--max-states", type=click.IntRange(min=1), default=None, metavar="N",
                     help="Stop after this many states (the result is then partial, exit 3).")(f)
    f = click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Fix a model parameter instead of trying all its values "
                          "(repeatable), e.g. --param delayed_ack=true.")(f)
    return f


def _model_argument(f):
    return click.argument("model", required=False, type=click.Path(dir_okay=True, path_type=Path))(f)


def _explore(model: Path | None, params, max_states, time_limit, no_progress, as_json):
    """Load and explore; exits 2 with diagnostics on bad input."""
    from . import load
    from .explore import explore

    path = model or default_model()
    try:
        ts = load(path, list(params))
    except TcpcheckError as err:
        _fail_input(err, as_json)
    progress, report = _progress_reporter(not no_progress)
    if progress is not None:
        with progress:
            ex = explore(ts, max_states=max_states, time_limit=time_limit, progress=report)
    else:
        ex = explore(ts, max_states=max_states, time_limit=time_limit)
    return path, ts, ex


def _model_error(ex) -> tuple[Diagnostic, list[str]]:
    """The exploration error as a diagnostic plus the run that leads to it."""
    from .trace import run_lines

    err = ex.error
    steps = run_lines(ex, ex.path_to(ex.error_state))
    if err.variant >= 0:
        steps.append(f"then {ex.system.variants[err.variant].label} fails")
    return Diagnostic(err.code, err.message, err.span,
                      ("reached by the run:",) + tuple(steps)), steps


def _exit_for(ex) -> int:
    if ex.stop_reason == "model-error":
        return EXIT_VIOLATED
    return EXIT_OK if ex.complete else EXIT_INCONCLUSIVE


# ---------------------------------------------------------------- commands

@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tcpcheck")
def main():
    """tcpcheck: a model checker for TCP connection teardown.

    Write a model of two TCP endpoints (see models/teardown.tcpm), explore every state the
    pair can reach, and draw the state graph. Without a MODEL argument every command uses
    the default model, models/teardown.tcpm.

    \b
    Examples:
      tcpcheck explore                          # statistics of the default model
      tcpcheck explore --param delayed_ack=false --json
      tcpcheck graph --view endpoint -o out/endpoint.svg
      tcpcheck graph models/teardown.tcpm -o out/joint.svg

    Exit status: 0 fine, 1 the model failed while exploring, 2 bad input, 3 a limit was
    hit (partial result).
    """


@main.command()
@_model_argument
@_explore_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--with-graph", is_flag=True,
              help="With --json: include every state and edge (node-link form).")
@click.option("--no-timing", is_flag=True,
              help="Report seconds as null, so that the output is byte-identical between runs.")
def explore(model, params, max_states, time_limit, no_progress, as_json, with_graph, no_timing):
    """Explore every reachable joint state of MODEL and print statistics.

    Exploration is breadth-first from one initial state per combination of the model's
    parameters (or the values fixed with --param). States are numbered in the order they are
    found, so the numbering is the same on every run.
    """
    path, ts, ex = _explore(model, params, max_states, time_limit, no_progress, as_json)
    stats = ex.stats()
    if no_timing:
        stats["seconds"] = None
    regions = _regions(ex)
    doc = {"model": ts.model.name, "file": str(path), **stats,
           "state_bits": ts.state_bits,
           "transitions": sum(len(ts.model.endpoint(i.endpoint).transitions)
                              for i in ts.model.instances),
           "parameter_combinations": regions}
    if ex.stop_reason == "model-error":
        diag, steps = _model_error(ex)
        doc["error"] = {**diag.as_json(), "run": steps}
        click.echo(render(diag, {ts.model.path: ts.model.text}), err=True)
    if as_json:
        if with_graph:
            doc["graph"] = _node_link(ex)
        _emit_json(doc)
    else:
        _print_stats(doc, ex)
    sys.exit(_exit_for(ex))


def _regions(ex) -> list[dict]:
    from .graph import region_of

    region = region_of(ex)
    counts = [0] * len(ex.initial)
    terminal = [0] * len(ex.initial)
    for r in region:
        counts[r] += 1
    for sid in ex.deadlocks:
        terminal[region[sid]] += 1
    out = []
    for k, params in enumerate(ex.system.initial_params):
        shown = {n: _param_json(ex.system, n, v) for n, v in params.items()}
        out.append({"params": shown, "states": counts[k], "terminal_states": terminal[k]})
    return out


def _param_json(ts, name, value):
    slot = ts.slots[ts.slot_index(name)]
    if slot.type is not None and slot.type.kind == "bool":
        return bool(value)
    if slot.type is not None and slot.type.kind == "enum":
        return ts.model.enum_values(slot.type.enum)[value]
    return value


def _node_link(ex) -> dict:
    from .graph import joint_graph

    G = joint_graph(ex)
    nodes = [{"id": n, **{k: d[k] for k in ("initial", "terminal", "depth", "state")}}
             for n, d in G.nodes(data=True)]
    edges = [{"source": a, "target": b, **d} for a, b, _k, d in G.edges(keys=True, data=True)]
    return {"nodes": nodes, "edges": edges}


def _print_stats(doc: dict, ex) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    state = "complete" if doc["complete"] else f"partial ({doc['stop_reason']})"
    secs = "-" if doc["seconds"] is None else f"{doc['seconds']:.3f} s"
    console.print(f"[bold]{doc['model']}[/bold] ({doc['file']}): {doc['states']:,} states, "
                  f"{doc['edges']:,} edges, depth {doc['depth']}, {secs}, {state}", soft_wrap=True)
    table = Table("parameters", "states", "terminal states", box=None, pad_edge=False)
    for r in doc["parameter_combinations"]:
        shown = ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                          for k, v in r["params"].items()) or "(none)"
        table.add_row(shown, f"{r['states']:,}", f"{r['terminal_states']:,}")
    console.print(table)
    if not doc["complete"] and doc["stop_reason"] != "model-error":
        console.print(f"[yellow]stopped early ({doc['stop_reason']}): the figures cover "
                      f"{ex.expanded:,} expanded states; raise the limit to see all.[/yellow]")


@main.command()
@_model_argument
@_explore_options
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="File to write: .dot, .svg, .png or .pdf (the .dot source is always "
                   "written beside an image).")
@click.option("--view", type=click.Choice(["joint", "endpoint"]), default="joint", show_default=True,
              help="joint: every joint state; endpoint: the TCP states of one endpoint, like "
                   "RFC 9293's state diagram.")
@click.option("--endpoint", "endpoints", multiple=True, metavar="NAME",
              help="With --view endpoint: project onto this instance (repeatable). Default: "
                   "every instance of the first instance's behaviour, merged.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def graph(model, params, max_states, time_limit, no_progress, output, view, endpoints, as_json):
    """Draw the state graph of MODEL to a file.

    \b
    tcpcheck graph --view endpoint -o out/endpoint.svg   # RFC-style diagram
    tcpcheck graph -o out/joint.svg                      # every joint state
    """
    from .graph import endpoint_view
    from .render import FORMATS, endpoint_dot, joint_dot, write_drawing

    if output.suffix.lstrip(".").lower() not in FORMATS:
        raise click.BadParameter(f"'{output}' must end in one of " +
                                 ", ".join("." + f for f in FORMATS), param_hint="-o/--output")
    path, ts, ex = _explore(model, params, max_states, time_limit, no_progress, as_json)
    if ex.stop_reason == "model-error":
        diag, _ = _model_error(ex)
        click.echo(render(diag, {ts.model.path: ts.model.text}), err=True)
    if view == "endpoint":
        names = [i.name for i in ts.model.instances]
        for e in endpoints:
            if e not in names:
                raise click.BadParameter(f"no instance '{e}'; the model has " + ", ".join(names),
                                         param_hint="--endpoint")
        v = endpoint_view(ex, list(endpoints) or None)
        title = f"{ts.model.name}: TCP states of " + " and ".join(v.graph["instances"])
        source = endpoint_dot(v, title)
    else:
        source = joint_dot(ex)
    written = write_drawing(source, output)
    if written.message:
        click.echo(f"tcpcheck: {written.message}", err=True)
    if as_json:
        _emit_json({"model": ts.model.name, "view": view, "states": ex.n_states,
                    "edges": ex.n_edges, "complete": ex.complete, **written.as_json()})
    else:
        shown = written.image_path or written.dot_path
        click.echo(f"wrote {shown}" + (f" (and {written.dot_path})" if written.image_path else ""))
    sys.exit(_exit_for(ex))


if __name__ == "__main__":
    main()
