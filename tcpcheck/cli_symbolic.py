"""`tcpcheck check --engine symbolic|both`: the specs' properties on the symbolic engine
(tcpcheck.symbolic_check: k-induction, Spacer, bounded model checking), alone or beside the
explorer's verdicts, which they must agree with."""
from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import click

from . import load
from . import spec as S
from .bmc import SymbolicResult, agrees
from .cli_io import emit_json, fail_input
from .diagnostics import TcpcheckError
from .explore import explore
from .kinduction import LEMMA_HOUDINI_SECONDS, LEMMA_REACHED_STATES, Strengthening, \
    strengthen_from
from .lemmas import mine
from .symbolic_check import check_symbolic_properties
from .trace import path_view, run_lines, run_steps
from .verdicts import ExitStatus, exit_status
from .verify import DEFAULT_SPEC_DIR, check_model, group_by_model, merge_params, spec_files


def check_symbolic(files, params, engine: str, depth: int, model_override, default_model: Path,
                   as_json: bool, deadline, lemmas_from=(), no_progress: bool = False) -> None:
    """Check every spec's properties with the symbolic engine (and the explorer: `both`);
    print the verdicts and exit with their status (1 when the engines disagree).
    `lemmas_from`: parameter settings (`D=2`) at which the model is explored completely for
    the facts that strengthen k-induction (tcpcheck.lemmas), instead of a bounded
    exploration at the checked size. On a terminal a status line says how far the mining
    and Houdini are (`no_progress`: none)."""
    status = _status(not no_progress and not as_json)
    try:
        specs, model_arg = spec_files(list(files), DEFAULT_SPEC_DIR)
        groups = group_by_model(specs, model_override or model_arg, default_model, list(params))
        docs, verdicts, disagree = [], [], 0
        for (model_path, spec_params), group in groups.items():
            chosen = merge_params(spec_params, list(params))
            read = frozenset().union(*(S.variables_read(sf) for _p, sf in group))
            ts = load(model_path, chosen, keep=read)
            props = [p for _path, sf in group for p in S.resolve(sf, ts)]
            start = time.perf_counter()
            strong = None
            if lemmas_from and any(p.kind == "invariant" for p in props):
                with status or contextlib.nullcontext():
                    strong = _mined_strengthening(model_path, chosen, lemmas_from, read, ts,
                                                  deadline, status)
            sym = check_symbolic_properties(ts, props, depth, deadline, strengthening=strong)
            seconds = time.perf_counter() - start
            explicit = None
            if engine == "both":
                explicit = check_model(model_path, group, chosen, None, None, deadline=deadline)
            doc = _doc(ts, model_path, group, chosen, depth, sym, explicit, seconds)
            disagree += sum(1 for p in doc["properties"] if p.get("engines_agree") is False)
            verdicts += [r.verdict for r in sym]
            docs.append(doc)
    except TcpcheckError as err:
        fail_input(err, as_json)
    if as_json:
        emit_json(docs[0] if len(docs) == 1 else {"models": docs})
    else:
        for doc in docs:
            _print(doc)
    if disagree:
        click.echo(f"tcpcheck: the engines disagree on {disagree} properties", err=True)
        sys.exit(ExitStatus.VIOLATED)
    sys.exit(exit_status(verdicts, interrupted=deadline.signal is not None))


def _status(enabled: bool):
    """A status line on stderr while facts are mined and proved (minutes at a large size:
    Houdini's rounds), when stderr is a terminal; None otherwise."""
    if not enabled or not sys.stderr.isatty():
        return None
    from rich.console import Console  # deferred: rich costs 0.1 s a start
    return Console(stderr=True).status("mining facts")


def _mined_strengthening(model_path, chosen, lemmas_from, read, ts, deadline,
                         status=None) -> Strengthening:
    """Explore the model completely at the `lemmas_from` settings, mine facts from every
    state, carry them over to `ts` and keep what Houdini proves inductive there. What a
    limit cuts short proves nothing: the facts found so far are proposed all the same (a
    state the search did not reach only makes a candidate wrong, and Houdini drops it)."""
    small = load(model_path, merge_params((), [getattr(p, "text", p) for p in chosen]
                                          + list(lemmas_from)), keep=read)
    say = status.update if status is not None else (lambda _text: None)
    where = ", ".join(lemmas_from)
    ex = explore(small, record_edges=False, deadline=deadline, core="auto",
                 progress=lambda _done, found, _edges: say(f"exploring at {where}: "
                                                           f"{found:,} states"))
    at = where + ("" if ex.complete else f", stopped: {ex.stop_reason}")
    say(f"mining facts from {len(ex.states):,} states at {where}")
    mined = mine(small, ex.states, ts, at)
    total = len(mined.candidates)
    # --time-limit bounds Houdini when given (minutes at a large size); else a default
    seconds = float("inf") if deadline.seconds is not None else LEMMA_HOUDINI_SECONDS
    # before the solver's first round: the size checked explored breadth-first (seconds)
    say(f"Houdini: {total:,} facts read first in up to {LEMMA_REACHED_STATES:,} reachable states")
    kept = strengthen_from(ts, mined, deadline, seconds, progress=lambda rounds, left: say(
        f"Houdini: {left:,} of {total:,} facts kept, solver round {rounds + 1}"))
    if kept is None:
        why = "a limit" if deadline.seconds is not None or deadline.expired() else \
            f"its default {LEMMA_HOUDINI_SECONDS:.0f} s (--time-limit gives it longer)"
        return Strengthening((), len(mined.candidates), mined.states,
                             f"{at}; Houdini stopped by {why}, none")
    return kept


def _doc(ts, model_path, group, params, depth, sym: list[SymbolicResult], explicit, seconds):
    props = []
    for k, r in enumerate(sym):
        p = {"name": r.name, "kind": r.kind, "verdict": str(r.verdict), "message": r.message,
             "answer": r.answer, "depth": r.depth, "run": None}
        if r.run is not None:
            region = ts.initial.index(r.run[0][1])
            view, run = path_view(ts, r.run, region)
            p["run"] = run_steps(view, run, r.times)
            p["run_lines"] = run_lines(view, run, r.times)
        if explicit is not None:
            e = explicit.verdicts[k]
            p["explicit"] = {"verdict": str(e.verdict), "message": e.message,
                             "answer": e.answer, "steps": len(e.run) - 1 if e.run else None}
            p["engines_agree"] = agrees(e, r)
        props.append(p)
    return {"model": str(model_path), "specs": [str(p) for p, _ in group],
            "params": [getattr(p, "text", p) for p in params], "engine": "symbolic",
            "depth": depth, "seconds": round(seconds, 3), "properties": props}


def _print(doc: dict) -> None:
    with_ = f" with {', '.join(doc['params'])}" if doc["params"] else ""
    click.echo(f"{doc['model']}{with_}: symbolic engine to depth {doc['depth']} "
               f"({doc['seconds']:.1f} s), specs: {', '.join(doc['specs'])}")
    for p in doc["properties"]:
        line = f"  {p['name']} ({p['kind']}): {p['verdict']}"
        if p["verdict"] == "holds up to depth":
            line += f" {p['depth']}"
        line += f": {p['message']}"
        if "explicit" in p:
            agree = {True: "agrees", False: "DISAGREES", None: "not compared"}[p["engines_agree"]]
            line += f"  [explicit: {p['explicit']['verdict']}; {agree}]"
        click.echo(line)
        for run_line in p.get("run_lines", []):
            click.echo("      " + run_line)
