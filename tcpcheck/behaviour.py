"""The behaviour map: for every parameter combination, which kinds of close can happen, and for
which timer durations. The direct answer to "when does a capture show three segments?".

Runs are never enumerated one by one (their number grows exponentially with the
interleavings: 39 billion complete runs in the lossy default model). Two products of the
explored graph with monitors (tcpcheck.product) give the answer instead:
  * with the close record (tcpcheck.kinds): which kinds the complete runs have, and how many
    runs have each kind, by dynamic programming; a cycle that reaches a terminal state makes
    the runs of a kind infinite in number (None, shown as "infinite");
  * with the close record and a timing zone (tcpcheck.timing.Zone): the condition on the
    durations of the timers whose range is not a single value under which some run of each
    kind is possible, the disjunction of the conditions of the zones the complete runs end in,
    simplified by z3. A zone is a prefix's timing constraints projected on what its future
    can still mention, so prefixes with the same zone share their futures, and its condition
    is the one run_condition gives each of its runs (tests/test_map_product.py compares).

The map is made one parameter combination (row) at a time, polling the command's deadline:
when it passes, or a product would keep more than MAX_PRODUCT nodes, LimitReached says why
and the rows made so far stand. The rows are independent, so `jobs` forked workers
(tcpcheck.workers) make them at once, each sending back its rows; they come out in order.
"""
from __future__ import annotations

from dataclasses import dataclass

import z3

from .explore import NO_DEADLINE, Deadline, Exploration, LimitReached, StopReason
from .kinds import CloseKind, CloseRecord
from .product import count_runs, monitor_product
from .query import end_predicate
from .run import received_flags
from .timing import ZoneFolder, show, simplify_under, timers_of
from .workers import in_order

KINDS = tuple(CloseKind)     # the order the map lists them in
MAX_PRODUCT = 1_000_000      # nodes of one product (graph state x monitor): a few GB at most


@dataclass
class MapRow:
    params: dict
    kinds: dict[CloseKind, str]        # kind -> condition on timer durations ("always", ...)
    runs: dict[CloseKind, int | None]  # kind -> complete runs of that kind (untimed);
                                       # None: infinitely many (a cycle reaches the end)


def behaviour_map(ex: Exploration, deadline: Deadline = NO_DEADLINE) -> list[MapRow]:
    return list(map_rows(ex, deadline))


def map_rows_on(ex: Exploration, deadline: Deadline, jobs: int):
    """map_rows, the rows made by `jobs` processes at once: the same rows, in the same order,
    and the same LimitReached when a limit stops them (the rows before it stand)."""
    if jobs <= 1:
        yield from map_rows(ex, deadline)
        return

    def row(k: int) -> MapRow | StopReason:
        try:
            return next(map_rows(ex, deadline, regions=(k,)))
        except LimitReached as stop:    # sent back as its reason: the parent raises it
            return stop.reason

    for found in in_order(row, len(ex.initial), jobs, deadline):
        if not isinstance(found, MapRow):
            raise LimitReached(deadline.reason if found is None else found)
        yield found


def map_rows(ex: Exploration, deadline: Deadline = NO_DEADLINE,
             regions: tuple[int, ...] | None = None):
    """The rows of the map, one per parameter combination (or those of `regions`), as each
    is made."""
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
    zones = ZoneFolder(ts, free)

    def record_after(record: CloseRecord, src: int, vid: int) -> CloseRecord:
        v = ts.variants[vid]
        return record.after(v.instance, received_flags(ts, ex.states[src], v),
                            [f for _, f in v.sends])

    def fold_record(record, src, vid, _dst):
        return record_after(record, src, vid)

    def fold_timed(value, src, vid, _dst):
        record, zone = value
        zone = zones.after(zone, vid)
        return None if zone is None else (record_after(record, src, vid), zone)

    start = CloseRecord.start(inst.name for inst in ts.model.instances)
    for region in range(len(ex.initial)) if regions is None else regions:
        init = ex.initial[region]
        untimed = monitor_product(ex, init, start, fold_record, deadline=deadline,
                                  max_nodes=MAX_PRODUCT)

        def kind_of(node, product=untimed):
            return KINDS.index(product.monitor[node].kind(end(ex.states[product.state[node]])))

        counts = count_runs(untimed, kind_of, len(KINDS), deadline)
        timed = monitor_product(ex, init, (start, zones.start()), fold_timed,
                                deadline=deadline, max_nodes=MAX_PRODUCT)
        kinds = {}
        for kind, conds in _conditions(timed, end, ex, zones, deadline).items():
            deadline.check()
            answer = simplify_under(z3.Or(*conds), ranges)
            if not z3.is_false(answer):
                kinds[kind] = show(answer, names)
        params = dict(ts.initial_params[region])
        yield MapRow(params, kinds, {k: c for k, c in zip(KINDS, counts) if c != 0})


def _conditions(timed, end, ex, zones: ZoneFolder, deadline: Deadline
                ) -> dict[CloseKind, list[z3.BoolRef]]:
    """Per kind (in the map's order), the distinct conditions of the zones its complete runs
    end in, in the order the product found them; a condition that another one's constraints
    already include is left out (it says no more in a disjunction), and a kind that some
    zone allows for every duration has the one condition true."""
    found: dict[CloseKind, list[frozenset]] = {}
    seen: set = set()
    for node in timed.terminal:
        deadline.check()
        record, zone = timed.monitor[node]
        kind = record.kind(end(ex.states[timed.state[node]]))
        if (kind, zone.constraints) in seen:
            continue
        seen.add((kind, zone.constraints))
        if found.get(kind) == [frozenset()]:
            continue    # possible for every duration already: "always"
        projection = zones.projection(zone)
        if projection is None:
            continue
        if not projection:
            found[kind] = [projection]
        else:
            found.setdefault(kind, []).append(projection)
    out = {}
    for kind in KINDS:
        if kind not in found:
            continue
        distinct = list(dict.fromkeys(found[kind]))
        weakest = [c for c in distinct if not any(o < c for o in distinct)]
        out[kind] = [zones.formula(c) for c in weakest]
    return out
