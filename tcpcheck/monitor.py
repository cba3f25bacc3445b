"""Tabled property monitors: the product of an exploration with a run formula's monitor,
each leaf of the formula evaluated once per distinct value of what it reads.

A run formula's monitor (query._Monitor) is a small automaton folded along a run's steps:
its value after a step depends only on its value before and on the formula's leaves on
that step (`sends(client, FIN)`, `client.rcvd == 2` in the state reached, `count(...)`).
The generic monitor calls the leaves' closures on every edge of the product, again for each
monitor value a state is reached with: millions of calls on the shipped specs. Here:

* an `Alphabet`, built once per exploration and set of formulas (every property of a spec
  file, and the premises of their implications): the leaves are split by what they read --
  the variant alone, the state reached alone, or both (with the head of a channel in the
  state left) -- each part is evaluated once per distinct value of the bits it reads (the
  packed state masked to its slots), and every edge gets a *letter*: the number of the
  tuple of all leaf values on it. The graph is relabelled once, [(letter, variant, dst)];
* a `TabledMonitor` per property: monitor values numbered, and its step tabled by (value,
  letter), each entry filled by the generic monitor's own step on the first edge that
  needs it (so the two cannot disagree on what a formula means); the breadth-first product
  search and the product graph of the timed search are walked with table look-ups.

Nodes are numbered in the order the generic search gives them, so runs, witnesses and
counterexamples are the same, byte for byte (tests/test_monitor.py compares them on every
shipped spec). A formula with a division or remainder is left to the generic monitor: it
may fail in a state (TCP502), and only the generic one evaluates exactly what it needs, in
its order, so the failing state reported stays the same.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from . import spec as S
from .explore import Deadline, Exploration
from .tcp import FLAG_WIDTH
from .transitions import TransitionSystem

FLAG_MASK = (1 << FLAG_WIDTH) - 1

LIST_SLOTS = 4_000_000   # node-number slots kept in lists by a product search (see _grow)

# a leaf of a run formula: ("step", step predicate), ("state", state predicate read in the
# state a step reaches) or ("count", what count(...) adds for a step)
Leaf = tuple[str, object]


def leaves_of(formula) -> list[Leaf]:
    """The leaves the monitor's step reads (query._Monitor._compile: what its step functions
    call), each once, in the order they are written."""
    found: dict[Leaf, None] = {}

    def walk(f) -> None:
        if isinstance(f, S.Temporal):
            if f.op in ("eventually", "never", "always"):
                found[("step" if f.on_steps else "state", f.body)] = None
        elif isinstance(f, S.Before):
            found[("step" if f.first_on_steps else "state", f.first)] = None
            found[("step" if f.second_on_steps else "state", f.second)] = None
        elif isinstance(f, S.Count):
            found[("count", f.body)] = None
        elif isinstance(f, S.Op):
            for a in f.args:
                walk(a)
    walk(formula)
    return list(found)


def divides(e) -> bool:
    """Whether a formula divides anywhere (its value may be undefined in some state)."""
    if isinstance(e, S.Op):
        return e.op in ("/", "%") or any(divides(a) for a in e.args)
    for attr in ("body", "expr", "first", "second"):
        part = getattr(e, attr, None)
        if part is not None and divides(part):
            return True
    return False


def tabled(formula) -> bool:
    """Whether the tabled monitor may check this formula (see the module docstring)."""
    return not divides(formula)


def _slot_bits(ts: TransitionSystem, slot: int) -> int:
    s = ts.slots[slot]
    return s.mask << s.offset


def state_bits(ts: TransitionSystem, e) -> int:
    """The bits of the packed state a state expression reads."""
    if isinstance(e, (S.SlotVal, S.ChanLen)):
        return _slot_bits(ts, e.slot)
    if isinstance(e, S.Op):
        bits = 0
        for a in e.args:
            bits |= state_bits(ts, a)
        return bits
    return 0


def by_bits(fn: Callable[[int], object], bits: int) -> Callable[[int], object]:
    """A function of packed states that reads only `bits` of them, remembered by those bits:
    a scan of every state (an invariant, the end states of `terminates`) evaluates it once
    per distinct value of what it reads. The first state met with each value is the one it
    is evaluated on, so a division by zero is found in the same state as without the table."""
    table: dict[int, object] = {}

    def remembered(s: int):
        key = s & bits
        if key in table:
            return table[key]
        got = table[key] = fn(s)
        return got
    return remembered


def _step_reads(ts: TransitionSystem, e) -> tuple[bool, int, int]:
    """What a step predicate reads: (the variant, bits of the state left, bits of the state
    reached). A receive's or loss's flags are read from the head of a channel in the state
    the step leaves (query._Eval.step_fn)."""
    # the flags of a channel's head: the low bits of its slot (run.received_flags)
    channels = 0
    for ch in ts.channels:
        slot = ts.slots[ch.slot]
        channels |= (slot.mask & FLAG_MASK) << slot.offset
    if isinstance(e, (S.Observed, S.Sends, S.Calls)):
        return True, 0, 0
    if isinstance(e, (S.Receives, S.Loses)):
        return True, (0 if e.flags is None else channels), 0
    if isinstance(e, S.StateAfter):
        return False, 0, state_bits(ts, e.expr)
    assert isinstance(e, S.Op), e
    variant, src, dst = False, 0, 0
    for a in e.args:
        v2, s2, d2 = _step_reads(ts, a)
        variant, src, dst = variant or v2, src | s2, dst | d2
    return variant, src, dst


def _leaf_reads(ts: TransitionSystem, leaf: Leaf) -> tuple[bool, int, int]:
    kind, body = leaf
    if kind == "state":
        return False, 0, state_bits(ts, body)
    if kind == "count" and isinstance(body, S.Sends):
        return True, 0, 0
    return _step_reads(ts, body)


def _leaf_function(ev, leaf: Leaf) -> Callable[[int, int, int], int]:
    """The leaf's value on the step (src id, dst id, variant), as the generic monitor reads it."""
    kind, body = leaf
    if kind == "count":
        return ev.count_fn(body)
    if kind == "state":
        g, states = ev.state_fn(body), ev.ex.states
        return lambda a, b, v: int(bool(g(states[b])))
    f = ev.step_fn(body)
    return lambda a, b, v: int(bool(f(a, b, v)))


