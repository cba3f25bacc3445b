"""Stage 5: properties checked against an exploration. Every verdict comes from the graph.

* invariant: every reachable state satisfies P; the counterexample is the shortest run to a
  state that does not.
* reachable / runs: a run formula is checked over complete runs (runs that end in a state
  with no successor) by a breadth-first search of the product of the state graph with small
  monitors, one per temporal word (a bit for `eventually`, a counter for `count`, ...), so
  witnesses and counterexamples are shortest runs. `_Monitor` states what a monitor does;
  tcpcheck.monitor walks the same product with its steps tabled (`prepare` labels the
  edges once for all the properties checked together).
* terminates: every terminal state is an end state, and an end state stays reachable from
  every reachable state (with finitely many states this is termination under fairness: every
  timer that runs fires and every application eventually makes its next call).
* timing: the set of durations of the named timers for which some run satisfies the formula.

Runs that the timer ranges make impossible (see tcpcheck.timing) never count: the search goes
on for a possible one.

A verdict says no more than was tested: a property resting on an implication whose premise no
run meets holds vacuously (Verdict.VACUOUS), an invariant about states no run reaches is
warned about (TCP503), and a spec's division by zero in a reachable state is an error located
in the spec with the run to that state (TCP502), never a value made up for it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from . import spec as S
from .diagnostics import Diagnostic, Span
from .transitions import ExplorationError, TransitionSystem
from .tcp import FLAG_WIDTH, flags_name
from .explore import NO_DEADLINE, Deadline, Exploration, LimitReached, StopReason
from .run import received_flags
from .monitor import Alphabet, TabledMonitor, by_bits, leaves_of, state_bits, tabled
from .timing import DurationAnswer, DurationQuestion, TimedSearch, check_run
from .trace import model_error_diagnostic, tcp_states
from .verdicts import Verdict

MAX_RUNS_CHECKED = 20000  # timing checks before a search gives up (inconclusive)


@dataclass(frozen=True)
class PropertyResult:
    """One property checked: its verdict, why, and the run that shows it (a witness or a
    counterexample) with a time for every step."""
    name: str
    kind: str
    verdict: Verdict                   # holds, violated or inconclusive
    message: str
    run: list[tuple[int, int]] | None = None   # (variant, state id); the first has variant -1
    times: list[float] | None = None
    durations: DurationAnswer | None = None   # timing queries: for which durations
    notes: list[str] = field(default_factory=list)
    doc: str | None = None
    source: str = ""
    # located findings of the check itself: the error behind an ERROR verdict (a division by
    # zero in the spec, with the run that reaches it), warnings (a premise no state meets)
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def answer(self) -> str | None:
        """A timing query's answer in words (None for the other kinds)."""
        return self.durations.text if self.durations is not None else None


class SpecArithmeticError(Exception):
    """A spec's division or remainder met a divisor of 0 in a reachable state: the property
    has no value there. Like a model's TCP501, it is reported where it was written, with the
    run that reaches the state."""

    def __init__(self, op: str, span: Span | None, state: int):
        super().__init__(f"division by zero ('{op}' by 0)")
        self.op, self.span, self.state = op, span, state


# ---------------------------------------------------------------- evaluation


