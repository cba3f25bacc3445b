"""Timing with z3: is a run possible within the model's timer ranges, and when?

The explorer abstracts time away: a running timer may expire at any moment and other events
may happen in any order. A run is only real if timestamps t_0 = 0 <= t_1 <= ... exist such
that
  * a timer's expiry (an `expire T` event, or an event `after T`) happens between lo and hi
    after the timer was (last) armed;
  * while a timer runs, every other event happens no later than its upper bound (it would
    have fired first); at the very instant a timer runs out, either may go first (a race,
    as in timed automata).
These are linear constraints over the reals; z3 decides them, gives concrete times, names the
constraints that clash (an unsat core, in the model's words), and, with some durations left
symbolic, eliminates the timestamps to answer "for which durations is this run possible?".
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

import z3

from .transitions import TransitionSystem, Variant


@dataclass(frozen=True)
class TimerRef:
    instance: str
    name: str
    lo_ms: float
    hi_ms: float | None

    @property
    def label(self) -> str:
        return f"{self.instance}.{self.name}"

    def range_text(self) -> str:
        hi = "inf" if self.hi_ms is None else f"{self.hi_ms:g}"
        return f"{self.lo_ms:g}..{hi} ms"


def timers_of(ts: TransitionSystem) -> dict[tuple[str, str], TimerRef]:
    out = {}
    for inst in ts.model.instances:
        for t in ts.model.endpoint(inst.endpoint).timers:
            out[(inst.name, t.name)] = TimerRef(inst.name, t.name, t.lo_ms, t.hi_ms)
    return out


@dataclass
class RunTiming:
    feasible: bool
    times_ms: list[float] | None          # one per state of the run (t_0 = 0)
    conflict: list[str] | None            # sentences naming the clashing constraints


class _Builder:
    """Constraints of one run, each tracked under a readable sentence."""

    def __init__(self, ts: TransitionSystem, symbolic: dict[tuple[str, str], z3.ArithRef] | None):
        self.ts = ts
        self.timers = timers_of(ts)
        self.symbolic = symbolic or {}
        self.facts: list[tuple[z3.BoolRef, str]] = []
        self.durations: list[z3.ArithRef] = []  # one per arming of a timer that is not symbolic

    def add(self, c, why: str) -> None:
        self.facts.append((c, why))

    def build(self, variants: list[Variant]) -> list[z3.ArithRef]:
        t = [z3.Real(f"t{i}") for i in range(len(variants) + 1)]
        self.add(t[0] == 0, "the run starts at time 0")
        running: dict[tuple[str, str], tuple[int, z3.ArithRef]] = {}  # timer -> (step armed, duration)
        in_flight: dict[str, list[int]] = {ch.name: [] for ch in self.ts.channels}  # send steps
        for i, v in enumerate(variants, start=1):
            self.step(v, i, t, running, in_flight)
        return t

    def step(self, v: Variant, i: int, t, running, in_flight) -> None:
        """The constraints step i (variant v) adds; `running` and `in_flight` are updated."""
        self.add(t[i] >= t[i - 1], f"step {i} happens after step {i - 1}")
        self.network(v, i, t, in_flight)
        fired = (v.instance, v.fired) if v.fired else None
        for key, (armed, dur) in running.items():
            if key == fired:
                continue
            ref = self.timers[key]
            if ref.hi_ms is None and key not in self.symbolic:
                continue
            self.add(t[i] <= t[armed] + dur,
                     f"{ref.label} ({ref.range_text()}), armed at step {armed}, has not "
                     f"fired yet when step {i} ({v.label}) happens")
        if fired is not None:
            armed, dur = running.pop(fired)
            ref = self.timers[fired]
            self.add(t[i] == t[armed] + dur,
                     f"step {i} ({v.label}) is {ref.label} running out, {ref.range_text()} "
                     f"after step {armed} armed it")
        for op, name in v.timer_ops:
            key = (v.instance, name)
            if op == "cancel":
                running.pop(key, None)
                continue
            dur = self.duration(key, i)
            running[key] = (i, dur)

    def network(self, v: Variant, i: int, t, in_flight) -> None:
        """A segment arrives within its channel's delay range after it was sent (FIFO)."""
        if v.instance is None:  # a loss: the head segment is gone, in transit
            ch = next(ch for ch in self.ts.channels if ch.name in v.event.name)
            if in_flight[ch.name]:
                sent = in_flight[ch.name].pop(0)
                hi = ch.delay_ms[1]
                if hi is not None:
                    self.add(t[i] <= t[sent] + hi, f"the segment sent at step {sent} is lost "
                             f"in transit, within {hi:g} ms (step {i})")
            self._in_transit(i, t, in_flight)
            return
        if v.event.kind == "recv":
            ch = next(c for c in self.ts.channels if c.dst == v.instance)
            if in_flight[ch.name]:
                sent = in_flight[ch.name].pop(0)
                lo, hi = ch.delay_ms
                if lo:
                    self.add(t[i] >= t[sent] + lo, f"the segment sent at step {sent} takes at "
                             f"least {lo:g} ms to reach {ch.dst} (step {i})")
                if hi is not None:
                    self.add(t[i] <= t[sent] + hi, f"the segment sent at step {sent} reaches "
                             f"{ch.dst} within {hi:g} ms (step {i})")
        self._in_transit(i, t, in_flight)
        for name, _flags in v.sends:
            in_flight[name].append(i)

    def _in_transit(self, i: int, t, in_flight) -> None:
        """A segment still on the wire at step i was sent no longer ago than its channel's
        longest delay (it must arrive, or be lost, by then). Complete runs satisfy this anyway
        through their arrivals; it lets a search drop a prefix as soon as the time is past."""
        for ch in self.ts.channels:
            hi = ch.delay_ms[1]
            if hi is None:
                continue
            for sent in in_flight[ch.name]:
                self.add(t[i] <= t[sent] + hi, f"the segment sent at step {sent} is still on "
                         f"its way to {ch.dst} at step {i}, within {hi:g} ms of leaving")

    def duration(self, key, step: int):
        ref = self.timers[key]
        if key in self.symbolic:
            return self.symbolic[key]
        d = z3.Real(f"d_{ref.instance}_{ref.name}_{step}")
        self.durations.append(d)
        self.add(d >= ref.lo_ms, f"{ref.label} lasts at least {ref.lo_ms:g} ms")
        if ref.hi_ms is not None:
            self.add(d <= ref.hi_ms, f"{ref.label} lasts at most {ref.hi_ms:g} ms")
        return d


class IncrementalRun:
    """A run built one step at a time with z3's incremental solver, so that a search can drop
    a prefix the timers already rule out (every extension of it is ruled out too)."""

    def __init__(self, ts: TransitionSystem, fixed: dict[tuple[str, str], float] | None = None):
        # `fixed` pins timers to one duration each ((instance, timer) -> ms), for example the
        # think time a conformance scenario really waited
        self.b = _Builder(ts, {k: z3.RealVal(ms) for k, ms in (fixed or {}).items()})
        self.solver = z3.Solver()
        self.t = [z3.Real("t0")]
        self.solver.add(self.t[0] == 0)
        self.running: dict = {}
        self.in_flight: dict[str, list[int]] = {ch.name: [] for ch in ts.channels}
        self.saved: list = []
        self.checks = 0

    def push(self, v: Variant, pin: tuple | None = None, check: bool = True) -> bool:
        """Add one step; whether the run so far is still possible in time. `pin` = (step,
        ms): this step happens `ms` after that earlier step (a captured timestamp); or a tuple
        of (step, ms, tolerance): within `tolerance` ms of that (a packetdrill script's call).
        With `check=False` the caller already knows the answer is yes: z3 is not asked."""
        self.saved.append((dict(self.running), {k: list(q) for k, q in self.in_flight.items()}))
        self.solver.push()
        i = len(self.t)
        self.t.append(z3.Real(f"t{i}"))
        self.b.facts = []
        self.b.step(v, i, self.t, self.running, self.in_flight)
        self.solver.add(*[c for c, _ in self.b.facts])
        for anchor, ms, tolerance in _pin_list(pin):
            if anchor > i:
                continue
            if tolerance:
                self.solver.add(self.t[i] >= self.t[anchor] + ms - tolerance,
                                self.t[i] <= self.t[anchor] + ms + tolerance)
            elif anchor < i:
                self.solver.add(self.t[i] == self.t[anchor] + ms)
        if not check:
            return True
        self.checks += 1
        return self.solver.check() == z3.sat

    def pop(self) -> None:
        self.solver.pop()
        self.t.pop()
        self.running, self.in_flight = self.saved.pop()


