"""The `tcpcheck` command line: thin over the library.

Exit status (other tools rely on it): 0 all good; 1 a property is violated or the model
failed while exploring; 2 bad input (syntax, type, missing file, bad option); 3 inconclusive
(a limit stopped the search). tcpcheck.verdicts owns the numbers and decides them: a command
only says what it came to.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from . import __version__, load
from .cli_conform import register
from .csink import CoreUnavailable
from .cli_report import report as report_command
from .cli_diagrams import diagrams as diagrams_command
from .cli_edit import register as register_edit
from .cli_fmt import fmt_command
from .cli_list import list_command
from .cli_io import (MAX_STATE_LIMIT, OUTPUT_ERRNOS, Interrupted, cannot_write_output,
                     command_deadline, default_model, emit_json, fail_input, max_states_option,
                     memory_option, save_drawing, stop_on_signals, time_limit_option)
from .diagnostics import Diagnostic, TcpcheckError, did_you_mean, render
from .explore import (Deadline, LimitReached, StopReason,  # `explore` is the command
                      explore as explore_states)
from .lifelines import timer_ranges
from .params import assignments_text
from .sweep import WorkerLost, default_jobs, explore_sweep
from .trace import model_error_diagnostic, run_lines, run_steps
from .verdicts import ExitStatus, Verdict, exit_status

MAX_DRAWN_STATES = 150  # beyond this a highlighted state graph shows only the run's surroundings


def _progress_reporter(enabled: bool):
    """A rich progress display on a terminal; None when output is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        return None, None
    from rich.console import Console  # deferred: rich costs 0.1 s a start
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
    f = memory_option(f)
    f = time_limit_option()(f)
    f = max_states_option()(f)
    f = click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Fix a model parameter instead of trying all its values "
                          "(repeatable), e.g. --param delayed_ack=true; NAME=* tries every "
                          "value of one that has a default, and a lone * opens them all.")(f)
    return f


def _jobs_option(f):
    f = click.option("--partitioned", is_flag=True,
                     help="With --cluster: one breadth-first search of every combination at "
                          "once, its states partitioned over the workers (figures only).")(f)
    f = click.option("--cluster", metavar="ADDRESS", default=None,
                     help="Run on a Ray cluster (pip install tcpcheck[cluster]): its address, "
                          "or 'local' for a Ray on this machine with --jobs workers.")(f)
    return click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
                        help="Explore parameter combinations in N processes at once (default: "
                             "every core); the output is the same as with --jobs 1.")(f)


def _core_option(f):
    f = click.option("--no-cache", is_flag=True,
                     help="With --core c: compile again, keep nothing.")(f)
    return click.option("--core", type=click.Choice(["auto", "c", "python"]), default="python",
                        show_default=True,
                        help="The search engine: c is the model's steps compiled with the "
                             "system C compiler (cached in ~/.cache/tcpcheck), python the "
                             "reference; auto takes c when a compiler works. Both number "
                             "states and edges alike.")(f)


def _workers_option(what: str):
    """--jobs N for a command whose work after the search is split (tcpcheck.workers)."""
    return click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
                        help=f"{what} in N processes at once (default: every core); the "
                             "output is the same as with --jobs 1.")


def _no_cache(no_cache: bool) -> None:
    if no_cache:
        os.environ["TCPCHECK_NO_CACHE"] = "1"  # read by tcpcheck.csink.build


def _model_argument(f):
    return click.argument("model", required=False, type=click.Path(dir_okay=True, path_type=Path))(f)


def _explore(model: Path | None, params, max_states, deadline: Deadline, no_progress, as_json,
             record_edges: bool = True, reduce: bool = True, figures_only: bool = False,
             jobs: int = 1, cluster: str | None = None, core: str = "python"):
    """Load and explore; exits 2 with diagnostics on bad input. `figures_only` explores one
    parameter combination at a time, `jobs` of them at once, and returns a Summary
    (tcpcheck.sweep.explore_sweep)."""
    path = model or default_model()
    try:
        ts = load(path, list(params), reduce=reduce)
    except TcpcheckError as err:
        fail_input(err, as_json)

    def run(report):
        if figures_only:
            try:
                if cluster is not None:
                    return _cluster(cluster, jobs).explore_sweep_ray(
                        ts, _source(path, ts, params, reduce), workers=jobs,
                        max_states=max_states, progress=report, deadline=deadline)
                return explore_sweep(ts, jobs=jobs, max_states=max_states, progress=report,
                                     deadline=deadline, core=core)
            except WorkerLost as err:
                _worker_lost(err)
        return explore_states(ts, max_states=max_states, progress=report, deadline=deadline,
                              record_edges=record_edges, core=core)

    progress, report = _progress_reporter(not no_progress)
    try:
        if progress is None:
            return path, ts, run(None)
        with progress:
            return path, ts, run(report)
    except CoreUnavailable as err:  # --core c asked for what cannot be built here
        _core_unavailable(err)


def _core_unavailable(err: CoreUnavailable) -> None:
    click.echo(f"error: --core c: {err}", err=True)
    sys.exit(ExitStatus.BAD_INPUT)


def _worker_lost(err: WorkerLost) -> None:
    click.echo(f"tcpcheck: a worker process died: {err}; try --jobs 1", err=True)
    sys.exit(ExitStatus.INCONCLUSIVE)


def _cluster(address: str, workers: int):
    """tcpcheck.cluster, connected; exits 2 when Ray is not installed."""
    try:
        from . import cluster  # deferred: Ray, an optional extra, loads only with --cluster
    except ImportError as err:
        click.echo(f"tcpcheck: --cluster needs Ray: pip install 'tcpcheck[cluster]' ({err})",
                   err=True)
        sys.exit(ExitStatus.BAD_INPUT)
    cluster.connect(address, workers)
    return cluster


def _source(path: Path, ts, params, reduce: bool):
    from .cluster import ModelSource  # deferred: Ray (only reached once _cluster loaded it)
    return ModelSource(str(path), ts.model.text, tuple(params), reduce)


def _explore_partitioned(model, params, max_states, deadline, as_json, no_timing, reduce,
                         address, workers) -> None:
    """`explore --cluster ADDRESS --partitioned`: one search over Ray actors; figures only."""
    path = model or default_model()
    try:
        ts = load(path, list(params), reduce=reduce)
    except TcpcheckError as err:
        fail_input(err, as_json)
    cluster = _cluster(address, workers)
    r = cluster.explore_partitioned(_source(path, ts, params, reduce), workers=workers,
                                    max_states=max_states, deadline=deadline)
    doc = {"model": ts.model.name, "file": str(path), "states": r.n_states,
           "edges": r.edge_count, "depth": r.max_depth, "levels": list(r.levels),
           "terminal_states": r.terminal_states, "complete": r.complete,
           "stop_reason": r.stop_reason, "error": r.error, "workers": r.workers,
           "bytes_sent": r.bytes_sent, "bytes_per_state": round(r.bytes_per_state, 2),
           "seconds": None if no_timing else round(r.seconds, 3)}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"{doc['model']}: {r.n_states:,} states, {r.edge_count:,} edges, depth "
                   f"{r.max_depth}, {r.terminal_states:,} terminal; {r.workers} workers sent "
                   f"{r.bytes_sent:,} bytes ({r.bytes_per_state:.1f} per state) in "
                   f"{r.seconds:.2f} s" + ("" if r.complete else f" (stopped: {r.stop_reason})"))
        if r.error:
            click.echo(f"tcpcheck: the model failed: {r.error}", err=True)
    sys.exit(exit_status(model_error=r.error is not None, partial=not r.complete,
                         interrupted=deadline.signal is not None))


