"""The explorer on tiny models whose states and edges were counted by hand.

Each fixture model in tests/fixtures/models/ has its hand count, with the reasoning, in its
header comment; these tests pin the explorer to those counts, to the breadth-first visit
order, and to the clean stops (limits, model errors).
"""
from __future__ import annotations

import types

import pytest

import tcpcheck
from tcpcheck.explore import explore

from conftest import DEFAULT_MODEL, FIXTURES

MODELS = FIXTURES / "models"


def load(name: str, params: list[str] | None = None):
    return tcpcheck.load(MODELS / f"{name}.tcpm", params)


def explored(name: str, **kw):
    return explore(load(name), **kw)


def decoded(ex) -> list[dict]:
    return [ex.system.decode(s) for s in ex.states]


def edges(ex) -> list[tuple[int, int, int]]:
    return list(zip(ex.edge_src, ex.edge_dst, ex.edge_variant))


def counts(ex) -> dict:
    return {"states": ex.n_states, "edges": ex.n_edges, "depth": ex.max_depth,
            "initial": len(ex.initial), "terminal": len(ex.deadlocks), "complete": ex.complete}


# ---------------------------------------------------------------- hand-counted models


@pytest.mark.parametrize("name, expected", [
    ("pipeline", {"states": 6, "edges": 6, "depth": 4, "initial": 1, "terminal": 1}),
    ("lossy", {"states": 6, "edges": 5, "depth": 3, "initial": 1, "terminal": 3}),
    ("quickack", {"states": 9, "edges": 7, "depth": 4, "initial": 2, "terminal": 2}),
])
def test_state_and_edge_counts_match_the_hand_count(name, expected):
    ex = explored(name)
    assert counts(ex) == {**expected, "complete": True}
    assert ex.stop_reason is None and ex.error is None
    assert ex.expanded == ex.n_states


def test_pipeline_visit_order_is_breadth_first_in_transition_order():
    ex = explored("pipeline")
    order = [(d["client.sent"], d["server.got"], d["client->server"]) for d in decoded(ex)]
    assert order == [
        (0, 0, []),
        (1, 0, ["DATA"]),
        (2, 0, ["DATA", "DATA"]),   # the client's write comes before the server's read
        (1, 1, []),
        (2, 1, ["DATA"]),
        (2, 2, []),
    ]
    assert list(ex.depth) == [0, 1, 2, 2, 3, 4]
    write, read = 0, 1
    assert edges(ex) == [(0, 1, write), (1, 2, write), (1, 3, read),
                         (2, 4, read), (3, 4, write), (4, 5, read)]
    assert ex.deadlocks == [5]


def test_pipeline_parents_are_first_discoveries():
    ex = explored("pipeline")
    assert list(ex.parent) == [-1, 0, 1, 1, 2, 4]
    # (2,1) is reached from (2,0) by a read before (1,1) could write: the first parent wins
    assert ex.system.variants[ex.parent_variant[4]].event.kind == "recv"


def test_lost_fin_and_lost_ack_leave_the_close_stuck():
    ex = explored("lossy")
    states = [(d["client.state"], d["server.state"], d["client->server"], d["server->client"])
              for d in decoded(ex)]
    assert states == [
        ("ESTABLISHED", "ESTABLISHED", [], []),
        ("FIN_WAIT_1", "ESTABLISHED", ["FIN"], []),
        ("FIN_WAIT_1", "CLOSE_WAIT", [], ["ACK"]),
        ("FIN_WAIT_1", "ESTABLISHED", [], []),      # the FIN was lost
        ("FIN_WAIT_2", "CLOSE_WAIT", [], []),
        ("FIN_WAIT_1", "CLOSE_WAIT", [], []),       # the ACK was lost
    ]
    assert ex.deadlocks == [3, 4, 5]
    losses = [(a, b) for a, b, v in edges(ex) if ex.system.variants[v].instance is None]
    assert losses == [(1, 3), (2, 5)]
    for _, _, v in edges(ex):
        variant = ex.system.variants[v]
        if variant.instance is None:
            assert variant.observations == ("segment_lost",)