def _pin_list(pin: tuple | None) -> list[tuple[int, float, float]]:
    """IncrementalRun.push's `pin` as (step, ms, tolerance) triples."""
    if pin is None:
        return []
    if isinstance(pin[0], int):
        return [(pin[0], pin[1], 0.0)]
    return [(p[0], p[1], p[2] if len(p) > 2 else 0.0) for p in pin]


class TimedSearch:
    """Depth-first search for runs the timers allow, over any graph whose edges are variants.

    Each path is grown one step at a time in an IncrementalRun, so a prefix the timers rule
    out is dropped with all its extensions. Whether a prefix fits depends only on its variants
    and pinned times, so the answers are kept by prefix: searching again (from another start,
    or deeper) asks z3 only about prefixes it has not seen. After `budget` z3 checks the
    search stops and `exhausted` is set. `check` uses it through query.timed_search, `replay`
    to find a capture's run that fits in time."""

    def __init__(self, ts: TransitionSystem, budget: int,
                 fixed: dict[tuple[str, str], float] | None = None, difference: bool = False):
        self.variants = ts.variants
        # `difference`: the prefixes checked as difference constraints (DifferenceRun, the
        # same answers without z3: replay's search of many runs asks tens of thousands)
        self.inc = DifferenceRun(ts, fixed) if difference else IncrementalRun(ts, fixed)
        self.budget = budget
        self.exhausted = False
        # a cycle that arms a timer was cut (paths(acyclic=True)): the search covered less
        # than every run, so "no run fits" is not its answer
        self.cut_timed_cycle = False
        # the prefixes asked about, as a tree: (parent prefix, variant, pin) -> prefix id,
        # and whether each fits in time; prefix 0 is the empty run
        self._prefix: dict[tuple[int, int, object], int] = {}
        self._fits: list[bool] = [True]

    def paths(self, start, children, is_target, *, skip=None, pin=None, acyclic=False):
        """Yield, depth first with `children(node)` -> [(variant id, node)] in order, every
        path [(-1, start), (variant id, node), ...] that fits in time and ends in a node where
        `is_target(node)`; the search goes on past a target when asked for the next one.
        `skip(node, steps)` prunes the branch to `node` taken after `steps` - 1 steps;
        `pin(path, variant id)` gives the step's pin (see IncrementalRun.push) or None.

        `acyclic`: never step back onto a node of the current path. A graph with cycles of
        steps that change nothing (read() on a closed socket, again and again) otherwise
        leads a depth-first search down one endless path, each step fitting in time, until
        its budget is spent. Cutting a cycle loses no run when none of its steps sends or
        arms a timer: it ends where it began (no segment taken from a channel either, as
        none was put back), so the run without it keeps every segment, timer and pin and has
        fewer constraints. Any other cycle (a timer armed again postpones its deadline) is
        cut too, but sets `cut_timed_cycle`: the search then no longer covers every run."""
        path = [(-1, start)]
        prefix = [0]
        on_path = {start: 0} if acyclic else None
        try:
            if is_target(start):
                yield list(path)
            todo = [iter(children(start))]
            while todo:
                step = next(todo[-1], None)
                if step is None:
                    todo.pop()
                    if len(path) > 1:
                        self.inc.pop()
                        prefix.pop()
                    left = path.pop()
                    if on_path is not None:
                        del on_path[left[1]]
                    continue
                vid, node = step
                if on_path is not None and node in on_path:
                    self._cut(path[on_path[node] + 1:], vid)
                    continue
                if skip is not None and skip(node, len(path)):
                    continue
                p = pin(path, vid) if pin is not None else None
                key = (prefix[-1], vid, p)
                known = self._prefix.get(key)
                if known is not None and not self._fits[known]:
                    continue
                if known is None and self.inc.checks >= self.budget:
                    self.exhausted = True
                    return
                fits = self.inc.push(self.variants[vid], p, check=known is None)
                if known is None:
                    known = self._prefix[key] = len(self._fits)
                    self._fits.append(fits)
                if not fits:
                    self.inc.pop()
                    continue
                prefix.append(known)
                path.append((vid, node))
                if on_path is not None:
                    on_path[node] = len(path) - 1
                if is_target(node):
                    yield list(path)
                todo.append(iter(children(node)))
        finally:
            # leave the solver as it was, however the caller stopped
            for _ in range(len(path) - 1):
                self.inc.pop()


    def _cut(self, cycle, vid: int) -> None:
        """A cycle (the path's steps since the node it returns to, then `vid`) is cut."""
        steps = [self.variants[v] for v, _node in cycle] + [self.variants[vid]]
        if any(v.sends or any(op == "arm" for op, _name in v.timer_ops) for v in steps):
            self.cut_timed_cycle = True


def check_run(ts: TransitionSystem, variants: list[Variant],
              pinned: list[tuple[int, float, str]] | None = None) -> RunTiming:
    """Decide whether the run is possible in time; give times (ms) or the clashing constraints.

    `pinned` fixes when steps happen relative to each other: (step, ms, what) says step
    happens `ms` after the first pinned step (a capture's own timestamps, say); (step, ms,
    what, tolerance) says it happens within `tolerance` ms of that (a packetdrill script's
    call: packetdrill's tolerance). The first pin without a tolerance is the clock's anchor."""
    b = _Builder(ts, None)
    t = b.build(variants)
    if pinned:
        exact = [p for p in pinned if len(p) < 4 or not p[3]]
        first, first_ms = (exact or pinned)[0][:2]
        for step, ms, what, *rest in pinned:
            at = t[first] + (ms - first_ms)
            tolerance = rest[0] if rest else 0.0
            if tolerance:
                b.add(z3.And(t[step] >= at - tolerance, t[step] <= at + tolerance),
                      f"{what} (step {step}) is made at +{ms:g} ms, within packetdrill's "
                      f"tolerance of {tolerance:g} ms")
            else:
                b.add(t[step] == at, f"{what} (step {step}) was captured at +{ms:g} ms")
    solver = z3.Solver()
    tracks = {}
    for k, (c, why) in enumerate(b.facts):
        lit = z3.Bool(f"c{k}")
        tracks[lit.get_id()] = why
        solver.assert_and_track(c, lit)
    if solver.check() != z3.sat:
        core = [tracks[lit.get_id()] for lit in solver.unsat_core()]
        return RunTiming(False, None, _essential(core))
    return RunTiming(True, _nice_times(b.facts, t), None)


def _essential(core: list[str]) -> list[str]:
    # "step i happens after step i-1" is the frame of every run; keep what the model says
    shown = [c for c in core if "happens after step" not in c and c != "the run starts at time 0"]
    return shown or core