class Alphabet:
    """The exploration's edges labelled with letters over the leaves of some formulas: `edges`
    is the adjacency (id -> [(letter, variant, successor id)] in edge order) and `values`
    each letter's tuple of leaf values, in `leaves` order."""

    def __init__(self, ex: Exploration, ev, formulas, deadline: Deadline):
        ts = ex.system
        leaves = list(dict.fromkeys(leaf for f in formulas for leaf in leaves_of(f)))
        self.position = {leaf: k for k, leaf in enumerate(leaves)}
        reads = [_leaf_reads(ts, leaf) for leaf in leaves]
        fns = [_leaf_function(ev, leaf) for leaf in leaves]
        # three parts, each tabled by what it reads: the variant alone, the state reached
        # alone, and the rest (by the variant and the bits of both states it reads)
        by_variant = [k for k, (v, a, b) in enumerate(reads) if v and not a and not b]
        by_state = [k for k, (v, a, b) in enumerate(reads) if not v and not a]
        mixed = [k for k in range(len(leaves)) if k not in by_variant and k not in by_state]
        self.leaves = leaves
        self._order = by_variant + by_state + mixed   # a letter's values, part by part
        self.values: list[tuple[int, ...]] = []
        self._numbered: dict[tuple[int, ...], int] = {}   # a letter's values -> letter
        self.edges = self._label(ex, deadline, fns, reads, by_variant, by_state, mixed)

    def _label(self, ex: Exploration, deadline: Deadline, fns, reads, by_variant, by_state,
               mixed) -> list[list[tuple[int, int, int]]]:
        states, adj = ex.states, ex.adjacency_until(deadline)
        state_bits = src_bits = dst_bits = 0
        for k in by_state:
            state_bits |= reads[k][2]
        for k in mixed:
            src_bits |= reads[k][1]
            dst_bits |= reads[k][2]
        # the parts of a letter: by variant, by the state reached (once per state: by the
        # bits its leaves read), and the rest by (variant, the bits they read of both states)
        variant_part: list[int] = [-1] * len(ex.system.variants)
        state_part: list[int] = [-1] * len(states)
        parts: dict[tuple, int] = {}      # a part's values -> its number
        by_bits: dict[int, int] = {}      # the bits the state part reads -> part
        letter_of: dict[tuple[int, int, int], int] = {}
        mixed_part: dict[tuple[int, int, int], int] = {}
        part_values: list[tuple] = []

        def part(values: tuple) -> int:
            k = parts.setdefault(values, len(parts))
            if k == len(part_values):
                part_values.append(values)
            return k

        edges: list[list[tuple[int, int, int]]] = []
        for a, out in enumerate(adj):
            if not a & 1023:
                deadline.check()
            src = states[a] & src_bits
            labelled = []
            for v, b in out:
                vp = variant_part[v]
                if vp < 0:
                    vp = variant_part[v] = part(tuple(fns[k](a, b, v) for k in by_variant))
                sp = state_part[b]
                if sp < 0:
                    bits = states[b] & state_bits
                    sp = by_bits.get(bits, -1)
                    if sp < 0:
                        sp = by_bits[bits] = part(tuple(fns[k](a, b, v) for k in by_state))
                    state_part[b] = sp
                mp = -1
                if mixed:
                    mkey = (v, src, states[b] & dst_bits)
                    mp = mixed_part.get(mkey, -1)
                    if mp < 0:
                        mp = mixed_part[mkey] = part(tuple(fns[k](a, b, v) for k in mixed))
                key = (vp, sp, mp)
                lt = letter_of.get(key)
                if lt is None:
                    lt = letter_of[key] = self._letter(
                        part_values[vp] + part_values[sp] + (part_values[mp] if mixed else ()))
                labelled.append((lt, v, b))
            edges.append(labelled)
        return edges

    def _letter(self, by_part: tuple) -> int:
        """The number of the letter whose leaf values, part by part, are `by_part`."""
        got = [0] * len(self._order)
        for pos, k in enumerate(self._order):
            got[k] = by_part[pos]
        values = tuple(got)
        lt = self._numbered.setdefault(values, len(self.values))
        if lt == len(self.values):
            self.values.append(values)
        return lt