def _exit_now(status: ExitStatus, ex) -> None:
    """Exit; after a big search without freeing millions of objects one by one (seconds)."""
    if ex.n_states < 100_000:
        sys.exit(status)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _model_error(ex) -> tuple[Diagnostic, list[str]]:
    """The exploration error as a diagnostic plus the run that leads to it."""
    return model_error_diagnostic(ex.error, ex, ex.path_to(ex.error_state))


def _report_model_error(ex) -> None:
    """If the search stopped on a model error: the located error and its run, on stderr."""
    if ex.stop_reason is StopReason.MODEL_ERROR:
        diag, _ = _model_error(ex)
        click.echo(render(diag, {ex.system.model.path: ex.system.model.text}), err=True)


def _exit_for(ex, deadline: Deadline, cut: StopReason | None = None) -> ExitStatus:
    """The exit status of a command whose answer is the exploration itself; `cut`: why a
    phase after the search stopped early (None: none did)."""
    return exit_status(model_error=ex.stop_reason is StopReason.MODEL_ERROR,
                       partial=not ex.complete or cut is not None,
                       interrupted=deadline.signal is not None)


def _stopped(what: str, reason: StopReason, done: str) -> None:
    """One line on stderr: which phase a limit or signal stopped, and what was done by then."""
    click.echo(f"tcpcheck: {what} stopped ({reason}); {done}", err=True)


# ---------------------------------------------------------------- commands

class _Commands(click.Group):
    """The command group: every command runs with SIGINT and SIGTERM taken cleanly (see
    tcpcheck.cli_io.stop_on_signals); one that cannot stop where it is exits 3 here."""

    def invoke(self, ctx):
        with stop_on_signals():
            try:
                try:
                    return super().invoke(ctx)
                finally:
                    sys.stdout.flush()   # a full stdout fails here, not at exit
            except Interrupted as signal_name:
                click.echo(f"tcpcheck: interrupted ({signal_name}) before the command could "
                           "finish: no answer", err=True)
                sys.exit(ExitStatus.INCONCLUSIVE)
            except LimitReached as stop:
                # a phase no command catches (drawing a ladder for trace or simulate)
                click.echo(f"tcpcheck: stopped ({stop.reason}) before the command could "
                           "finish: no answer", err=True)
                sys.exit(ExitStatus.INCONCLUSIVE)
            except OSError as err:
                if err.errno not in OUTPUT_ERRNOS:
                    raise
                cannot_write_output(err)