class _Eval:
    """Turns resolved spec formulas into functions over packed states and steps; carries the
    command's deadline to the checks."""

    def __init__(self, ex: Exploration, deadline: Deadline = NO_DEADLINE):
        self.ex = ex
        self.ts: TransitionSystem = ex.system
        self.deadline = deadline

    def state_fn(self, e):
        ts = self.ts
        if isinstance(e, S.Const):
            v = e.value
            return lambda s: v
        if isinstance(e, S.SlotVal):
            slot = ts.slots[e.slot]
            off, mask, base = slot.offset, slot.mask, slot.base
            return lambda s: ((s >> off) & mask) + base
        if isinstance(e, S.ChanLen):
            slot = ts.slots[e.slot]
            off, mask, w = slot.offset, slot.mask, ts.seg_width
            return lambda s: (((s >> off) & mask).bit_length() + w - 1) // w
        assert isinstance(e, S.Op), e
        fs = [self.state_fn(a) for a in e.args]
        if e.op in ("/", "%"):
            return _division(e.op, fs[0], fs[1], e.span)
        return _combine(e.op, fs)

    def count_fn(self, e):
        """What count(e) adds for one step: the segments that match for sends(...), else 1
        when the step predicate holds."""
        if isinstance(e, S.Sends):
            ts, inst, pats = self.ts, e.instance, e.flags

            def matching(a, b, v):
                var = ts.variants[v]
                if inst is not None and var.instance != inst:
                    return 0
                return sum(1 for _, f in var.sends if pats is None or f in pats)
            return matching
        g = self.step_fn(e)
        return lambda a, b, v: int(bool(g(a, b, v)))

    def _variants_where(self, test) -> frozenset[int]:
        """The variants (step kinds) a test holds for: a step predicate that reads only the
        variant is then one set lookup a step, however often the search asks."""
        return frozenset(v.index for v in self.ts.variants if test(v))

    def step_fn(self, e):
        """A function (src id, dst id, variant) -> bool."""
        ts, ex = self.ts, self.ex
        if isinstance(e, S.Observed):
            name = e.name
            ok = self._variants_where(lambda var: name in var.observations)
            return lambda a, b, v: v in ok
        if isinstance(e, S.Sends):
            inst, pats = e.instance, e.flags
            ok = self._variants_where(
                lambda var: (inst is None or var.instance == inst)
                and any(pats is None or f in pats for _, f in var.sends))
            return lambda a, b, v: v in ok
        if isinstance(e, S.Receives):
            inst, pats = e.instance, e.flags
            recv = self._variants_where(
                lambda var: var.event.kind == "recv" and var.instance is not None
                and (inst is None or var.instance == inst))
            if pats is None:
                return lambda a, b, v: v in recv
            wanted = {flags_name(p) for p in pats}
            heads: dict[tuple[int, int], bool] = {}   # (state, variant) -> the head matches

            def receives(a, b, v):
                if v not in recv:
                    return False
                hit = heads.get((a, v))
                if hit is None:
                    got = received_flags(ts, ex.states[a], ts.variants[v])
                    hit = heads[(a, v)] = str(got) in wanted
                return hit
            return receives
        if isinstance(e, S.Loses):
            inst, pats = e.instance, e.flags
            lost_on = {}        # loss variant -> the channel it loses from
            for var in ts.variants:
                if var.instance is None:
                    ch = next(ch for ch in ts.channels if ch.name == var.lost_from)
                    if inst is None or ch.src == inst:
                        lost_on[var.index] = ch
            fmask = (1 << FLAG_WIDTH) - 1
            states = ex.states

            def loses(a, b, v):
                ch = lost_on.get(v)
                if ch is None:
                    return False
                return pats is None or (ts.slot_value(states[a], ch.slot) & fmask) in pats
            return loses
        if isinstance(e, S.Calls):
            inst, call, arg = e.instance, e.call, e.arg
            ok = self._variants_where(
                lambda var: var.event.kind == "call" and var.event.name == call
                and (arg is None or var.event.arg == arg)
                and (inst is None or var.instance == inst))
            return lambda a, b, v: v in ok
        if isinstance(e, S.StateAfter):
            g = self.state_fn(e.expr)
            states = ex.states
            return lambda a, b, v: bool(g(states[b]))
        if isinstance(e, S.Op):
            fs = [self.step_fn(x) for x in e.args]
            if e.op == "not":
                f = fs[0]
                return lambda a, b, v: not f(a, b, v)
            if e.op == "and":
                return lambda a, b, v: all(f(a, b, v) for f in fs)
            if e.op == "or":
                return lambda a, b, v: any(f(a, b, v) for f in fs)
            if e.op == "implies":
                return lambda a, b, v: (not fs[0](a, b, v)) or fs[1](a, b, v)
        raise AssertionError(e)


def _combine(op, fs):
    match op:
        case "not": return lambda s: int(not fs[0](s))
        case "neg": return lambda s: -fs[0](s)
        case "and": return lambda s: int(all(f(s) for f in fs))
        case "or": return lambda s: int(any(f(s) for f in fs))
        case "implies": return lambda s: int((not fs[0](s)) or bool(fs[1](s)))
        case "==": return lambda s: int(fs[0](s) == fs[1](s))
        case "!=": return lambda s: int(fs[0](s) != fs[1](s))
        case "<": return lambda s: int(fs[0](s) < fs[1](s))
        case "<=": return lambda s: int(fs[0](s) <= fs[1](s))
        case ">": return lambda s: int(fs[0](s) > fs[1](s))
        case ">=": return lambda s: int(fs[0](s) >= fs[1](s))
        case "+": return lambda s: fs[0](s) + fs[1](s)
        case "-": return lambda s: fs[0](s) - fs[1](s)
        case "*": return lambda s: fs[0](s) * fs[1](s)
    raise AssertionError(op)


def _division(op, num, den, span):
    """`/` rounds down, as in a model; a divisor of 0 is an error in that state, never a
    value made up for it (`1/0 == 0` must not hold)."""
    def divide(s):
        d = den(s)
        if not d:
            raise SpecArithmeticError(op, span, s)
        return num(s) // d if op == "/" else num(s) % d
    return divide


# ---------------------------------------------------------------- monitors for run formulas