def _nice_times(facts, t) -> list[float]:
    """A readable schedule: steps at least 1 ms apart where the timers allow, as early as possible."""
    opt = z3.Optimize()
    for c, _why in facts:
        opt.add(c)
    for i in range(1, len(t)):
        opt.add_soft(t[i] - t[i - 1] >= 1)
    opt.minimize(t[-1])
    if opt.check() != z3.sat:  # cannot happen after a sat check, kept for safety
        s = z3.Solver()
        s.add(*[c for c, _ in facts])
        s.check()
        m = s.model()
    else:
        m = opt.model()
    return [_to_float(m.eval(x, model_completion=True)) for x in t]


def _to_float(v) -> float:
    if z3.is_rational_value(v):
        return round(v.numerator_as_long() / v.denominator_as_long(), 3)
    if z3.is_algebraic_value(v):
        return round(float(v.approx(6).as_decimal(6).rstrip("?")), 3)
    return float(str(v))


def run_condition(ts: TransitionSystem, variants: list[Variant],
                  symbolic: dict[tuple[str, str], z3.ArithRef]) -> z3.BoolRef:
    """The condition on the symbolic durations under which the run is possible
    (timestamps and the other timers' durations eliminated)."""
    b = _Builder(ts, symbolic)
    t = b.build(variants)
    body = z3.And(*[c for c, _ in b.facts])
    inner = [*t, *b.durations]
    q = z3.Exists(inner, body) if inner else body
    goal = z3.Goal()
    goal.add(q)
    # qe2 (model-based projection) gives the same answers as qe here, about four times faster
    result = z3.Then("qe2", "simplify")(goal)
    return z3.simplify(z3.And(*[z3.And(*g) for g in result]))


# ---------------------------------------------------------------- timing zones
#
# run_condition eliminates the timestamps of one whole run. A zone does the same for every
# run at once, a step at a time: it keeps the constraints of a run's prefix projected on what
# its future can still mention (the current time, when each running timer was armed and for
# how long, when each segment still on the wire was sent) and on the symbolic durations, so
# two prefixes with the same zone have the same future conditions, and a product of the
# state graph with zones (tcpcheck.product) shares them. The steps' constraints are the ones
# _Builder states for a run; a zone only eliminates the variables nothing can mention any
# more (Fourier-Motzkin: the constraints are linear, non-strict, over the reals).

# a linear constraint: sum(coefficient * variable) <= bound; variables are numbers (the
# symbolic durations first, then the timestamps in the order they happened), sorted, with
# integer coefficients without a common divisor (so that one constraint has one spelling)
Linear = tuple[tuple[tuple[int, int], ...], int | Fraction]


@dataclass(frozen=True, slots=True)
class Zone:
    """The timing of a prefix of runs, as far as their futures are concerned. Timestamps
    still mentioned are t0 .. t{clocks-1} in the order they happened (the last is now);
    a running timer's duration is d:instance.timer unless it is symbolic."""
    clocks: int
    running: tuple[tuple[tuple[str, str], int], ...]  # (timer, timestamp that armed it), sorted
    in_flight: tuple[tuple[int, ...], ...]   # per channel: timestamps of the sends on the wire
    constraints: frozenset                   # of Linear


@dataclass(frozen=True, slots=True)
class _ZoneStep:
    """What one variant does to zones of one shape (cached: the same for every zone)."""
    facts: tuple                   # the step's Linear constraints, before renaming
    dead: tuple[int, ...]          # timestamps nothing can mention after the step
    rename: dict                   # surviving timestamp -> its number in the next zone
    clocks: int
    running: tuple
    in_flight: tuple


class ZoneFolder:
    """Folds zones along steps. `symbolic` are the durations conditions are stated over:
    every timer whose range is not a single value (the others last exactly that value)."""

    def __init__(self, ts: TransitionSystem, symbolic: dict[tuple[str, str], z3.ArithRef]):
        self.ts = ts
        self.symbolic = symbolic
        # variable k < len(self._params) is the symbolic duration self._params[k]; the
        # timestamps follow, so renumbering them never reorders a constraint's variables
        self._params = [v for _, v in sorted((str(v), v) for v in symbolic.values())]
        number = {str(v): k for k, v in enumerate(self._params)}
        refs = timers_of(ts)
        by_name = {str(symbolic[key]): refs[key] for key in symbolic}
        # the declared range of each symbolic duration: conditions are read within it
        self._box = [(_exact(by_name[str(v)].lo_ms),
                      None if by_name[str(v)].hi_ms is None else _exact(by_name[str(v)].hi_ms))
                     for v in self._params]
        self._durations: dict[tuple[str, str], _Term] = {}
        for key, ref in refs.items():
            if key in symbolic:
                self._durations[key] = _Term({number[str(symbolic[key])]: 1})
            elif ref.hi_ms == ref.lo_ms:
                self._durations[key] = _Term({}, _exact(ref.lo_ms))
            else:
                raise ValueError(f"{ref.label} has a range: a zone needs it symbolic")
        self._steps: dict[tuple, _ZoneStep] = {}
        self._shared: dict[Linear, Linear] = {}
        self._splits: dict[tuple, tuple] = {}

    def start(self) -> Zone:
        return Zone(1, (), tuple(() for _ in self.ts.channels), frozenset())

    def after(self, zone: Zone, vid: int) -> Zone | None:
        """The zone after variant `vid`; None when no timing allows the step."""
        shape = (vid, zone.clocks, zone.running, zone.in_flight)
        step = self._steps.get(shape)
        if step is None:
            step = self._steps[shape] = self._step(vid, zone)
        constraints = _tightest(list(zone.constraints) + list(step.facts))
        if constraints is None:
            return None
        for var in step.dead:
            constraints = _eliminate(constraints, var)
            if constraints is None:
                return None
        if step.rename:
            constraints = [_rename(c, step.rename) for c in constraints]
        renamed = _prune(constraints, self._box, self._splits)
        if renamed is None:
            return None
        # zones share most of their constraints: keep one copy of each
        shared = self._shared
        return Zone(step.clocks, step.running, step.in_flight,
                    frozenset(shared.setdefault(c, c) for c in renamed))

    def projection(self, zone: Zone) -> frozenset | None:
        """The zone's constraints on the symbolic durations alone (timestamps eliminated,
        what the ranges make redundant dropped): the condition under which some timing
        reaches it, as Linear constraints; None when none does."""
        constraints = list(zone.constraints)
        first = len(self._params)
        for var in sorted({n for vec, _ in constraints for n, _ in vec if n >= first}):
            constraints = _eliminate(constraints, var)
            if constraints is None:
                return None
        constraints = _prune(constraints, self._box, self._splits)
        return None if constraints is None else frozenset(constraints)

    def formula(self, constraints: frozenset | None) -> z3.BoolRef:
        """A projection as a z3 condition."""
        if constraints is None:
            return z3.BoolVal(False)
        facts = []
        for vec, bound in sorted(constraints, key=_order):
            terms = [self._params[n] if c == 1 else _real(c) * self._params[n] for n, c in vec]
            # sum <= bound, spelt as run_condition's quantifier elimination spells it (the
            # left side first: `<=` with a number on the right would turn into `>=`)
            facts.append(z3.ArithRef.__le__(z3.Sum(terms), _real(bound)))
        return z3.simplify(z3.And(*facts)) if facts else z3.BoolVal(True)

    def condition(self, zone: Zone) -> z3.BoolRef:
        """The condition on the symbolic durations under which some timing reaches `zone`."""
        return self.formula(self.projection(zone))

    def _step(self, vid: int, zone: Zone) -> _ZoneStep:
        # _Builder states the step's constraints (the one statement of the timing rules),
        # here over _Terms instead of z3 terms: timestamps t0..t{now}, durations as above
        now, first = zone.clocks, len(self._params)
        t = [_Term({first + j: 1}) for j in range(now + 1)]
        running = {key: (armed, self._durations[key]) for key, armed in zone.running}
        in_flight = {ch.name: list(q) for ch, q in zip(self.ts.channels, zone.in_flight)}
        b = _Builder(self.ts, self._durations)
        b.step(self.ts.variants[vid], now, t, running, in_flight)
        facts = tuple(lin for c, _why in b.facts for lin in c)
        live = sorted({now} | {armed for armed, _ in running.values()}
                      | {s for q in in_flight.values() for s in q})
        dead = tuple(first + j for j in range(now + 1) if j not in live)
        # only the timestamps that move (none when nothing before them died)
        rename = {first + j: first + rank for rank, j in enumerate(live) if j != rank}
        shift = {j: rank for rank, j in enumerate(live)}
        return _ZoneStep(
            facts, dead, rename, len(live),
            tuple(sorted((key, shift[armed]) for key, (armed, _) in running.items())),
            tuple(tuple(shift[s] for s in in_flight[ch.name]) for ch in self.ts.channels))