@click.group(cls=_Commands,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             invoke_without_command=True)
@click.version_option(__version__, prog_name="tcpcheck")
@click.pass_context
def main(ctx):
    """tcpcheck: a model checker for TCP connection teardown.

    Write a model of two TCP endpoints (see models/teardown.tcpm) and properties of its runs
    (see specs/teardown.spec); tcpcheck explores every state the pair can reach, checks the
    properties, and draws runs as ladder diagrams and the state graph. Without a MODEL
    argument every command uses the default model, models/teardown.tcpm.

    \b
    Examples:
      tcpcheck check                            # every spec in specs/, a verdict each
      tcpcheck check --out out/                 # and a ladder diagram of every run shown
      tcpcheck trace -p three_way_close_is_possible -o out/three-way.svg
      tcpcheck map                              # which kinds of close, for which timers
      tcpcheck explore --param delayed_ack=false --json
      tcpcheck graph --view endpoint -o out/endpoint.svg
      tcpcheck simulate --seed 7                # one random run the timers allow
      tcpcheck replay capture.pcap              # is a tcpdump capture a run of the model?
      tcpcheck conform                          # the scenarios on this kernel (root, tcpdump)

    Exit status: 0 fine, 1 a property is violated, a capture is rejected or the model failed
    while exploring, 2 bad input, 3 inconclusive (a limit was hit: partial result; or conform
    cannot capture here).
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@main.command()
@_model_argument
@_explore_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--with-graph", is_flag=True,
              help="With --json: include every state and edge (node-link form).")
@click.option("--no-timing", is_flag=True,
              help="Report seconds as null, so that the output is byte-identical between runs.")
@click.option("--no-reduction", is_flag=True,
              help="Keep dead variables in the states: without it a variable no step can read "
                   "any more (a closed socket's counters) is cleared, which merges states with "
                   "the same future. With it the counts are those of a plain search (as SPIN's).")
@_jobs_option
@_core_option
def explore(model, params, max_states, time_limit, max_memory, no_progress, as_json, with_graph,
            no_timing, no_reduction, jobs, cluster, partitioned, core, no_cache):
    """Explore every reachable joint state of MODEL and print statistics.

    Exploration is breadth-first from one initial state per combination of the model's
    parameters (or the values fixed with --param). States are numbered in the order they are
    found, so the numbering is the same on every run.

    \b
    Examples:
      tcpcheck explore                                  # the default model
      tcpcheck explore models/teardown.tcpm --param delayed_ack=true
      tcpcheck explore --json --no-timing               # byte-identical between runs
      tcpcheck explore --max-states 100000 --time-limit 60
      tcpcheck explore --param '*'                      # every parameter open: the whole model
    """
    # figures need no edge list (edges are counted) and no state of another parameter
    # combination: without --with-graph each combination is explored on its own
    whole = bool(with_graph and as_json)
    deadline = command_deadline(time_limit, max_memory)
    _no_cache(no_cache)
    if partitioned:
        if cluster is None:
            raise click.UsageError("--partitioned needs --cluster ADDRESS (or --cluster local)")
        _explore_partitioned(model, params, max_states, deadline, as_json, no_timing,
                             not no_reduction, cluster, jobs or default_jobs())
    path, ts, ex = _explore(model, params, max_states, deadline, no_progress, as_json,
                            record_edges=whole, reduce=not no_reduction, figures_only=not whole,
                            jobs=jobs or default_jobs(), cluster=cluster, core=core)
    stats = ex.stats()
    if no_timing:
        stats["seconds"] = None
    regions = _regions(ex) if whole else _summary_regions(ex)
    # a model error is reported with the run that reaches it, in its own combination
    ex_error = ex if whole or ex.last is None else ex.last
    doc = {"model": ts.model.name, "file": str(path), **stats,
           "state_bits": ts.state_bits,
           "dead_variable_reduction": bool(ts.reduction),
           # combinations whose behaviour equals an earlier one's: figures taken from it
           "combinations_reused": getattr(ex, "reused", 0),
           "transitions": sum(len(ts.model.endpoint(i.endpoint).transitions)
                              for i in ts.model.instances),
           "parameter_combinations": regions}
    if ex.stop_reason is StopReason.MODEL_ERROR:
        diag, steps = _model_error(ex_error)
        doc["error"] = {**diag.as_json(), "run": steps}
        click.echo(render(diag, {ts.model.path: ts.model.text}), err=True)
    cut = None
    if as_json:
        if with_graph:
            try:
                doc["graph"] = _node_link(ex, deadline)
            except LimitReached as stop:
                doc["graph"], cut = None, stop.reason
                _stopped("building the graph", stop.reason, "the JSON has no \"graph\"")
        emit_json(doc)
    else:
        _print_stats(doc, ex)
    _exit_now(_exit_for(ex, deadline, cut), ex)


def _regions(ex) -> list[dict]:
    region = ex.region_of()
    counts = [0] * len(ex.initial)
    terminal = [0] * len(ex.initial)
    for r in region:
        counts[r] += 1
    for sid in ex.deadlocks:
        terminal[region[sid]] += 1
    out = []
    for k, params in enumerate(ex.system.initial_params):
        shown = {n: ex.system.param_value(n, v) for n, v in params.items()}
        out.append({"params": shown, "states": counts[k], "terminal_states": terminal[k]})
    return out


def _summary_regions(summary) -> list[dict]:
    out = []
    for (states, terminal), params in zip(summary.regions, summary.system.initial_params):
        shown = {n: summary.system.param_value(n, v) for n, v in params.items()}
        out.append({"params": shown, "states": states, "terminal_states": terminal})
    return out


def _node_link(ex, deadline: Deadline) -> dict:
    from .graph import joint_graph  # deferred: graph loads networkx

    G = joint_graph(ex, deadline=deadline)
    nodes = [{"id": n, **{k: d[k] for k in ("initial", "terminal", "depth", "state")}}
             for n, d in G.nodes(data=True)]
    edges = [{"source": a, "target": b, **d} for a, b, _k, d in G.edges(keys=True, data=True)]
    return {"nodes": nodes, "edges": edges}


def _print_stats(doc: dict, ex) -> None:
    from rich.console import Console  # deferred: rich costs 0.1 s a start
    from rich.table import Table

    console = Console(highlight=False)
    state = "complete" if doc["complete"] else f"partial ({doc['stop_reason']})"
    secs = "-" if doc["seconds"] is None else f"{doc['seconds']:.3f} s"
    console.print(f"[bold]{doc['model']}[/bold] ({doc['file']}): {doc['states']:,} states, "
                  f"{doc['edges']:,} edges, depth {doc['depth']}, {secs}, {state}", soft_wrap=True)
    ts = ex.system
    varying = ts.varying_params()
    if ts.fixed_params_text():
        console.print(f"fixed: {ts.fixed_params_text()}", soft_wrap=True)
    if ts.reduction:
        console.print("dead variables cleared: a state forgets what its endpoint can no longer "
                      "read (--no-reduction keeps them)", soft_wrap=True)
    if doc.get("combinations_reused"):
        console.print(f"{doc['combinations_reused']:,} combinations behave like an earlier one "
                      "(their parameters change no setting and nothing reads them): explored "
                      "once, figures shared", soft_wrap=True)
    table = Table("parameters", "states", "terminal states", box=None, pad_edge=False)
    for r in doc["parameter_combinations"]:
        shown = assignments_text({k: v for k, v in r["params"].items() if k in varying}) \
            or "(all fixed)"
        table.add_row(shown, f"{r['states']:,}", f"{r['terminal_states']:,}")
    console.print(table)
    if not doc["complete"] and doc["stop_reason"] is not StopReason.MODEL_ERROR:
        again = ("run it again to see all" if doc["stop_reason"] is StopReason.INTERRUPTED
                 else "raise the limit to see all")
        console.print(f"[yellow]stopped early ({doc['stop_reason']}): the figures cover "
                      f"{ex.expanded:,} expanded states; {again}.[/yellow]")


@main.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@_explore_options
@click.option("--model", "model_override", type=click.Path(path_type=Path), default=None,
              help="Check the specs against this model instead of the one each spec names.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write a ladder diagram of every counterexample and witness, and the state "
                   "graph with that run highlighted, into this directory.")
@click.option("--no-timing", is_flag=True,
              help="Report seconds as null, so that the output is byte-identical between runs.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the verdicts as a Markdown page (for docs), linking the diagrams "
                   "written with --out.")
@click.option("--engine", type=click.Choice(["explicit", "symbolic", "both"]), default="explicit",
              help="symbolic: on z3, invariants proved by k-induction (k up to --depth) or "
                   "Spacer, reachable/runs by bounded model checking (docs/engines.md); "
                   "both: beside the explorer, whose verdicts it must agree with.")
@click.option("--depth", type=click.IntRange(0), default=10, show_default=True,
              help="The symbolic engine's bound: runs of at most this many steps.")
@click.option("--lemmas-from", "lemmas_from", multiple=True, metavar="NAME=VALUE",
              help="With --engine symbolic|both: prove invariants at a size the explorer "
                   "cannot finish. The model is explored completely with these parameter "
                   "values instead (a smaller size, e.g. D=2), facts true in all its states "
                   "are carried over to the checked size, and those z3 proves inductive "
                   "there (Houdini) strengthen k-induction, and Spacer after it. A wrong "
                   "fact is dropped, never trusted: the verdict says holds (proved) only "
                   "when a proof goes through, and which one. Example: check "
                   "models/parametric.tcpm specs/teardown.spec --engine symbolic --param D=4 "
                   "--lemmas-from D=2 --depth 2.")
@_workers_option("Check properties")
@_core_option
def check(files, params, max_states, time_limit, max_memory, no_progress, model_override,
          as_json, out_dir, no_timing, report_path, engine, depth, lemmas_from, jobs, core,
          no_cache):
    """Check properties: every spec in specs/ against the model it names, or the given ones.

    FILES are spec files (.spec) and at most one model (.tcpm); a model given here or with
    --model overrides the one the specs name. Each property's verdict comes from exploring
    the model: holds, violated (with a counterexample run), inconclusive (a limit was hit),
    holds vacuously (the premise of its implication never happens: it tested nothing) or
    error (its arithmetic failed in a reachable state, shown with the run to it).
    Witnesses and counterexamples are shortest runs, and only runs the timer ranges allow
    count (z3 decides), with a time for every step.

    \b
    Examples:
      tcpcheck check                                  # specs/*.spec, each against its model
      tcpcheck check specs/teardown.spec --json
      tcpcheck check --param delayed_ack=false        # one parameter fixed
      tcpcheck check --out out/                       # ladder diagrams of every run shown
      # a proof at a size the explorer cannot finish, from facts explored at D=2:
      tcpcheck check models/parametric.tcpm specs/teardown.spec --param D=4
          --engine symbolic --lemmas-from D=2     (one command, on two lines here)

    Exit status: 0 every property holds (vacuously too), 1 one is violated or in error (or
    the model failed while exploring), 2 bad input, 3 inconclusive.
    """
    from .verify import (DEFAULT_SPEC_DIR, check_model,  # deferred: z3, networkx
                         group_by_model, merge_params, spec_files)

    # one for every model checked, and the drawings
    deadline = command_deadline(time_limit, max_memory)
    _no_cache(no_cache)
    jobs = jobs or default_jobs()
    if engine != "explicit":
        from .cli_symbolic import check_symbolic  # deferred: the symbolic engine builds on z3
        check_symbolic(files, params, engine, depth, model_override, default_model(), as_json,
                       deadline, lemmas_from, no_progress)
    if lemmas_from:
        fail_input(TcpcheckError([Diagnostic(
            "TCP400", "--lemmas-from strengthens the symbolic engine's proofs: give it with "
                      "--engine symbolic or --engine both")]), as_json)
    try:
        specs, model_arg = spec_files(list(files), DEFAULT_SPEC_DIR)
        groups = group_by_model(specs, model_override or model_arg, default_model(),
                                list(params))
        results = []
        unchecked: list[str] = []
        for n, ((model_path, spec_params), group) in enumerate(groups.items()):
            if deadline.expired():   # loading the rest would only make more "inconclusive"
                unchecked = [str(p) for g in list(groups.values())[n:] for p, _sf in g]
                _stopped("check", deadline.reason, "not checked: " + ", ".join(unchecked))
                break
            chosen = merge_params(spec_params, list(params))
            progress, report = _progress_reporter(not no_progress)
            if progress is not None:
                with progress:
                    results.append(check_model(model_path, group, chosen, max_states, None,
                                               report, deadline=deadline, jobs=jobs, core=core))
            else:
                results.append(check_model(model_path, group, chosen, max_states, None,
                                           deadline=deadline, jobs=jobs, core=core))
    except TcpcheckError as err:
        fail_input(err, as_json)
    except CoreUnavailable as err:  # --core c asked for what cannot be built here
        _core_unavailable(err)
    except WorkerLost as err:
        _worker_lost(err)
    written, drawing_stop = _write_runs(results, out_dir, deadline) if out_dir is not None \
        else ({}, None)
    if drawing_stop is not None:
        _stopped("drawing the runs", drawing_stop,
                 f"{sum(map(len, written.values()))} drawings written in {out_dir}")
    if report_path is not None:
        from .render import write_whole  # deferred: render loads graphviz
        try:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            text = _markdown(results, written, report_path.parent, drawing_stop,
                             _check_cut_short(results, groups, deadline))
            write_whole(report_path, text.encode("utf-8"))
        except OSError as err:
            click.echo(f"tcpcheck: cannot write {report_path}: {err.strerror or err}", err=True)
            sys.exit(ExitStatus.BAD_INPUT)
    if as_json:
        docs = [_check_json(r, written, no_timing) for r in results]
        doc = docs[0] if len(docs) == 1 else _combined_json(docs)
        if unchecked:   # a limit or a signal came before these were loaded
            doc.update(complete=False, stop_reason=deadline.reason, not_checked=unchecked)
        emit_json(doc)
    else:
        for r in results:
            _print_check(r, written)
    sys.exit(exit_status((v.verdict for r in results for v in r.verdicts),
                         model_error=any(r.model_error for r in results),
                         partial=drawing_stop is not None or len(results) < len(groups),
                         interrupted=deadline.signal is not None))


def _check_cut_short(results, groups, deadline: Deadline) -> str | None:
    """Why a check did not finish, for the top of its report: a signal stopped it, or the
    time limit came before every spec file was reached (None: it finished, whatever its
    verdicts; a property a limit left undecided says "inconclusive" in its own row)."""
    if deadline.signal is None and len(results) == len(groups):
        return None
    unchecked = [str(p) for g in list(groups.values())[len(results):] for p, _sf in g]
    return (f"**Partial** ({deadline.reason}): the check was stopped before it finished; "
            "a property it had not decided is inconclusive"
            + ("; not checked: " + ", ".join(unchecked) if unchecked else "") + ".")


def _markdown(results, written, base: Path, drawing_stop: StopReason | None = None,
              cut_short: str | None = None) -> str:
    """The verdicts as a Markdown page: one section per (model, parameters), one row per
    property, in plain words, with links to the drawings. Deterministic: no timings. A
    page whose check or drawings were cut short (a limit, a signal) says so at the top."""
    lines = ["# Shipped properties", "",
             "Written by `tcpcheck check --report`; every verdict comes from exploring the model.",
             ""]
    if cut_short is not None:
        lines += [cut_short, ""]
    if drawing_stop is not None:
        lines += [f"**Partial** ({drawing_stop}): the drawings stopped early; a property "
                  "without links has none.", ""]
    for r in results:
        ex = r.exploration
        with_ = f" with {', '.join(r.params)}" if r.params else ""
        lines += [f"## {', '.join(p.name for p in r.spec_paths)}", "",
                  f"Model `{r.model_path}`{with_}: {ex.n_states:,} states, {ex.n_edges:,} edges.",
                  "", "| property | says | kind | verdict | run |", "|---|---|---|---|---|"]
        for v in r.verdicts:
            links = " ".join(f"[{'ladder' if '.ladder.' in f else 'graph'}]"
                             f"({os.path.relpath(f, base)})" for f in written.get(v.name, []))
            says = v.doc or v.source
            if v.answer:
                says += f" (answer: `{v.answer}`)"
            lines.append(f"| `{v.name}` | {says} | {v.kind} | {v.verdict} | {links} |")
        lines.append("")
    return "\n".join(lines)


def _combined_json(docs: list[dict]) -> dict:
    """Several model configurations in one document: the same top-level keys as one (model,
    states, edges, properties: every property, each saying its model and parameters), and
    each configuration's own document under "models"."""
    paths = sorted({d["model"] for d in docs})
    return {"model": paths[0] if len(paths) == 1 else paths,
            "states": sum(d["states"] for d in docs), "edges": sum(d["edges"] for d in docs),
            "complete": all(d["complete"] for d in docs),
            "properties": [{**p, "model": d["model"], "params": d["params"]}
                           for d in docs for p in d["properties"]],
            "models": docs}