class _Monitor:
    """The product of the state graph with one small automaton per temporal atom."""

    def __init__(self, ev: _Eval, formula):
        self.ev = ev
        self.init_fns: list = []   # state -> initial monitor value
        self.step_fns: list = []   # (value, src, dst, variant, dst_state) -> value
        self.final_fns: list = []  # (value, final state) -> bool
        self.top = self._compile(formula)

    def _pred(self, body, on_steps):
        if on_steps:
            f = self.ev.step_fn(body)
            return None, (lambda a, b, v, s: f(a, b, v))
        g = self.ev.state_fn(body)
        return g, (lambda a, b, v, s: g(s))

    def _add(self, init, step, final) -> int:
        self.init_fns.append(init)
        self.step_fns.append(step)
        self.final_fns.append(final)
        return len(self.init_fns) - 1

    def _compile(self, f):
        """Returns a function (monitor values, final state) -> bool for the formula."""
        if isinstance(f, S.Temporal):
            at_state, at_step = self._pred(f.body, f.on_steps)
            if f.op in ("eventually", "never"):
                k = self._add(lambda s: int(bool(at_state and at_state(s))),
                              lambda m, a, b, v, s: m or int(bool(at_step(a, b, v, s))),
                              None)
                return (lambda mon, s: bool(mon[k])) if f.op == "eventually" else \
                    (lambda mon, s: not mon[k])
            if f.op == "always":
                k = self._add(lambda s: int(at_state is None or bool(at_state(s))),
                              lambda m, a, b, v, s: m and int(bool(at_step(a, b, v, s))),
                              None)
                return lambda mon, s: bool(mon[k])
            if f.op == "initially":
                k = self._add(lambda s: int(bool(at_state(s))), lambda m, a, b, v, s: m, None)
                return lambda mon, s: bool(mon[k])
            assert f.op == "finally"
            return lambda mon, s: bool(at_state(s))
        if isinstance(f, S.Before):
            a_state, a_step = self._pred(f.first, f.first_on_steps)
            b_state, b_step = self._pred(f.second, f.second_on_steps)

            def init(s):
                a = bool(a_state and a_state(s))
                b = bool(b_state and b_state(s))
                return 2 if b else (1 if a else 0)

            def step(m, x, y, v, s):
                if m:
                    return m
                a, b = bool(a_step(x, y, v, s)), bool(b_step(x, y, v, s))
                return 2 if b else (1 if a else 0)
            k = self._add(init, step, None)
            return lambda mon, s: mon[k] == 1
        if isinstance(f, S.Count):
            g = self.ev.count_fn(f.body)
            cap = f.bound + 1
            k = self._add(lambda s: 0, lambda m, a, b, v, s: min(cap, m + g(a, b, v)), None)
            cmp = _combine(f.op, [lambda c: c, lambda c: f.bound])
            return lambda mon, s: bool(cmp(mon[k]))
        assert isinstance(f, S.Op), f
        parts = [self._compile(a) for a in f.args]
        if f.op == "not":
            return lambda mon, s: not parts[0](mon, s)
        if f.op == "and":
            return lambda mon, s: all(p(mon, s) for p in parts)
        if f.op == "or":
            return lambda mon, s: any(p(mon, s) for p in parts)
        assert f.op == "implies"
        return lambda mon, s: (not parts[0](mon, s)) or parts[1](mon, s)

    def initial(self, s: int) -> tuple:
        return tuple(fn(s) for fn in self.init_fns)

    def step(self, mon: tuple, a: int, b: int, v: int, s_b: int) -> tuple:
        return tuple(fn(m, a, b, v, s_b) for fn, m in zip(self.step_fns, mon))


# ---------------------------------------------------------------- searches


def _timed(ex: Exploration, run):
    variants = [ex.system.variants[v] for v, _ in run[1:]]
    return check_run(ex.system, variants)


class _RunSearch:
    """Breadth-first over (state, monitor) pairs; yields complete runs that end in a target.
    A complete run ends in a terminal state (Exploration.terminal): never in one a limit cut
    off. Both searches poll the deadline (LimitReached)."""

    def __init__(self, ex: Exploration, monitor: _Monitor, adj, deadline: Deadline = NO_DEADLINE):
        self.ex, self.mon, self.adj, self.deadline = ex, monitor, adj, deadline
        # all_paths stopped at its limit of partial paths (how many it had): the runs it
        # yielded are not all the runs there are, so no answer may rest on their being all
        self.cut_short = 0

    def targets(self, want: bool):
        ex, mon, adj = self.ex, self.mon, self.adj
        states, terminal, deadline = ex.states, ex.terminal, self.deadline
        index: dict[tuple[int, tuple], int] = {}
        nodes: list[tuple[int, tuple]] = []
        parent: list[tuple[int, int]] = []
        for sid in ex.initial:
            node = (sid, mon.initial(states[sid]))
            if node not in index:
                index[node] = len(nodes)
                nodes.append(node)
                parent.append((-1, -1))
        head = 0
        while head < len(nodes):
            if not head & 1023:
                deadline.check()
            sid, m = nodes[head]
            succ = adj[sid]
            if sid in terminal:
                if mon.top(m, states[sid]) == want:
                    yield self._run(head, nodes, parent)
            for v, dst in succ:
                node = (dst, mon.step(m, sid, dst, v, states[dst]))
                if node not in index:
                    index[node] = len(nodes)
                    nodes.append(node)
                    parent.append((head, v))
            head += 1

    @staticmethod
    def _run(k, nodes, parent):
        steps = []
        while k != -1:
            p, v = parent[k]
            steps.append((v, nodes[k][0]))
            k = p
        steps.reverse()
        return steps

    def all_paths(self, want: bool, budget: int):
        """Every complete run ending in a target, as paths (not merged by state), shortest
        first and in edge order; stops after `budget` runs, or after ten times as many partial
        paths, saying so in `cut_short` (a cycle makes the paths endless)."""
        ex, mon, adj = self.ex, self.mon, self.adj
        states, terminal, deadline = ex.states, ex.terminal, self.deadline
        # the tree of paths: entry = (state id, monitor, parent entry, variant)
        tree: list[tuple[int, tuple, int, int]] = [
            (sid, mon.initial(states[sid]), -1, -1) for sid in ex.initial]
        head = found = 0
        while head < len(tree):
            if head > 10 * budget:
                self.cut_short = head
                return
            if not head & 1023:
                deadline.check()
            sid, m, _p, _v = tree[head]
            succ = adj[sid]
            if sid in terminal:
                if mon.top(m, states[sid]) == want:
                    yield self._tree_run(tree, head)
                    found += 1
                    if found >= budget:
                        return
            for v, dst in succ:
                tree.append((dst, mon.step(m, sid, dst, v, states[dst]), head, v))
            head += 1

    @staticmethod
    def _tree_run(tree, k):
        steps = []
        while k != -1:
            sid, _m, parent, v = tree[k]
            steps.append((v, sid))
            k = parent
        steps.reverse()
        return steps


