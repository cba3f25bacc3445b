"""Unbounded proofs of invariants by k-induction on the symbolic engine (tcpcheck.bmc).

An invariant P is proved when, for some k up to the depth asked,

- base: no run of at most k steps from an initial state reaches a state breaking P, untimed
  (bounded model checking, bmc.Unrolling: a timed violation found there is the verdict);
- step: no path of k + 1 steps from *any* state, whose first k + 1 states satisfy P and
  whose states are all different, ends in a state breaking it.

Both hold together: every reachable state satisfies P, for every run (the timers only take
runs away). P here includes "no step fails" (a model error, TCP500/TCP501, which the explorer
reports instead of a verdict), so a proof also says the model never fails.

The step alone is rarely provable for a protocol invariant: an arbitrary state satisfying
P may hold contents no run produces (a FIN in flight from a socket still ESTABLISHED). The
step therefore assumes a *strengthening*: facts proved inductive first, here by Houdini's
method. The candidates are what states found by the explorer say (each slot's values, each
pair of slots' values; from as many states as a bounded exploration finds, so a candidate
may be false past them). Every candidate holds in the initial states; the candidates that a
step from a state satisfying all of them can break are dropped until none can: what is left
is an inductive invariant of the model, proved by z3, whatever produced the candidates. A
wrong candidate costs a fact, never soundness.

Verdicts: holds (proved by k-induction at k=K), violated (a replayed, timed run), or holds up
to depth N (Verdict.BOUNDED) when neither is reached by k = N.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import combinations

import z3

from . import spec as S
from .bmc import ProvedBy, SymbolicResult, Unrolling, Unsupported, model_error_at, \
    state_predicate, violation
from .csink import CoreUnavailable
from .explore import explore
from .symbolic import SlotState, width_of
from .transitions import ExplorationError, TransitionSystem
from .verdicts import Verdict

HOUDINI_SECONDS = 60        # how long Houdini may filter the candidates (then: no facts)
LEMMA_HOUDINI_SECONDS = 600  # ... the candidates mined at a smaller size (lemmas.py): more
                             # of them, over a larger state (--time-limit replaces it)
SPACER_SECONDS = 120        # how long z3's Spacer may look for an inductive invariant
SAMPLE_STATES = 2_000       # states of a bounded exploration the candidate facts come from
REACHED_STATES = 1_000      # reachable states read before Houdini's solver starts
LEMMA_REACHED_STATES = 100_000  # ... for facts carried over from a smaller size: most are
                                # false at the larger one, and a state the explorer finds drops
                                # a false fact for far less than a solver round does
CTI_STATES = 1_000         # states run through from each state the solver finds
MAX_PAIR_VALUES = 512       # a pair of slots with more value pairs than this gives no fact
MAX_PROJECTION_ROWS = 5_000  # nor a wider projection with more rows (a term z3 chokes on)


@dataclass(frozen=True)
class Fact:
    """The slots `slots` (indices) hold one of `values` (their stored values, as tuples) in
    every reachable state: a candidate until Houdini keeps it."""

    slots: tuple[int, ...]
    values: frozenset[tuple[int, ...]]

    def holds(self, ts: TransitionSystem, packed: int) -> bool:
        return tuple((packed >> ts.slots[i].offset) & ts.slots[i].mask
                     for i in self.slots) in self.values

    def reads(self) -> tuple[int, ...]:
        """The slots `holds` reads: a state's other bits do not change its answer."""
        return self.slots

    def term(self, st: SlotState) -> z3.BoolRef:
        vs = [st.slots[i] for i in self.slots]
        return z3.Or([z3.And([v == x for v, x in zip(vs, row)]) for row in sorted(self.values)])


@dataclass(frozen=True)
class Strengthening:
    """Facts proved to be an inductive invariant of the model (together)."""

    facts: tuple[Fact, ...]
    candidates: int      # how many were proposed
    sampled: int         # from how many explored states
    origin: str = ""     # the parameter values they were explored at, when not the checked ones

    def term(self, st: SlotState) -> z3.BoolRef:
        return z3.And([f.term(st) for f in self.facts]) if self.facts else z3.BoolVal(True)

    @property
    def text(self) -> str:
        at = f" at {self.origin}" if self.origin else ""
        return (f"{len(self.facts)} of {self.candidates} facts from {self.sampled:,} explored "
                f"states{at} proved inductive")