def test_bool_parameter_gives_one_initial_state_per_value():
    ex = explored("quickack")
    ts = ex.system
    assert ts.initial_params == ({"quick": 0}, {"quick": 1})
    assert ex.initial == [0, 1]
    assert [decoded(ex)[i]["quick"] for i in ex.initial] == [False, True]
    # parameters never change: every state keeps its initial state's value
    by_quick = {False: 0, True: 0}
    for d in decoded(ex):
        by_quick[d["quick"]] += 1
    assert by_quick == {False: 5, True: 4}


def test_quickack_with_parameter_fixed_explores_one_region():
    ex = explore(load("quickack", ["quick=true"]))
    assert counts(ex) == {"states": 4, "edges": 3, "depth": 3, "initial": 1, "terminal": 1,
                          "complete": True}


def test_if_else_gives_one_variant_per_branch():
    ex = explored("quickack")
    ts = ex.system
    recv_fin = [v for v in ts.variants if v.instance == "server" and v.transition == 0]
    assert [(v.path, v.segments(), v.arms) for v in recv_fin] == [
        (0, ["ACK"], ()),           # if quick: ACK at once
        (1, [], ("delack",)),       # else: arm the delayed-ACK timer
    ]
    assert len(ts.variants) == 5
    taken = {ts.variants[v].path: ts.decode(ex.states[a])["quick"]
             for a, _, v in edges(ex) if ts.variants[v] in recv_fin}
    assert taken == {0: True, 1: False}


def test_delayed_ack_timer_runs_until_it_expires():
    ex = explored("quickack")
    running = [d for d in decoded(ex) if d["server.timer.delack"] == "running"]
    assert len(running) == 1
    assert running[0]["server.state"] == "CLOSE_WAIT" and running[0]["server->client"] == []
    expiry = [(a, b) for a, b, v in edges(ex) if ex.system.variants[v].fired == "delack"]
    assert len(expiry) == 1
    after = ex.system.decode(ex.states[expiry[0][1]])
    assert after["server.timer.delack"] == "off" and after["server->client"] == ["ACK"]


# ---------------------------------------------------------------- model errors


def test_counter_overflow_is_a_model_error_with_the_shortest_run():
    ex = explored("overflow")
    ts = ex.system
    assert not ex.complete
    assert ex.stop_reason == "model-error"
    assert ex.error.code == "TCP500"
    assert "client.n would become 3" in ex.error.message and "0..2" in ex.error.message
    assert ts.variants[ex.error.variant].event.name == "tick"
    assert ex.error.span is not None and ex.error.span.line == 13  # the assignment n := n + 1
    assert ts.decode(ex.states[ex.error_state])["client.n"] == 2
    run = ex.path_to(ex.error_state)
    # n=0 -jump-> n=2 is shorter than n=0 -tick-> n=1 -tick-> n=2
    assert [(vid, ts.decode(ex.states[sid])["client.n"]) for vid, sid in run] == [(-1, 0), (1, 2)]
    assert ts.variants[run[1][0]].event.name == "jump"
    assert (ex.n_states, ex.n_edges) == (3, 3)


def test_model_error_leaves_no_partial_successors_of_the_failing_state():
    ex = explored("overflow")
    assert ex.error_state not in set(ex.edge_src)
    assert ex.expanded == ex.error_state


# ---------------------------------------------------------------- limits


@pytest.fixture(scope="module")
def teardown():
    return tcpcheck.load(DEFAULT_MODEL)


def test_max_states_stops_cleanly_with_a_partial_graph(teardown):
    ex = explore(teardown, max_states=10)
    assert not ex.complete
    assert ex.stop_reason == "max-states"
    assert ex.error is None
    assert ex.n_states == 10
    assert all(0 <= j < 10 for j in [*ex.edge_src, *ex.edge_dst])
    assert ex.stats()["complete"] is False and ex.stats()["stop_reason"] == "max-states"


def test_max_states_equal_to_the_state_count_is_complete():
    full = explored("pipeline")
    ex = explored("pipeline", max_states=full.n_states)
    assert ex.complete and ex.stop_reason is None
    assert ex.states == full.states and edges(ex) == edges(full)
    cut = explored("pipeline", max_states=full.n_states - 1)
    assert not cut.complete and cut.stop_reason == "max-states"
    assert cut.states == full.states[:-1]