def _check_json(r, written, no_timing) -> dict:
    ex = r.exploration
    props = []
    for v, secs in zip(r.verdicts, r.seconds):
        props.append({
            "name": v.name, "kind": v.kind, "verdict": v.verdict, "description": v.doc,
            "property": v.source, "message": v.message, "answer": v.answer, "notes": v.notes,
            "seconds": None if no_timing else round(secs, 3),
            "trace": run_steps(ex, v.run, v.times) if v.run else None,
            "files": written.get(v.name, []),
        })
        if v.diagnostics:
            props[-1]["diagnostics"] = [d.as_json() for d in v.diagnostics]
    doc = {"model": str(r.model_path), "params": r.params, "specs": [str(p) for p in r.spec_paths],
           "states": ex.n_states, "edges": ex.n_edges, "complete": ex.complete,
           "stop_reason": ex.stop_reason,
           "explore_seconds": None if no_timing else round(ex.seconds, 3), "properties": props}
    if ex.system.model.warnings:
        doc["warnings"] = [d.as_json() for d in ex.system.model.warnings]
    if ex.stop_reason is StopReason.MODEL_ERROR:
        diag, steps = _model_error(ex)
        doc["error"] = {**diag.as_json(), "run": steps}
    return doc


def _print_check(r, written) -> None:
    from rich.console import Console  # deferred: rich costs 0.1 s a start
    from rich.table import Table

    ex = r.exploration
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    if ex.stop_reason is StopReason.MODEL_ERROR:
        diag, _ = _model_error(ex)
        click.echo(render(diag, {ex.system.model.path: ex.system.model.text}), err=True)
    state = "complete" if ex.complete else f"partial: {ex.stop_reason}"
    with_ = f" with {', '.join(r.params)}" if r.params else ""
    console.print(f"[bold]{ex.system.model.name}[/bold] ({r.model_path}{with_}): {ex.n_states:,} "
                  f"states, {ex.n_edges:,} edges ({state}), specs: "
                  + ", ".join(map(str, r.spec_paths)), soft_wrap=True)
    table = Table("property", "kind", "verdict", "states", "time", box=None, pad_edge=False)
    colour = {Verdict.HOLDS: "green", Verdict.VIOLATED: "red", Verdict.INCONCLUSIVE: "yellow",
              Verdict.VACUOUS: "yellow", Verdict.ERROR: "red"}
    for v, secs in zip(r.verdicts, r.seconds):
        table.add_row(v.name, v.kind, f"[{colour.get(v.verdict, 'red')}]{v.verdict}[/]",
                      f"{ex.n_states:,}",
                      f"{secs:.3f} s")
    console.print(table)
    _print_property_diagnostics(r)
    for v in r.verdicts:
        if v.run is None and not v.answer and v.verdict is Verdict.HOLDS and not v.notes:
            continue
        title = {Verdict.VIOLATED: "counterexample", Verdict.HOLDS: "witness"}.get(v.verdict,
                                                                                  v.verdict)
        if v.kind in ("invariant", "runs", "terminates") and v.verdict is Verdict.HOLDS:
            title = "holds"
        if v.verdict is Verdict.ERROR:
            title = "the run to the state where it fails"
        console.print(f"\n[bold]{v.name}[/bold]: {v.verdict}: {v.message}", soft_wrap=True)
        if v.doc:
            console.print(f"  ({v.doc})", soft_wrap=True)
        for note in v.notes:
            console.print(f"  note: {note}", soft_wrap=True)
        if v.run is not None:
            console.print(f"  {title}:")
            for line in run_lines(ex, v.run, v.times):
                console.print("  " + line, soft_wrap=True, markup=False)
        for f in written.get(v.name, []):
            console.print(f"  drawn: {f}")


