"""Dead variables: which of an endpoint's variables it can still read, by its TCP state.

A closed socket no longer cares how many segments it sent or whether it had unread data, yet
two states that differ only in such values are two states to the explorer. Like SPIN's dead
variable elimination, the compiler resets every variable that no transition can read any
more to its lowest value, so that such states become one. The reset is exact: the states it
merges have the same futures (the same steps, observations and segments), and a property
that reads a variable keeps it (`compile_model(..., keep=...)`).

The analysis is static and per endpoint, keyed by the value of its tcp_state variable (the
"mode"):

1. timers: from the initial modes, follow every transition that can be enabled in a mode to
   the modes its paths assign, tracking which timers may be running. A transition that waits
   for a timer (`expire T`, `after T`) can only fire in modes where T may run; a condition
   that the mode (or a timer known to be off) decides prunes its branches.
2. reads: a variable is read in a mode if a transition that can fire there reads it, in its
   guard or on a path its conditions allow.
3. liveness: a variable is live in a mode if it is read there or in a mode reachable from it;
   everything else is dead there.

Anything the analysis cannot decide it takes as possible (a condition it cannot evaluate,
a mode assigned from an expression), so it errs towards live. tests/test_liveness.py checks
the result the way it matters: merging states never changes a successor.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import model as c
from .params import ConstantError, eval_const

UNKNOWN = None  # three-valued logic: True, False or unknown


@dataclass(frozen=True)
class EndpointLiveness:
    mode_var: str                          # the endpoint's tcp_state variable
    dead: dict[int, frozenset[str]]        # mode value -> variables dead in that mode
    fires_in: dict[int, frozenset[int]]    # transition index -> modes it may fire in


def endpoint_liveness(model: c.CheckedModel, inst: c.CInstance,
                      combos: list[dict[str, int]]) -> EndpointLiveness | None:
    """Dead variables of one instance by mode, or None if it has no tcp_state variable."""
    ep = model.endpoint(inst.endpoint)
    mode = next((v for v in ep.vars if v.domain.type == c.Type("enum", "tcp_state")), None)
    if mode is None:
        return None
    n_modes = len(model.enum_values("tcp_state"))
    settings = dict(inst.bindings)
    initial = {eval_const(mode.init, env, settings) for env in combos}
    analysis = _Analysis(mode.name, n_modes, ep.transitions, combos, settings)
    running = analysis.timers(initial)
    reads: dict[int, set[str]] = {m: set() for m in running}
    succ: dict[int, set[int]] = {m: set() for m in running}
    fires_in: dict[int, set[int]] = {tr.index: set() for tr in ep.transitions}
    for m, run in running.items():
        for tr in ep.transitions:
            if not analysis.may_fire(tr, m, run):
                continue
            fires_in[tr.index].add(m)
            reads[m] |= _vars(tr.guard)
            for target, _run, path_reads in analysis.walk(tr, m, run):
                reads[m] |= path_reads
                succ[m] |= set(range(n_modes)) if target is None else {target}
    live = {m: set(r) for m, r in reads.items()}
    changed = True
    while changed:  # live(m) = reads(m) + live of every mode reachable in one step
        changed = False
        for m in live:
            for m2 in succ[m]:
                extra = live.get(m2, set(v.name for v in ep.vars)) - live[m]
                if extra:
                    live[m] |= extra
                    changed = True
    names = {v.name for v in ep.vars} - {mode.name}
    return EndpointLiveness(mode.name, {m: frozenset(names - live[m]) for m in live},
                            {i: frozenset(ms) for i, ms in fires_in.items()})


class _Analysis:
    def __init__(self, mode_var: str, n_modes: int, transitions, combos=(), settings=None):
        self.mode_var = mode_var
        self.n_modes = n_modes
        self.transitions = transitions
        self.combos = combos          # the parameter combinations the system is compiled for
        self.over_parameters: dict = {}   # condition over parameters -> parameters_decide
        self.settings = settings      # the instance's settings (constant per combination)

    # ------------------------------------------------------------ which timers may run

    def timers(self, initial: set[int]) -> dict[int, frozenset[str]]:
        running: dict[int, frozenset[str]] = {m: frozenset() for m in initial}
        work = sorted(initial)
        while work:
            m = work.pop()
            for tr in self.transitions:
                if not self.may_fire(tr, m, running[m]):
                    continue
                for target, run, _reads in self.walk(tr, m, running[m]):
                    for m2 in (range(self.n_modes) if target is None else (target,)):
                        old = running.get(m2)
                        new = run if old is None else old | run
                        if new != old:
                            running[m2] = new
                            work.append(m2)
        return running

    def may_fire(self, tr: c.CTransition, m: int, run: frozenset[str]) -> bool:
        timer = tr.event.name if tr.event.kind == "expire" else tr.after
        if timer is not None and timer not in run:
            return False
        return self.value(tr.guard, m, run) is not False

    # ------------------------------------------------------------ paths through a body

    def walk(self, tr: c.CTransition, m: int, run: frozenset[str]):
        """(mode after or None for any, timers that may run after, variables read) per path."""
        fired = tr.event.name if tr.event.kind == "expire" else tr.after
        start = run - {fired} if fired else run
        return self.block(tr.body, m, start, frozenset())

    def block(self, stmts, m, run, reads):
        outcomes = [(m, run, reads)]
        for s in stmts:
            outcomes = [o for (m1, r1, rd1) in outcomes for o in self.stmt(s, m1, r1, rd1)]
        return outcomes

    def stmt(self, s, m, run, reads):
        if isinstance(s, c.SAssign):
            reads = reads | _vars(s.value)
            if isinstance(s.target, c.RLocal) and s.target.name == self.mode_var:
                v = s.value
                m = v.value if isinstance(v, c.RConst) else None
            return [(m, run, reads)]
        if isinstance(s, c.STimer):
            return [(m, run | {s.timer} if s.op == "arm" else run - {s.timer}, reads)]
        if isinstance(s, c.SSend):
            for _name, r in s.fields:
                reads = reads | _vars(r)
            return [(m, run, reads)]
        if isinstance(s, c.SObserve):
            return [(m, run, reads)]
        assert isinstance(s, c.SIf)
        out = []
        for cond, body in s.branches:
            value = True if cond is None else self.value(cond, m, run)
            if value is False:
                continue
            branch_reads = reads if value is True else reads | _vars(cond)
            out += self.block(body, m, _refine(cond, True, run), branch_reads)
            if value is True:
                return out
            reads = branch_reads  # the next condition is evaluated after this one
            run = _refine(cond, False, run)
        out.append((m, run, reads))  # no branch taken
        return out

    # ------------------------------------------------------------ three-valued conditions

    def parameters_decide(self, r: c.RExpr):
        """Parameters never change: a condition over them alone that has one value in every
        combination is decided (`more_calls` when no combination sets it); else UNKNOWN."""
        try:
            seen = {bool(eval_const(r, env, self.settings)) for env in self.combos}
        except (ConstantError, ZeroDivisionError, KeyError):  # the explorer reports it
            return UNKNOWN
        return seen.pop() if len(seen) == 1 else UNKNOWN

    def value(self, r: c.RExpr | None, m, run):
        """True, False, or UNKNOWN when the mode and the timers that may run do not decide."""
        if r is None:
            return True
        if isinstance(r, c.RConst):
            return bool(r.value)
        if isinstance(r, c.RRunning):
            return False if r.timer not in run else UNKNOWN
        if self.combos and _over_parameters(r):
            if r not in self.over_parameters:
                self.over_parameters[r] = self.parameters_decide(r)
            decided = self.over_parameters[r]
            if decided is not UNKNOWN:
                return decided
        if not isinstance(r, c.ROp):
            return UNKNOWN
        if r.op == "not":
            a = self.value(r.args[0], m, run)
            return UNKNOWN if a is UNKNOWN else not a
        if r.op in ("and", "or"):
            vals = [self.value(a, m, run) for a in r.args]
            stop = r.op == "or"  # a True decides `or`, a False decides `and`
            if stop in vals:
                return stop
            return UNKNOWN if UNKNOWN in vals else not stop
        if r.op in ("==", "!=") and m is not None:
            a, b = r.args
            if isinstance(b, c.RLocal) and b.name == self.mode_var:
                a, b = b, a
            if isinstance(a, c.RLocal) and a.name == self.mode_var and isinstance(b, c.RConst):
                return (m == b.value) == (r.op == "==")
        return UNKNOWN


def _over_parameters(r: c.RExpr) -> bool:
    """Whether an expression reads only parameters, settings and constants."""
    if isinstance(r, (c.RConst, c.RParam, c.RSetting)):
        return True
    return isinstance(r, c.ROp) and all(_over_parameters(a) for a in r.args)


def _refine(cond: c.RExpr | None, holds: bool, run: frozenset[str]) -> frozenset[str]:
    """The timers that may run once `cond` is known to be `holds`: `running(T)` false (or
    `not running(T)` true, or a true conjunction containing either) means T is off."""
    if cond is None:
        return run
    if isinstance(cond, c.RRunning):
        return run if holds else run - {cond.timer}
    if isinstance(cond, c.ROp) and cond.op == "not":
        return _refine(cond.args[0], not holds, run)
    if isinstance(cond, c.ROp) and cond.op == "and" and holds:
        for a in cond.args:
            run = _refine(a, True, run)
    if isinstance(cond, c.ROp) and cond.op == "or" and not holds:
        for a in cond.args:
            run = _refine(a, False, run)
    return run


def _vars(r: c.RExpr | None) -> set[str]:
    if r is None:
        return set()
    if isinstance(r, c.RLocal):
        return {r.name}
    if isinstance(r, c.ROp):
        out: set[str] = set()
        for a in r.args:
            out |= _vars(a)
        return out
    return set()
