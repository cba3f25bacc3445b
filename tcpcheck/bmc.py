"""Bounded model checking of invariants on the symbolic engine (tcpcheck.symbolic).

The steps are unrolled depth by depth in one incremental z3 solver: states s0, s1, ... sN (each
one small bit-vector per slot: tcpcheck.symbolic.SlotState), variants x0, x1, ..., the first
state one of the initial states and each next one a successor by some path of some step. At
every depth each invariant's negation is asked under push/pop, so the first violation found is
at the least depth: a shortest run, as the explorer's. A run found this way is shown only after
it replays through the successor function (tcpcheck.successors, the first sink) step by step,
variant by variant: a run that does not replay is a bug of this engine and fails loudly
(RunDoesNotReplay), never a verdict. A replayed run then has its timing decided by the same
code as the explorer's runs (timing.check_run); a run the timers forbid is excluded and the
depth asked again.

Verdicts: violated (with the run); holds up to depth N (Verdict.BOUNDED: no run of at most N
steps breaks it, said as such, never "holds": bounded checking proves nothing past N). A
model error reachable within the depth (a step that fails, TCP500/TCP501) leaves every
property without an answer, as it does for the explorer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import z3

from . import spec as S
from .symbolic import SlotState, failing, slot_state, symbolic_steps, width_of
from .timing import DurationAnswer, IncrementalRun, check_run
from .transitions import ExplorationError, TransitionSystem
from .verdicts import Verdict

VARIANT_BITS = 16       # variants are numbered below 2**16
MAX_UNTIMED_RUNS = 50   # runs the timers forbid, at one depth, before giving up (inconclusive)


class RunDoesNotReplay(AssertionError):
    """The symbolic engine reported a run that the successor function does not take: the two
    sinks disagree, a bug (never shown as a verdict)."""


class Unsupported(Exception):
    """A property this engine does not check yet: its verdict is inconclusive, saying why."""


class ProvedBy(Enum):
    """How an invariant the symbolic engine says holds was proved."""

    K_INDUCTION = "k-induction"
    SPACER = "Spacer"     # z3's constrained Horn clauses; its invariant checked again


@dataclass
class SymbolicResult:
    """One property checked by bounded model checking."""

    name: str
    kind: str
    verdict: Verdict
    message: str
    run: list[tuple[int, int]] | None = None   # (variant, packed state); the first variant -1
    times: list[float] | None = None
    depth: int = 0                             # the depth the verdict was reached at
    notes: list[str] = field(default_factory=list)
    doc: str | None = None
    source: str = ""
    durations: DurationAnswer | None = None     # timing queries: for which durations
    proved_by: ProvedBy | None = None           # a proof's method (holds, unbounded)

    @property
    def answer(self) -> str | None:
        """A timing query's answer in words, as the explorer's (query.PropertyResult)."""
        return self.durations.text if self.durations is not None else None


def forbidden_prefix(ts: TransitionSystem, run: list[tuple[int, int]]) -> int | None:
    """The number of steps of the shortest prefix of `run` the timers rule out (the
    explorer's timing constraints, step by step in one incremental solver); None when the
    whole run is possible in time. Every run beginning with that prefix is ruled out too."""
    inc = IncrementalRun(ts)
    for k, (vid, _state) in enumerate(run[1:], start=1):
        if not inc.push(ts.variants[vid]):
            return k
    return None


def replay(ts: TransitionSystem, run: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The run, checked step by step against the successor function; raises
    RunDoesNotReplay at the first step it does not take."""
    if not run or run[0][1] not in ts.initial:
        raise RunDoesNotReplay("the run does not start in an initial state")
    for k in range(1, len(run)):
        (_v, before), (vid, after) = run[k - 1], run[k]
        try:
            taken = ts.successors(before)
        except ExplorationError as err:
            raise RunDoesNotReplay(f"step {k}: the successor function fails there: {err}") \
                from None
        if (vid, after) not in taken:
            raise RunDoesNotReplay(
                f"step {k}: variant {vid} from state {before:#x} to {after:#x} is not a step "
                f"of the successor function (it takes {sorted(taken)[:8]})")
    return run


def step_solver() -> z3.Solver:
    """A solver for the unrolled steps. Their terms are bit-vectors and booleans only (slots,
    channels as fixed-size arrays of slots, the variant), so z3's QF_BV solver answers them:
    it bit-blasts to its SAT core and stays incremental (push/pop, assumptions). On Houdini's
    rounds at the `close` configuration's n = 3 (5,946 candidate facts) it answered about 5x
    faster than the general solver (bench/RESULTS.md)."""
    return z3.SolverFor("QF_BV")


class Unrolling:
    """The steps unrolled from the initial states, one depth at a time, in one solver."""

    def __init__(self, ts: TransitionSystem, from_initial: bool = True):
        """`from_initial`: the first state is an initial state (bounded model checking);
        otherwise any state at all (the inductive step of tcpcheck.kinduction)."""
        self.ts = ts
        self.width = width_of(ts)
        here, there = slot_state(ts, "s"), slot_state(ts, "s'")
        x = z3.BitVec("x", VARIANT_BITS)
        steps = symbolic_steps(ts, here.packed, by_slot=True)
        # the relation over (here, there, x) once, slot by slot; each depth substitutes its
        # own variables
        self._here, self._there, self._x = here, there, x
        self._rel = z3.simplify(z3.Or([z3.And(p.condition, there.equals(p.successor, ts),
                                              x == p.variant)
                                       for st in steps for p in st.paths]))
        self._fails = z3.simplify(failing(steps))
        # no step at all: where a complete run ends (Exploration.terminal)
        self._stuck = z3.simplify(z3.Not(z3.Or([st.enabled for st in steps])))
        self.states: list[SlotState] = [slot_state(ts, "s0")]
        self.variants: list[z3.BitVecRef] = []
        self.solver = step_solver()
        if from_initial:
            self.solver.add(z3.Or([self.states[0].is_value(i, ts) for i in ts.initial]))

    def states_for_relation(self) -> tuple[SlotState, SlotState]:
        """The two states the one-step relation is stated over (before, after)."""
        return self._here, self._there

    @property
    def relation(self) -> z3.BoolRef:
        """One step from states_for_relation()[0] to [1] (with variant_of_relation)."""
        return self._rel

    @property
    def variant_of_relation(self) -> z3.BitVecRef:
        return self._x

    @property
    def relation_fails(self) -> z3.BoolRef:
        """Some step fails in states_for_relation()[0]."""
        return self._fails

    @property
    def depth(self) -> int:
        return len(self.variants)

    def _at(self, k: int, nxt: SlotState | None = None):
        pairs = list(zip(self._here.variables, self.states[k].variables))
        if nxt is not None:
            pairs += list(zip(self._there.variables, nxt.variables))
        return pairs

    def deepen(self) -> None:
        k = self.depth
        nxt, x = slot_state(self.ts, f"s{k + 1}"), z3.BitVec(f"x{k}", VARIANT_BITS)
        self.solver.add(z3.substitute(self._rel, *self._at(k, nxt), (self._x, x)))
        self.states.append(nxt)
        self.variants.append(x)

    def fails_at(self, k: int) -> z3.BoolRef:
        return z3.substitute(self._fails, *self._at(k))

    def stuck_at(self, k: int) -> z3.BoolRef:
        return z3.substitute(self._stuck, *self._at(k))

    def packed(self, k: int) -> z3.BitVecRef:
        """The state at depth k as the packed bit-vector the properties read."""
        return self.states[k].packed

    def run_of(self, m: z3.ModelRef, k: int) -> list[tuple[int, int]]:
        """The run of k steps in the model, re-packed to the successor function's ints."""
        run = [(-1, self.states[0].pack(m, self.ts))]
        for i in range(k):
            vid = m.eval(self.variants[i], model_completion=True).as_long()
            run.append((vid, self.states[i + 1].pack(m, self.ts)))
        return run

    def excluding(self, run: list[tuple[int, int]]) -> z3.BoolRef:
        """Not this run (its states and variants) nor, when it is shorter than the unrolling,
        any run that begins with it."""
        k = len(run) - 1
        same = [self.states[i].is_value(run[i][1], self.ts) for i in range(k + 1)]
        same += [self.variants[i] == run[i + 1][0] for i in range(k)]
        return z3.Not(z3.And(same))


def state_predicate(ts: TransitionSystem, e, s: z3.BitVecRef):
    """A resolved state predicate (tcpcheck.spec) as a z3 term over the packed state, with
    the meaning query._Eval.state_fn gives it (booleans as 0/1, comparisons as 0/1)."""
    w = s.size()

    def num(x):
        return z3.If(x, z3.BitVecVal(1, w), z3.BitVecVal(0, w)) if z3.is_bool(x) else x

    def truth(x):
        return x if z3.is_bool(x) else x != 0
    if isinstance(e, S.Const):
        return z3.BitVecVal(e.value, w)
    if isinstance(e, S.SlotVal):
        slot = ts.slots[e.slot]
        return ((s >> slot.offset) & slot.mask) + slot.base
    if isinstance(e, S.ChanLen):
        slot = ts.slots[e.slot]
        v = (s >> slot.offset) & slot.mask
        # segments in the channel: ceil(bit_length / seg_width), counted from the top
        count = z3.BitVecVal(0, w)
        for k in range(1, slot.width // ts.seg_width + 1):
            count = z3.If(z3.UGE(v, 1 << (ts.seg_width * (k - 1))), z3.BitVecVal(k, w), count)
        return count
    assert isinstance(e, S.Op), e
    if e.op in ("/", "%"):
        raise Unsupported("division in a property")
    a = [state_predicate(ts, x, s) for x in e.args]
    match e.op:
        case "not": return z3.Not(truth(a[0]))
        case "neg": return -num(a[0])
        case "and": return z3.And([truth(x) for x in a])
        case "or": return z3.Or([truth(x) for x in a])
        case "implies": return z3.Implies(truth(a[0]), truth(a[1]))
        case "==": return num(a[0]) == num(a[1])
        case "!=": return num(a[0]) != num(a[1])
        case "<": return num(a[0]) < num(a[1])
        case "<=": return num(a[0]) <= num(a[1])
        case ">": return num(a[0]) > num(a[1])
        case ">=": return num(a[0]) >= num(a[1])
        case "+": return num(a[0]) + num(a[1])
        case "-": return num(a[0]) - num(a[1])
        case "*": return num(a[0]) * num(a[1])
    raise Unsupported(f"the operator {e.op}")


def check_bounded(ts: TransitionSystem, props: list[S.Property], depth: int,
                  deadline=None) -> list[SymbolicResult]:
    """Every property, by bounded model checking up to `depth` steps."""
    un = Unrolling(ts)
    results: dict[str, SymbolicResult] = {}
    open_: list[tuple[S.Property, object]] = []
    for p in props:
        base = dict(name=p.name, kind=p.kind, doc=p.doc, source=p.source)
        if p.kind != "invariant":
            results[p.name] = SymbolicResult(verdict=Verdict.INCONCLUSIVE, message=(
                f"the symbolic engine checks invariants only (not {p.kind} properties) yet"),
                **base)
            continue
        try:
            s = z3.BitVec("p", un.width)
            pred = state_predicate(ts, p.formula, s)
            pred = pred if z3.is_bool(pred) else pred != 0
            open_.append((p, (s, pred)))
        except Unsupported as why:
            results[p.name] = SymbolicResult(verdict=Verdict.INCONCLUSIVE, message=(
                f"the symbolic engine cannot check it yet: {why}"), **base)
    model_error = None
    for k in range(depth + 1):
        if deadline is not None and deadline.expired():
            break
        if k:
            un.deepen()
        if open_ and model_error is None:
            model_error = model_error_at(un, k)
            if model_error is not None:
                for p, _ in open_:
                    results[p.name] = SymbolicResult(
                        p.name, p.kind, Verdict.INCONCLUSIVE,
                        f"the model fails in a state reached in {k} steps: {model_error}",
                        depth=k, doc=p.doc, source=p.source)
                open_ = []
        still = []
        for p, (s, pred) in open_:
            found = violation(un, k, z3.simplify(
                z3.substitute(z3.Not(pred), (s, un.packed(k)))))
            if found is None:
                still.append((p, (s, pred)))
                continue
            run, timing = found
            if timing is None:
                results[p.name] = SymbolicResult(
                    p.name, p.kind, Verdict.INCONCLUSIVE,
                    f"too many runs of {k} steps the timers forbid", depth=k, doc=p.doc,
                    source=p.source)
            else:
                results[p.name] = SymbolicResult(
                    p.name, p.kind, Verdict.VIOLATED,
                    f"a state reached in {k} steps breaks it (bounded model checking)",
                    run=run, times=timing.times_ms, depth=k, doc=p.doc, source=p.source)
        open_ = still
        if not open_:
            break
    for p, _ in open_:
        results[p.name] = SymbolicResult(
            p.name, p.kind, Verdict.BOUNDED,
            f"no run of up to {un.depth} steps breaks it (bounded: not a proof)",
            depth=un.depth, doc=p.doc, source=p.source)
    return [results[p.name] for p in props]


def violation(un: Unrolling, k: int, bad: z3.BoolRef):
    """A run of k steps to a state where `bad` holds that the timers allow: (run, timing);
    (run, None) when too many are forbidden; None when there is none."""
    un.solver.push()
    try:
        un.solver.add(bad)
        for _ in range(MAX_UNTIMED_RUNS):
            if un.solver.check() != z3.sat:
                return None
            run = replay(un.ts, un.run_of(un.solver.model(), k))
            cut = forbidden_prefix(un.ts, run)
            if cut is None:
                return run, check_run(un.ts, [un.ts.variants[v] for v, _ in run[1:]])
            un.solver.add(un.excluding(run[:cut + 1]))
        return run, None
    finally:
        un.solver.pop()


def model_error_at(un: Unrolling, k: int) -> str | None:
    """Whether some step fails in a state reached in k steps (confirmed by the successor
    function, which must raise there)."""
    un.solver.push()
    try:
        un.solver.add(un.fails_at(k))
        if un.solver.check() != z3.sat:
            return None
        run = replay(un.ts, un.run_of(un.solver.model(), k))
        try:
            un.ts.successors(run[-1][1])
        except ExplorationError as err:
            return str(err)
        raise RunDoesNotReplay("the symbolic engine says a step fails in a state where the "
                               "successor function does not")
    finally:
        un.solver.pop()


def agrees(explicit, symbolic: SymbolicResult) -> bool | None:
    """Whether the explorer's verdict (a query.PropertyResult) and the symbolic engine's say
    the same (None: nothing to compare, one of them has no answer). Holds (proved) agrees
    with holds (vacuously too); "holds up to depth N" agrees with holds, and with a violation
    whose run is longer than N; a violation agrees with a violation, for an invariant at the
    same depth (both find shortest runs), for a run property at most as deep (the symbolic
    engine looks at every complete run of each length in turn)."""
    if symbolic.kind == "timing":
        return _durations_agree(explicit, symbolic)
    s, e = symbolic.verdict, explicit.verdict
    if s not in (Verdict.VIOLATED, Verdict.HOLDS, Verdict.BOUNDED) or \
            e not in (Verdict.VIOLATED, Verdict.HOLDS, Verdict.VACUOUS):
        return None
    e_holds = e is not Verdict.VIOLATED
    steps = len(explicit.run) - 1 if explicit.run else None
    if s is Verdict.HOLDS:
        return e_holds
    if s is Verdict.BOUNDED:
        return e_holds or (steps is not None and steps > symbolic.depth)
    if e_holds:
        return False
    if steps is None or symbolic.run is None:
        return True
    return symbolic.depth == steps if symbolic.kind == "invariant" else symbolic.depth <= steps


def _durations_agree(explicit, symbolic: SymbolicResult) -> bool | None:
    """Two answers to a timing query: the same verdict and the same words when both looked
    at every run; an answer from some of the runs must allow no duration the other's
    complete answer does not (None: nothing to compare)."""
    e, s = explicit.durations, symbolic.durations
    if e is None or s is None:
        return None
    if e.complete and s.complete:
        return explicit.verdict is symbolic.verdict and e.text == s.text
    if e.complete and not s.within(e) or s.complete and not e.within(s):
        return False
    return None