def candidate_facts(ts: TransitionSystem, states: list[int]) -> list[Fact]:
    """Each slot's values and each pair of slots' values in `states` (pairs with few values
    only: a fact with hundreds of rows constrains little and costs the solver much)."""
    live = [i for i, slot in enumerate(ts.slots) if slot.width]
    raw = {i: [(s >> ts.slots[i].offset) & ts.slots[i].mask for s in states] for i in live}
    facts = [Fact((i,), frozenset((v,) for v in raw[i])) for i in live]
    for i, j in combinations(live, 2):
        seen = frozenset(zip(raw[i], raw[j]))
        if len(seen) <= MAX_PAIR_VALUES and len(seen) < len(set(raw[i])) * len(set(raw[j])):
            facts.append(Fact((i, j), seen))
    # wider projections: one endpoint's own slots with the channels, and the whole state (the
    # explored set itself, inductive when the exploration was complete)
    channels = [i for i in live if ts.slots[i].kind == "channel"]
    wide = [[i for i in live if ts.slots[i].owner == inst.name and i not in channels] + channels
            for inst in ts.model.instances] + [live]
    for slots in wide:
        rows = frozenset(zip(*(raw[i] for i in slots)))
        if slots and len(rows) <= MAX_PROJECTION_ROWS:
            facts.append(Fact(tuple(slots), rows))
    return facts


def houdini(ts: TransitionSystem, facts: list, deadline=None,
            seconds: float = HOUDINI_SECONDS, progress=None,
            reached: int = REACHED_STATES, core: str = "python") -> list | None:
    """The largest subset of `facts` that is inductive (every step from a state satisfying
    all of them reaches one that does), assuming each holds initially; None when `seconds`,
    the deadline's time or its memory bound end the search (nothing proved). A fact is
    anything with `term(SlotState)`: a Fact, or a lemmas.Candidate. `progress(round, kept)`
    is called before each of the solver's rounds (a round drops the facts one made-up state
    breaks: at a large size there are hundreds). First the facts false in one of the
    `reached` states a breadth-first search (`core`: explore's) finds are dropped: no
    inductive invariant holding initially has them, so the answer is the same, for less."""
    kept = _true_in(ts, facts, list(range(len(facts))), _reached(ts, reached, deadline, core),
                    deadline)
    breaks = _Breaks(ts, facts, kept)
    un = Unrolling(ts, from_initial=False)
    un.deepen()
    here, there = un.states[0], un.states[1]
    # each fact's terms built once; a literal per fact switches its assumption on, so the
    # solver keeps what it learnt from one round to the next
    before = [f.term(here) for f in facts]
    after = [f.term(there) for f in facts]
    switch = [z3.Bool(f"fact{i}") for i in range(len(facts))]
    un.solver.add([z3.Implies(a, b) for a, b in zip(switch, before)])
    end = time.perf_counter() + seconds
    if deadline is not None and deadline.max_memory_mb is not None:
        # z3 answers unknown rather than grow past the command's bound (its own allocator)
        z3.set_param("memory_max_size", max(int(deadline.max_memory_mb), 64))
    rounds = 0
    while kept:
        if progress is not None:
            progress(rounds, len(kept))
        rounds += 1
        left = end - time.perf_counter()
        if deadline is not None and deadline.seconds is not None:
            left = min(left, deadline.left())
        if left <= 0 or deadline is not None and deadline.expired():
            return None
        if left != float("inf"):    # no bound but the process's own (bench/engines.py)
            un.solver.set(timeout=int(left * 1000))
        un.solver.push()
        un.solver.add(z3.Or([z3.Not(after[i]) for i in kept]))
        try:
            answer = un.solver.check([switch[i] for i in kept])
        except z3.Z3Exception:          # z3 past its memory bound
            return None
        model = un.solver.model() if answer == z3.sat else None
        un.solver.pop()
        if answer == z3.unknown:
            return None
        if model is None:
            return [facts[i] for i in kept]
        kept = [i for i in kept if z3.is_true(model.eval(after[i], model_completion=True))]
        kept = _refuted(ts, breaks, kept, [here.pack(model, ts)], CTI_STATES)
    return []