def _print_property_diagnostics(r) -> None:
    """What checking the properties found about the spec itself (a division by zero, with
    the run to it; a premise no state meets), located in the spec, on stderr."""
    diags = [*r.exploration.system.model.warnings, *(d for v in r.verdicts for d in v.diagnostics)]
    if not diags:
        return
    sources = {}
    for d in diags:
        if d.span is not None and d.span.file not in sources:
            sources[d.span.file] = _source_text(d.span.file)
    for d in diags:
        click.echo(render(d, sources), err=True)


def _source_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # the diagnostic is still located, only without its source line


def _write_runs(results, out_dir: Path, deadline: Deadline
                ) -> tuple[dict[str, list[str]], StopReason | None]:
    """A ladder diagram and a highlighted state graph for every run a verdict shows; stops
    when the deadline passes: (what was written, why it stopped or None)."""
    from .ladder import ladder_dot  # deferred: ladder and render load graphviz and networkx
    from .render import joint_dot
    written: dict[str, list[str]] = {}
    messages = set()
    try:
        _draw_runs(results, out_dir, deadline, written, messages, ladder_dot, joint_dot)
        stop = None
    except LimitReached as limit:
        stop = limit.reason
    for m in sorted(messages):
        click.echo(f"tcpcheck: {m}", err=True)
    return written, stop


def _draw_runs(results, out_dir, deadline, written, messages, ladder_dot, joint_dot) -> None:
    for r in results:
        ex = r.exploration
        for v in r.verdicts:
            if v.run is None:
                continue
            deadline.check()
            files = []
            steps = run_steps(ex, v.run, v.times)
            if ladder_dot is not None:
                title = f"{v.name}: {v.verdict}"
                w = save_drawing(ladder_dot(steps, title, timers=timer_ranges(ex.system.model)),
                                 out_dir / f"{v.name}.ladder.svg",
                                 deadline)
                files.append(str(w.image_path or w.dot_path))
                if w.message:
                    messages.add(w.message)
            edges = {(v.run[i - 1][1], sid, vid) for i, (vid, sid) in enumerate(v.run) if i}
            regions = ex.region_of()
            region = regions[v.run[0][1]]  # the run's parameter combination only
            keep = None
            if regions.count(region) > MAX_DRAWN_STATES:
                # too many to draw legibly: the run and the states one step off it
                on_run = {sid for _vid, sid in v.run}
                keep = set(on_run)
                for k in range(ex.n_edges):
                    if ex.edge_src[k] in on_run:
                        keep.add(ex.edge_dst[k])
            w = save_drawing(joint_dot(ex, highlight=edges, regions={region}, keep=keep,
                                       deadline=deadline),
                             out_dir / f"{v.name}.graph.svg", deadline)
            files.append(str(w.image_path or w.dot_path))
            if w.message:
                messages.add(w.message)
            written[v.name] = files


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
@click.option("--max-nodes", type=click.IntRange(min=1, max=MAX_STATE_LIMIT), default=None,
              metavar="N",
              help="Draw a joint graph of at most N states and 3N edges (default: what dot lays "
                   "out in seconds for an image, 200,000 states for a .dot file); above it a "
                   "summary on the TCP states is drawn instead (exit 3).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def graph(model, params, max_states, time_limit, max_memory, no_progress, output, view,
          endpoints, max_nodes, as_json):
    """Draw the state graph of MODEL to a file.

    \b
    tcpcheck graph --view endpoint -o out/endpoint.svg   # RFC-style diagram
    tcpcheck graph -o out/joint.svg                      # every joint state

    An image of the joint graph (.svg, .png, .pdf) above 500 states or 1,500 edges, or a .dot
    file above 200,000 states, is drawn as a summary on the endpoints' TCP states instead
    (--max-nodes changes the bound): dot would take minutes. Exit status: 0 drawn, 1 the
    model failed while exploring, 2 bad input, 3 a limit stopped it or the graph was too big
    (a summary, or nothing, drawn).
    """
    # deferred: graph and render load networkx and graphviz
    from .graph import SUMMARY_MAX_STATES, endpoint_view
    from .render import (EDGES_PER_STATE, FORMATS, MAX_DOT_STATES, MAX_LAYOUT_STATES, endpoint_dot,
                         joint_dot)

    fmt = output.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise click.BadParameter(f"'{output}' must end in one of " +
                                 ", ".join("." + f for f in FORMATS), param_hint="-o/--output")
    deadline = command_deadline(time_limit, max_memory)
    # an image of the joint graph is laid out by dot: above the bound it is summarised on
    # the TCP states, from a search that stops at SUMMARY_MAX_STATES (seconds, not minutes)
    # (a .dot file is not laid out, but it too is bounded, higher, so that it comes back in seconds)
    default_bound = MAX_DOT_STATES if fmt == "dot" else MAX_LAYOUT_STATES
    layout_bound = (max_nodes or default_bound) if view == "joint" else None
    search_bound = max_states if layout_bound is None else min(
        max_states or MAX_STATE_LIMIT, max(SUMMARY_MAX_STATES, layout_bound + 1))
    if view == "endpoint":   # one parameter combination at a time: the whole model fits
        _graph_endpoint(model, params, max_states, deadline, output, endpoints, as_json)
    path, ts, ex = _explore(model, params, search_bound, deadline, no_progress, as_json)
    _report_model_error(ex)
    too_big = layout_bound is not None and (ex.n_states > layout_bound
                                            or ex.n_edges > EDGES_PER_STATE * layout_bound)
    source = None
    try:
        if too_big:
            _summarise(ts, ex, output, layout_bound, EDGES_PER_STATE * layout_bound, as_json,
                       deadline)
        if view == "endpoint":
            names = [i.name for i in ts.model.instances]
            for e in endpoints:
                if e not in names:
                    raise click.BadParameter(f"no instance '{e}'; the model has "
                                             + ", ".join(names), param_hint="--endpoint")
            v = endpoint_view(ex, list(endpoints) or None, deadline)
            title = f"{ts.model.name}: TCP states of " + " and ".join(v.graph["instances"])
            source = endpoint_dot(v, title)
        else:
            source = joint_dot(ex, deadline=deadline)
        written = save_drawing(source, output, deadline)
    except LimitReached as stop:
        # a drawing of part of the graph, cut wherever the clock struck, would mislead
        dot_path = output.with_suffix(".dot")
        # dot was stopped: its source was written whole first
        dot_kept = fmt != "dot" and source is not None and dot_path.exists()
        kept = (f"the DOT source is in {dot_path}, no image" if dot_kept
                else f"nothing written to {output}")
        _stopped("drawing", stop.reason, f"explored {ex.n_states:,} states "
                 f"({'complete' if ex.complete else f'partial: {ex.stop_reason}'}); {kept}")
        if as_json:
            emit_json({"model": ts.model.name, "view": view, "states": ex.n_states,
                       "edges": ex.n_edges, "complete": False, "stop_reason": stop.reason,
                       "dot": str(dot_path) if dot_kept else None, "image": None,
                       "rendered": False, "message": None})
        sys.exit(_exit_for(ex, deadline, stop.reason))
    if written.message:
        click.echo(f"tcpcheck: {written.message}", err=True)
    if as_json:
        emit_json({"model": ts.model.name, "view": view, "states": ex.n_states,
                    "edges": ex.n_edges, "complete": ex.complete, **written.as_json()})
    else:
        shown = written.image_path or written.dot_path
        click.echo(f"wrote {shown}" + (f" (and {written.dot_path})" if written.image_path else ""))
    sys.exit(_exit_for(ex, deadline))


