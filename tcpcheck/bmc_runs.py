"""Bounded checking of the run properties (`reachable`, `runs`, `timing`) on the symbolic engine.

A run property speaks of complete runs: runs that end where no step is enabled
(Exploration.terminal). Depth by depth, the unrolling (bmc.Unrolling) is asked for complete
runs of exactly k steps; each one it gives is replayed through the successor function, and
the property is decided on it by the explorer's own monitor (query._Monitor, over the run's
states), so the meaning of `eventually`, `count`, `before`... is stated once. The run is then
excluded and the next asked for, until none is left at that depth or MAX_RUNS_PER_DEPTH.

A run the timers forbid (the explorer's timing check, timing.IncrementalRun, step by step) is
excluded by its shortest forbidden prefix, at this depth and every later one: timing
constraints only accumulate, so no run that begins so is possible in time, and the search
goes on to the runs that are; a timed witness or violation is found or ruled out up to the
depth however many untimed runs share a forbidden beginning.

Verdicts, sound by construction:
- reachable: a complete run the monitor accepts and the timers allow is a witness: holds.
- runs: a complete run the monitor rejects and the timers allow is a counterexample: violated.
- timing: the runs the monitor accepts, each turned into a condition on the durations by the
  explorer's own code (timing.DurationQuestion), the answer and verdict as the explorer's
  (query.duration_verdict); exact only when every run was looked at (or it is already every
  duration), otherwise inconclusive with the answer so far.
- every complete run of up to N steps seen, none deciding: `runs` holds up to depth N; for
  `reachable` a witness may be longer, so no answer (inconclusive).
- when no run of N + 1 steps the timers allow exists at all (the model's timed runs all end
  within N steps), the enumeration covered every complete run: the answer is exact (holds /
  violated).
"""
from __future__ import annotations

from dataclasses import dataclass

import z3

from . import spec as S
from .bmc import RunDoesNotReplay, SymbolicResult, Unrolling, forbidden_prefix, replay
from .query import _Eval, _Monitor, duration_verdict
from .timing import DurationQuestion, check_run
from .transitions import TransitionSystem
from .verdicts import Verdict

MAX_RUNS_PER_DEPTH = 2_000   # complete runs of one length looked at before giving up


@dataclass(frozen=True)
class _RunView:
    """What the explorer's monitor reads of an exploration, for one run: its states by id
    (the run's positions)."""

    system: TransitionSystem
    states: list[int]


def monitor_verdict(ts: TransitionSystem, formula, run: list[tuple[int, int]]) -> bool:
    """The property's formula on one complete run, decided by the explorer's monitor."""
    view = _RunView(ts, [state for _v, state in run])
    mon = _Monitor(_Eval(view), formula)
    m = mon.initial(view.states[0])
    for i in range(1, len(run)):
        m = mon.step(m, i - 1, i, run[i][0], view.states[i])
    return bool(mon.top(m, view.states[-1]))


@dataclass
class _Open:
    prop: S.Property
    want: bool                  # reachable, timing: looking for runs that satisfy it
    result: SymbolicResult | None = None
    durations: DurationQuestion | None = None   # timing: the runs that satisfy it, so far
    example: list[tuple[int, int]] | None = None


@dataclass
class _Search:
    """The unrolling and what the timers ruled out: prefixes of runs no run may begin with
    (kept outside the depth's push/pop, so deeper runs never begin so either)."""

    un: Unrolling
    forbidden: list[list[tuple[int, int]]]


def check_runs(ts: TransitionSystem, props: list[S.Property], depth: int,
               deadline=None) -> list[SymbolicResult]:
    """Every `reachable`, `runs` and `timing` property in `props` by complete runs of up to
    `depth` steps (`terminates`: inconclusive, saying why)."""
    opens = [_Open(p, p.kind != "runs",
                   durations=DurationQuestion(ts, tuple(p.timers)) if p.kind == "timing" else None)
             for p in props if p.kind in ("reachable", "runs", "timing")]
    search = _Search(Unrolling(ts), [])
    un = search.un
    seen = -1                   # every complete run of up to this many steps was looked at
    complete_at = None          # the depth past which no run goes: the enumeration is exact
    for k in range(depth + 2):
        if not any(o.result is None for o in opens):
            break
        if deadline is not None and deadline.expired():
            break
        if k:
            un.deepen()
        if un.solver.check() == z3.unsat:
            complete_at = k - 1 if seen == k - 1 else None
            break
        if k > depth or _runs_at(search, k, [o for o in opens if o.result is None]):
            break       # past the bound, or more runs of k steps than are looked at
        seen = k
    for o in opens:
        if o.result is None:
            o.result = _undecided(ts, o, seen, complete_at is not None, bool(search.forbidden))
    out = {o.prop.name: o.result for o in opens}
    return [out.get(p.name) or _other_kind(p) for p in props]


