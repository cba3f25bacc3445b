"""The behaviour map: for every parameter combination, which kinds of close can happen, and for
which timer durations. The direct answer to "when does a capture show three segments?".

Every complete run of the explored graph is classified from what it puts on the wire (the
kinds and their classifier are tcpcheck.kinds), and z3 turns each run's timing constraints
into a condition on the durations of the timers whose range is not a single value (see
tcpcheck.timing).

The map is made one parameter combination (row) at a time, polling the command's deadline:
when it passes, or a combination has more than MAX_RUNS runs, LimitReached says why and the
rows made so far stand.
"""
from __future__ import annotations

from dataclasses import dataclass

import z3

from .explore import NO_DEADLINE, Deadline, Exploration, LimitReached, StopReason
from .kinds import CloseKind, CloseRecord
from .query import end_predicate
from .run import received_flags
from .timing import run_condition, show, simplify_under, timers_of

KINDS = tuple(CloseKind)     # the order the map lists them in
MAX_RUNS = 200_000


@dataclass
class MapRow:
    params: dict
    kinds: dict[CloseKind, str]  # kind -> condition on timer durations ("always", "never", ...)
    runs: dict[CloseKind, int]   # kind -> number of complete runs of that kind (untimed)


def _timing_key(variants) -> tuple:
    # steps that touch no timer and no channel can happen at the same instant as the step
    # before them, so they never change the condition: leave them out of the key
    return tuple((v.index if (v.sends or v.event.kind == "recv" or v.instance is None)
                  else (v.instance, v.fired, v.timer_ops))
                 for v in variants
                 if v.fired or v.timer_ops or v.sends or v.event.kind == "recv" or v.instance is None)


def behaviour_map(ex: Exploration, deadline: Deadline = NO_DEADLINE) -> list[MapRow]:
    return list(map_rows(ex, deadline))


def map_rows(ex: Exploration, deadline: Deadline = NO_DEADLINE):
    """The rows of the map, one per parameter combination, as each is made."""
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
        if not k & 0xFFFF:
            deadline.check()   # a tuple an edge: --max-memory may stop this too
        adj[ex.edge_src[k]].append((ex.edge_variant[k], ex.edge_dst[k]))
    cache: dict[tuple, z3.BoolRef] = {}
    terminal = ex.terminal
    for region, init in enumerate(ex.initial):
        conds: dict[CloseKind, dict[str, z3.BoolRef]] = {k: {} for k in KINDS}
        counts = {k: 0 for k in KINDS}
        # each path carries its close record (tcpcheck.kinds), folded one step at a time
        start = CloseRecord.start(inst.name for inst in ts.model.instances)
        stack: list[tuple[int, tuple, CloseRecord]] = [(init, (), start)]
        seen_runs = popped = 0
        while stack:
            popped += 1
            if not popped & 15:
                # every 16 runs' steps: a step copies its path, and deep runs (more_calls with
                # early_data) take 100 KB a step, so 1024 steps could pass --max-memory by far
                deadline.check()
            sid, path, record = stack.pop()
            if sid in terminal:
                deadline.check()    # a run may cost a call to z3: look at the clock each one
                seen_runs += 1
                if seen_runs > MAX_RUNS:
                    raise LimitReached(StopReason.MAX_RUNS)
                variants = [ts.variants[v] for v, _src in path]
                kind = record.kind(end(ex.states[sid]))
                counts[kind] += 1
                key = _timing_key(variants)
                if key not in cache:
                    cache[key] = run_condition(ts, variants, free)
                conds[kind].setdefault(cache[key].sexpr(), cache[key])
                continue
            for v, dst in reversed(adj[sid]):
                var = ts.variants[v]
                nxt = record.after(var.instance, received_flags(ts, ex.states[sid], var),
                                   [f for _, f in var.sends])
                stack.append((dst, path + ((v, sid),), nxt))
        kinds = {}
        for kind in KINDS:
            if not conds[kind]:
                continue
            deadline.check()
            answer = simplify_under(z3.Or(*conds[kind].values()), ranges)
            if not z3.is_false(answer):
                kinds[kind] = show(answer, names)
        params = dict(ts.initial_params[region])
        yield MapRow(params, kinds, {k: c for k, c in counts.items() if c})