def _graph_endpoint(model, params, max_states, deadline: Deadline, output: Path, endpoints,
                    as_json: bool) -> None:
    """`graph --view endpoint`: the TCP states of one endpoint over every parameter
    combination, each explored on its own (graph.endpoint_view_each); a limit draws the
    combinations done, titled partial (exit 3)."""
    from .graph import endpoint_view_each  # deferred: graph and render load networkx, graphviz
    from .render import endpoint_dot

    try:
        ts = load(model or default_model(), list(params))
    except TcpcheckError as err:
        fail_input(err, as_json)
    names = [i.name for i in ts.model.instances]
    for e in endpoints:
        if e not in names:
            raise click.BadParameter(f"no instance '{e}'; the model has " + ", ".join(names),
                                     param_hint="--endpoint")
    # deferred with endpoint_view_each: graph loads networkx
    from .graph import ENDPOINT_EACH_MAX_STATES
    bounded = max_states is None and len(ts.initial) > 1   # the whole model: answer in seconds
    each = endpoint_view_each(ts, list(endpoints) or None,
                              ENDPOINT_EACH_MAX_STATES if bounded else max_states, deadline)
    if each.last is not None and each.last.stop_reason is StopReason.MODEL_ERROR:
        _report_model_error(each.last)
    partial = "" if each.stop_reason is None else (
        f" (partial, {each.stop_reason}: {each.combinations} of {each.total} parameter "
        "combinations)")
    title = (f"{ts.model.name}: TCP states of " + " and ".join(each.view.graph["instances"])
             + partial)
    try:
        written = save_drawing(endpoint_dot(each.view, title), output, deadline)
    except LimitReached as stop:
        _stopped("drawing", stop.reason, f"nothing drawn in {output}")
        sys.exit(exit_status(partial=stop.reason is not None,
                             interrupted=deadline.signal is not None))
    if bounded and each.stop_reason == "max-states":
        click.echo(f"tcpcheck: the endpoint view of all {each.total} parameter combinations "
                   f"needs more than {ENDPOINT_EACH_MAX_STATES:,} states of search (the search stopped "
                   f"there): drew the first {each.combinations} of them, titled partial",
                   err=True)
        click.echo("tcpcheck: fix parameters with --param NAME=VALUE, or raise the bound with "
                   "--max-states N (every combination: about 2 minutes)", err=True)
    elif each.stop_reason is not None:
        _stopped("the endpoint view", each.stop_reason, f"{each.combinations} of {each.total} "
                 "parameter combinations drawn")
    if written.message:
        click.echo(f"tcpcheck: {written.message}", err=True)
    if as_json:
        emit_json({"model": ts.model.name, "view": "endpoint", "states": each.states,
                   "edges": each.edges, "complete": each.stop_reason is None,
                   "combinations": each.combinations, "of": each.total, **written.as_json()})
    else:
        shown = written.image_path or written.dot_path
        click.echo(f"wrote {shown}" + (f" (and {written.dot_path})" if written.image_path else ""))
    sys.exit(exit_status(model_error=each.last is not None
                         and each.last.stop_reason is StopReason.MODEL_ERROR,
                         partial=each.stop_reason is not None,
                         interrupted=deadline.signal is not None))


def _graph_size(ex, max_states: int) -> str:
    if ex.stop_reason is StopReason.MAX_STATES and ex.n_states > max_states:
        return f"more than {ex.n_states:,} states (the search stopped there)"
    return f"{ex.n_states:,} states and {ex.n_edges:,} edges"


def _bound_words(output: Path, max_states: int, max_edges: int) -> str:
    if output.suffix.lower() == ".dot":
        return f"a .dot file is drawn of at most {max_states:,} states and {max_edges:,} edges"
    return (f"dot lays out at most {max_states:,} states and {max_edges:,} edges in reasonable "
            "time")


def _smaller_requests(output: Path) -> str:
    """What to ask for instead of a joint graph too big to draw."""
    dot_alone = ("" if output.suffix.lower() == ".dot"
                 else f"write the DOT source alone with -o {output.with_suffix('.dot')}, ")
    return (f"fix parameters with --param NAME=VALUE, draw one endpoint with --view endpoint, "
            f"{dot_alone}or raise the bound with --max-nodes N")