def _reached(ts: TransitionSystem, budget: int, deadline, core: str) -> list[int]:
    """Up to `budget` reachable states, breadth-first from the initial ones (all of them
    when the search stops early: what it found is reachable all the same)."""
    try:
        ex = explore(ts, max_states=budget, record_edges=False, deadline=deadline,
                     core="c" if core == "auto" else core)
    except CoreUnavailable:   # said nowhere: the user asked for a proof, not a search
        ex = explore(ts, max_states=budget, record_edges=False, deadline=deadline)
    return [*ex.states, *ts.initial]


def _mask(ts: TransitionSystem, fact) -> int:
    """The bits of a packed state that `fact.holds` reads."""
    mask = 0
    for j in fact.reads():
        mask |= ts.slots[j].mask << ts.slots[j].offset
    return mask


def _by_mask(ts: TransitionSystem, facts: list, kept: list[int]) -> dict[int, list[int]]:
    """The facts in `kept` grouped by the bits they read."""
    groups: dict[int, list[int]] = {}
    for i in kept:
        groups.setdefault(_mask(ts, facts[i]), []).append(i)
    return groups


def _true_in(ts: TransitionSystem, facts: list, kept: list[int], states: list[int],
             deadline=None) -> list[int]:
    """`kept` without the facts false in one of `states`. A fact reads a few slots
    (`reads()`), so the states are cut down to those first: a million states have a few
    thousand distinct values there, and each is read once."""
    true = set()
    for mask, idx in _by_mask(ts, facts, kept).items():
        if deadline is not None and deadline.expired():
            return kept           # the solver's loop stops at once: nothing is proved
        values = {s & mask for s in states}
        true.update(i for i in idx if all(facts[i].holds(ts, v) for v in values))
    return [i for i in kept if i in true]


class _Breaks:
    """Which facts a state breaks, one state at a time (the states Houdini runs through
    from each made-up one). The facts are grouped by the bits they read; a group's answer
    for a value of its bits is remembered, so a state whose bits were all seen before
    costs a lookup per group, not a reading of every fact (made-up states share most)."""

    def __init__(self, ts: TransitionSystem, facts: list, kept: list[int]):
        self.ts, self.facts = ts, facts
        self.groups = list(_by_mask(ts, facts, kept).items())
        self.seen: list[dict[int, tuple[int, ...]]] = [{} for _ in self.groups]

    def of(self, s: int, alive: set[int]) -> set[int]:
        """The facts in `alive` that `s` breaks (`alive` only shrinks: what a group's value
        was read against once covers every later `alive`)."""
        out: set[int] = set()
        for (mask, idx), seen in zip(self.groups, self.seen):
            v = s & mask
            bad = seen.get(v)
            if bad is None:
                bad = seen[v] = tuple(i for i in idx
                                      if i in alive and not self.facts[i].holds(self.ts, v))
            out.update(bad)
        return out & alive


def _refuted(ts: TransitionSystem, breaks: _Breaks, kept: list[int], start: list[int],
             budget: int) -> list[int]:
    """`kept` without the facts false in a successor of a state that satisfies all of them,
    found by running the successor function from `start` (each such state satisfies them,
    or is initial) through states satisfying what is left, up to `budget` states. Dropping
    such a fact is what Houdini's solver would do, one model at a time: the concrete steps
    drop dozens at once, so the solver is asked far fewer times."""
    alive = set(kept)
    seen, work = set(start), list(start)
    for s in start:
        alive -= breaks.of(s, alive)
    while work and len(seen) < budget:
        s = work.pop()
        try:
            after = [t for _v, t in ts.successors(s)]
        except ExplorationError:      # the model fails there: the solver's turn to judge
            continue
        for t in after:
            alive -= breaks.of(t, alive)
            if t not in seen:         # it satisfies every fact kept: its steps count too
                seen.add(t)
                work.append(t)
    return [i for i in kept if i in alive]


def strengthen(ts: TransitionSystem, deadline=None,
               sample: int = SAMPLE_STATES) -> Strengthening:
    """Candidate facts from a bounded exploration, filtered by Houdini."""
    ex = explore(ts, max_states=sample, record_edges=False, deadline=deadline)
    states = list(ex.states)
    for i in ts.initial:          # the candidates must hold initially: Houdini assumes it
        if i not in ex.states:
            states.append(i)
    facts = candidate_facts(ts, states)
    kept = houdini(ts, facts, deadline) or []
    return Strengthening(tuple(kept), len(facts), len(states))