def test_time_limit_stops_cleanly(monkeypatch, teardown):
    ticks = iter(range(1_000_000))
    fake_time = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)))
    monkeypatch.setattr("tcpcheck.explore.time", fake_time)  # every reading is a second later
    ex = explore(teardown, time_limit=0.5)
    assert not ex.complete
    assert ex.stop_reason == "time-limit"
    assert ex.error is None
    assert ex.n_states == len(teardown.initial)  # stopped before the first expansion


def test_progress_is_reported_at_the_end(teardown):
    calls = []
    ex = explore(teardown, progress=lambda done, found, edges: calls.append((done, found, edges)))
    assert calls and calls[-1] == (ex.n_states, ex.n_states, ex.n_edges)


# ---------------------------------------------------------------- shape of the result


def test_exploring_twice_gives_identical_numbering_and_edges():
    a = explore(tcpcheck.load(DEFAULT_MODEL))
    b = explore(tcpcheck.load(DEFAULT_MODEL))
    assert a.states == b.states
    assert (list(a.edge_src), list(a.edge_dst), list(a.edge_variant)) == \
           (list(b.edge_src), list(b.edge_dst), list(b.edge_variant))
    assert list(a.parent) == list(b.parent) and list(a.parent_variant) == list(b.parent_variant)


def test_path_to_every_state_is_a_shortest_run_along_recorded_edges(teardown):
    ex = explore(teardown)
    recorded = set(edges(ex))
    for sid in range(ex.n_states):
        run = ex.path_to(sid)
        assert run[0][0] == -1 and run[0][1] in ex.initial
        assert run[-1][1] == sid
        assert len(run) - 1 == ex.depth[sid]
        for (_, a), (vid, b) in zip(run, run[1:]):
            assert (a, b, vid) in recorded


def test_breadth_first_depths_never_skip_a_level(teardown):
    ex = explore(teardown)
    assert list(ex.depth) == sorted(ex.depth)  # ids are handed out level by level
    for a, b, _ in edges(ex):
        assert ex.depth[b] <= ex.depth[a] + 1


def test_deadlocks_are_exactly_the_states_without_outgoing_edges(teardown):
    ex = explore(teardown)
    with_successor = set(ex.edge_src)
    assert ex.deadlocks == [s for s in range(ex.n_states) if s not in with_successor]


def test_without_edge_recording_the_same_states_are_found(teardown):
    full = explore(teardown)
    lean = explore(teardown, record_edges=False)
    assert lean.states == full.states
    assert lean.n_edges == 0 and lean.complete


def test_default_model_starts_established_in_every_combination(teardown):
    ex = explore(teardown)
    assert len(ex.initial) == 4  # delayed_ack x passive_has_data
    for sid in ex.initial:
        d = teardown.decode(ex.states[sid])
        assert (d["client.state"], d["server.state"]) == ("ESTABLISHED", "ESTABLISHED")
        assert d["client->server"] == [] and d["server->client"] == []


# ---------------------------------------------------------------- one combination at a time


# (a lossy network: retransmission cycles and deadlocks in 16 combinations, 190,000 states;
# early_data open as well made it 2.4 million, 35 s of CPU for the same property)
@pytest.mark.parametrize("params", [[], ["more_calls=*", "lossy_network=*"]],
                         ids=["default", "lossy-open"])
def test_exploring_each_combination_alone_gives_the_same_figures(params):
    from tcpcheck.explore import explore_each

    ts = tcpcheck.load(DEFAULT_MODEL, params)
    whole = explore(ts, record_edges=False)
    each = explore_each(ts)
    assert each.complete and each.stop_reason is None
    assert (each.n_states, each.edge_count, each.max_depth, each.deadlocks) == \
        (whole.n_states, whole.edge_count, whole.max_depth, len(whole.deadlocks))
    region = whole.region_of()
    by_combination = [[0, 0] for _ in ts.initial]
    for r in region:
        by_combination[r][0] += 1
    for sid in whole.deadlocks:
        by_combination[region[sid]][1] += 1
    assert [list(r) for r in each.regions] == by_combination