def _summarise(ts, ex, output: Path, max_states: int, max_edges: int, as_json: bool,
               deadline: Deadline) -> None:
    """The joint graph is too big for dot to lay out in seconds: draw it folded onto the
    endpoints' TCP states instead, and say so; exit 3 (the joint graph was not drawn)."""
    from .graph import tcp_state_summary  # deferred: graph and render load networkx, graphviz
    from .render import summary_dot

    summary = tcp_state_summary(ex, deadline)
    if len(summary.states) > max_states:   # more TCP-state combinations than dot can take
        _refuse_layout(ts, ex, "joint", output, max_states, max_edges, as_json)
    size = _graph_size(ex, max_states)
    partial = "" if ex.complete else f"; partial ({ex.stop_reason}): the first states found"
    title = (f"{ts.model.name}: {size}, summarised on the TCP states of "
             f"{' and '.join(summary.instances)}{partial}")
    written = save_drawing(summary_dot(summary, title), output, deadline)
    click.echo(f"tcpcheck: the joint graph has {size}; {_bound_words(output, max_states, max_edges)}"
               f": drew a summary instead, one node per combination of TCP states "
               f"({len(summary.states)} nodes), in {written.image_path or written.dot_path}\n"
               f"tcpcheck: {_smaller_requests(output)}", err=True)
    if written.message:
        click.echo(f"tcpcheck: {written.message}", err=True)
    if as_json:
        emit_json({"model": ts.model.name, "view": "summary", "states": ex.n_states,
                   "edges": ex.n_edges, "complete": False, "stop_reason": "too-big-to-lay-out",
                   **written.as_json(),
                   "message": f"the joint graph has {size}; the bound is {max_states:,} "
                              f"states and {max_edges:,} edges; drawn: a summary on the TCP "
                              "states"})
    sys.exit(ExitStatus.INCONCLUSIVE)


def _refuse_layout(ts, ex, view: str, output: Path, max_states: int, max_edges: int,
                   as_json: bool) -> None:
    """The joint graph is too big for dot to lay out in reasonable time: say how big, the
    bound, and what to do instead; nothing is written; exit 3 (no drawing: a limit)."""
    states = (f"more than {max_states:,} states" if ex.stop_reason is StopReason.MAX_STATES
              and ex.n_states > max_states else f"{ex.n_states:,} states and {ex.n_edges:,} edges")
    click.echo(f"tcpcheck: the joint graph has {states}; {_bound_words(output, max_states, max_edges)}"
               f": nothing written to {output}\ntcpcheck: {_smaller_requests(output)}", err=True)
    if as_json:
        emit_json({"model": ts.model.name, "view": view, "states": ex.n_states,
                   "edges": ex.n_edges, "complete": False, "stop_reason": "too-big-to-lay-out",
                   "dot": None, "image": None, "rendered": False,
                   "message": f"the joint graph has {states}; the bound is {max_states:,} "
                              f"states and {max_edges:,} edges"})
    sys.exit(ExitStatus.INCONCLUSIVE)


@main.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("-p", "--property", "prop_name", required=True, metavar="NAME",
              help="The property whose witness or counterexample to draw.")
@_explore_options
@click.option("--model", "model_override", type=click.Path(path_type=Path), default=None,
              help="Use this model instead of the one the spec names.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Draw the ladder diagram to this file (.svg, .png, .pdf or .dot).")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON (the trace format).")
@click.option("--around", "around", type=click.IntRange(min=0), default=None, metavar="K",
              help="With -o: draw the joint graph of the run's parameter combination cut to the "
                   "states within K steps of the run (the run in red), instead of the ladder.")
def trace(files, prop_name, params, max_states, time_limit, max_memory, no_progress,
          model_override, output, as_json, around):
    """Show the run behind one property's verdict as a TCP ladder diagram.

    FILES are spec files (default: specs/*.spec) and optionally a model. The run is the
    property's witness (reachable, timing) or counterexample (invariant, runs, terminates),
    with a time for every step. It is printed as a table; -o draws it.

    \b
    Examples:
      tcpcheck trace -p three_way_close_is_possible
      tcpcheck trace -p three_way_close_is_possible -o out/three-way.svg
      tcpcheck trace -p four_way_close_is_possible --json
      tcpcheck trace -p simultaneous_close_is_possible --around 1 -o out/near.svg
    """
    # deferred: verify loads z3 and networkx, ladder and render graphviz
    from .ladder import ladder_dot, ladder_text
    from .render import FORMATS
    from .verify import DEFAULT_SPEC_DIR, check_model, group_by_model, merge_params, spec_files

    if around is not None and output is None:
        raise click.BadParameter("draws a picture: give -o FILE too", param_hint="--around")
    if output is not None and output.suffix.lstrip(".").lower() not in FORMATS:
        raise click.BadParameter(f"'{output}' must end in one of " +
                                 ", ".join("." + f for f in FORMATS), param_hint="-o/--output")
    deadline = command_deadline(time_limit, max_memory)
    try:
        specs, model_arg = spec_files(list(files), DEFAULT_SPEC_DIR)
        groups = group_by_model(specs, model_override or model_arg, default_model(),
                                list(params))
        for (model_path, spec_params), group in groups.items():
            names = {p.name for _path, sf in group for p in sf.properties}
            if prop_name not in names:
                continue
            only = [(path, _only(sf, prop_name)) for path, sf in group]
            result = check_model(model_path, only, merge_params(spec_params, list(params)),
                                 max_states, None, deadline=deadline)
            break
        else:
            known = sorted(p.name for g in groups.values() for _path, sf in g for p in sf.properties)
            raise TcpcheckError([Diagnostic("TCP400", f"no property '{prop_name}' in "
                                            + ", ".join(map(str, specs))
                                            + did_you_mean(prop_name, known),
                                            None, ("properties: " + ", ".join(known),))])
    except TcpcheckError as err:
        fail_input(err, as_json)
    v = result.verdicts[0]
    ex = result.exploration
    status = exit_status([v.verdict], model_error=result.model_error,
                         interrupted=deadline.signal is not None)
    _report_model_error(ex)
    if v.run is None:
        click.echo(f"{v.name}: {v.verdict}: {v.message}; there is no run to show", err=True)
        sys.exit(status)
    steps = run_steps(ex, v.run, v.times)
    title = f"{v.name}: {v.verdict}" + (f" ({v.answer})" if v.answer else "")
    if output is not None:
        source = (ladder_dot(steps, title, timers=timer_ranges(ex.system.model))
                  if around is None else _around_dot(ex, v.run, around))
        written = save_drawing(source, output, deadline)
        if written.message:
            click.echo(f"tcpcheck: {written.message}", err=True)
    if as_json:
        emit_json({"property": v.name, "kind": v.kind, "verdict": v.verdict,
                    "message": v.message, "trace": steps})
    else:
        click.echo(f"{v.name}: {v.verdict}: {v.message}")
        click.echo(ladder_text(steps))
        if output is not None:
            click.echo(f"wrote {written.image_path or written.dot_path}")
    sys.exit(status)


def _around_dot(ex, run, steps: int) -> str:
    """`trace --around K`: the run's parameter combination cut to the states within K steps
    of the run, the run's edges in red."""
    from .graph import neighbourhood  # deferred: graph and render load networkx, graphviz
    from .render import joint_dot
    edges = {(run[i - 1][1], sid, vid) for i, (vid, sid) in enumerate(run) if i}
    region = ex.region_of()[run[0][1]]
    keep = neighbourhood(ex, {sid for _vid, sid in run}, steps)
    return joint_dot(ex, highlight=edges, regions={region}, keep=keep)


@main.command()
@_model_argument
@click.option("--seed", type=int, default=0, show_default=True,
              help="The walk's seed: the same model, parameters and seed give the same run.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Fix a model parameter (repeatable); the seed draws the others.")
@click.option("--steps", "max_steps", type=click.IntRange(min=1), default=200, show_default=True,
              help="Stop the walk after this many steps.")