class _Term:
    """A linear term (variable -> coefficient, plus a constant) whose comparisons give
    Linear constraints, so that _Builder can state a step's constraints for a zone."""
    __slots__ = ("coefs", "const")
    __hash__ = None

    def __init__(self, coefs: dict, const=0):
        self.coefs = coefs
        self.const = const

    def __add__(self, other):
        if not isinstance(other, _Term):
            return _Term(self.coefs, self.const + _exact(other))
        coefs = dict(self.coefs)
        for n, c in other.coefs.items():
            coefs[n] = coefs.get(n, 0) + c
        return _Term(coefs, self.const + other.const)

    __radd__ = __add__

    def _minus(self, other) -> Linear:
        """self - other <= 0."""
        other = other if isinstance(other, _Term) else _Term({}, _exact(other))
        coefs = dict(self.coefs)
        for n, c in other.coefs.items():
            coefs[n] = coefs.get(n, 0) - c
        return _normal(coefs, other.const - self.const)

    def __le__(self, other) -> tuple[Linear]:
        return (self._minus(other),)

    def __ge__(self, other) -> tuple[Linear]:
        other = other if isinstance(other, _Term) else _Term({}, _exact(other))
        return (other._minus(self),)

    def __eq__(self, other) -> tuple[Linear, Linear]:
        return self.__le__(other) + self.__ge__(other)


def _exact(x):
    """A duration in ms as an exact number (an int when it is one)."""
    f = Fraction(x)
    return int(f) if f.denominator == 1 else f


def _real(x) -> z3.RatNumRef:
    return z3.RealVal(x) if type(x) is int else z3.Q(x.numerator, x.denominator)


def _order(c: Linear):
    return c[0], float(c[1])