MAX_TIMING_CHECKS = 200_000  # incremental z3 checks a timed search may make before giving up


def timed_search(ex: Exploration, adj, monitor: "_Monitor | None", is_target, min_len: int,
                  extra: int = 12, budget: int = MAX_TIMING_CHECKS, fixed: dict | None = None,
                  deadline: Deadline = NO_DEADLINE):
    """The shortest run the timers allow that ends in a target: timing.TimedSearch over the
    product of the state graph with the monitor, deepened one step at a time (edges in
    order), pruning every step after which no target is reachable within the length left
    (untimed).

    `is_target(state id, monitor value)` says where a run may end; `fixed` pins timers to one
    duration each (see timing.IncrementalRun). Returns (run, exhausted); raises LimitReached
    when the deadline passes."""
    if isinstance(monitor, TabledMonitor):
        nodes, succ, starts = monitor.product(deadline)
    else:
        nodes, succ, starts = _product(ex, adj, monitor, deadline)
    far = len(nodes) + 1
    dist = [far] * len(nodes)
    preds: list[list[int]] = [[] for _ in nodes]
    for k, out in enumerate(succ):
        for _v, j in out:
            preds[j].append(k)
    todo = deque()
    for k, (sid, m) in enumerate(nodes):
        if is_target(sid, m):
            dist[k] = 0
            todo.append(k)
    while todo:
        k = todo.popleft()
        for p in preds[k]:
            if dist[p] == far:
                dist[p] = dist[k] + 1
                todo.append(p)

    best = min((dist[k] for k in starts), default=far)
    if best == far:
        return None, False
    search = TimedSearch(ex.system, budget, fixed)
    for limit in range(max(best, min_len), max(ex.max_depth, min_len) + extra + 1):

        def out_of_reach(j, steps, limit=limit):
            deadline.check()  # called for every step tried: the timed search's heartbeat
            return dist[j] > limit - steps  # no target within the length left, whatever the timing

        for k in starts:
            if dist[k] > limit:
                continue
            path = next(search.paths(k, succ.__getitem__, lambda j: dist[j] == 0,
                                     skip=out_of_reach), None)
            if path is not None:
                return [(v, nodes[j][0]) for v, j in path], False
            if search.exhausted:
                return None, True
    return None, False


def _product(ex: Exploration, adj, monitor, deadline: Deadline):
    """The product of the state graph with a generic monitor (None: the graph itself):
    nodes (state id, monitor value) numbered breadth-first in edge order, their successors
    [(variant, node)], and the nodes of the initial states."""
    states = ex.states
    index: dict[tuple, int] = {}
    nodes: list[tuple[int, object]] = []
    succ: list[list[tuple[int, int]]] = []
    for sid in ex.initial:
        m = monitor.initial(states[sid]) if monitor else None
        if (sid, m) not in index:
            index[(sid, m)] = len(nodes)
            nodes.append((sid, m))
    head = 0
    while head < len(nodes):
        if not head & 1023:
            deadline.check()
        sid, m = nodes[head]
        out = []
        for v, dst in adj[sid]:
            m2 = monitor.step(m, sid, dst, v, states[dst]) if monitor else None
            key = (dst, m2)
            if key not in index:
                index[key] = len(nodes)
                nodes.append(key)
            out.append((v, index[key]))
        succ.append(out)
        head += 1
    starts = [index[(sid, monitor.initial(states[sid]) if monitor else None)] for sid in ex.initial]
    return nodes, succ, starts


def _first_feasible(ex, runs, budget=MAX_RUNS_CHECKED, deadline: Deadline = NO_DEADLINE):
    """The first run the timers allow; else (None, timing of the first impossible one, exhausted)."""
    first_bad = None
    checked = 0
    for run in runs:
        deadline.check()
        timing = _timed(ex, run)
        if timing.feasible:
            return run, timing, None, False
        if first_bad is None:
            first_bad = (run, timing)
        checked += 1
        if checked >= budget:
            return None, None, first_bad, True
    return None, None, first_bad, False