def strengthen_from(ts: TransitionSystem, mined, deadline=None,
                    seconds: float = LEMMA_HOUDINI_SECONDS,
                    progress=None) -> Strengthening | None:
    """The candidates lemmas.mine carried over from a smaller size, filtered by Houdini at
    `ts` (`progress`: houdini's); None when a limit ended Houdini first (the command then
    has no proof to give)."""
    kept = houdini(ts, list(mined.candidates), deadline, seconds, progress,
                   LEMMA_REACHED_STATES, "auto")
    if kept is None:
        return None
    return Strengthening(tuple(kept), len(mined.candidates), mined.states, mined.origin)


def check_inductive(ts: TransitionSystem, props: list[S.Property], depth: int, deadline=None,
                    strengthening: Strengthening | None = None,
                    spacer: bool = True) -> list[SymbolicResult]:
    """Every invariant in `props` by k-induction, k = 0..depth, then (`spacer`) by z3's
    Spacer when k-induction does not prove it."""
    made: list[Strengthening] = [strengthening] if strengthening is not None else []

    def strong() -> Strengthening:
        # only when a step is first asked: a violation found before needs none
        if not made:
            made.append(strengthen(ts, deadline))
        return made[0]
    return [_prove(ts, p, depth, strong, deadline, spacer) for p in props]


def _predicate(ts: TransitionSystem, p: S.Property, width: int):
    s = z3.BitVec("p", width)
    pred = state_predicate(ts, p.formula, s)
    return s, (pred if z3.is_bool(pred) else pred != 0)


def _prove(ts, p: S.Property, depth: int, strong_of, deadline,
           spacer: bool = True) -> SymbolicResult:
    base = dict(name=p.name, kind=p.kind, doc=p.doc, source=p.source)
    try:
        s, pred = _predicate(ts, p, width_of(ts))
    except Unsupported as why:
        return SymbolicResult(verdict=Verdict.INCONCLUSIVE,
                              message=f"the symbolic engine cannot check it yet: {why}", **base)
    reach = Unrolling(ts)                       # the base: runs from the initial states
    free = strong = None        # the step: paths from any state (made when first asked)
    untimed_bad = None          # a depth where an untimed run breaks it (no proof then)

    def good(un: Unrolling, k: int) -> z3.BoolRef:
        return z3.And(z3.substitute(pred, (s, un.packed(k))), z3.Not(un.fails_at(k)))

    for k in range(depth + 1):
        if deadline is not None and deadline.expired():
            return _bounded(base, reach.depth - 1, strong, "the time limit ended it")
        if k:
            reach.deepen()
        error = model_error_at(reach, k)
        if error is not None:
            return SymbolicResult(verdict=Verdict.INCONCLUSIVE, depth=k, message=(
                f"the model fails in a state reached in {k} steps: {error}"), **base)
        bad = z3.Not(z3.substitute(pred, (s, reach.packed(k))))
        # untimed first: a run the timers forbid still leaves the untimed proof nothing
        untimed = reach.solver.check(bad) == z3.sat
        if untimed and untimed_bad is None:
            untimed_bad = k
        found = violation(reach, k, bad) if untimed else None
        if found is not None:
            run, timing = found
            if timing is not None:
                return SymbolicResult(
                    verdict=Verdict.VIOLATED, run=run, times=timing.times_ms, depth=k,
                    message=f"a state reached in {k} steps breaks it (bounded model checking)",
                    **base)
        if untimed_bad is not None:
            continue
        if free is None:
            strong = strong_of()
            free = Unrolling(ts, from_initial=False)
            free.solver.add(strong.term(free.states[0]))
        if _step_holds(free, k, good, strong):
            return SymbolicResult(verdict=Verdict.HOLDS, depth=k,
                                  proved_by=ProvedBy.K_INDUCTION, message=(
                f"proved by k-induction at k={k} ({strong.text})"), **base)
    if untimed_bad is not None:
        return _bounded(base, depth, strong,
                        f"runs the timers forbid break it from {untimed_bad} steps on")
    if spacer and spacer_proves(ts, s, pred, deadline, strong=strong) is True:
        return SymbolicResult(verdict=Verdict.HOLDS, depth=depth,
                              proved_by=ProvedBy.SPACER, message=(
            f"proved by z3's Spacer: an inductive invariant, checked, implies it (not "
            f"inductive by k-induction up to k={depth}{_assuming(strong)})"), **base)
    return _bounded(base, depth, strong, f"not inductive up to k={depth}")


