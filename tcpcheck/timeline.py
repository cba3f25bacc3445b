"""Whether a long pinned run fits in time, decided step by step in linear time.

timing.check_run hands a run's constraints to z3 whole: right for a teardown of tens of
steps, hopeless for a capture of a million segments. Those constraints (timing._Builder, the
one statement of them) are all difference constraints once a timer's duration d, armed at
step a, is read through its expiry e = t_a + d (timing._difference_graph says why), and the
capture's timestamps pin every sending step: t_i - t_j = (ms_i - ms_j). Each constraint
relates the current step to a step still "live": the step before, the last pinned step, a
running timer's arming step and expiry, a segment still in flight. So a zone (a difference
bound matrix over the live times, closed by shortest paths) carried from step to step decides
the run exactly: add the step's constraints, close, a negative cycle means no times fit,
then forget the times no later constraint names (projecting a closed zone is dropping them).

The zone is kept relative to the current step (a time is named by how many steps back it
is), so a repeating phase with regular times meets the same zone again and again; the step
from a zone is remembered (by the zone, the variant and the pinned gap) and a million steps
cost a million dictionary look-ups. A phase whose times vary costs the zone's closure each
step (a few dozen additions): still linear.

It gives the verdict and, when the times do not fit, the first step at which they cannot;
not the times of every step (z3's schedule) nor an unsat core.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import z3

from .timing import RunTiming, _Builder, _forms
from .transitions import TransitionSystem, Variant

_INF = float("inf")


@dataclass(frozen=True)
class _Template:
    """One step's constraints in a context, on times named relative to the step: ("t", 0)
    the step itself, ("t", -x) the step x before, ("e", timer, -x) the expiry of a timer
    armed x steps before. Edges (y, x, c) say x - y <= c."""
    edges: tuple[tuple[tuple, tuple, Fraction], ...]
    running: tuple[tuple[tuple, int], ...]        # timer -> steps since armed, after the step
    in_flight: tuple[tuple[str, tuple[int, ...]], ...]   # channel -> steps since each send


class _Templates:
    """_Builder's constraints of one step, worked out once per context (the variant, the
    running timers and the segments in flight, relative to the step)."""

    def __init__(self, ts: TransitionSystem):
        self.ts = ts
        self.known: dict[tuple, _Template] = {}
        # channels whose delay bounds nothing (0 ms to unbounded: one-sided replay's channel
        # out of the tested endpoint, which no step of the model receives from): _Builder
        # adds no constraint on their segments, so they are not kept in flight (they would
        # only pile up, a new context every step)
        self.unbounded = {ch.name for ch in ts.channels
                          if not ch.delay_ms[0] and ch.delay_ms[1] is None}

    def of(self, vid: int, v: Variant, running: tuple, in_flight: tuple) -> _Template:
        key = (vid, running, in_flight)
        got = self.known.get(key)
        if got is None:
            got = self.known[key] = self._make(v, running, in_flight)
        return got

    def _make(self, v: Variant, running: tuple, in_flight: tuple) -> _Template:
        back = max([r for _k, r in running] + [x for _c, xs in in_flight for x in xs] + [1])
        i = back                                 # the step, numbered after every time it names
        t = [z3.Real(f"t{j}") for j in range(i + 1)]
        b = _Builder(self.ts, None)
        names: dict[str, tuple] = {f"t{j}": ("t", j - i) for j in range(i + 1)}
        armed_at: dict[str, int] = {}
        live = {}
        for timer, r in running:
            d = z3.Real(f"d_{timer[0]}_{timer[1]}_{i - r}")
            live[timer] = (i - r, d)
            names[str(d)] = ("e", timer, -r)
            armed_at[str(d)] = i - r
        flight = {ch.name: [] for ch in self.ts.channels}
        for name, xs in in_flight:
            flight[name] = [i - x for x in xs]
        b.step(v, i, t, live, flight)
        for timer, (a, d) in live.items():
            if a == i:
                names[str(d)] = ("e", timer, 0)
                armed_at[str(d)] = i
        edges = []
        for fact, _why in b.facts:
            for terms, c in _forms(fact):
                named: dict[tuple, Fraction] = {}
                for name, k in terms.items():
                    if name.startswith("d_"):               # k * d = k * e - k * t_a
                        parts = ((names[name], k), (names[f"t{armed_at[name]}"], -k))
                    else:
                        parts = ((names[name], k),)
                    for node, x in parts:
                        named[node] = named.get(node, 0) + x
                terms = {n: x for n, x in named.items() if x}
                plus = [n for n, x in terms.items() if x == 1]
                minus = [n for n, x in terms.items() if x == -1]
                if len(plus) + len(minus) != len(terms) or len(plus) > 1 or len(minus) > 1:
                    raise ValueError(f"not a difference constraint: {fact}")
                if not terms:
                    if c < 0:
                        edges.append((("t", 0), ("t", 0), Fraction(c)))   # false: a cycle
                    continue
                x = plus[0] if plus else None
                y = minus[0] if minus else None
                if x is None or y is None:
                    raise ValueError(f"a bound on one time alone: {fact}")
                edges.append((y, x, Fraction(c)))
        return _Template(tuple(edges),
                         tuple(sorted((timer, i - a) for timer, (a, _d) in live.items())),
                         tuple(sorted((name, tuple(i - s for s in sent))
                                      for name, sent in flight.items()
                                      if sent and name not in self.unbounded)))


def _shifted(node: tuple) -> tuple:
    """A time's name one step later (it is one step further back)."""
    return (node[0], node[1], node[2] - 1) if node[0] == "e" else ("t", node[1] - 1)