# ---------------------------------------------------------------- the checks


@dataclass(frozen=True)
class Prepared:
    """What the properties checked on one exploration share, made once (and before workers
    fork, so that they all inherit it): the adjacency lists, and the edges labelled with the
    leaves of every run formula (monitor.Alphabet)."""
    exploration: Exploration
    alphabet: Alphabet | None


def prepare(ex: Exploration, props: list[S.Property],
            deadline: Deadline = NO_DEADLINE) -> Prepared | None:
    """The shared work of checking `props` on `ex` (see Prepared); None when there is none to
    do or the deadline passed while doing it (each property then does its own, or says it
    was stopped)."""
    if ex.stop_reason is StopReason.MODEL_ERROR:
        return None
    formulas = [f for p in props if p.kind in ("runs", "reachable")
                for f in (p.formula, *(q.formula for q in p.premises)) if tabled(f)]
    if not formulas:
        return None
    try:
        return Prepared(ex, Alphabet(ex, _Eval(ex, deadline), formulas, deadline))
    except LimitReached:
        return None


def _alphabet_for(ex: Exploration, ev: _Eval, formula, prepared: Prepared | None) -> Alphabet:
    """The prepared alphabet when it covers the formula, else one made for it alone."""
    if prepared is not None and prepared.exploration is ex and prepared.alphabet is not None \
            and all(leaf in prepared.alphabet.position for leaf in leaves_of(formula)):
        return prepared.alphabet
    return Alphabet(ex, ev, [formula], ev.deadline)


def check_property(ex: Exploration, prop: S.Property,
                   deadline: Deadline = NO_DEADLINE,
                   prepared: Prepared | None = None) -> PropertyResult:
    """Check one resolved property against an exploration (`prepared`: prepare()'s work for
    the properties checked together). When the command's deadline passes (time limit,
    signal) the property is inconclusive: a check never answers from part of its search."""
    base = dict(name=prop.name, kind=prop.kind, doc=prop.doc, source=prop.source)
    if ex.stop_reason is StopReason.MODEL_ERROR:
        return PropertyResult(verdict=Verdict.INCONCLUSIVE,
                              message=f"the model failed while exploring ({ex.error.message}); "
                              "fix the model first", **base)
    ev = _Eval(ex, deadline)
    if deadline.expired():
        return PropertyResult(verdict=Verdict.INCONCLUSIVE,
                              message=_stopped_note(ex, deadline.reason, "before checking"),
                              **base)
    try:
        if prop.kind == "invariant":
            return _unmet_premises_warned(ex, ev, prop, _invariant(ex, ev, prop, base))
        if prop.kind == "terminates":
            return _terminates(ex, ev, prop, base)
        if prop.kind == "timing":
            return _timing(ex, ev, prop, base)
        return _vacuity(ex, ev, prop, _run_property(ex, ev, prop, base, prepared), prepared)
    except LimitReached as stop:
        return PropertyResult(verdict=Verdict.INCONCLUSIVE,
                              message=_stopped_note(ex, stop.reason, "while checking"), **base)
    except SpecArithmeticError as fault:
        return _arithmetic_error(ex, fault, base)


def _arithmetic_error(ex: Exploration, fault: SpecArithmeticError, base) -> PropertyResult:
    """The property's own arithmetic failed: an ERROR verdict whose diagnostic is located in
    the spec and carries the shortest run to the state where it failed (as a model's TCP501)."""
    sid = ex.index[fault.state]
    run = ex.path_to(sid)
    err = ExplorationError(-1, "TCP502", f"division by zero ('{fault.op}' by 0) in state "
                           f"#{sid}, while checking property '{base['name']}'", fault.span)
    diag, _steps = model_error_diagnostic(err, ex, run)
    return PropertyResult(verdict=Verdict.ERROR, message=err.message, run=run,
                          diagnostics=(diag,), **base)


def _vacuity(ex: Exploration, ev: _Eval, prop: S.Property,
             result: PropertyResult, prepared: Prepared | None = None) -> PropertyResult:
    """A `runs` property that holds, looked at again: if no complete run (that the timers
    allow) meets the premise of its implication, it holds only vacuously, and says so (a
    `reachable A implies B` too: its witness is then a run where A fails, which shows
    nothing). With several implications (a conjunction of them), it is vacuous when none is
    ever put to the test; an untested one among tested ones is a note."""
    if result.verdict is not Verdict.HOLDS or not prop.premises:
        return result
    unmet = [p for p in prop.premises if _premise_met(ex, ev, prop, p, prepared) is False]
    if not unmet:
        return result
    what = "; ".join(dict.fromkeys(_unmet_text(p) for p in unmet))   # each premise once
    if len(unmet) == len(prop.premises):
        return replace(result, verdict=Verdict.VACUOUS, message=f"no run has {what}",
                       notes=result.notes + ["the property holds only because no run meets "
                                             "the premise of its implication: it tests nothing"])
    return replace(result, notes=result.notes + [f"partly vacuous: no run has {what}"])