def test_exploring_each_combination_stops_at_the_limits_on_the_total():
    from tcpcheck.explore import explore_each

    ts = tcpcheck.load(DEFAULT_MODEL, ["early_data=*"])
    each = explore_each(ts, max_states=300)
    assert not each.complete and each.stop_reason == "max-states"
    assert each.n_states == 300 and each.last is not None
    assert len(each.regions) < len(ts.initial)  # the later combinations were not started


def test_a_model_error_in_one_combination_stops_with_its_run():
    from tcpcheck.explore import explore_each

    each = explore_each(load("overflow"))
    assert each.stop_reason == "model-error" and each.error.code == "TCP500"
    run = each.last.path_to(each.last.error_state)
    assert [vid for vid, _sid in run] == [-1, 1]


def test_a_lone_star_opens_every_parameter_and_a_pair_still_fixes_one():
    assert len(tcpcheck.load(DEFAULT_MODEL, ["*"]).initial) == 2048
    ts = tcpcheck.load(DEFAULT_MODEL, ["*", "lossy_network=false"])
    assert len(ts.initial) == 1024
    assert {env["lossy_network"] for env in ts.initial_params} == {0}


def test_equivalent_combinations_are_explored_once_with_the_same_figures():
    # delayed_ack=false leaves the quickack parameters nothing to change, and delayed_ack=true
    # with both set is the same as delayed_ack=false: for each passive_has_data and
    # lossy_network, 8 combinations and 4 behaviours (neither side delays, both, one, other)
    from tcpcheck.explore import explore_each

    ts = tcpcheck.load(DEFAULT_MODEL, ["client_quickack=*", "server_quickack=*",
                                       "lossy_network=*"])
    whole = explore(ts, record_edges=False)
    each = explore_each(ts)
    assert len(ts.initial) == 32 and each.reused == 32 - 2 * 2 * 4
    assert (each.n_states, each.edge_count, each.max_depth, each.deadlocks) == \
        (whole.n_states, whole.edge_count, whole.max_depth, len(whole.deadlocks))
    region = whole.region_of()
    counts = [0] * len(ts.initial)
    for r in region:
        counts[r] += 1
    assert [n for n, _ in each.regions] == counts


ROOM_MODEL = """model room "writers that leave room in their channel"

endpoint e() {
    var state: tcp_state = ESTABLISHED
    var sent: 0..9 = 0
    on call write when state == ESTABLISHED and room() >= LEAVE {
        send DATA
        sent := min(sent + 1, 9)
    }
    on recv DATA {
    }
}

instance client = e()
instance server = e()
channel client -> server capacity 3
channel server -> client capacity 3
"""


@pytest.mark.parametrize("leave, most", [(1, 3), (2, 2), (3, 1)])
def test_room_is_the_free_places_of_the_outgoing_channel(tmp_path, leave, most):
    # a writer that needs `leave` free places never has more than 3 - leave + 1 in flight
    path = tmp_path / "room.tcpm"
    path.write_text(ROOM_MODEL.replace("LEAVE", str(leave)), encoding="utf-8")
    ts = tcpcheck.load(path)
    ex = explore(ts)
    slot = next(ch.slot for ch in ts.channels if ch.src == "client")
    assert max(len(ts.segments_on(s, slot)) for s in ex.states) == most


def test_room_takes_no_argument_and_only_in_transitions(tmp_path):
    path = tmp_path / "bad.tcpm"
    path.write_text(ROOM_MODEL.replace("room() >= LEAVE", "room(1) >= 1"), encoding="utf-8")
    with pytest.raises(tcpcheck.diagnostics.TcpcheckError) as err:
        tcpcheck.load(path)
    assert err.value.diagnostics[0].code == "TCP213"
    path.write_text(ROOM_MODEL.replace("capacity 3\nchannel server", "capacity room()\nchannel server")
                    .replace("LEAVE", "1"), encoding="utf-8")
    with pytest.raises(tcpcheck.diagnostics.TcpcheckError) as err:
        tcpcheck.load(path)
    assert "room() is only allowed in transitions" in err.value.diagnostics[0].message
