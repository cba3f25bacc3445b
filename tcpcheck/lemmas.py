"""Candidate facts for a proof at a size the explorer cannot finish, mined where it can.

k-induction (tcpcheck.kinduction) needs a strengthening: facts every reachable state
satisfies that make the step go through. At a large size (models/parametric.tcpm at D=4)
the explorer cannot list the reachable states, but at a small one (D=2) it can, and most of
what the model's steps keep true does not depend on D: which TCP states each side can be in
together, which segments a channel holds in which state of its sender, that the segments
sit at the head of the channel without gaps, that an acknowledgement never runs ahead of
what its sender received. This module reads such facts off every state of the small model
and writes them over the large model's state:

- a variable's values, and a variable's values when another has a given value, or when
  both sides' TCP states are given; three variables' joint values beside a TCP state;
- differences of two counters (a FIN counts one on top of the data: `rcvd - peer.sent`);
- per channel, for every position: what the segment there may be, what its sender's
  variables are when it is a given segment, how its `ack` stands to the counters (also
  under each premise on its sender's variables: a side holding back an ACK has
  acknowledged less than it received); for neighbouring and for later positions, which
  segments may follow which, and how their acknowledgements stand (a stale ACK and an RST
  apart; by both segments' kinds; below the saturating counts, in each TCP state of the
  sender: an ACK after an ACK acknowledges more); how the last segment in flight stands to
  its sender's counters;
- beside both sides' TCP states, how many segments of each kind are in flight (a client in
  TIME_WAIT facing a CLOSED server has at most one ACK on its way);
- per channel, how many segments in flight carry data, a FIN or an ACK (`Count`), against
  both sides' counters and the channel's losses (`server.rcvd + #DATA(client->server) -
  client.sent`: sent is received or on its way), the same where the sender's counter is
  below its top (exact there: at the top, "D or more", the sum may exceed it), and all a
  side put on the wire, in flight or lost, against its data, its FIN's copies and its ACKs
  (`Total`).

These kinds were found at a size the explorer finishes: Houdini's drops of facts true there
from states it never reaches show what no kind proposed yet (bench/RESULTS.md, proof4).

A counter whose range grows with the size (`sent: 0..D`) has its observed values carried
over by their distance from the ends of its range: the top (`D`, "D or more") stays the top.
Where that reading is ambiguous both readings are proposed, and values that stay below the
top are proposed as they are as well (bounded by the model, not by the range). Nothing here is trusted: a
candidate false in an initial state of the large model is dropped, and Houdini
(kinduction.houdini) keeps only those the steps provably preserve, so a wrong guess costs a
fact, never a verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import z3

from .compile import bounds
from .params import eval_const, param_combinations
from .symbolic import SlotState
from .tcp import FLAG_BITS, FLAG_WIDTH
from .transitions import TransitionSystem

WIDE = 24          # bits of a term's arithmetic: any slot's value, and a difference's sign
MAX_CONDITION_VALUES = 12   # a variable with more values observed is no condition
SCALAR_KINDS = ("global", "var", "timer", "counter")


# ---------------------------------------------------------------- what a fact says


@dataclass(frozen=True)
class Term:
    """A number read off a state: a slot's stored value (`field` None), or a field of the
    segment at position `at` ("k", or "j": the next or a later one) of a channel; `flags`
    is 0 where the position is empty (a segment's flags are never 0)."""

    slot: str
    field: str | None = None
    at: str = "k"

    @property
    def text(self) -> str:
        return self.slot if self.field is None else f"{self.slot}[{self.at}].{self.field}"


@dataclass(frozen=True)
class Count:
    """How many segments in `channel` carry the flag `bit` (DATA, FIN): what a receiver's
    counter and its peer's are apart by. Without it a made-up state may hold a counter that
    says the data arrived while it is still in flight, or a FIN for every retransmission
    not made (tcpdump's view: what left one side and has not reached the other)."""

    channel: str
    bit: int

    @property
    def text(self) -> str:
        name = next((n for n, b in FLAG_BITS.items() if b == self.bit), "segments")
        return f"#{name}({self.channel})"


@dataclass(frozen=True)
class Total:
    """Counters and counts of segments in flight added. `server.rcvd + #DATA(client->server)`
    is what the server has and will have of the client's data, which the client's `sent`
    bounds; what a side has put on the wire (the segments in flight and those the network
    lost) is bounded by what its counters say it sent (its data, its FIN and the FIN's
    retransmissions, its acknowledgements of what it received)."""

    parts: tuple

    @property
    def text(self) -> str:
        return " + ".join(p.text for p in self.parts)


@dataclass(frozen=True)
class Member:
    """The terms hold one of the rows (stored values)."""

    terms: tuple[Term, ...]
    rows: frozenset[tuple[int, ...]]

    @property
    def text(self) -> str:
        names = ", ".join(t.text for t in self.terms)
        values = " | ".join(",".join(map(str, r)) for r in sorted(self.rows))
        return f"({names}) in {{{values}}}"


@dataclass(frozen=True)
class Within:
    """lo <= a - b <= hi (None: no bound on that side)."""

    a: Term | Count | Total
    b: Term | Total
    lo: int | None
    hi: int | None

    @property
    def text(self) -> str:
        lo = "" if self.lo is None else f"{self.lo} <= "
        hi = "" if self.hi is None else f" <= {self.hi}"
        return f"{lo}{self.a.text} - {self.b.text}{hi}"


@dataclass(frozen=True)
class Lemma:
    """When every condition in `when` holds, `then` does, in every reachable state; `over`
    says for which positions of `channel` the terms at "k" (and "j") are read: "state" (no
    channel), "each" position k, "adjacent" k and j = k + 1, "later" k < j."""

    when: tuple[Member, ...]
    then: Member | Within
    over: str = "state"
    channel: str | None = None

    @property
    def text(self) -> str:
        scope = {"state": "", "each": f"for each k of {self.channel}: ",
                 "adjacent": f"for each k, j = k + 1 of {self.channel}: ",
                 "later": f"for each k < j of {self.channel}: "}[self.over]
        cond = " and ".join(m.text for m in self.when)
        return scope + (f"{cond} implies " if cond else "") + self.then.text


# ---------------------------------------------------------------- a fact over a layout


@dataclass(frozen=True)
class Layout:
    """Where a Term is in one transition system's state: slot indices, channel capacities,
    the segment fields' places (read once per system)."""

    slot_of: dict = field(hash=False)           # slot name -> index
    capacity: dict = field(hash=False)          # channel slot name -> segments
    fields: dict = field(hash=False)            # segment field -> (offset, width)
    seg_width: int
    ranges: dict = field(hash=False)            # Term key -> (least, greatest) stored value

    @staticmethod
    def of(ts: TransitionSystem) -> "Layout":
        fields = {"flags": (0, FLAG_WIDTH)}
        fields.update({name: (off, width) for name, off, width, _lo, _t in ts.seg_fields})
        return Layout({s.name: i for i, s in enumerate(ts.slots)},
                      {ch.name: ch.capacity for ch in ts.channels}, fields, ts.seg_width,
                      value_ranges(ts))


def value_ranges(ts: TransitionSystem) -> dict:
    """Every scalar slot's and segment field's stored range at `ts`'s parameter values:
    (slot name, None) or (None, field name) -> (0, greatest)."""
    combos = param_combinations(ts.model, ts.fixed)
    out = {}
    declared = {}
    for g in ts.model.globals:
        declared[g.name] = (g.domain, None)
    for inst in ts.model.instances:
        for v in ts.model.endpoint(inst.endpoint).vars:
            declared[f"{inst.name}.{v.name}"] = (v.domain, [dict(inst.bindings)])
    losses = {f"{ch.name}.losses": ch.loss_max for ch in ts.model.channels
              if ch.lossy and ch.loss_max is not None}
    for s in ts.slots:
        if s.kind in SCALAR_KINDS and s.width:
            if s.name in declared:
                lo, hi = bounds(declared[s.name][0], combos, declared[s.name][1])
                out[(s.name, None)] = (0, hi - lo)
            elif s.kind == "counter" and s.name in losses:
                # a loss counter stops at the channel's `lossy max` (L), not at its bits' top
                out[(s.name, None)] = (0, max(eval_const(losses[s.name], env) for env in combos))
            else:                     # a timer (0..1): its width says it
                out[(s.name, None)] = (0, s.mask)
    for (name, dom), (fname, _off, _w, _lo, _t) in zip(ts.model.fields, ts.seg_fields):
        lo, hi = bounds(dom, combos)
        out[(None, fname)] = (0, hi - lo)
    return out


def _key(t: Term | Count) -> tuple:
    if isinstance(t, Count):     # no declared range: read as it is at every size
        return (t.channel, t.bit)
    return (t.slot, None) if t.field is None else (None, t.field)


def _read(t, st: SlotState, lay: Layout, pos: dict) -> z3.BitVecRef:
    if isinstance(t, Total):
        return z3.Sum([_read(p, st, lay, pos) for p in t.parts])
    if isinstance(t, Count):
        v = st.slots[lay.slot_of[t.channel]]
        if v is None:
            return z3.BitVecVal(0, WIDE)
        one, zero = z3.BitVecVal(1, WIDE), z3.BitVecVal(0, WIDE)
        return z3.Sum([z3.If(z3.Extract(k * lay.seg_width + FLAG_WIDTH - 1, k * lay.seg_width, v)
                             & t.bit != 0, one, zero)
                       for k in range(lay.capacity[t.channel])])
    v = st.slots[lay.slot_of[t.slot]]
    if v is None:
        return z3.BitVecVal(0, WIDE)
    if t.field is not None:
        start = pos[t.at] * lay.seg_width
        off, width = lay.fields[t.field]
        v = z3.Extract(start + off + width - 1, start + off, v)
    return z3.ZeroExt(WIDE - v.size(), v)


def _claim(c: Member | Within, st: SlotState, lay: Layout, pos: dict) -> z3.BoolRef:
    if isinstance(c, Member):
        vs = [_read(t, st, lay, pos) for t in c.terms]
        return z3.Or([z3.And([v == x for v, x in zip(vs, row)]) for row in sorted(c.rows)])
    d = _read(c.a, st, lay, pos) - _read(c.b, st, lay, pos)
    parts = ([d >= c.lo] if c.lo is not None else []) + ([d <= c.hi] if c.hi is not None else [])
    return z3.And(parts)


def _positions(over: str, capacity: int) -> list[dict]:
    if over == "each":
        return [{"k": k} for k in range(capacity)]
    if over == "adjacent":
        return [{"k": k, "j": k + 1} for k in range(capacity - 1)]
    return [{"k": k, "j": j} for k, j in combinations(range(capacity), 2)]


@dataclass(frozen=True)
class Candidate:
    """A lemma over one transition system's state: what Houdini asserts and drops."""

    lemma: Lemma
    layout: Layout = field(compare=False, hash=False)

    @property
    def text(self) -> str:
        return self.lemma.text

    def holds(self, ts: TransitionSystem, packed: int) -> bool:
        return holds_at(self, ts, packed)

    def reads(self) -> tuple[int, ...]:
        """The slots `holds` reads (kinduction reads a state's other bits as irrelevant)."""
        claims = [*self.lemma.when, self.lemma.then]
        terms = [t for c in claims for t in (c.terms if isinstance(c, Member) else (c.a, c.b))]
        return tuple(sorted({i for t in terms for i in _slots_read(t, self.layout)}))

    def term(self, st: SlotState) -> z3.BoolRef:
        lm, lay = self.lemma, self.layout
        places = [{}] if lm.over == "state" else _positions(lm.over, lay.capacity[lm.channel])
        return z3.And([z3.Implies(z3.And([_claim(m, st, lay, p) for m in lm.when]),
                                  _claim(lm.then, st, lay, p)) for p in places])


def _slots_read(t, lay: Layout) -> set[int]:
    if isinstance(t, Total):
        return set().union(*(_slots_read(p, lay) for p in t.parts))
    return {lay.slot_of[t.channel if isinstance(t, Count) else t.slot]}


def holds_at(c: Candidate, ts: TransitionSystem, packed: int) -> bool:
    """Whether the candidate holds in one packed state (read in Python: no solver)."""
    lm, lay = c.lemma, c.layout
    places = [{}] if lm.over == "state" else _positions(lm.over, lay.capacity[lm.channel])
    return all(not all(_claim_at(m, ts, lay, packed, p) for m in lm.when)
               or _claim_at(lm.then, ts, lay, packed, p) for p in places)


def _value(t, ts: TransitionSystem, lay: Layout, packed: int, pos: dict) -> int:
    if isinstance(t, Total):
        return sum(_value(p, ts, lay, packed, pos) for p in t.parts)
    if isinstance(t, Count):
        s = ts.slots[lay.slot_of[t.channel]]
        raw = (packed >> s.offset) & s.mask
        return sum((raw >> (k * lay.seg_width)) & t.bit != 0
                   for k in range(lay.capacity[t.channel]))
    s = ts.slots[lay.slot_of[t.slot]]
    v = (packed >> s.offset) & s.mask
    if t.field is None:
        return v
    off, width = lay.fields[t.field]
    return (v >> (pos[t.at] * lay.seg_width + off)) & ((1 << width) - 1)


def _claim_at(c: Member | Within, ts, lay: Layout, packed: int, pos: dict) -> bool:
    if isinstance(c, Member):
        return tuple(_value(t, ts, lay, packed, pos) for t in c.terms) in c.rows
    d = _value(c.a, ts, lay, packed, pos) - _value(c.b, ts, lay, packed, pos)
    return (c.lo is None or d >= c.lo) and (c.hi is None or d <= c.hi)


# ---------------------------------------------------------------- mining


@dataclass(frozen=True)
class Mined:
    """The candidates for the large system, and where they came from."""

    candidates: tuple[Candidate, ...]
    proposed: int        # before those false in an initial state were dropped
    states: int          # how many states of the small system they were read from
    origin: str          # the small system's size, as the user gave it ("D=2")


def mine(small: TransitionSystem, states, large: TransitionSystem, origin: str = "") -> Mined:
    """Candidate facts true in every one of `states` (the small system's reachable states),
    carried over to `large` (the same model at other parameter values) and kept where they
    hold in every initial state of `large`."""
    states = list(states)
    src, dst = Layout.of(small), Layout.of(large)
    lemmas = _mine(small, states, src)
    out, seen = [], set()
    # the ranges are stated over the large system already: nothing to carry
    moved_all = [moved for lm in lemmas for moved in _carry(lm, src, dst)]
    for moved in [*moved_all, *_range_lemmas(large, dst)]:
        if moved not in seen:
            seen.add(moved)
            out.append(Candidate(moved, dst))
    kept = tuple(c for c in out if all(holds_at(c, large, i) for i in large.initial))
    return Mined(kept, len(out), len(states), origin)


class _Columns:
    """The small system's states read term by term (stored values), once."""

    def __init__(self, ts: TransitionSystem, states: list[int], lay: Layout):
        self.scalars = [s.name for s in ts.slots if s.kind in SCALAR_KINDS and s.width]
        self.col = {n: [ts.slot_value(x, lay.slot_of[n]) - ts.slots[lay.slot_of[n]].base
                        for x in states] for n in self.scalars}
        self.channels = {}     # name -> per state, the list of segments as dicts of fields
        for ch in ts.channels:
            s = ts.slots[ch.slot]
            segs = []
            for x in states:
                raw = (x >> s.offset) & s.mask
                row = []
                for k in range(ch.capacity):
                    code = (raw >> (k * lay.seg_width)) & ((1 << lay.seg_width) - 1)
                    row.append({f: (code >> off) & ((1 << w) - 1)
                                for f, (off, w) in lay.fields.items()})
                segs.append(row)
            self.channels[ch.name] = segs
        self.n = len(states)

    def count(self, ch: str, bit: int) -> list[int]:
        """Per state, how many segments in `ch` carry the flag `bit`."""
        return [sum(seg["flags"] & bit != 0 for seg in row) for row in self.channels[ch]]


def _conditions(cols: _Columns, scaled: dict, ts: TransitionSystem, lay: Layout
                ) -> list[Member]:
    """The premises of implications: each value of each variable with few values; of a
    flag or a timer only "set" or "running" (what its being clear implies is mostly the
    contrapositive of another fact); of a counter only the ends of its range (0, the top),
    the values with one reading at every size."""
    out = []
    for n in cols.scalars:
        values = sorted(set(cols.col[n]))
        if len(values) < 2 or len(values) > MAX_CONDITION_VALUES:
            continue
        if n in scaled:
            values = [v for v in values if v in (0, scaled[n])]
        elif ts.slots[lay.slot_of[n]].width == 1:
            values = [1]
        out += [Member((Term(n),), frozenset({(v,)})) for v in values]
    return out


def _is_state(cond: Member | None) -> bool:
    """A premise on a TCP state: the only ones differences of counters are read under."""
    return cond is None or cond.terms[0].slot.endswith(".state")


def _mine(ts: TransitionSystem, states: list[int], lay: Layout) -> list[Lemma]:
    cols = _Columns(ts, states, lay)
    scaled = _scaled(ts, cols, lay)
    conds = _conditions(cols, scaled, ts, lay)
    out = _state_lemmas(cols, conds, scaled)
    out += _both_states_lemmas(cols)
    for ch in ts.channels:
        out += _channel_lemmas(cols, ch.name, conds, scaled, lay)
        out += _count_lemmas(cols, ch.name, conds, scaled)
    return out


def _scaled(ts: TransitionSystem, cols: _Columns, lay: Layout) -> dict[str, int]:
    """The counters whose range grows with the size (`sent: 0..D`), each with its top."""
    return {n: lay.ranges[(n, None)][1] for n in cols.scalars
            if ts.slots[lay.slot_of[n]].type is not None
            and ts.slots[lay.slot_of[n]].type.kind == "int"}


def _rows_where(cols: _Columns, cond: Member | None) -> list[int]:
    if cond is None:
        return list(range(cols.n))
    (t,), ((v,),) = cond.terms, tuple(cond.rows)
    col = cols.col[t.slot]
    return [i for i in range(cols.n) if col[i] == v]


def _state_lemmas(cols: _Columns, conds: list[Member], scaled: dict) -> list[Lemma]:
    out = []
    everywhere = {n: frozenset(cols.col[n]) for n in cols.scalars}
    for n in cols.scalars:
        out.append(Lemma((), Member((Term(n),), frozenset((v,) for v in everywhere[n]))))
    # two variables' values together, where not every combination occurs: of variables
    # whose ranges do not grow with the size (flags, timers, TCP states), read as they are
    fixed = [n for n in cols.scalars if n not in scaled and len(everywhere[n]) > 1]
    for a, b in combinations(fixed, 2):
        seen = frozenset(zip(cols.col[a], cols.col[b]))
        if len(seen) < len(everywhere[a]) * len(everywhere[b]):
            out.append(Lemma((), Member((Term(a), Term(b)), seen)))
    # three of them together, one a TCP state, where the pairs allow more: a side in
    # FIN_WAIT_1 that closed (orphan) has its receiving direction shut, which neither pair
    # of the three says
    pair_seen = {(a, b): frozenset(zip(cols.col[a], cols.col[b]))
                 for a, b in combinations(fixed, 2)}
    for x in (n for n in fixed if n.endswith(".state")):
        for a, b in combinations([n for n in fixed if n != x], 2):
            seen = frozenset(zip(cols.col[x], cols.col[a], cols.col[b]))
            xa, xb, ab = (_pair(pair_seen, x, a), _pair(pair_seen, x, b),
                          pair_seen[(a, b)])
            allowed = sum(1 for (u, v) in xa for (u2, w) in xb if u2 == u and (v, w) in ab)
            if len(seen) < allowed:
                out.append(Lemma((), Member((Term(x), Term(a), Term(b)), seen)))
    moving = sorted(n for n in scaled if len(everywhere[n]) > 1)
    pairs = list(combinations(moving, 2))
    plain: dict = {}        # (a, b) -> the unconditional bounds: a premise must say more
    for cond in [None, *conds]:
        rows = _rows_where(cols, cond)
        if not rows:
            continue
        when = () if cond is None else (cond,)
        if cond is not None:
            for n in cols.scalars:
                if n == cond.terms[0].slot:
                    continue
                seen = frozenset(cols.col[n][i] for i in rows)
                if seen < everywhere[n]:
                    out.append(Lemma(when, Member((Term(n),), frozenset((v,) for v in seen))))
        if not _is_state(cond):
            continue
        for a, b in pairs:
            diffs = [cols.col[a][i] - cols.col[b][i] for i in rows]
            lo, hi = min(diffs), max(diffs)
            lo = None if lo <= -scaled[b] else lo        # no tighter than the ranges say
            hi = None if hi >= scaled[a] else hi
            if (lo is not None or hi is not None) and plain.setdefault((a, b), (lo, hi)) != \
                    (lo, hi) or cond is None and (lo is not None or hi is not None):
                out.append(Lemma(when, Within(Term(a), Term(b), lo, hi)))
    return out


def _both_states_lemmas(cols: _Columns) -> list[Lemma]:
    """What each variable's values are when both sides' TCP states are given: a side that
    has sent its data and is ESTABLISHED beside a peer that CLOSED (the peer's RST on its
    way) is a fact about three variables, which a premise on one state cannot say."""
    states = [n for n in cols.scalars if n.endswith(".state")]
    alone_seen: dict = {}     # (state slot, its value, variable) -> the variable's values
    for x in states:
        for n in cols.scalars:
            for v, w in zip(cols.col[x], cols.col[n]):
                alone_seen.setdefault((x, v, n), set()).add(w)
    # the segments in flight of each kind, counted per channel: two ACKs of a FIN on
    # their way to a side already CLOSED by a third is what the counters alone allow
    counts = {Count(ch, bit): cols.count(ch, bit) for ch in cols.channels for bit in PAIRED}
    columns = {**{Term(n): cols.col[n] for n in cols.scalars}, **counts}
    for x in states:
        for c, col in counts.items():
            for v, w in zip(cols.col[x], col):
                alone_seen.setdefault((x, v, c), set()).add(w)
    out = []
    for a, b in combinations(states, 2):
        where: dict = {}
        for i, key in enumerate(zip(cols.col[a], cols.col[b])):
            where.setdefault(key, []).append(i)
        for key, rows in sorted(where.items()):
            premise = Member((Term(a), Term(b)), frozenset({key}))
            for t, col in columns.items():
                if t in (Term(a), Term(b)):
                    continue
                n = t.slot if isinstance(t, Term) else t
                seen = frozenset(col[i] for i in rows)
                # narrower than what either state alone allows (that is mined already)
                if seen < alone_seen[(a, key[0], n)] and seen < alone_seen[(b, key[1], n)]:
                    out.append(Lemma((premise,), Member((t,),
                                                        frozenset((v,) for v in seen))))
    return out


def _pair(pair_seen: dict, a: str, b: str) -> frozenset:
    """Two variables' joint values, in the order asked for."""
    if (a, b) in pair_seen:
        return pair_seen[(a, b)]
    return frozenset((v, u) for u, v in pair_seen[(b, a)])


def _channel_lemmas(cols: _Columns, ch: str, conds: list[Member], scaled: dict,
                    lay: Layout) -> list[Lemma]:
    segs = cols.channels[ch]
    out = []
    numeric = [f for f in lay.fields if f != "flags"]
    # what a position holds, and when the state is in each condition
    for cond in [None, *conds]:
        rows = _rows_where(cols, cond)
        if not rows:
            continue
        seen = frozenset((seg["flags"],) for i in rows for seg in segs[i])
        out.append(Lemma(() if cond is None else (cond,), Member((Term(ch, "flags"),), seen),
                         "each", ch))
    out += _acknowledged_lemmas(cols, segs, ch, conds, scaled, lay)
    out += _last_sent_lemmas(cols, segs, ch, conds, scaled, lay)
    # an empty position holds nothing but zeros (a made-up state could hide a field there)
    empty = Member((Term(ch, "flags"),), frozenset({(0,)}))
    for f in numeric:
        out.append(Lemma((empty,), Member((Term(ch, f),), frozenset({(0,)})), "each", ch))
    # given the segment at a position: its sender's (and receiver's) variables, its fields;
    # the segment told apart by its flags, and by its flags and its boolean fields together
    # (a stale ACK, built before its sender's FIN, is in flight only from LAST_ACK on)
    flags = sorted({seg["flags"] for row in segs for seg in row} - {0})
    for kind in _segment_kinds(segs, lay):
        out += _in_flight_lemmas(cols, segs, ch, kind, scaled, lay)
    # segments are packed from the head: an empty position is followed by an empty one (a
    # send appends after the last segment, a receipt takes the head). Apart from which
    # segment may follow which (below): a step from a made-up state breaks that list
    # sooner, and a gap lets a made-up state hold a segment no receipt can reach.
    if not any(not a["flags"] and b["flags"] for row in segs for a, b in zip(row, row[1:])):
        out.append(Lemma((empty,), Member((Term(ch, "flags", "j"),), frozenset({(0,)})),
                         "adjacent", ch))
    # which segments follow which: next to each other (no gaps), and anywhere later
    for over, pairs in (("adjacent", lambda row: zip(row, row[1:])),
                        ("later", lambda row: combinations(row, 2))):
        seen = frozenset((a["flags"], b["flags"]) for row in segs for a, b in pairs(row))
        out.append(Lemma((), Member((Term(ch, "flags"), Term(ch, "flags", "j")), seen),
                         over, ch))
        nonempty = Member((Term(ch, "flags", "j"),), frozenset((f,) for f in flags))
        for f in numeric:
            diffs = [b[f] - a[f] for row in segs for a, b in pairs(row) if b["flags"]]
            if diffs:
                out.append(Lemma((nonempty,), Within(Term(ch, f, "j"), Term(ch, f),
                                                     min(diffs), max(diffs)), over, ch))
                out += _pair_lemmas(segs, ch, f, over, pairs, (min(diffs), max(diffs)),
                                    lay.ranges.get((None, f), (0, 0))[1],
                                    cols.col.get(ch.split("->")[0] + ".state"))
        # ... and told apart by a boolean field of both, RSTs aside: acknowledgements never
        # go back along a channel, but for a stale ACK (built before its sender's FIN) and
        # an RST (which acknowledges nothing)
        rst = FLAG_BITS["RST"]
        acking = [f for f in flags if not f & rst]
        neither_rst = Member((Term(ch, "flags"), Term(ch, "flags", "j")),
                             frozenset((a, b) for a in acking for b in acking))
        for flag in _boolean_fields(lay):
            both = [(a[flag], b[flag], a, b) for row in segs for a, b in pairs(row)
                    if b["flags"] and not (a["flags"] | b["flags"]) & rst]
            for vk, vj in sorted({(x, y) for x, y, _a, _b in both}):
                premise = Member((Term(ch, flag), Term(ch, flag, "j")), frozenset({(vk, vj)}))
                for f in numeric:
                    if f == flag:
                        continue
                    diffs = [b[f] - a[f] for x, y, a, b in both if (x, y) == (vk, vj)]
                    out.append(Lemma((neither_rst, premise), Within(Term(ch, f, "j"), Term(ch, f),
                                                                 min(diffs), max(diffs)),
                                     over, ch))
    return out


def _pair_lemmas(segs: list, ch: str, f: str, over: str, pairs, plain: tuple,
                 top: int, sender_state: list | None) -> list[Lemma]:
    """How a numeric field goes from one segment to a next (or later) one, given both
    segments' flags, where that is narrower than over every pair; and the same where the
    first one's field is below the values that saturate (an `ack` of D data segments means
    "D or more", D + 1 that and the FIN): an ACK after an ACK of fewer units acknowledges
    more (a receiver acknowledges each unit once), which a made-up channel of two ACKs of
    the same first unit breaks, while ACKs of "D or more" repeat."""
    by_kind: dict = {}
    exact: dict = {}
    exact_in: dict = {}     # (kinds, the sender's TCP state) -> below saturation
    for i, row in enumerate(segs):
        for a, b in pairs(row):
            if b["flags"]:
                kinds = (a["flags"], b["flags"])
                by_kind.setdefault(kinds, set()).add(b[f] - a[f])
                if a[f] < top - 1:
                    exact.setdefault(kinds, set()).add(b[f] - a[f])
                    if sender_state is not None:
                        exact_in.setdefault((kinds, sender_state[i]), set()).add(b[f] - a[f])
    below = _below_saturation(Term(ch, f), top)
    out = []
    for kinds, diffs in sorted(by_kind.items()):
        bounds = (min(diffs), max(diffs))
        premise = Member((Term(ch, "flags"), Term(ch, "flags", "j")), frozenset({kinds}))
        if bounds != plain:
            out.append(Lemma((premise,), Within(Term(ch, f, "j"), Term(ch, f), *bounds),
                             over, ch))
        if kinds in exact and top > 1:
            tight = (min(exact[kinds]), max(exact[kinds]))
            if tight != bounds:
                out.append(Lemma((premise, below), Within(Term(ch, f, "j"), Term(ch, f), *tight),
                                 over, ch))
            # and in each TCP state of the sender: a side that repeats an ACK of a unit
            # does so only once CLOSED or in TIME_WAIT
            state = Term(ch.split("->")[0] + ".state")
            for (k2, v), ds in sorted(exact_in.items()):
                in_state = (min(ds), max(ds))
                if k2 == kinds and in_state != tight:
                    out.append(Lemma((premise, below, Member((state,), frozenset({(v,)}))),
                                     Within(Term(ch, f, "j"), Term(ch, f), *in_state),
                                     over, ch))
    return out


def _acknowledged_lemmas(cols: _Columns, segs: list, ch: str, conds: list[Member],
                         scaled: dict, lay: Layout) -> list[Lemma]:
    """How each segment's numeric fields stand to its sender's counters under each premise
    on the sender's variables, where narrower than over every state; and the same where the
    field is below its saturating values. A side holding back an ACK (`delack` running)
    has acknowledged less than it received, which a made-up state whose last segment
    already acknowledges everything breaks: its delayed ACK would repeat the last one."""
    mine, counters, fields = _sender_reads(ch, conds, scaled, lay)
    # an empty position reads 0 in every field: only the segments there are told of
    nonempty = Member((Term(ch, "flags"),), frozenset(
        {(seg["flags"],) for row in segs for seg in row if seg["flags"]}))
    out = []
    for f, top in fields:
        below = _below_saturation(Term(ch, f), top)
        for n in counters:
            col = cols.col[n]
            diffs = {}      # row -> its segments' (difference, below saturation, flags)
            for i, row in enumerate(segs):
                d = [(seg[f] - col[i], seg[f] < top - 1, seg["flags"]) for seg in row
                     if seg["flags"]]
                if d:
                    diffs[i] = d
            plain = _bounds(d for ds in diffs.values() for d, _b, _k in ds)
            exact = _bounds(d for ds in diffs.values() for d, b, _k in ds if b)
            for cond in mine:
                rows = [i for i in _rows_where(cols, cond) if i in diffs]
                within = _bounds(d for i in rows for d, _b, _k in diffs[i])
                if within and within != plain:
                    out.append(Lemma((cond, nonempty), Within(Term(ch, f), Term(n), *within),
                                     "each", ch))
                tight = _bounds(d for i in rows for d, b, _k in diffs[i] if b)
                if tight and tight != exact and tight != within:
                    out.append(Lemma((cond, nonempty, below),
                                     Within(Term(ch, f), Term(n), *tight), "each", ch))
                # ... told apart by the segment's flags (a FIN+ACK sent while an ACK is held
                # back acknowledges what was received, a pure ACK never does)
                for kind in sorted({k for i in rows for _d, b, k in diffs[i] if b}):
                    by_kind = _bounds(d for i in rows for d, b, k in diffs[i] if b and k == kind)
                    if by_kind != tight:
                        is_k = Member((Term(ch, "flags"),), frozenset({(kind,)}))
                        out.append(Lemma((cond, is_k, below),
                                         Within(Term(ch, f), Term(n), *by_kind), "each", ch))
    return out


def _sender_reads(ch: str, conds: list[Member], scaled: dict, lay: Layout
                  ) -> tuple[list[Member], list[str], list[tuple[str, int]]]:
    """What a channel's segments are read against: the premises on its sender's
    variables, its sender's counters, and each numeric field with saturating values (a
    range above 0..1), with its top."""
    sender = ch.split("->")[0] + "."
    mine = [c for c in conds if c.terms[0].slot.startswith(sender)]
    counters = [n for n in sorted(scaled) if n.startswith(sender)]
    fields = [(f, lay.ranges.get((None, f), (0, 0))[1]) for f in lay.fields if f != "flags"]
    return mine, counters, [(f, top) for f, top in fields if top > 1]


def _last_sent_lemmas(cols: _Columns, segs: list, ch: str, conds: list[Member],
                      scaled: dict, lay: Layout) -> list[Lemma]:
    """How the last segment a side has in flight (an empty position after it) stands to
    its sender's counters, by its kind, over every state and under each premise on the
    sender's variables, below the saturating values: a side that received data after its
    FIN left acknowledges it at once or holds the ACK back (`delack`), so a made-up FIN
    last in flight that acknowledges less than its sender received, with no ACK held,
    breaks it."""
    mine, counters, fields = _sender_reads(ch, conds, scaled, lay)
    last = []        # per state: the last segment, if a position after it is empty
    for row in segs:
        filled = [seg for seg in row if seg["flags"]]
        last.append(filled[-1] if filled and len(filled) < len(row) else None)
    out = []
    for f, top in fields:
        below = _below_saturation(Term(ch, f), top)
        for n in counters:
            col = cols.col[n]
            plain: dict = {}
            for cond in [None, *mine]:
                by_kind: dict = {}
                for i in _rows_where(cols, cond):
                    seg = last[i]
                    if seg is not None and seg[f] < top - 1:
                        by_kind.setdefault(seg["flags"], []).append(seg[f] - col[i])
                for kind, ds in sorted(by_kind.items()):
                    bounds = (min(ds), max(ds))
                    if cond is None:
                        plain[kind] = bounds
                    elif bounds == plain.get(kind):
                        continue
                    is_last = Member((Term(ch, "flags"), Term(ch, "flags", "j")),
                                     frozenset({(kind, 0)}))
                    when = (is_last, below) if cond is None else (is_last, cond, below)
                    out.append(Lemma(when, Within(Term(ch, f), Term(n), *bounds), "adjacent", ch))
    return out


def _bounds(values) -> tuple[int, int] | None:
    values = list(values)
    return (min(values), max(values)) if values else None


def _below_saturation(t: Term, top: int) -> Member:
    """The premise "the field is below its two saturating values": 0..top - 2 of a field
    whose top two values mean "D or more" and "that and the FIN" (carried as such)."""
    return Member((t,), frozenset((v,) for v in range(top - 1)))


COUNTED = (FLAG_BITS["DATA"], FLAG_BITS["FIN"], FLAG_BITS["ACK"])   # what a count of segments in flight counts
# what is counted beside both sides' TCP states: RSTs too (one a segment a CLOSED side got)
PAIRED = (*COUNTED, FLAG_BITS["RST"])


def _count_lemmas(cols: _Columns, ch: str, conds: list[Member], scaled: dict) -> list[Lemma]:
    """How the segments in flight on `ch` that carry data (or a FIN) stand to the counters,
    in each TCP state of either side: `#FIN(client->server) - client.retries <= 1` (one FIN
    and its retransmissions, fewer where the network lost some), `server.rcvd +
    #DATA(client->server) - client.sent` (the data sent is received or on its way: the
    network loses no data here). Differences are read as they are at every size: each
    side's counters move by one a step whatever the size."""
    sender, receiver = ch.split("->")
    moving = sorted(n for n in scaled if len(set(cols.col[n])) > 1)
    ours = [n for n in moving if n.startswith(sender + ".")]
    theirs = [n for n in moving if n.startswith(receiver + ".")]
    lost = [n for n in cols.scalars if n == f"{ch}.losses"]
    out = []
    for bit in COUNTED:
        count = Count(ch, bit)
        col = cols.count(ch, bit)
        if len(set(col)) < 2:
            continue
        # each pair's difference, state by state, read once for every premise
        pairs = [(count, Term(b), [c - x for c, x in zip(col, cols.col[b])]) for b in moving]
        if bit != FLAG_BITS["ACK"]:     # the data and the FIN a receiver counts
            pairs += [(Total((Term(a), count)), Term(b),
                       [r + c - x for r, c, x in zip(cols.col[a], col, cols.col[b])])
                      for a in theirs for b in ours]
        if bit != FLAG_BITS["DATA"]:    # what the network lost of what was sent (no data)
            pairs += [(Total((Term(a), count)), Term(b),
                       [r + c - x for r, c, x in zip(cols.col[a], col, cols.col[b])])
                      for a in lost for b in ours]
        plain: dict = {}
        for cond in [None, *conds]:
            rows = _rows_where(cols, cond)
            if not rows:
                continue
            when = () if cond is None else (cond,)
            for a, b, diff in pairs:
                diffs = [diff[i] for i in rows]
                bounds = (min(diffs), max(diffs))
                if cond is None or plain.get((a, b)) != bounds:
                    plain.setdefault((a, b), bounds)
                    out.append(Lemma(when, Within(a, b, *bounds)))
                # below its top the sender's counter is exact: what was received and what
                # is in flight add up to it, where at the top ("D or more") they may
                # exceed it
                if isinstance(a, Total) and b.slot in scaled:
                    top = scaled[b.slot]
                    below = [i for i in rows if cols.col[b.slot][i] < top]
                    if below:
                        exact = (min(diff[i] for i in below), max(diff[i] for i in below))
                        if exact != bounds:
                            out.append(Lemma((*when, _below_top(b.slot, top)),
                                             Within(a, b, *exact)))
    return out + _accounting_lemmas(cols, ch, conds, ours, lost)


def _below_top(slot: str, top: int) -> Member:
    """The premise "the counter is below the top of its range" (every value but the top)."""
    return Member((Term(slot),), frozenset((v,) for v in range(top)))


SENDS = (".sent", ".retries", ".rcvd")   # a side's data, its FIN's copies, what it acknowledges


def _accounting_lemmas(cols: _Columns, ch: str, conds: list[Member], ours: list[str],
                       lost: list[str]) -> list[Lemma]:
    """What a side put on the wire, in flight or lost (a channel counts its lost FINs and
    lost ACKs together), against what its counters say it sent: a FIN sent once and
    retransmitted `retries` times leaves at most 1 + retries copies, beside its data and
    the ACKs of what it received."""
    said = [n for n in ours if n.endswith(SENDS)]
    if not said:
        return []
    wire = Count(ch, (1 << FLAG_WIDTH) - 1)
    lhs = Total((*(Term(n) for n in lost), wire))
    rhs = Total(tuple(Term(n) for n in said))
    diff = [sum(seg["flags"] != 0 for seg in row) for row in cols.channels[ch]]
    for n in lost:
        diff = [d + x for d, x in zip(diff, cols.col[n])]
    for n in said:
        diff = [d - x for d, x in zip(diff, cols.col[n])]
    out, plain = [], None
    for cond in [None, *conds]:
        rows = _rows_where(cols, cond)
        if not rows:
            continue
        bounds = (min(diff[i] for i in rows), max(diff[i] for i in rows))
        if cond is None or bounds != plain:
            plain = bounds if cond is None else plain
            out.append(Lemma(() if cond is None else (cond,), Within(lhs, rhs, *bounds)))
    return out


def _boolean_fields(lay: Layout) -> list[str]:
    return [f for f in lay.fields if f != "flags" and lay.ranges.get((None, f), (0, 2))[1] <= 1]


def _segment_kinds(segs: list, lay: Layout) -> list[tuple[tuple, tuple]]:
    """The premises "the segment at k is this one", as (values, field names): each flags
    value seen, and each (flags, boolean fields) combination seen where a flags value comes
    with more than one."""
    bools = _boolean_fields(lay)
    seen = sorted({(seg["flags"], *(seg[f] for f in bools))
                   for row in segs for seg in row if seg["flags"]})
    out = []
    for fl in sorted({row[0] for row in seen}):
        out.append(((fl,), ("flags",)))
        combos = [row for row in seen if row[0] == fl]
        if bools and len(combos) > 1:
            out += [(row, ("flags", *bools)) for row in combos]
    return out


def _in_flight_lemmas(cols: _Columns, segs: list, ch: str, kind, scaled: dict,
                      lay: Layout) -> list[Lemma]:
    """What holds whenever the segment at a position is of `kind` ((values, field names)):
    the variables of both sides, the two sides' counters' differences (a FIN ahead of which
    the receiver has counted all but the data still in the channel), its other fields and
    how its numeric fields stand to the counters."""
    values, names = kind
    is_k = Member(tuple(Term(ch, f) for f in names), frozenset({values}))
    where = [(i, seg) for i, row in enumerate(segs) for seg in row
             if tuple(seg[f] for f in names) == values]
    out = []
    for n in cols.scalars:
        seen = frozenset((cols.col[n][i],) for i, _s in where)
        if len(seen) < len(set(cols.col[n])):
            out.append(Lemma((is_k,), Member((Term(n),), seen), "each", ch))
    for a, b in combinations(sorted(n for n in scaled if len(set(cols.col[n])) > 1), 2):
        diffs = [cols.col[a][i] - cols.col[b][i] for i, _s in where]
        out.append(Lemma((is_k,), Within(Term(a), Term(b), min(diffs), max(diffs)),
                         "each", ch))
    for f in lay.fields:
        if f in names:
            continue
        seen = frozenset((seg[f],) for _i, seg in where)
        out.append(Lemma((is_k,), Member((Term(ch, f),), seen), "each", ch))
        if lay.ranges.get((None, f), (0, 0))[1] <= 1:
            continue
        for n in scaled:
            diffs = [seg[f] - cols.col[n][i] for i, seg in where]
            out.append(Lemma((is_k,), Within(Term(ch, f), Term(n), min(diffs), max(diffs)),
                             "each", ch))
    return out


# ---------------------------------------------------------------- carrying over


def _range_lemmas(ts: TransitionSystem, lay: Layout) -> list[Lemma]:
    """Each scalar slot of `ts` holds a value of its declared range: its bits may hold more
    (`more_refs: 0..P - 1` takes 3 bits at P = 5, 0..7). Not mined but stated: a slot with
    no bits at the small size (P = 1) has no observed values to carry, and a made-up state
    with 7 there makes the next step fail, which the step of a proof must exclude. What
    holds in every reachable state (a step out of range is the model's error)."""
    out = []
    for s in ts.slots:
        if s.kind in SCALAR_KINDS and s.width and (s.name, None) in lay.ranges:
            top = lay.ranges[(s.name, None)][1]
            if top < s.mask:
                out.append(Lemma((), Member((Term(s.name),),
                                            frozenset((v,) for v in range(top + 1)))))
    return out


def _carry(lm: Lemma, src: Layout, dst: Layout) -> list[Lemma]:
    """The lemma written over the large system's state: each condition's and claim's values
    moved by their place in their term's range (both readings where it is ambiguous); a
    condition that cannot be moved drops the lemma."""
    when = []
    for m in lm.when:
        moved = _moved_condition(m, src, dst)
        if moved is None:
            return []
        when.append(moved)
    if isinstance(lm.then, Within):
        return [Lemma(tuple(when), lm.then, lm.over, lm.channel)]
    return [Lemma(tuple(when), then, lm.over, lm.channel)
            for then in _moved_claims(lm.then, src, dst)]


def _shift(t: Term, src: Layout, dst: Layout) -> tuple[int, int]:
    """(the term's greatest value at the small size, how much more it is at the large)."""
    top = src.ranges.get(_key(t), (0, 0))[1]
    return top, dst.ranges.get(_key(t), (0, top))[1] - top


def _moved_condition(m: Member, src: Layout, dst: Layout) -> Member | None:
    if len(m.terms) == 1:
        (t,) = m.terms
        top, more = _shift(t, src, dst)
        if more and top > 0 and m.rows == _below_top(t.slot, top).rows:
            return _below_top(t.slot, top + more)   # below the top, at every size
        if more and top > 1 and t.field is not None and \
                m.rows == _below_saturation(t, top).rows:
            return _below_saturation(t, top + more)
    rows = set()
    for row in m.rows:
        out = []
        for t, v in zip(m.terms, row):
            top, more = _shift(t, src, dst)
            if more and 0 < v < top:
                return None            # a count in the middle of its range: no single reading
            out.append(v + more if more and v == top else v)
        rows.add(tuple(out))
    return Member(m.terms, frozenset(rows))


def _moved_claims(m: Member, src: Layout, dst: Layout) -> list[Member]:
    if len(m.terms) != 1:
        if any(_shift(t, src, dst)[1] for t in m.terms):
            return []                  # rows over several growing terms: no reading
        return [m]
    (t,) = m.terms
    top, more = _shift(t, src, dst)
    values = sorted(v for (v,) in m.rows)
    if not more:
        return [m]
    runs = _runs(values)
    # widened: a run that reaches above 0 reaches as much further as the range grew; kept at
    # the top: a run that ends at the top moves up whole ("the peer's FIN came": D + 1)
    widened = {v for a, b in runs for v in range(a, b + (more if b > 0 else 0) + 1)}
    at_top = {v for a, b in runs
              for v in (range(a + more, b + more + 1) if b == top
                        else range(a, b + (more if b > 0 else 0) + 1))}
    readings = [frozenset(widened), frozenset(at_top)]
    if values[-1] < top:
        # as they are: a count that never reached its top at the small size may be bounded
        # by the model, not by its range (a side's `sent` is at most 1 without a data phase,
        # whatever D is); only a small size whose top is above 1 tells "1" from "the top"
        readings.append(frozenset(values))
    return [Member(m.terms, frozenset((v,) for v in sorted(s))) for s in
            dict.fromkeys(readings)]


def _runs(values: list[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for v in values:
        if out and v == out[-1][1] + 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return [(a, b) for a, b in out]