def _unmet_text(p: S.Premise) -> str:
    return f"observed {p.observed}" if p.observed else f"met the premise `{p.text}`"


def _premise_met(ex: Exploration, ev: _Eval, prop: S.Property, p: S.Premise,
                 prepared: Prepared | None = None) -> bool | None:
    """Whether some complete run the timers allow satisfies the premise (None: unknown)."""
    question = S.Property("reachable", prop.name, None, p.formula, (), p.span, p.text)
    got = _run_property(ex, ev, question, dict(name=prop.name, kind="reachable"), prepared)
    if got.verdict is Verdict.INCONCLUSIVE:
        return None
    return got.verdict is Verdict.HOLDS


def _some_state_satisfies(ex: Exploration, ev: _Eval, pred) -> bool:
    """Whether a reachable state satisfies the state predicate (the deadline polled)."""
    for sid, s in enumerate(ex.states):
        if not sid & 1023:
            ev.deadline.check()
        if pred(s):
            return True
    return False


def _unmet_premises_warned(ex: Exploration, ev: _Eval, prop: S.Property,
                           result: PropertyResult) -> PropertyResult:
    """An invariant `P implies Q` that holds, while no reachable state satisfies P, says
    nothing about any state: a warning at P (TCP503); the verdict stays."""
    if result.verdict is not Verdict.HOLDS or not prop.premises:
        return result
    warnings = []
    for p in prop.premises:
        if not _some_state_satisfies(ex, ev, _remembered(ex, ev, p.formula)):
            warnings.append(Diagnostic(
                "TCP503", f"no reachable state satisfies `{p.text}`: invariant "
                f"'{prop.name}' holds without ever being put to the test", p.span,
                (f"all {ex.n_states:,} reachable states were looked at",), severity="warning"))
    return replace(result, diagnostics=result.diagnostics + tuple(warnings))


def _partial_note(ex: Exploration) -> str:
    return (f"the search stopped early ({ex.stop_reason}) after {ex.n_states:,} states; "
            "raise the limit for a verdict")


def _stopped_note(ex: Exploration, reason: StopReason, when: str) -> str:
    """Why a property has no verdict: the command's deadline passed `when` ("before checking",
    "while checking") it."""
    what = "interrupted" if reason is StopReason.INTERRUPTED else f"stopped ({reason})"
    searched = (f"{ex.n_states:,} states explored" if ex.complete
                else f"the search stopped early ({ex.stop_reason}) after {ex.n_states:,} states")
    return f"{what} {when} this property; {searched}"


def _invariant(ex, ev, prop, base) -> PropertyResult:
    pred = _remembered(ex, ev, prop.formula)

    def bad_runs():
        for sid, s in enumerate(ex.states):
            if not sid & 1023:
                ev.deadline.check()
            if not pred(s):
                yield ex.path_to(sid)
    run, timing, first_bad, exhausted = _first_feasible(ex, bad_runs(), deadline=ev.deadline)
    if run is not None:
        return PropertyResult(verdict=Verdict.VIOLATED,
                              message=f"a reachable state breaks it (state #{run[-1][1]})",
                              run=run, times=timing.times_ms, **base)
    if not ex.complete or exhausted:
        return PropertyResult(verdict=Verdict.INCONCLUSIVE, message=_partial_note(ex), **base)
    notes = []
    if first_bad is not None:
        notes.append("states that break it exist, but the timers make every shortest run to "
                     "them impossible: " + "; ".join(first_bad[1].conflict or []))
        # a longer run to a bad state might still be possible: search the timed runs
        states = ex.states
        run2, exhausted2 = timed_search(ex, ex.adjacency_until(ev.deadline), None,
                                         lambda sid, m: not pred(states[sid]),
                                         len(first_bad[0]) - 1, deadline=ev.deadline)
        timing2 = _timed(ex, run2) if run2 is not None else None
        if run2 is not None:
            return PropertyResult(verdict=Verdict.VIOLATED,
                                  message="a reachable state breaks it",
                                  run=run2, times=timing2.times_ms, **base)
        if exhausted2:
            return PropertyResult(verdict=Verdict.INCONCLUSIVE,
                                  message="too many runs to check their timing",
                                  notes=notes, **base)
    return PropertyResult(verdict=Verdict.HOLDS,
                          message=f"all {ex.n_states:,} reachable states satisfy it",
                          notes=notes, **base)