def _assuming(strong: Strengthening | None) -> str:
    """What Spacer was given to assume, for its verdict's message."""
    return f"; with the {strong.text}" if strong is not None and strong.facts else ""


def _step_holds(free: Unrolling, k: int, good, strong: Strengthening) -> bool:
    """The inductive step at k: k + 1 different states satisfying the property (and the
    strengthening), each the last's successor, are followed by a state that satisfies it."""
    while free.depth < k + 1:
        free.deepen()
        new = free.depth
        free.solver.add(strong.term(free.states[new]))
        free.solver.add([free.packed(i) != free.packed(new) for i in range(new)])
    free.solver.push()
    try:
        free.solver.add([good(free, i) for i in range(k + 1)])
        free.solver.add(z3.Not(good(free, k + 1)))
        return free.solver.check() == z3.unsat
    finally:
        free.solver.pop()


def _bounded(base: dict, depth: int, strong: Strengthening | None, why: str) -> SymbolicResult:
    facts = f" ({strong.text})" if strong is not None else ""
    return SymbolicResult(verdict=Verdict.BOUNDED, depth=max(depth, 0), message=(
        f"no run of up to {max(depth, 0)} steps breaks it, but no proof: {why}{facts}"), **base)


def spacer_proves(ts: TransitionSystem, s: z3.BitVecRef, pred: z3.BoolRef, deadline=None,
                  seconds: float = SPACER_SECONDS,
                  strong: Strengthening | None = None) -> bool | None:
    """Whether z3's Spacer (constrained Horn clauses: Inv holds initially, is kept by every
    step, and excludes states breaking `pred` or where a step fails) finds an inductive
    invariant; the invariant it returns is then checked by a plain solver (the three
    clauses), so the proof does not rest on Spacer. None: no answer in time."""
    un = Unrolling(ts, from_initial=False)
    here, there = un.states_for_relation()
    hv, tv = list(here.variables), list(there.variables)
    inv = z3.Function("Inv", *[v.sort() for v in hv], z3.BoolSort())
    fp = z3.Fixedpoint()
    fp.set(engine="spacer")
    left = seconds if deadline is None or deadline.seconds is None else \
        min(seconds, max(deadline.left(), 1))
    fp.set(timeout=int(left * 1000))
    fp.register_relation(inv)
    fp.declare_var(*hv, *tv, un.variant_of_relation)
    init = z3.Or([here.is_value(i, ts) for i in ts.initial])
    bad = z3.Or(z3.Not(z3.substitute(pred, (s, here.packed))), un.relation_fails)
    facts = strong.term(here) if strong is not None else z3.BoolVal(True)
    fp.rule(inv(*hv), [init, facts])
    # the strengthening holds in every reachable state (proved): Spacer may assume it
    fp.rule(inv(*tv), [inv(*hv), un.relation, strong.term(there) if strong else True])
    try:
        if fp.query(z3.And(inv(*hv), bad)) != z3.unsat:
            return None
    except z3.Z3Exception:      # its time ran out ("canceled")
        return None
    answer = fp.get_answer()
    body = answer.body() if z3.is_quantifier(answer) else answer
    if not (z3.is_eq(body) and z3.is_app_of(body.arg(0), z3.Z3_OP_UNINTERPRETED)):
        return None
    order = [z3.get_var_index(a) for a in body.arg(0).children()]
    by_index = [None] * len(order)
    for j, idx in enumerate(order):
        by_index[idx] = j

    def at(st) -> z3.BoolRef:
        vs = list(st.variables)
        return z3.substitute_vars(body.arg(1), *[vs[by_index[i]] for i in range(len(order))])
    check = z3.Solver()
    for claim in (z3.And(init, facts, z3.Not(at(here))),
                  z3.And(at(here), facts, un.relation, z3.Not(at(there))),
                  z3.And(at(here), facts, bad)):
        if check.check(claim) != z3.unsat:
            raise AssertionError("Spacer's invariant does not check: a bug of this engine")
    return True