class _Zone:
    """Closed difference bounds over a few named times: d[(y, x)] = the largest x - y."""

    def __init__(self, nodes: list[tuple], d: dict[tuple[tuple, tuple], Fraction]):
        self.nodes = nodes
        self.d = d

    def frozen(self) -> tuple:
        return tuple(sorted(self.d.items(), key=repr)), tuple(sorted(self.nodes, key=repr))

    def add_node(self, n: tuple) -> None:
        if n not in self.nodes:
            self.nodes.append(n)
            self.d[(n, n)] = Fraction(0)

    def add_edge(self, y: tuple, x: tuple, c: Fraction) -> bool:
        """x - y <= c, closing the zone; False when that makes a negative cycle."""
        d = self.d
        if d.get((y, x), _INF) <= c:
            return True
        if d.get((x, y), _INF) + c < 0:
            return False
        into_y = [(u, d[(u, y)]) for u in self.nodes if (u, y) in d]
        from_x = [(w, d[(x, w)]) for w in self.nodes if (x, w) in d]
        for u, uy in into_y:
            for w, xw in from_x:
                via = uy + c + xw
                if via < d.get((u, w), _INF):
                    d[(u, w)] = via
        return all(d[(n, n)] >= 0 for n in self.nodes)

    def keep(self, live: set) -> None:
        self.nodes = [n for n in self.nodes if n in live]
        self.d = {(u, w): c for (u, w), c in self.d.items() if u in live and w in live}


# steps between two looks at the caller's deadline
POLL_EVERY = 1 << 16


def fits(ts: TransitionSystem, variants: Iterable[Variant],
         pinned: list[tuple[int, float, str]] | None, poll=None) -> RunTiming:
    """check_run's verdict (not its times or core) in time linear in the run's length.
    `variants` are the run's steps 1, 2, ...; `pinned` as check_run's (step, ms, what);
    `poll()` is called every POLL_EVERY steps (a deadline's check: it may raise)."""
    templates = _Templates(ts)
    index = {id(v): vid for vid, v in enumerate(ts.variants)}
    pins = {}
    if pinned:
        first_ms = pinned[0][1]
        for step, ms, what in pinned:
            pins[step] = (ms - first_ms, what)
    # (the zone frozen, running timers, segments in flight, steps back of the last pin)
    state: tuple = (((((("t", 0), ("t", 0)), Fraction(0)),), (("t", 0),)), (), (), None)
    last_offset = None
    memo: dict[tuple, tuple | None] = {}
    for i, v in enumerate(variants, start=1):
        if poll is not None and i % POLL_EVERY == 0:
            poll()
        pin = pins.get(i)
        gap = None
        if pin is not None:
            offset = _decimal(pin[0])
            if last_offset is not None:
                gap = _minus(offset, last_offset)
            last_offset = offset
        memo_key = (state, index[id(v)], gap, pin is not None)
        if memo_key in memo:
            nxt = memo[memo_key]
        else:
            nxt = memo[memo_key] = _step(templates, state, index[id(v)], v, gap,
                                         pin is not None)
        if nxt is None:
            what = f" ({pin[1]}, captured at +{pin[0]:g} ms)" if pin else ""
            return RunTiming(False, None, [
                f"no times fit steps 1 to {i} of the run: step {i} ({v.label}){what} cannot "
                "happen when the model's timer and channel ranges and the capture's earlier "
                "times say (the run is checked step by step: too long for z3's core)"])
        state = nxt
    return RunTiming(True, None, None)


def _decimal(x: float) -> tuple[int, int]:
    """A float as z3 reads it (its shortest decimal, as PinnedRun does), exactly: (n, e) for
    n * 10**-e. Integers, not Fractions: a million of them are made and hashed."""
    text = repr(x)
    if "e" in text or "E" in text or "n" in text:      # 1e-07, inf, nan: the slow way
        f = Fraction(text)
        e = 0
        while f.denominator != 1:
            f *= 10
            e += 1
        return int(f), e
    whole, _dot, digits = text.partition(".")
    return int(whole + digits), len(digits)


def _minus(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """a - b of two _decimal values, with no trailing zeros (one spelling per number)."""
    e = max(a[1], b[1])
    n = a[0] * 10 ** (e - a[1]) - b[0] * 10 ** (e - b[1])
    while e and n % 10 == 0:
        n //= 10
        e -= 1
    return n, e


def _step(templates: _Templates, state: tuple, vid: int, v: Variant, gap: tuple | None,
          pinned: bool) -> tuple | None:
    """The state after one more step (see `fits`), None when no times fit."""
    (frozen_d, nodes), running, in_flight, pin_back = state
    template = templates.of(vid, v, running, in_flight)
    z = _Zone([_shifted(n) for n in nodes],
              {(_shifted(a), _shifted(b)): c for (a, b), c in frozen_d})
    now = ("t", 0)
    z.add_node(now)
    for y, x, _c in template.edges:
        z.add_node(x)
        z.add_node(y)
    for y, x, c in template.edges:
        if not z.add_edge(y, x, c):
            return None
    if gap is not None:
        gap = Fraction(gap[0], 10 ** gap[1])
        before = ("t", -(pin_back + 1))
        z.add_node(before)
        if not (z.add_edge(before, now, gap) and z.add_edge(now, before, -gap)):
            return None
    new_pin = 0 if pinned else (None if pin_back is None else pin_back + 1)
    live = {now}
    if new_pin is not None:
        live.add(("t", -new_pin))
    for timer, r in template.running:
        live.add(("t", -r))
        live.add(("e", timer, -r))
    for _name, xs in template.in_flight:
        live.update(("t", -x) for x in xs)
    z.keep(live)
    # the context of the next step: every time one step further back
    return (z.frozen(), tuple((timer, r + 1) for timer, r in template.running),
            tuple((name, tuple(x + 1 for x in xs)) for name, xs in template.in_flight),
            new_pin)