def _run_property(ex, ev, prop, base, prepared: Prepared | None = None) -> PropertyResult:
    mon = _Monitor(ev, prop.formula)
    adj = ex.adjacency_until(ev.deadline)
    want = prop.kind == "reachable"
    states, terminal = ex.states, ex.terminal
    if tabled(prop.formula):
        walked = TabledMonitor(ex, mon, _alphabet_for(ex, ev, prop.formula, prepared),
                               prop.formula)
        runs = walked.targets(want, ev.deadline)

        def is_target(sid, m):
            return sid in terminal and walked.accepts(sid, m) == want
    else:   # a division: the generic monitor, which evaluates only what it needs
        walked = mon
        runs = _RunSearch(ex, mon, adj, ev.deadline).targets(want)

        def is_target(sid, m):
            return sid in terminal and mon.top(m, states[sid]) == want
    # fast path: the first run the product BFS finds is a shortest run; if the timers allow
    # it, it is the answer. If not, search the runs themselves, shortest first.
    run, timing, first_bad, exhausted = _first_feasible(ex, runs, budget=1,
                                                        deadline=ev.deadline)
    if run is None and first_bad is not None:
        run, exhausted = timed_search(ex, adj, walked, is_target, len(first_bad[0]) - 1,
                                      deadline=ev.deadline)
        timing = _timed(ex, run) if run is not None else None
    if run is not None:
        if want:
            return PropertyResult(verdict=Verdict.HOLDS,
                                  message=f"witness: a run of {len(run) - 1} steps",
                                  run=run, times=timing.times_ms, **base)
        return PropertyResult(verdict=Verdict.VIOLATED,
                              message=f"a complete run of {len(run) - 1} steps breaks it",
                              run=run, times=timing.times_ms, **base)
    if not ex.complete or exhausted:
        return PropertyResult(verdict=Verdict.INCONCLUSIVE,
                              message=_partial_note(ex) if not ex.complete
                              else "too many runs to check their timing", **base)
    notes = []
    if first_bad is not None:
        notes.append("untimed, such a run exists, but the timer ranges rule it out: "
                     + "; ".join(first_bad[1].conflict or []))
    if want:
        return PropertyResult(verdict=Verdict.VIOLATED,
                              message="no complete run satisfies it"
                              + (" (only because of timing)" if first_bad else ""),
                              run=first_bad[0] if first_bad else None, notes=notes, **base)
    return PropertyResult(verdict=Verdict.HOLDS, message="every complete run satisfies it",
                          notes=notes, **base)


def end_predicate(ts: TransitionSystem):
    """The default end of a run: every endpoint CLOSED and nothing in flight."""
    closed = ts.model.enum_values("tcp_state").index("CLOSED")
    slots = [ts.tcp_state_slot(i.name) for i in ts.model.instances]
    slots = [ts.slots[i] for i in slots if i is not None]
    chans = [ts.slots[c.slot] for c in ts.channels]

    def end(s):
        return all(((s >> sl.offset) & sl.mask) + sl.base == closed for sl in slots) and \
            all(((s >> ch.offset) & ch.mask) == 0 for ch in chans)
    return end


def _end_bits(ts: TransitionSystem) -> int:
    """The bits end_predicate reads: every endpoint's tcp_state and every channel."""
    slots = [ts.tcp_state_slot(i.name) for i in ts.model.instances]
    bits = 0
    for i in [i for i in slots if i is not None] + [c.slot for c in ts.channels]:
        bits |= ts.slots[i].mask << ts.slots[i].offset
    return bits


def _remembered(ex: Exploration, ev: _Eval, formula):
    """A state predicate for a scan of every state, tabled by the bits it reads."""
    return by_bits(ev.state_fn(formula), state_bits(ex.system, formula))


def _application_timers(ts: TransitionSystem) -> set[str]:
    """Timer slots that only time application calls (`on call X after T`), never TCP's own
    expiries: a think time. A run may stop with one running: the application just never
    made the call."""
    out = set()
    for inst in ts.model.instances:
        ep = ts.model.endpoint(inst.endpoint)
        for t in ep.timers:
            uses = [tr for tr in ep.transitions if tr.after == t.name]
            if uses and all(tr.event.kind == "call" for tr in uses):
                out.add(f"{inst.name}.timer.{t.name}")
    return out


def _stuck_timers(ex: Exploration, sid: int) -> list[str]:
    """TCP timers that run in a state where nothing can move: nothing will ever fire them."""
    ts, s = ex.system, ex.states[sid]
    app = _application_timers(ts)
    return [slot.name.replace(".timer.", ".") for i, slot in enumerate(ts.slots)
            if slot.kind == "timer" and slot.name not in app and ts.slot_value(s, i)]


def _waits_for_application(ex: Exploration, sid: int) -> bool:
    """Nothing in flight and no TCP timer left running: only an application call could move
    the run on."""
    ts, s = ex.system, ex.states[sid]
    return all(ts.slot_value(s, ch.slot) == 0 for ch in ts.channels) and not _stuck_timers(ex, sid)


def _tcp_states(ex: Exploration, sid: int) -> dict[str, str]:
    return tcp_states(ex.system, ex.states[sid])