def _runs_at(search: _Search, k: int, opens: list[_Open]) -> bool:
    """Decide what the complete runs of exactly k steps decide; True when there were more
    than MAX_RUNS_PER_DEPTH of them (some unseen). A run the timers forbid is excluded by
    its shortest forbidden prefix, here and at every later depth."""
    un = search.un
    ts = un.ts
    cuts = []
    un.solver.push()
    try:
        un.solver.add(un.stuck_at(k))
        for _ in range(MAX_RUNS_PER_DEPTH):
            if not any(o.result is None for o in opens) or un.solver.check() != z3.sat:
                return False
            run = replay(ts, un.run_of(un.solver.model(), k))
            if ts.successors(run[-1][1]):
                raise RunDoesNotReplay(f"a run of {k} steps the symbolic engine says is "
                                       "complete goes on in the successor function")
            cut = forbidden_prefix(ts, run)
            if cut is not None:
                cuts.append(run[:cut + 1])
                un.solver.add(un.excluding(run[:cut + 1]))
                continue
            _decide(ts, run, opens)
            un.solver.add(un.excluding(run))
        return un.solver.check() == z3.sat
    finally:
        un.solver.pop()
        for prefix in cuts:
            un.solver.add(un.excluding(prefix))
        search.forbidden += cuts


def _decide(ts: TransitionSystem, run, opens: list[_Open]) -> None:
    """What one complete run the timers allow decides."""
    timing = None
    for o in opens:
        if o.result is not None or monitor_verdict(ts, o.prop.formula, run) != o.want:
            continue
        if o.durations is not None:
            if o.durations.add([ts.variants[v] for v, _ in run[1:]]) and o.example is None:
                o.example = run
            continue
        timing = timing or check_run(ts, [ts.variants[v] for v, _ in run[1:]])
        steps = len(run) - 1
        base = dict(name=o.prop.name, kind=o.prop.kind, doc=o.prop.doc, source=o.prop.source)
        if o.want:
            o.result = SymbolicResult(verdict=Verdict.HOLDS, run=run, times=timing.times_ms,
                                      depth=steps, message=(
                                          f"witness: a run of {steps} steps (bounded model "
                                          "checking, replayed)"), **base)
        else:
            o.result = SymbolicResult(verdict=Verdict.VIOLATED, run=run, times=timing.times_ms,
                                      depth=steps, message=(
                                          f"a complete run of {steps} steps breaks it "
                                          "(bounded model checking, replayed)"), **base)


def _undecided(ts: TransitionSystem, o: _Open, depth: int, exhaustive: bool,
               timed: bool) -> SymbolicResult:
    """The verdict once the runs are all looked at; `exhaustive`: every complete run the
    timers allow ends within `depth` steps; `timed`: some runs were left out because the
    timers forbid them."""
    base = dict(name=o.prop.name, kind=o.prop.kind, doc=o.prop.doc, source=o.prop.source)
    if depth < 0:
        return SymbolicResult(verdict=Verdict.INCONCLUSIVE, message=(
            "stopped before the complete runs of 0 steps were looked at"), **base)
    allowed = "the timers allow " if timed else ""
    if o.durations is not None:
        return _durations(ts, o, depth, exhaustive, timed, base)
    if exhaustive:
        # every run ends within `depth` steps and every complete run was looked at
        if o.want:
            return SymbolicResult(verdict=Verdict.VIOLATED, depth=depth, message=(
                f"no complete run {allowed}satisfies it (every run {allowed}ends within "
                f"{depth} steps; all were looked at)"), **base)
        return SymbolicResult(verdict=Verdict.HOLDS, depth=depth, message=(
            f"every complete run {allowed}satisfies it (every run {allowed}ends within "
            f"{depth} steps; all were looked at)"), **base)
    if o.want:
        return SymbolicResult(verdict=Verdict.INCONCLUSIVE, depth=depth, message=(
            f"no witness among the complete runs of up to {depth} steps; a longer one may "
            "exist (bounded model checking cannot say there is none)"), **base)
    return SymbolicResult(verdict=Verdict.BOUNDED, depth=depth, message=(
        f"no complete run of up to {depth} steps breaks it (bounded: not a proof)"), **base)


def _durations(ts: TransitionSystem, o: _Open, depth: int, exhaustive: bool, timed: bool,
               base: dict) -> SymbolicResult:
    """A timing query's answer from the complete runs looked at, by the explorer's own code
    (timing.DurationQuestion, query.duration_verdict). Exact when they are every run the
    timers allow, or when it is already every duration; otherwise a longer run may widen
    it: inconclusive, with what was found."""
    answer = o.durations.answer(complete=exhaustive)
    if not answer.complete:
        return SymbolicResult(verdict=Verdict.INCONCLUSIVE, depth=depth, durations=answer,
                              message=(
            f"among the complete runs of up to {depth} steps, possible "
            f"{'when ' + answer.text if answer.possible else 'never'}; a longer run may "
            "widen it (bounded model checking)"), **base)
    timing = check_run(ts, [ts.variants[v] for v, _ in o.example[1:]]) if o.example else None
    verdict = duration_verdict(answer, o.example, timing, untimed_known=not timed)
    return SymbolicResult(depth=depth, **verdict, **base)


def _other_kind(p: S.Property) -> SymbolicResult:
    why = {
        "terminates": "it says every run ends: a run that never ends is a cycle, which a "
                      "bounded unrolling cannot tell from a long run",
    }.get(p.kind, f"the symbolic engine does not check {p.kind} properties")
    return SymbolicResult(p.name, p.kind, Verdict.INCONCLUSIVE, f"not checked: {why}",
                          doc=p.doc, source=p.source)
