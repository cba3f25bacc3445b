"""The behaviour map: for every parameter combination, which kinds of close can happen, and for
which timer durations. The direct answer to "when does a capture show three segments?".

Every complete run of the explored graph is classified from what it puts on the wire:
  rst           an RST was sent
  simultaneous  both sides sent their FIN before receiving the other's
  three-way     the passive side's first segment after the peer's FIN is its own FIN
                (the ACK rode on it)
  four-way      the passive side acknowledged first (a bare ACK, or data carrying the ACK)
  incomplete    the run stopped without both sides CLOSED
and z3 turns each run's timing constraints into a condition on the durations of the timers
whose range is not a single value (see tcpcheck.timing).
"""
from __future__ import annotations

from dataclasses import dataclass

import z3

from .tcp import FLAG_BITS, FLAG_WIDTH
from .transitions import TransitionSystem
from .explore import Exploration
from .query import end_predicate
from .timing import run_condition, show, simplify_under, timers_of

KINDS = ("four-way", "three-way", "simultaneous", "rst", "incomplete")
MAX_RUNS = 200_000


@dataclass
class MapRow:
    params: dict
    kinds: dict[str, str]       # kind -> condition on timer durations ("always", "never", ...)
    runs: dict[str, int]        # kind -> number of complete runs of that kind (untimed)


def classify(ts: TransitionSystem, steps, end_state_ok: bool) -> str:
    """The kind of close a complete run is, from its segments.

    `steps` is [(variant, flags of the segment it received or None)]."""
    variants = [v for v, _ in steps]
    fin = FLAG_BITS["FIN"]
    if any(f & FLAG_BITS["RST"] for v in variants for _, f in v.sends):
        return "rst"
    if not end_state_ok:
        return "incomplete"
    first_fin_sent: dict[str, int] = {}
    first_fin_received: dict[str, int] = {}
    sent_after_fin: dict[str, list[int]] = {}
    for i, v in enumerate(variants):
        who = v.instance
        if who is None:
            continue
        got = steps[i][1]
        if got is not None and got & fin and who not in first_fin_received:
            first_fin_received[who] = i
        for _, f in v.sends:
            if f & fin and who not in first_fin_sent:
                first_fin_sent[who] = i
            if who in first_fin_received:
                sent_after_fin.setdefault(who, []).append(f)
    names = [inst.name for inst in ts.model.instances]
    active = [n for n in names if n in first_fin_sent
              and first_fin_sent[n] < first_fin_received.get(n, len(variants) + 1)]
    if len(active) == 2:
        return "simultaneous"
    passive = [n for n in names if n not in active]
    if passive and sent_after_fin.get(passive[0]):
        return "three-way" if sent_after_fin[passive[0]][0] & fin else "four-way"
    return "four-way"


def _received(ex: Exploration, src: int, v) -> int | None:
    if v.event.kind != "recv" or v.instance is None:
        return None
    ts = ex.system
    ch = next(c for c in ts.channels if c.dst == v.instance)
    return ts.slot_value(ex.states[src], ch.slot) & ((1 << FLAG_WIDTH) - 1)


def _timing_key(variants) -> tuple:
    # steps that touch no timer and no channel can happen at the same instant as the step
    # before them, so they never change the condition: leave them out of the key
    return tuple((v.index if (v.sends or v.event.kind == "recv" or v.instance is None)
                  else (v.instance, v.fired, v.timer_ops))
                 for v in variants
                 if v.fired or v.timer_ops or v.sends or v.event.kind == "recv" or v.instance is None)


def behaviour_map(ex: Exploration) -> list[MapRow]:
    ts = ex.system
    refs = timers_of(ts)
    free = {key: z3.Real(f"{key[0]}.{key[1]}") for key, r in refs.items() if r.lo_ms != r.hi_ms}
    names = {str(v): str(v) for v in free.values()}
    ranges = []
    for key, var in free.items():
        ranges.append(var >= refs[key].lo_ms)
        if refs[key].hi_ms is not None:
            ranges.append(var <= refs[key].hi_ms)
    end = end_predicate(ts)
    adj: list[list[tuple[int, int]]] = [[] for _ in range(ex.n_states)]
    for k in range(ex.n_edges):
        adj[ex.edge_src[k]].append((ex.edge_variant[k], ex.edge_dst[k]))
    cache: dict[tuple, z3.BoolRef] = {}
    rows = []
    for region, init in enumerate(ex.initial):
        conds: dict[str, dict[str, z3.BoolRef]] = {k: {} for k in KINDS}
        counts = {k: 0 for k in KINDS}
        stack: list[tuple[int, tuple]] = [(init, ())]
        seen_runs = 0
        while stack:
            sid, path = stack.pop()
            if not adj[sid]:
                seen_runs += 1
                if seen_runs > MAX_RUNS:
                    raise RuntimeError("too many runs for a behaviour map")
                variants = [ts.variants[v] for v, _src in path]
                steps = [(ts.variants[v], _received(ex, src, ts.variants[v])) for v, src in path]
                kind = classify(ts, steps, end(ex.states[sid]))
                counts[kind] += 1
                key = _timing_key(variants)
                if key not in cache:
                    cache[key] = run_condition(ts, variants, free)
                conds[kind].setdefault(cache[key].sexpr(), cache[key])
                continue
            for v, dst in reversed(adj[sid]):
                stack.append((dst, path + ((v, sid),)))
        kinds = {}
        for kind in KINDS:
            if not conds[kind]:
                continue
            answer = simplify_under(z3.Or(*conds[kind].values()), ranges)
            if not z3.is_false(answer):
                kinds[kind] = show(answer, names)
        params = dict(ts.initial_params[region])
        rows.append(MapRow(params, kinds, {k: c for k, c in counts.items() if c}))
    return rows