class TabledMonitor:
    """One run formula's monitor over an Alphabet: values numbered as they are met, the step
    tabled by (value, letter). `generic` is the formula's query._Monitor (its initial values,
    steps and verdict on a final state are the meaning; this only remembers them)."""

    def __init__(self, ex: Exploration, generic, alphabet: Alphabet, formula):
        self.ex, self.generic, self.alphabet = ex, generic, alphabet
        own = [alphabet.position[leaf] for leaf in leaves_of(formula)]
        self._own = own
        self._value_id: dict[tuple, int] = {}
        self._values: list[tuple] = []
        self._rows: list[list[int]] = []              # value id -> letter -> value id (-1: not yet)
        self._projected: list[int] = [-1] * len(alphabet.values)   # letter -> own letter
        self._own_letter: dict[tuple, int] = {}
        self._steps: dict[tuple[int, int], int] = {}  # (value id, own letter) -> value id
        self._accepts: dict[tuple[int, int], bool] = {}

    def _number(self, value: tuple) -> int:
        m = self._value_id.get(value)
        if m is None:
            m = self._value_id[value] = len(self._values)
            self._values.append(value)
            self._rows.append([-1] * len(self.alphabet.values))
        return m

    def start(self, sid: int) -> int:
        return self._number(self.generic.initial(self.ex.states[sid]))

    def accepts(self, sid: int, m: int) -> bool:
        """The formula's verdict on a run that ends in state `sid` with monitor value m."""
        got = self._accepts.get((sid, m))
        if got is None:
            got = self._accepts[(sid, m)] = self.generic.top(self._values[m], self.ex.states[sid])
        return got

    def _fill(self, m: int, lt: int, a: int, v: int, b: int) -> int:
        """The step from value m on an edge with letter lt (here a -> b by variant v): taken
        by the generic monitor once per (value, the letter on this formula's own leaves)."""
        own = self._projected[lt]
        if own < 0:
            vals = self.alphabet.values[lt]
            key = tuple(vals[k] for k in self._own)
            own = self._own_letter.setdefault(key, len(self._own_letter))
            self._projected[lt] = own
        m2 = self._steps.get((m, own))
        if m2 is None:
            value = self.generic.step(self._values[m], a, b, v, self.ex.states[b])
            m2 = self._steps[(m, own)] = self._number(value)
        self._rows[m][lt] = m2
        return m2

    def _grow(self, placed: list) -> None:
        """The product's node numbers of the states with each monitor value (-1: not yet
        met), one table per value met so far: a list look-up an edge instead of hashing a
        pair. A list holds a slot for every state, so only the first values get one (about
        32 MB of them in all); a formula with more values (counts to large bounds) gets
        dicts for the rest, as big as the nodes they hold."""
        lists = max(1, LIST_SLOTS // max(1, self.ex.n_states))
        while len(placed) < len(self._values):
            placed.append([-1] * self.ex.n_states if len(placed) < lists else _Unplaced())

    def targets(self, want: bool, deadline: Deadline) -> Iterator[list[tuple[int, int]]]:
        """query._RunSearch.targets over the tabled product: complete runs whose verdict is
        `want`, shortest first, found in the same order."""
        ex, edges, rows = self.ex, self.alphabet.edges, self._rows
        terminal, accepts = ex.terminal, self.accepts
        placed: list = []
        node_sid: list[int] = []
        node_m: list[int] = []
        parent: list[tuple[int, int]] = []
        for sid in ex.initial:
            m = self.start(sid)
            self._grow(placed)
            at = placed[m]
            if at[sid] < 0:
                at[sid] = len(node_sid)
                node_sid.append(sid)
                node_m.append(m)
                parent.append((-1, -1))
        head, count = 0, len(node_sid)
        add_sid, add_m, add_parent = node_sid.append, node_m.append, parent.append
        while head < count:
            if not head & 1023:
                deadline.check()
            sid, m = node_sid[head], node_m[head]
            if sid in terminal and accepts(sid, m) == want:
                yield _run(head, node_sid, parent)
            row = rows[m]
            for lt, v, dst in edges[sid]:
                m2 = row[lt]
                if m2 < 0:
                    m2 = self._fill(m, lt, sid, v, dst)
                    self._grow(placed)
                at = placed[m2]
                if at[dst] < 0:
                    at[dst] = count
                    count += 1
                    add_sid(dst)
                    add_m(m2)
                    add_parent((head, v))
            head += 1

    def product(self, deadline: Deadline):
        """The whole product graph, numbered as query.timed_search numbers it: (nodes as
        (state id, value id), successors as [(variant, node)], the nodes of the initial
        states)."""
        ex, edges, rows = self.ex, self.alphabet.edges, self._rows
        placed: list = []
        nodes: list[tuple[int, int]] = []
        succ: list[list[tuple[int, int]]] = []
        starts_at = [(sid, self.start(sid)) for sid in ex.initial]
        self._grow(placed)
        for sid, m in starts_at:
            at = placed[m]
            if at[sid] < 0:
                at[sid] = len(nodes)
                nodes.append((sid, m))
        head, count = 0, len(nodes)
        add_node, add_succ = nodes.append, succ.append
        while head < count:
            if not head & 1023:
                deadline.check()
            sid, m = nodes[head]
            row = rows[m]
            out = []
            add = out.append
            for lt, v, dst in edges[sid]:
                m2 = row[lt]
                if m2 < 0:
                    m2 = self._fill(m, lt, sid, v, dst)
                    self._grow(placed)
                at = placed[m2]
                j = at[dst]
                if j < 0:
                    j = at[dst] = count
                    count += 1
                    add_node((dst, m2))
                add((v, j))
            add_succ(out)
            head += 1
        return nodes, succ, [placed[m][sid] for sid, m in starts_at]


class _Unplaced(dict):
    """A value's node numbers by state, as a dict: -1 for a state not yet met."""

    def __missing__(self, sid: int) -> int:
        return -1


def _run(k: int, node_sid: list[int], parent: list[tuple[int, int]]) -> list[tuple[int, int]]:
    steps = []
    while k != -1:
        p, v = parent[k]
        steps.append((v, node_sid[k]))
        k = p
    steps.reverse()
    return steps