@time_limit_option("Stop the walk after this many seconds (the run so far is shown, exit 3).")
@memory_option
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Draw the run as a ladder: .svg, .png, .pdf or .dot.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON (the trace format).")
def simulate(model, seed, params, max_steps, time_limit, max_memory, output, as_json):
    """One random run of the model, as a ladder: what can happen, before asking what must.

    From the initial state of one parameter combination (the seed draws it among those
    --param leaves open) every step is one of the enabled transitions, drawn with the seed
    and kept only if z3 finds times for the run so far: the walk never shows a run the timers
    rule out. It ends where the run is complete, after --steps, or where the model fails.

    \b
    Examples:
      tcpcheck simulate --seed 7
      tcpcheck simulate --seed 3 --param delayed_ack=true --param passive_has_data=false
      tcpcheck simulate models/bench/teardown_n.tcpm --param N=2 --seed 1 -o out/walk.svg
      tcpcheck simulate --seed 7 --json

    Exit status: 0 a run was shown, 1 the model failed on it (a value left its range),
    2 bad input, 3 the walk was stopped by --time-limit or a signal (the run so far is shown).
    """
    # deferred: ladder and render load graphviz, simulate z3
    from .ladder import ladder_dot, ladder_text
    from .render import FORMATS
    from .simulate import WalkEnd, simulate as walk

    if output is not None and output.suffix.lstrip(".").lower() not in FORMATS:
        raise click.BadParameter(f"'{output}' must end in one of " +
                                 ", ".join("." + f for f in FORMATS), param_hint="-o/--output")
    deadline = command_deadline(time_limit, max_memory)
    path = model or default_model()
    try:
        ts = load(path, list(params))
    except TcpcheckError as err:
        fail_input(err, as_json)
    sim = walk(ts, seed, max_steps, deadline)
    if sim.ended is WalkEnd.STOPPED:
        _stopped("the walk", deadline.reason,
                 f"the run so far ({len(sim.run) - 1} steps) is shown")
    times = sim.timing.times_ms if sim.timing.feasible else None
    steps = run_steps(sim.view, sim.run, times)
    ending = sim.ended.words or f"stopped after {max_steps} steps"
    title = f"{ts.model.name}: random run, seed {seed} ({ending})"
    if output is not None:
        written = save_drawing(ladder_dot(steps, title, timers=timer_ranges(ts.model)), output,
                               deadline)
        if written.message:
            click.echo(f"tcpcheck: {written.message}", err=True)
    if as_json:
        doc = {"model": str(path), "seed": seed, "params": {
            k: ts.param_value(k, v) for k, v in sim.params.items()}, "ended": sim.ended,
            "trace": steps}
        if sim.error is not None:
            diag, lines = model_error_diagnostic(sim.error, sim.view, sim.run)
            doc["error"] = {**diag.as_json(), "run": lines}
        emit_json(doc)
    else:
        click.echo(title)
        click.echo(ladder_text(steps))
        if sim.error is not None:
            diag, _ = model_error_diagnostic(sim.error, sim.view, sim.run)
            click.echo(render(Diagnostic(diag.code, diag.message, diag.span),
                              {ts.model.path: ts.model.text}))
        if output is not None:
            click.echo(f"wrote {written.image_path or written.dot_path}")
    sys.exit(exit_status(model_error=sim.error is not None,
                         partial=sim.ended is WalkEnd.STOPPED,
                         interrupted=deadline.signal is not None))


def _only(sf, name):
    """A spec file reduced to one property (the others need not be checked)."""
    return replace(sf, properties=tuple(p for p in sf.properties if p.name == name))


@main.command(name="map")
@_model_argument
@_explore_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@_workers_option("Map parameter combinations")
@_core_option
def map_(model, params, max_states, time_limit, max_memory, no_progress, as_json, jobs, core,
         no_cache):
    """Which kinds of close each parameter combination allows, and for which timer durations.

    Every complete run of MODEL is classified by what it puts on the wire (four-way,
    three-way, simultaneous, rst, incomplete); z3 turns the runs' timing into a condition on
    the durations of the timers whose range is not a single value. This answers "when does
    a capture show three segments instead of four?" from the model itself. Runs are counted,
    not listed (a product of the graph with the kind of close); a kind reached through a
    cycle has infinitely many runs ("infinite", null in JSON).

    \b
    Example:
      tcpcheck map                     # the default model
      tcpcheck map --json
    """
    from .behaviour import KINDS, map_rows_on  # deferred: behaviour loads z3 and networkx

    deadline = command_deadline(time_limit, max_memory)
    _no_cache(no_cache)
    path, ts, ex = _explore(model, params, max_states, deadline, no_progress, as_json,
                            core=core)
    _report_model_error(ex)
    if not ex.complete:
        click.echo(f"tcpcheck: the search stopped early ({ex.stop_reason}); a behaviour map "
                   "needs every run", err=True)
        sys.exit(_exit_for(ex, deadline))
    try:
        rows, stop = _rows_until_stopped(map_rows_on(ex, deadline, jobs or default_jobs()))
    except WorkerLost as err:
        _worker_lost(err)
    if stop is not None:
        _stopped("the behaviour map", stop, f"{len(rows)} of {len(ex.initial)} parameter "
                 "combinations mapped (shown); the others are unknown")
    if as_json:
        doc = {"model": ts.model.name, "file": str(path), "states": ex.n_states,
               "kinds": list(KINDS),
               "rows": [{"params": {n: ts.param_value(n, v) for n, v in r.params.items()},
                         "kinds": r.kinds, "runs": r.runs} for r in rows]}
        if stop is not None:
            doc.update(complete=False, stop_reason=stop)
        emit_json(doc)
        sys.exit(_exit_for(ex, deadline, stop))
    from rich.console import Console  # deferred: rich costs 0.1 s a start
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    console.print(f"[bold]{ts.model.name}[/bold] ({path}): kinds of close by parameters; "
                  "a condition says for which timer durations the kind can happen")
    if ts.fixed_params_text():
        console.print(f"fixed: {ts.fixed_params_text()}", soft_wrap=True)
    table = Table("parameters", "kind of close", "possible when", "runs", box=None,
                  pad_edge=False)
    varying = ts.varying_params()
    for r in rows:
        shown = ts.params_text(r.params, [k for k in r.params if k in varying]) or "(all fixed)"
        first = True
        for kind in KINDS:
            if kind not in r.kinds:
                continue
            runs = r.runs.get(kind, 0)
            # None: a cycle of the graph reaches the end, so runs of this kind never run out
            table.add_row(shown if first else "", kind, r.kinds[kind],
                          "infinite" if runs is None else str(runs))
            first = False
    console.print(table)
    if stop is not None:
        console.print(f"[yellow]partial ({stop}): {len(rows)} of {len(ex.initial)} parameter "
                      "combinations mapped[/yellow]")
    sys.exit(_exit_for(ex, deadline, stop))


def _rows_until_stopped(rows) -> tuple[list, StopReason | None]:
    """Take rows from a generator until it raises LimitReached: (the rows, why it stopped)."""
    out = []
    try:
        for row in rows:
            out.append(row)
    except LimitReached as stop:
        return out, stop.reason
    return out, None


# replay and conform live in their own module (the kernel side of tcpcheck)
register(main)
main.add_command(report_command)
main.add_command(diagrams_command)
register_edit(main)   # lsp and watch
main.add_command(list_command)
main.add_command(fmt_command)

if __name__ == "__main__":
    main()