def _terminates(ex, ev, prop, base) -> PropertyResult:
    end = _remembered(ex, ev, prop.formula) if prop.formula is not None \
        else by_bits(end_predicate(ex.system), _end_bits(ex.system))
    if not ex.complete:
        return PropertyResult(verdict=Verdict.INCONCLUSIVE, message=_partial_note(ex), **base)
    notes = ["assumes fairness: every running timer eventually fires and every application "
             "eventually makes its next call"]
    # (a) a terminal state that is not an end state: nothing can move, but the close is not
    # done. Either TCP is stuck (a segment nobody accepts, a timer that cannot fire), or both
    # TCPs are idle and wait for an application that makes no further call: not a TCP bug,
    # but the run never closes (the classic CLOSE_WAIT descriptor leak). TCP first.
    stuck = [sid for sid in ex.deadlocks if not end(ex.states[sid])]
    stuck.sort(key=lambda sid: _waits_for_application(ex, sid))
    if stuck:
        sid = stuck[0]
        run = ex.path_to(sid)
        timing = _timed(ex, run)
        where = ", ".join(f"{k} in {v}" for k, v in _tcp_states(ex, sid).items())
        if _waits_for_application(ex, sid):
            message = (f"the run stops with {where}: nothing is in flight, so both TCPs wait "
                       "for their applications, which make no further call "
                       "(an application that never calls close() after EOF leaves its socket "
                       "in CLOSE_WAIT)")
        else:
            timers = _stuck_timers(ex, sid)
            why = (f"timer {', '.join(timers)} runs but no transition fires it" if timers
                   else "segments are in flight that no transition accepts")
            message = f"TCP deadlock: in state #{sid} ({where}) nothing can move: {why}"
        return PropertyResult(verdict=Verdict.VIOLATED, message=message, run=run,
                              times=timing.times_ms if timing.feasible else None, notes=notes,
                              **base)
    # (b) a state from which no end state can be reached (a cycle that never closes)
    can_end = [False] * ex.n_states
    rev: list[list[int]] = [[] for _ in range(ex.n_states)]
    for src, dst in zip(ex.edge_src, ex.edge_dst):
        rev[dst].append(src)
    todo = deque(sid for sid, s in enumerate(ex.states) if end(s))
    for sid in todo:
        can_end[sid] = True
    ev.deadline.check()  # the rest is linear in the edges: one look before it is enough
    while todo:
        sid = todo.popleft()
        for p in rev[sid]:
            if not can_end[p]:
                can_end[p] = True
                todo.append(p)
    for sid in range(ex.n_states):
        if not can_end[sid]:
            run = ex.path_to(sid)
            return PropertyResult(verdict=Verdict.VIOLATED,
                                  message=f"from state #{sid} the connection can never close "
                                  "(every way on loops back)", run=run, notes=notes, **base)
    ends = sum(1 for sid in ex.deadlocks if end(ex.states[sid]))
    return PropertyResult(verdict=Verdict.HOLDS,
                          message=f"every run can end and every one that stops ends closed "
                          f"({ends} end states)", notes=notes, **base)


def _timing(ex, ev, prop, base) -> PropertyResult:
    if not ex.complete:
        return PropertyResult(verdict=Verdict.INCONCLUSIVE, message=_partial_note(ex), **base)
    ts = ex.system
    question = DurationQuestion(ts, tuple(prop.timers))
    mon = _Monitor(ev, prop.formula)
    search = _RunSearch(ex, mon, ex.adjacency_until(ev.deadline), ev.deadline)
    example = None
    for run in search.all_paths(True, MAX_RUNS_CHECKED + 1):
        ev.deadline.check()
        if question.runs >= MAX_RUNS_CHECKED:
            return PropertyResult(verdict=Verdict.INCONCLUSIVE, message="too many runs to solve",
                                  **base)
        if question.add([ts.variants[v] for v, _ in run[1:]]) and example is None:
            example = run
    answer = question.answer(complete=not search.cut_short)
    if not answer.complete:
        # runs not looked at could widen the answer, or make "never" possible
        return PropertyResult(verdict=Verdict.INCONCLUSIVE, message=(
            f"stopped after {search.cut_short} partial runs; among the {question.runs} runs "
            f"found, possible {'when ' + answer.text if answer.possible else 'never'}"),
            durations=answer, **base)
    timing = _timed(ex, example) if example else None
    return PropertyResult(**duration_verdict(answer, example, timing), **base)


def duration_verdict(answer: DurationAnswer, example, timing, untimed_known: bool = True) -> dict:
    """A timing query's verdict from its answer, the same for both engines: holds when some
    durations make a run possible (with an example run and its times), violated when none
    do. `untimed_known`: every run satisfying the formula untimed was counted (the symbolic
    engine leaves out the runs the timers forbid whatever the durations)."""
    if not answer.runs:
        why = "at all, whatever the timers" if untimed_known else "that the timers allow"
        return dict(verdict=Verdict.VIOLATED, message=f"no run satisfies the formula {why}",
                    durations=answer)
    if not answer.possible:
        message = "impossible for every duration"
    elif answer.everything:
        message = "possible for every duration in the declared ranges"
    else:
        message = f"possible when {answer.text}"
    counted = "untimed" if untimed_known else "and the timers allow for some durations"
    return dict(verdict=Verdict.HOLDS if answer.possible else Verdict.VIOLATED,
                message=message, durations=answer, run=example,
                times=timing.times_ms if timing and timing.feasible else None,
                notes=[f"{answer.runs} runs satisfy the formula {counted}"])