def _normal(coefs: dict, bound) -> Linear:
    """One spelling per constraint: integer coefficients without a common divisor, the
    variables sorted (a bound stays an int while it can: Fractions are slow)."""
    # coefficients are ints: _Term's are 1, and elimination multiplies and adds them
    items = sorted(item for item in coefs.items() if item[1])
    if not items:
        return (), bound
    g = gcd(*[c for _, c in items])
    if g != 1:
        items = [(n, c // g) for n, c in items]
        bound = bound // g if type(bound) is int and not bound % g else Fraction(bound) / g
    if type(bound) is not int and bound.denominator == 1:
        bound = int(bound)
    return tuple(items), bound


def _tightest(constraints) -> list[Linear] | None:
    """One constraint per left-hand side, the tightest; None when one is false (0 <= -c)."""
    best: dict[tuple, object] = {}
    for vec, bound in constraints:
        if not vec:
            if bound < 0:
                return None
            continue
        old = best.get(vec)
        if old is None or bound < old:
            best[vec] = bound
    return list(best.items())


def _prune(constraints: list[Linear], box: list, splits: dict) -> list[Linear] | None:
    """Drop what the declared ranges of the symbolic durations (`box`: variable -> (lo, hi
    or None)) make redundant: a constraint on durations alone that the ranges imply, and a
    constraint another one implies within the ranges (the same timestamps with the same
    coefficients, a bound that differs by durations the ranges keep small enough). Without
    this, Fourier-Motzkin piles up combinations and equal zones look different. None when
    the ranges rule a constraint out. `splits` caches each left side's two parts."""
    first = len(box)
    groups: dict[tuple, list] = {}
    for vec, bound in constraints:
        split = splits.get(vec)
        if split is None:
            k = 0
            while k < len(vec) and vec[k][0] < first:
                k += 1
            lo = -_box_max(tuple((n, -c) for n, c in vec[:k]), box)
            split = splits[vec] = (vec[k:], dict(vec[:k]), _box_max(vec[:k], box), lo)
        clocks, durations, most, least = split
        if not clocks:
            if most <= bound:
                continue
            if least > bound:
                return None
        groups.setdefault(clocks, []).append((durations, bound, vec))
    out = []
    for members in groups.values():
        if len(members) == 1:
            out.append((members[0][2], members[0][1]))
            continue
        for i, (da, ba, va) in enumerate(members):
            if not any(j != i and _implies(db, bb, da, ba, box)
                       for j, (db, bb, _) in enumerate(members)):
                out.append((va, ba))
    return out


def _implies(db: dict, bb, da: dict, ba, box) -> bool:
    """Within the ranges, does clocks + db <= bb imply clocks + da <= ba (same clocks)?"""
    diff = dict(da)
    for n, c in db.items():
        diff[n] = diff.get(n, 0) - c
    return (da != db or bb < ba) and _box_max(tuple(diff.items()), box) + bb <= ba


def _box_max(vec, box):
    """The largest value of sum(c * duration) within the ranges (inf when unbounded)."""
    total = 0
    for n, c in vec:
        lo, hi = box[n]
        if c > 0:
            if hi is None:
                return float("inf")
            total += c * hi
        elif c < 0:
            total += c * lo
    return total


def _eliminate(constraints: list[Linear], var: int) -> list[Linear] | None:
    """Fourier-Motzkin: the constraints with `var` projected away (None: unsatisfiable)."""
    upper, lower, rest = [], [], []
    for vec, bound in constraints:
        coef = 0
        for n, c in vec:
            if n == var:
                coef = c
                break
        if not coef:
            rest.append((vec, bound))
        elif coef > 0:
            upper.append((coef, vec, bound))
        else:
            lower.append((-coef, vec, bound))
    for a, up, ub in upper:
        for b, low, lb in lower:
            # b * up + a * low: var's coefficients a*b and -b*a cancel
            coefs = {n: b * c for n, c in up}
            for n, c in low:
                coefs[n] = coefs.get(n, 0) + a * c
            rest.append(_normal(coefs, b * ub + a * lb))
    return _tightest(rest)


def _rename(c: Linear, names: dict[int, int]) -> Linear:
    # numbers keep their order: the constraint keeps its spelling
    vec, bound = c
    return tuple((names.get(n, n), k) for n, k in vec), bound


def simplify_under(cond: z3.BoolRef, ranges: list[z3.BoolRef]) -> z3.BoolRef:
    """Simplify `cond` knowing the declared ranges: drop what they already say, fold what
    they make always true or false, and drop a disjunct that another one covers."""
    oracle = _Oracle(ranges)
    if not oracle.possible(cond):
        return z3.BoolVal(False)
    return _tidy(z3.simplify(cond), oracle)


class _Oracle:
    """One solver holding the ranges; questions are asked under push/pop, answers cached."""

    def __init__(self, ranges):
        self.solver = z3.Solver()
        self.solver.add(*ranges)
        self.cache: dict[tuple[str, str], bool] = {}

    def _sat(self, *facts) -> bool:
        key = ("sat", "|".join(f.sexpr() for f in facts))
        if key not in self.cache:
            self.solver.push()
            self.solver.add(*facts)
            self.cache[key] = self.solver.check() == z3.sat
            self.solver.pop()
        return self.cache[key]

    def possible(self, e, *given) -> bool:
        return self._sat(e, *given)

    def valid(self, e, *given) -> bool:
        return not self._sat(z3.Not(e), *given)


def _dedupe(kids):
    seen, out = set(), []
    for k in kids:
        key = k.sexpr()
        if key not in seen:
            seen.add(key)
            out.append(k)
    return out


def _widen(disjuncts, oracle: _Oracle):
    """Drop a conjunct from a disjunct when the whole disjunction stays the same: two
    overlapping intervals 'a <= x <= b or x >= c' (c <= b) become 'x >= a'."""
    whole = z3.Or(*disjuncts)
    out = list(disjuncts)
    for i in range(len(out)):
        if not z3.is_and(out[i]):
            continue
        parts = list(out[i].children())
        j = 0
        while j < len(parts) and len(parts) > 1:
            trial = parts[:j] + parts[j + 1:]
            candidate = z3.And(*trial) if len(trial) > 1 else trial[0]
            if oracle.valid(whole, z3.Or(*out[:i], candidate, *out[i + 1:])):
                parts = trial
            else:
                j += 1
        out[i] = z3.And(*parts) if len(parts) > 1 else parts[0]
    # a widened disjunct may now cover another
    kept = []
    for i, k in enumerate(out):
        others = kept + out[i + 1:]
        if any(oracle.valid(o, k) for o in others):
            continue
        kept.append(k)
    return kept


def _tidy(e, oracle: _Oracle):
    if z3.is_and(e):
        kids = _dedupe([_tidy(c, oracle) for c in e.children()])
        if any(z3.is_false(k) for k in kids) or not oracle.possible(z3.And(*kids)):
            return z3.BoolVal(False)
        kids = [k for k in kids if not oracle.valid(k)]
        kept = []  # drop a conjunct the others already imply
        for i, k in enumerate(kids):
            others = kept + kids[i + 1:]
            if others and oracle.valid(k, *others):
                continue
            kept.append(k)
        return z3.And(*kept) if len(kept) > 1 else (kept[0] if kept else z3.BoolVal(True))
    if z3.is_or(e):
        kids = _dedupe([_tidy(c, oracle) for c in e.children()])
        if any(z3.is_true(k) for k in kids) or oracle.valid(z3.Or(*kids)):
            return z3.BoolVal(True)
        kids = [k for k in kids if not z3.is_false(k) and oracle.possible(k)]
        kept = []  # drop a disjunct another one covers
        for i, k in enumerate(kids):
            others = kept + kids[i + 1:]
            if any(oracle.valid(o, k) for o in others):
                continue
            kept.append(k)
        kept = _widen(kept, oracle)
        return z3.Or(*kept) if len(kept) > 1 else (kept[0] if kept else z3.BoolVal(False))
    if oracle.valid(e):
        return z3.BoolVal(True)
    if not oracle.possible(e):
        return z3.BoolVal(False)
    return e


def show(e: z3.ExprRef, names: dict[str, str]) -> str:
    """A z3 formula in the model's words: 'server.think < server.delack'."""
    if z3.is_true(e):
        return "always"
    if z3.is_false(e):
        return "never"
    return _show(e, names)


_CMP = {z3.Z3_OP_LT: "<", z3.Z3_OP_LE: "<=", z3.Z3_OP_GT: ">", z3.Z3_OP_GE: ">=",
        z3.Z3_OP_EQ: "=="}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!="}


def _linear(e, names, scale=1.0, acc=None) -> dict[str, float]:
    """Coefficients of a linear term; the constant is under the key ''."""
    acc = {} if acc is None else acc
    if z3.is_rational_value(e) or z3.is_int_value(e):
        acc[""] = acc.get("", 0.0) + scale * float(e.as_fraction())
    elif z3.is_add(e):
        for ch in e.children():
            _linear(ch, names, scale, acc)
    elif z3.is_sub(e):
        first, *rest = e.children()
        _linear(first, names, scale, acc)
        for ch in rest:
            _linear(ch, names, -scale, acc)
    elif e.decl().kind() == z3.Z3_OP_UMINUS:
        _linear(e.children()[0], names, -scale, acc)
    elif z3.is_mul(e):
        const, var = 1.0, []
        for ch in e.children():
            if z3.is_rational_value(ch) or z3.is_int_value(ch):
                const *= float(ch.as_fraction())
            else:
                var.append(ch)
        if len(var) != 1:
            raise ValueError("not linear")
        _linear(var[0], names, scale * const, acc)
    elif z3.is_const(e):
        key = names.get(str(e), str(e))
        acc[key] = acc.get(key, 0.0) + scale
    else:
        raise ValueError("not linear")
    return acc


def _side(terms: list[tuple[str, float]], const: float) -> str:
    parts = []
    for name, c in terms:
        coef = "" if abs(c) == 1 else f"{abs(c):g}*"
        parts.append(f"{coef}{name}")
    if const or not parts:
        parts.append(f"{const + 0.0:g} ms")  # + 0.0 turns -0 into 0
    return " + ".join(parts)


def _comparison(op: str, a, b, names) -> str:
    """a op b as 'x < y': variables with positive weight left, the rest right."""
    try:
        la = _linear(a, names)
        lb = _linear(b, names)
    except ValueError:
        return f"{a} {op} {b}"
    coef = dict(la)
    for k, v in lb.items():
        coef[k] = coef.get(k, 0.0) - v
    const = -coef.pop("", 0.0)
    left = sorted((k, v) for k, v in coef.items() if v > 0)
    right = sorted((k, -v) for k, v in coef.items() if v < 0)
    if not left and right:  # keep a variable on the left: 'x > 5' rather than '-5 > x'
        left, right, const, op = right, left, -const, _MIRROR[op]
    elif op in (">", ">=") and right and const == 0:  # 'x < y' reads better than 'y > x'
        left, right, op = right, left, _MIRROR[op]
    if const < 0 and left:
        # a < b - c  reads better as  a + c < b
        left = left + [(f"{-const:g} ms", 1.0)]
        const = 0.0
    return f"{_side(left, 0.0)} {op} {_side(right, const)}"


def _show(e, names) -> str:
    # sorted, so that the text does not depend on z3's internal term order
    if z3.is_and(e):
        return " and ".join(sorted(_paren(c, names) for c in e.children()))
    if z3.is_or(e):
        return " or ".join(sorted(_paren(c, names) for c in e.children()))
    if z3.is_not(e):
        inner = e.children()[0]
        k = inner.decl().kind()
        if k in _CMP:
            a, b = inner.children()
            return _comparison(_NEGATE[_CMP[k]], a, b, names)
        return f"not ({_show(inner, names)})"
    if z3.is_app(e) and e.decl().kind() in _CMP:
        a, b = e.children()
        return _comparison(_CMP[e.decl().kind()], a, b, names)
    if z3.is_const(e):
        return names.get(str(e), str(e))
    return str(e)


def _paren(e, names) -> str:
    s = _show(e, names)
    return f"({s})" if (z3.is_or(e) or z3.is_and(e)) else s


class PinnedRun:
    """One run's timing constraints, built once, asked about many sets of pinned times: the
    connections of a capture that send the same segments differ only in when they sent them
    (tcpcheck.audit). Each question is a push, the pins, a check and a pop on one solver;
    once the run has been asked BOX_AFTER times, its constraints are reduced to bounds.

    The reduction: every constraint of a run relates two step times, or a step time and a
    timer's duration that lies in a range (see _Builder); eliminating the durations leaves
    constraints of the form t_b - t_a <= c (difference constraints), and so does projecting
    onto the pinned steps. Their tightest form is the largest t_b - t_a for each ordered pair
    of pinned steps (z3's Optimize, once per pair), and pins fit exactly when every pinned
    difference is within it: a question is then a few comparisons, no solver.

    The bounds of every pair come from one Optimize in z3's box mode (each objective on its
    own), a few milliseconds a pair; a run is reduced once it has been asked more than
    BOX_AFTER times and more than PAIR_COST checks per pair of its pins (a solver check costs
    about a pair's optimization: a long run asked rarely keeps the solver)."""

    BOX_AFTER = 32
    PAIR_COST = 3

    def __init__(self, ts: TransitionSystem, variants: list[Variant]):
        b = _Builder(ts, None)
        self.t = b.build(variants)
        self.facts = [c for c, _why in b.facts]
        self.solver = z3.Solver()
        self.solver.add(*self.facts)
        self.asked = 0
        self._box: dict[tuple[int, int], Fraction | None] | None = None
        self._box_steps: tuple[int, ...] | None = None
        self._checks: list[tuple[int, int, float, Fraction]] | None = None
        self._never = False           # the run does not fit the timers, whatever the pins
        # the constraints as a graph of differences (None: one is of another form): the
        # bounds are then shortest paths, no optimizer
        self.graph = _difference_graph(self.facts)

    def fits(self, pinned: list[tuple[int, float, str]] | None) -> bool:
        """Whether the run fits the timers and `pinned` (as check_run's); check_run gives the
        times or the clashing constraints when they are wanted."""
        self.asked += 1
        steps = tuple(step for step, _ms, _ in pinned or ())
        if self._box_steps != steps and steps and (self.graph is not None or (
                self.asked > self.BOX_AFTER
                and self.asked > self.PAIR_COST * len(steps) * (len(steps) - 1))):
            self._make_box(steps)
        if self._box_steps == steps and steps:
            return self._in_box(pinned)
        self.solver.push()
        try:
            if pinned:
                first = pinned[0][0]
                self.solver.add(*[self.t[step] == self.t[first] + ms for step, ms, _ in pinned])
            return self.solver.check() == z3.sat
        finally:
            self.solver.pop()

    def _make_box(self, steps: tuple[int, ...]) -> None:
        self._box, self._box_steps, self._checks = {}, steps, None
        if self.graph is not None:
            bounds = self.graph.bounds([self.t[k] for k in steps])
            if bounds is None:
                self._never = True
            else:
                self._box = {(a, b): bounds[i][j] for i, a in enumerate(steps)
                             for j, b in enumerate(steps) if a != b}
            return
        if self.solver.check() != z3.sat:
            self._never = True
            return
        try:
            self._fill_box(steps)
        except ValueError:          # not a plain bound: keep asking the solver
            self._box, self._box_steps = None, None
            self.BOX_AFTER = float("inf")

    def _fill_box(self, steps: tuple[int, ...]) -> None:
        opt = z3.Optimize()
        opt.set(priority="box")       # each pair's largest difference on its own
        opt.add(*self.facts)
        goals = {(a, b): opt.maximize(self.t[b] - self.t[a])
                 for a in steps for b in steps if a != b}
        if opt.check() != z3.sat:
            raise ValueError("no answer from the optimizer")
        for pair, goal in goals.items():
            self._box[pair] = _optimum(opt.upper(goal))

    def _in_box(self, pinned: list[tuple[int, float, str]]) -> bool:
        if self._never:
            return False
        if self._checks is None:    # (i, j, the bound less _NEAR as a float, the bound)
            index = {step: k for k, step in enumerate(self._box_steps)}
            self._checks = [(index[a], index[b], float(top) - _NEAR, top)
                            for (a, b), top in self._box.items() if top is not None]
        at = [ms for _step, ms, _ in pinned]
        for i, j, near, top in self._checks:
            if at[j] - at[i] < near:
                continue
            # near the bound, or past it: exactly, the pins as z3 reads a Python float
            # (its shortest decimal)
            if Fraction(repr(at[j])) - Fraction(repr(at[i])) > top:
                return False
        return True


# ms: a pinned difference this far below its bound fits whatever the floats' rounding
_NEAR = 1e-3


class _DifferenceGraph:
    """Constraints that are all of the form x - y <= c (x, y real variables, or the constant
    0), as a graph: an edge y -> x of weight c each. The largest x - y the constraints allow
    is the shortest path from y to x (None: no path, unbounded), and they are satisfiable
    exactly when no cycle is negative (the textbook reading of difference constraints)."""

    ZERO = "0"

    def __init__(self, edges: list[tuple[str, str, Fraction]]):
        self.out: dict[str, list[tuple[str, Fraction]]] = {self.ZERO: []}
        for y, x, c in edges:
            self.out.setdefault(y, []).append((x, c))
            self.out.setdefault(x, [])

    def _paths(self, source: str) -> dict[str, Fraction] | None:
        """Shortest paths from `source` (queue-based Bellman-Ford); None on a negative
        cycle reachable from it."""
        dist = {source: Fraction(0)}
        queue, queued, relaxed = deque([source]), {source}, dict.fromkeys(self.out, 0)
        limit = len(self.out)
        while queue:
            y = queue.popleft()
            queued.discard(y)
            here = dist[y]
            for x, c in self.out[y]:
                if x not in dist or here + c < dist[x]:
                    dist[x] = here + c
                    relaxed[x] += 1
                    if relaxed[x] > limit:
                        return None
                    if x not in queued:
                        queue.append(x)
                        queued.add(x)
        return dist

    def bounds(self, terms: list) -> list[list[Fraction | None]] | None:
        """The largest t_j - t_i for every pair of the variables `terms` (None: unbounded);
        None when the constraints are unsatisfiable."""
        if self._paths_all() is None:       # a negative cycle anywhere: no run fits
            return None
        names = [str(t) for t in terms]
        for name in names:                  # a step no constraint names is free
            self.out.setdefault(name, [])
        out = []
        for a in names:
            dist = self._paths(a)
            if dist is None:
                return None
            out.append([dist.get(b) for b in names])
        return out

    def _paths_all(self) -> dict[str, Fraction] | None:
        """Shortest paths from a virtual source joined to every node by 0: None when any
        cycle is negative."""
        virtual = "\0source"
        self.out[virtual] = [(node, Fraction(0)) for node in self.out]
        try:
            return self._paths(virtual)
        finally:
            del self.out[virtual]


def _exact_linear(e) -> tuple[dict[str, Fraction], Fraction]:
    """A z3 arithmetic term as (variable -> coefficient, constant); ValueError when it is not
    linear with constant coefficients."""
    if z3.is_rational_value(e) or z3.is_int_value(e):
        return {}, _optimum(e)
    if z3.is_const(e) and e.decl().kind() == z3.Z3_OP_UNINTERPRETED:
        return {str(e): Fraction(1)}, Fraction(0)
    if z3.is_add(e) or z3.is_sub(e):
        parts = [_exact_linear(c) for c in e.children()]
        coef, const = dict(parts[0][0]), parts[0][1]
        sign = -1 if z3.is_sub(e) else 1
        for vars_, k in parts[1:]:
            for v, c in vars_.items():
                coef[v] = coef.get(v, 0) + sign * c
            const += sign * k
        return coef, const
    if z3.is_app_of(e, z3.Z3_OP_UMINUS):
        coef, const = _exact_linear(e.arg(0))
        return {v: -c for v, c in coef.items()}, -const
    if z3.is_mul(e) and e.num_args() == 2:
        (ca, ka), (cb, kb) = _exact_linear(e.arg(0)), _exact_linear(e.arg(1))
        if not ca:
            return {v: ka * c for v, c in cb.items()}, ka * kb
        if not cb:
            return {v: kb * c for v, c in ca.items()}, ka * kb
    raise ValueError(f"not a linear term: {e}")


def _forms(fact) -> list[tuple[dict[str, Fraction], Fraction]]:
    """The fact as (variable -> coefficient, c) meaning sum(coefficient * variable) <= c (an
    equality gives two); ValueError when it is strict or not linear."""
    if fact.num_args() != 2 or not (z3.is_le(fact) or z3.is_ge(fact) or z3.is_eq(fact)):
        raise ValueError(f"not a linear constraint: {fact}")
    (ca, ka), (cb, kb) = _exact_linear(fact.arg(0)), _exact_linear(fact.arg(1))
    coef = dict(ca)
    for v, c in cb.items():
        coef[v] = coef.get(v, 0) - c
    coef = {v: c for v, c in coef.items() if c}
    bound = kb - ka
    forms = []
    if z3.is_le(fact) or z3.is_eq(fact):
        forms.append((coef, bound))
    if z3.is_ge(fact) or z3.is_eq(fact):
        forms.append(({v: -c for v, c in coef.items()}, -bound))
    return forms


# a timer's duration in _Builder's constraints (z3.Real(f"d_...")): it always appears added
# to the time of the step that armed the timer
_DURATION = "d_"


def _expiries(forms) -> dict[str, str]:
    """duration -> the step time it is added to (the arming step), from the constraints of
    three variables: t_x - t_a - d <= c (or its negation). ValueError when a duration is
    added to two different times (then no difference graph)."""
    base: dict[str, str] = {}
    for terms, _c in forms:
        if len(terms) != 3:
            continue
        durations = [v for v in terms if v.startswith(_DURATION)]
        if len(durations) != 1:
            raise ValueError("not a timer's constraint")
        d = durations[0]
        same = [v for v in terms if v != d and terms[v] == terms[d]]
        if len(same) != 1:
            raise ValueError("not a timer's constraint")
        if base.setdefault(d, same[0]) != same[0]:
            raise ValueError(f"{d} is added to two step times")
    return base


def _difference_graph(facts: list) -> _DifferenceGraph | None:
    """The facts as a difference graph, or None when one of them cannot be read as a
    difference constraint (then z3's Optimize bounds them). A timer's duration d armed at
    step a is read through its expiry e = t_a + d (a node of its own): t_x <= t_a + d is
    t_x - e <= 0, and lo <= d <= hi is lo <= e - t_a <= hi (eliminating the durations, as
    PinnedRun's docstring says, leaves difference constraints)."""
    try:
        forms = [f for fact in facts for f in _forms(fact)]
        base = _expiries(forms)
        edges = []
        for terms, c in forms:
            terms = dict(terms)
            for d, a in base.items():
                k = terms.pop(d, None)
                if k is None:
                    continue
                expiry = f"expiry({d})"
                terms[expiry] = terms.get(expiry, 0) + k      # k * d = k * e - k * t_a
                terms[a] = terms.get(a, 0) - k
                terms = {v: x for v, x in terms.items() if x}
            plus = [v for v, k in terms.items() if k == 1]
            minus = [v for v, k in terms.items() if k == -1]
            if len(plus) + len(minus) != len(terms) or len(plus) > 1 or len(minus) > 1:
                raise ValueError("not a difference constraint")
            if not terms:
                if c < 0:
                    raise ValueError("a false constant constraint")
                continue
            x = plus[0] if plus else _DifferenceGraph.ZERO
            y = minus[0] if minus else _DifferenceGraph.ZERO
            edges.append((y, x, c))
        return _DifferenceGraph(edges)
    except ValueError:
        return None


def _optimum(value) -> Fraction | None:
    """A bound z3's Optimize found, exactly; None when there is none (unbounded, "oo").
    Anything else (a bound approached, with an epsilon) raises ValueError: no box then."""
    if z3.is_int_value(value):
        return Fraction(value.as_long())
    if z3.is_rational_value(value):
        return Fraction(value.numerator_as_long(), value.denominator_as_long())
    if str(value) == "oo":
        return None
    raise ValueError(f"not an exact bound: {value}")


class _ExpiryBuilder(_Builder):
    """_Builder over _Terms whose each arming of a timer has its own variable: the expiry
    e = t_armed + d, so that t <= t_armed + d is t - e <= 0 and lo <= d <= hi is
    lo <= e - t_armed <= hi. Every constraint of a run is then a difference constraint."""

    def __init__(self, ts: TransitionSystem, fixed: dict[tuple[str, str], float] | None,
                 new_variable):
        super().__init__(ts, {k: _MsTerm({}, _ms(v)) for k, v in (fixed or {}).items()})
        self.new_variable = new_variable
        self.step_var = None            # step -> its variable (DifferenceRun's)

    def duration(self, key, step: int):
        ref = self.timers[key]
        if key in self.symbolic:
            return self.symbolic[key]
        e = self.new_variable()
        d = _MsTerm({e: 1, self.step_var(step): -1})    # e - t_step: read as t_step + d
        self.add(d >= ref.lo_ms, "")
        if ref.hi_ms is not None:
            self.add(d <= ref.hi_ms, "")
        return d


class _MsTerm(_Term):
    """A _Term whose numbers are read as z3 reads them (_ms), so that DifferenceRun answers
    exactly as the solver does, on a bound too."""
    __slots__ = ()

    def __add__(self, other):
        if not isinstance(other, _Term):
            return _MsTerm(self.coefs, self.const + _ms(other))
        coefs = dict(self.coefs)
        for n, c in other.coefs.items():
            coefs[n] = coefs.get(n, 0) + c
        return _MsTerm(coefs, self.const + other.const)

    __radd__ = __add__

    def _minus(self, other) -> Linear:
        return _Term._minus(self, other if isinstance(other, _Term) else _Term({}, _ms(other)))

    def __ge__(self, other) -> tuple[Linear]:
        other = other if isinstance(other, _Term) else _Term({}, _ms(other))
        return (other._minus(self),)


def _ms(x):
    """A time in ms as z3 reads a Python number (a float by its shortest decimal), exactly."""
    if type(x) is float:
        f = Fraction(repr(x))
        return int(f) if f.denominator == 1 else f
    return _exact(x)


class DifferenceRun:
    """IncrementalRun's answers without z3: a run's constraints (the same _Builder states
    them, over _Terms) are difference constraints x - y <= c once each arming's duration is
    read through its expiry (_ExpiryBuilder), and they are satisfiable exactly when their
    graph (an edge y -> x of weight c each) has no negative cycle. A feasible potential p
    (p[x] <= p[y] + c on every edge) is kept; an edge that breaks it lowers p from its head
    on, and the run stops fitting exactly when that lowering comes back to the edge's tail
    (the graph had no negative cycle before, so a new one goes through the new edge).
    Variable 0 is t0 = 0 itself. `pop` undoes a step: its edges and the potentials it
    lowered."""

    def __init__(self, ts: TransitionSystem, fixed: dict[tuple[str, str], float] | None = None):
        self.p: list = [0]
        self.out: list[list[tuple[int, object]]] = [[]]
        self.trail: list[list[tuple]] = []
        self.b = _ExpiryBuilder(ts, fixed, self._variable)
        self.b.step_var = lambda step: next(iter(self.t[step].coefs))
        self.t = [_MsTerm({0: 1})]
        self.running: dict = {}
        self.in_flight: dict[str, list[int]] = {ch.name: [] for ch in ts.channels}
        self.saved: list = []
        self.checks = 0
        self.fits = True

    def _variable(self) -> int:
        self.p.append(0)
        self.out.append([])
        self.trail[-1].append(("var",))
        return len(self.p) - 1

    def push(self, v: Variant, pin: tuple | None = None, check: bool = True) -> bool:
        """IncrementalRun.push: add one step; whether the run so far is possible in time."""
        self.saved.append((dict(self.running), {k: list(q) for k, q in self.in_flight.items()},
                           self.fits))
        self.trail.append([])
        i = len(self.t)
        self._variable_for_step(i)
        self.b.facts = []
        self.b.step(v, i, self.t, self.running, self.in_flight)
        facts = [lin for c, _why in self.b.facts for lin in c]
        t = self.t
        for anchor, ms, tolerance in _pin_list(pin):
            if anchor > i:
                continue
            if tolerance:
                facts += t[i] >= t[anchor] + (_ms(ms) - _ms(tolerance))
                facts += t[i] <= t[anchor] + (_ms(ms) + _ms(tolerance))
            elif anchor < i:
                facts += t[i] == t[anchor] + _ms(ms)
        for vec, bound in facts:
            if not self.fits:
                break
            self._edge(vec, bound)
        if check:
            self.checks += 1
        return self.fits

    def _variable_for_step(self, i: int) -> None:
        self.t.append(_MsTerm({self._variable(): 1}))

    def _edge(self, vec, bound) -> None:
        """Constraint sum(c * x) <= bound, a difference constraint."""
        if not vec:
            if bound < 0:
                self.fits = False
            return
        if len(vec) == 1 and vec[0][1] == 1:
            head, tail = vec[0][0], 0
        elif len(vec) == 1 and vec[0][1] == -1:
            head, tail = 0, vec[0][0]
        elif len(vec) == 2 and {vec[0][1], vec[1][1]} == {1, -1}:
            (a, ca), (b, _cb) = vec
            head, tail = (a, b) if ca == 1 else (b, a)
        else:
            raise ValueError(f"not a difference constraint: {vec} <= {bound}")
        self.out[tail].append((head, bound))
        self.trail[-1].append(("edge", tail))
        p = self.p
        if p[tail] + bound >= p[head]:
            return
        # lower the potentials from `head` on; reaching `tail` again is a negative cycle
        lowered = self.trail[-1]
        queue = deque([head])
        lowered.append(("p", head, p[head]))
        p[head] = p[tail] + bound
        queued = {head}
        while queue:
            y = queue.popleft()
            queued.discard(y)
            here = p[y]
            for x, c in self.out[y]:
                if here + c < p[x]:
                    if x == tail:
                        self.fits = False
                        return
                    lowered.append(("p", x, p[x]))
                    p[x] = here + c
                    if x not in queued:
                        queue.append(x)
                        queued.add(x)

    def pop(self) -> None:
        for entry in reversed(self.trail.pop()):
            if entry[0] == "p":
                self.p[entry[1]] = entry[2]
            elif entry[0] == "edge":
                self.out[entry[1]].pop()
            else:
                self.p.pop()
                self.out.pop()
        self.t.pop()
        self.running, self.in_flight, self.fits = self.saved.pop()


# ---------------------------------------------------------------- duration answers
#
# A `timing` property asks for which durations of some timers a run satisfying its formula
# is possible. Both engines answer it here, from the runs they found (the explorer's paths,
# the symbolic engine's unrolled runs): each run's condition (run_condition), their
# disjunction simplified under the declared ranges, in words. The disjuncts are ordered by
# their text, not by the order the runs came in, so the same set of runs gives the same
# words whichever engine (and search order) found them.


@dataclass(frozen=True)
class DurationAnswer:
    """For which durations of `timers` some run satisfying a formula is possible.

    `text` is the answer in the model's words ('server.think <= server.delack', 'always',
    'never'); `smt` the same condition as SMT-LIB (picklable, for comparing two answers by
    meaning); `runs` how many runs satisfying the formula untimed were looked at;
    `complete`: every such run was looked at (False: more runs could widen the answer, so
    it says "at least when")."""

    timers: tuple[tuple[str, str], ...]
    text: str
    smt: str
    runs: int
    complete: bool = True

    @property
    def possible(self) -> bool:
        return self.text != "never"

    @property
    def everything(self) -> bool:
        """Every duration in the declared ranges: no further run can widen it."""
        return self.text == "always"

    def condition(self) -> z3.BoolRef:
        variables = {f"{i}.{n}": z3.Real(f"{i}.{n}") for i, n in self.timers}
        return z3.parse_smt2_string(f"(assert {self.smt})", decls=variables)[0]

    def same_durations(self, other: "DurationAnswer") -> bool:
        """Whether the two answers allow exactly the same durations."""
        return _valid(self.condition() == other.condition())

    def within(self, other: "DurationAnswer") -> bool:
        """Whether every duration this answer allows, `other` allows too."""
        return _valid(z3.Implies(self.condition(), other.condition()))


def _valid(claim: z3.BoolRef) -> bool:
    solver = z3.Solver()
    solver.add(z3.Not(claim))
    return solver.check() == z3.unsat


class DurationQuestion:
    """The durations of `timers` for which one of the runs added is possible: add every run
    that satisfies the formula untimed (in any order), then ask for the answer."""

    def __init__(self, ts: TransitionSystem, timers: tuple[tuple[str, str], ...]):
        self.ts = ts
        self.timers = tuple(timers)
        self.symbolic = {key: z3.Real(f"{key[0]}.{key[1]}") for key in self.timers}
        refs = timers_of(ts)
        self.ranges = []
        for key, var in self.symbolic.items():
            self.ranges.append(var >= refs[key].lo_ms)
            if refs[key].hi_ms is not None:
                self.ranges.append(var <= refs[key].hi_ms)
        self.conditions: dict[str, z3.BoolRef] = {}
        self.runs = 0

    def add(self, variants: list[Variant]) -> bool:
        """One run satisfying the formula untimed; whether its condition is not plainly false
        (it may be the example shown)."""
        self.runs += 1
        cond = run_condition(self.ts, variants, self.symbolic)
        self.conditions.setdefault(cond.sexpr(), cond)
        return not z3.is_false(cond)

    def answer(self, complete: bool = True) -> DurationAnswer:
        """The answer from the runs added; `complete`: they were all the runs there are."""
        ordered = [self.conditions[k] for k in sorted(self.conditions)]
        cond = simplify_under(z3.Or(*ordered), self.ranges) if ordered else z3.BoolVal(False)
        names = {f"{i}.{n}": f"{i}.{n}" for i, n in self.timers}
        text = show(cond, names)
        # every duration already: no run left out could widen it
        return DurationAnswer(self.timers, text, cond.sexpr(), self.runs,
                              complete or text == "always")
