"""The map without listing runs: a product of the graph with the close record counts runs,
timing zones give each kind's condition. Checked against the run-by-run answer it replaces
(every complete run listed, its kind folded, z3 asked about each run's timing)."""
from __future__ import annotations

import json

import pytest
import z3

import tcpcheck
from conftest import run_tcpcheck
from tcpcheck import behaviour
from tcpcheck.behaviour import KINDS, behaviour_map
from tcpcheck.explore import Deadline, LimitReached, StopReason, explore
from tcpcheck.kinds import CloseRecord
from tcpcheck.product import Product, count_runs
from tcpcheck.query import end_predicate
from tcpcheck.run import received_flags
from tcpcheck.timing import run_condition, show, simplify_under, timers_of

# a FIN sent again each time its timer runs out, over a channel that may lose it: a cycle
RETRY = """model retry "a FIN sent again until its ACK comes back"

endpoint closer() {
    var state: tcp_state = ESTABLISHED
    timer rto 200ms..1s
    on call close when state == ESTABLISHED {
        send FIN
        arm rto
        state := FIN_WAIT_1
    }
    on expire rto when state == FIN_WAIT_1 {
        send FIN
        arm rto
    }
    on recv ACK when state == FIN_WAIT_1 {
        cancel rto
        state := CLOSED
    }
}

endpoint peer() {
    var state: tcp_state = ESTABLISHED
    on recv FIN when state == ESTABLISHED {
        send ACK
        state := CLOSED
    }
}

instance client = closer()
instance server = peer()
channel client -> server capacity 1 delay 0ms..50ms lossy
channel server -> client capacity 1 delay 0ms..50ms
"""


def _runs(ex, region):
    """Every complete run from one initial state, listed: (kind, variants)."""
    ts = ex.system
    end = end_predicate(ts)
    start = CloseRecord.start(inst.name for inst in ts.model.instances)
    stack = [(ex.initial[region], (), start)]
    while stack:
        sid, path, record = stack.pop()
        if sid in ex.terminal:
            yield record.kind(end(ex.states[sid])), [ts.variants[v] for v in path]
            continue
        for v, dst in reversed(ex.adjacency[sid]):   # the order the map used to list runs
            var = ts.variants[v]
            stack.append((dst, path + (v,), record.after(
                var.instance, received_flags(ts, ex.states[sid], var), [f for _, f in var.sends])))


def test_run_counts_are_the_runs_listed_one_by_one(teardown_ex):
    rows = behaviour_map(teardown_ex)
    for region, row in enumerate(rows):
        listed = {}
        for kind, _ in _runs(teardown_ex, region):
            listed[kind] = listed.get(kind, 0) + 1
        assert row.runs == {k: listed[k] for k in KINDS if k in listed}


def test_zone_conditions_mean_what_the_runs_conditions_mean(teardown_ex):
    # delayed ACK on, no data: the row where every kind but simultaneous has a condition
    region = 2
    ts = teardown_ex.system
    refs = timers_of(ts)
    free = {key: z3.Real(f"{key[0]}.{key[1]}") for key, r in refs.items() if r.lo_ms != r.hi_ms}
    per_kind: dict = {}
    for kind, variants in _runs(teardown_ex, region):
        cond = run_condition(ts, variants, free)
        per_kind.setdefault(kind, {}).setdefault(cond.sexpr(), cond)
    row = behaviour_map(teardown_ex)[region]
    assert set(row.kinds) == set(per_kind)
    ranges = [c for key, var in free.items()
              for c in ([var >= refs[key].lo_ms]
                        + ([var <= refs[key].hi_ms] if refs[key].hi_ms is not None else []))]
    # the disjunction of every run's condition, simplified and printed as the map prints
    names = {str(v): str(v) for v in free.values()}
    for kind, conds in per_kind.items():
        expected = simplify_under(z3.Or(*conds.values()), ranges)
        assert show(expected, names) == row.kinds[kind]


def test_a_cycle_that_reaches_the_end_makes_the_runs_infinite(tmp_path):
    model = tmp_path / "retry.tcpm"
    model.write_text(RETRY)
    ex = explore(tcpcheck.load(model))
    (row,) = behaviour_map(ex)
    assert row.runs == {"four-way": None}
    assert row.kinds == {"four-way": "always"}
    result = run_tcpcheck("map", str(model), "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"][0]["runs"] == {"four-way": None}
    text = run_tcpcheck("map", str(model), "--no-progress")
    assert "infinite" in text.stdout


def test_counting_sums_over_paths_and_says_infinite_only_through_a_cycle():
    # 0 -> 1 -> 3, 0 -> 2 -> 3 (two runs to terminal 3); 0 -> 4 <-> 5 -> 6 (a cycle that
    # reaches terminal 6); 0 -> 7 <-> 8 (a cycle that never ends: no run)
    succ = [[1, 2, 4, 7], [3], [3], [], [5], [4, 6], [], [8], [7]]
    product = Product(list(range(9)), [None] * 9, succ, [3, 6])
    label = {3: 0, 6: 1}
    assert count_runs(product, label.__getitem__, 2) == [2, None]


def test_the_products_stop_at_their_bound_and_at_the_deadline(teardown_ex, monkeypatch):
    monkeypatch.setattr(behaviour, "MAX_PRODUCT", 50)
    with pytest.raises(LimitReached) as stop:
        behaviour_map(teardown_ex)
    assert stop.value.reason is StopReason.MAX_RUNS
    monkeypatch.undo()
    deadline = Deadline()
    deadline.interrupt("SIGINT")
    with pytest.raises(LimitReached) as stop:
        behaviour_map(teardown_ex, deadline)
    assert stop.value.reason is StopReason.INTERRUPTED
