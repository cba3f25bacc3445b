"""Graph views of an exploration (joint graph, per-endpoint projection) and their DOT drawings.

The close sequences are found by searching the joint graph of the default model, never by
state ids, so these tests keep meaning what they say when the model grows.
"""
from __future__ import annotations

from collections import deque

import networkx as nx
import pytest

import tcpcheck
from tcpcheck.explore import explore
from tcpcheck.graph import endpoint_view, joint_graph
from tcpcheck.render import endpoint_dot, joint_dot

from conftest import DEFAULT_MODEL, FIXTURES

THREE_WAY = ("FIN", "FIN+ACK", "ACK")
FOUR_WAY = ("FIN", "ACK", "FIN", "ACK")
INSTANCES = ("client", "server")


@pytest.fixture(scope="module")
def ex(teardown_ex):
    return teardown_ex


@pytest.fixture(scope="module")
def G(ex):
    return joint_graph(ex)


def both_closed(state: dict) -> bool:
    return all(state[f"{i}.state"] == "CLOSED" for i in INSTANCES)


def close_runs(G, segments: tuple[str, ...], region: int | None = None):
    """Every shortest run (one per region) from an initial state to both sides CLOSED whose
    segments sent are exactly `segments`, in order: a breadth-first search over
    (joint state, how many of the segments were sent so far)."""
    starts = [n for n, d in G.nodes(data=True)
              if d["initial"] and (region is None or d["region"] == region)]
    found = {}
    for start in starts:
        seen = {(start, 0): None}
        queue = deque([(start, 0)])
        while queue:
            node, k = queue.popleft()
            if k == len(segments) and both_closed(G.nodes[node]["state"]):
                run = []
                at = (node, k)
                while at is not None:
                    run.append(at)
                    at = seen[at]
                found[G.nodes[start]["region"]] = _edges_of([n for n, _ in reversed(run)], G,
                                                             [k for _, k in reversed(run)])
                break
            for _, nxt, key, d in G.out_edges(node, keys=True, data=True):
                sent = tuple(d["segments"])
                if segments[k:k + len(sent)] != sent:
                    continue
                step = (nxt, k + len(sent))
                if step not in seen:
                    seen[step] = (node, k)
                    queue.append(step)
    return found


def _edges_of(nodes, G, ks):
    """The run as (src, dst, key, data) edges: the edge that sent what the search counted."""
    out = []
    for (a, ka), (b, kb) in zip(zip(nodes, ks), zip(nodes[1:], ks[1:])):
        key, d = next((key, d) for key, d in G[a][b].items() if len(d["segments"]) == kb - ka)
        out.append((a, b, key, d))
    return out


def sent_by(run) -> list[tuple[str, str]]:
    return [(d["endpoint"], seg) for _, _, _, d in run for seg in d["segments"]]


def tcp_states_of(G, run, instance: str) -> list[str]:
    nodes = [run[0][0]] + [b for _, b, _, _ in run]
    return [G.nodes[n]["state"][f"{instance}.state"] for n in nodes]


def region_params(ex, region: int) -> dict:
    return ex.system.initial_params[region]


# ---------------------------------------------------------------- the joint graph


def test_joint_graph_is_a_directed_graph_of_decoded_states(ex, G):
    assert isinstance(G, nx.DiGraph)
    assert G.number_of_nodes() == ex.n_states
    assert G.number_of_edges() == ex.n_edges
    for n, d in G.nodes(data=True):
        assert d["state"] == ex.system.decode(ex.states[n])
    for a, b, d in G.edges(data=True):
        assert {"event", "endpoint", "segments"} <= set(d)
        assert d["endpoint"] in (*INSTANCES, "network")
        assert isinstance(d["segments"], list)
    assert sorted(n for n, d in G.nodes(data=True) if d["initial"]) == sorted(ex.initial)
    assert sorted(n for n, d in G.nodes(data=True) if d["terminal"]) == sorted(ex.deadlocks)


def test_regions_follow_the_parameters(ex, G):
    assert ex.region_of() == [G.nodes[n]["region"] for n in range(ex.n_states)]
    for n, d in G.nodes(data=True):
        params = region_params(ex, d["region"])
        assert d["state"]["delayed_ack"] == bool(params["delayed_ack"])
        assert d["state"]["passive_has_data"] == bool(params["passive_has_data"])


def test_three_way_close_fin_finack_ack(ex, G):
    runs = close_runs(G, THREE_WAY)
    assert runs, "no run sends exactly FIN, FIN+ACK, ACK and ends with both sides CLOSED"
    for run in runs.values():
        (closer, _), (passive, _), _ = sent_by(run)
        assert closer != passive
        assert sent_by(run) == [(closer, "FIN"), (passive, "FIN+ACK"), (closer, "ACK")]
        assert "TIME_WAIT" in tcp_states_of(G, run, closer)       # the active closer waits
        assert "TIME_WAIT" not in tcp_states_of(G, run, passive)
        assert both_closed(G.nodes[run[-1][1]]["state"])
        assert any("three_way_close" in d["observations"] for *_, d in run)


def test_four_way_close_fin_ack_fin_ack(ex, G):
    runs = close_runs(G, FOUR_WAY)
    assert runs, "no run sends exactly FIN, ACK, FIN, ACK and ends with both sides CLOSED"
    for run in runs.values():
        closer = sent_by(run)[0][0]
        passive = next(i for i in INSTANCES if i != closer)
        assert sent_by(run) == [(closer, "FIN"), (passive, "ACK"), (passive, "FIN"), (closer, "ACK")]
        assert "TIME_WAIT" in tcp_states_of(G, run, closer)
        assert "TIME_WAIT" not in tcp_states_of(G, run, passive)
        assert tcp_states_of(G, run, passive)[:2] == ["ESTABLISHED", "ESTABLISHED"]
        assert "CLOSE_WAIT" in tcp_states_of(G, run, passive)
        assert "LAST_ACK" in tcp_states_of(G, run, passive)
        assert both_closed(G.nodes[run[-1][1]]["state"])


def test_three_way_close_needs_delayed_ack_and_no_data_to_send(ex, G):
    regions = set(close_runs(G, THREE_WAY))
    shown = [{k: v for k, v in region_params(ex, r).items()
              if k in ("delayed_ack", "passive_has_data")} for r in sorted(regions)]
    assert shown == [{"delayed_ack": 1, "passive_has_data": 0}]


def test_four_way_close_happens_in_every_region_without_passive_data(ex, G):
    regions = set(close_runs(G, FOUR_WAY))
    assert {(p["delayed_ack"], p["passive_has_data"])
            for p in map(lambda r: region_params(ex, r), regions)} == {(0, 0), (1, 0)}


# ---------------------------------------------------------------- the endpoint view

RFC_CLOSE_TRANSITIONS = [
    ("ESTABLISHED", "FIN_WAIT_1", "close()"),
    ("ESTABLISHED", "CLOSE_WAIT", "rcv FIN"),
    ("FIN_WAIT_1", "FIN_WAIT_2", "rcv ACK"),
    ("FIN_WAIT_1", "CLOSING", "rcv FIN"),
    ("FIN_WAIT_2", "TIME_WAIT", "rcv FIN"),
    ("CLOSING", "TIME_WAIT", "rcv ACK"),
    ("CLOSE_WAIT", "LAST_ACK", "close()"),
    ("LAST_ACK", "CLOSED", "rcv ACK"),
    ("TIME_WAIT", "CLOSED", "time_wait expires"),
]


@pytest.fixture(scope="module")
def view(ex):
    return endpoint_view(ex)


def test_endpoint_view_has_exactly_the_close_states(view):
    assert set(view.nodes) == {"ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT",
                               "CLOSE_WAIT", "LAST_ACK", "CLOSED"}
    assert view.graph["instances"] == ["client", "server"]


@pytest.mark.parametrize("src, dst, label", RFC_CLOSE_TRANSITIONS,
                         ids=[f"{a}->{b}" for a, b, _ in RFC_CLOSE_TRANSITIONS])
def test_endpoint_view_has_the_rfc_9293_close_transition(view, src, dst, label):
    assert view.has_edge(src, dst)
    labels = [d["label"] for d in view[src][dst].values()]
    assert any(lab.startswith(label) for lab in labels), labels
    assert all(d["count"] >= 1 for d in view[src][dst].values())


def test_endpoint_view_sends_what_the_rfc_says(view):
    def sends(a, b, start):
        return {tuple(d["segments"]) for d in view[a][b].values() if d["label"].startswith(start)}
    assert sends("ESTABLISHED", "FIN_WAIT_1", "close()") == {("FIN",)}
    assert sends("FIN_WAIT_1", "CLOSING", "rcv FIN") == {("ACK",)}
    assert sends("FIN_WAIT_2", "TIME_WAIT", "rcv FIN") == {("ACK",)}
    assert sends("CLOSE_WAIT", "LAST_ACK", "close()") == {("FIN",), ("FIN+ACK",)}
    assert sends("TIME_WAIT", "CLOSED", "time_wait") == {()}


def test_only_fin_first_sides_reach_time_wait_in_the_endpoint_view(view):
    # (TIME_WAIT -> TIME_WAIT: a retransmitted FIN or a stale ACK is answered and it restarts)
    into_time_wait = {a for a, b in view.edges() if b == "TIME_WAIT" and a != "TIME_WAIT"}
    assert into_time_wait == {"FIN_WAIT_1", "FIN_WAIT_2", "CLOSING"}


def test_endpoint_view_of_one_instance(ex):
    client = endpoint_view(ex, ["client"])
    assert client.graph["instances"] == ["client"]
    merged = endpoint_view(ex)
    for a, b, key, d in client.edges(keys=True, data=True):
        assert merged.has_edge(a, b, key)
        assert merged[a][b][key]["count"] >= d["count"]
    # the merged view counts the client's steps and the server's together
    server = endpoint_view(ex, ["server"])
    for a, b, key, d in merged.edges(keys=True, data=True):
        assert d["count"] == sum(v[a][b][key]["count"] for v in (client, server)
                                 if v.has_edge(a, b, key))


# ---------------------------------------------------------------- DOT


def test_endpoint_dot_golden(ex, golden):
    golden("render/endpoint.dot", endpoint_dot(endpoint_view(ex), "teardown: TCP states of "
                                               "client and server"))


def test_joint_dot_golden_for_a_tiny_model(golden):
    small = explore(tcpcheck.load(FIXTURES / "models" / "quickack.tcpm"))
    golden("render/quickack-joint.dot", joint_dot(small))


def test_rendering_twice_gives_byte_identical_dot():
    a = explore(tcpcheck.load(DEFAULT_MODEL))
    b = explore(tcpcheck.load(DEFAULT_MODEL))
    assert endpoint_dot(endpoint_view(a), "t") == endpoint_dot(endpoint_view(b), "t")
    assert joint_dot(a) == joint_dot(b)


def test_joint_dot_draws_every_state_and_edge():
    small = explore(tcpcheck.load(FIXTURES / "models" / "quickack.tcpm"))
    dot = joint_dot(small)
    assert dot.count("subgraph cluster_") == 2                 # quick=false, quick=true
    assert "label=\"quick=false\"" in dot and "label=\"quick=true\"" in dot
    assert dot.count(" -> ") == small.n_edges
    for sid in range(small.n_states):
        assert f"#{sid}\\n" in dot


def test_joint_dot_highlights_a_run_in_red():
    small = explore(tcpcheck.load(FIXTURES / "models" / "quickack.tcpm"))
    target = max(range(small.n_states), key=lambda s: small.depth[s])
    run = small.path_to(target)
    highlight = {(a, b, vid) for (_, a), (vid, b) in zip(run, run[1:])}
    dot = joint_dot(small, highlight)
    red_edges = [line for line in dot.splitlines() if " -> " in line and "color=red" in line]
    assert len(red_edges) == len(highlight) == small.depth[target]


def test_partial_exploration_says_so_in_the_drawing():
    cut = explore(tcpcheck.load(DEFAULT_MODEL), max_states=10)
    assert "(partial: max-states)" in joint_dot(cut)


def test_no_two_nodes_of_a_joint_drawing_read_alike(ex):
    # without its "#id" line, every node's label still tells it apart from the others of its
    # cluster (the default model has states that differ only in a variable the label omits)
    import re
    dot = joint_dot(ex)
    for cluster in dot.split("subgraph cluster_")[1:]:
        labels = [lab.split("\\n", 1)[1] for lab in
                  re.findall(r'^\s*\d+ \[label="([^"]*)"', cluster, flags=re.M)]
        assert labels and len(labels) == len(set(labels))


def test_the_tcp_state_summary_counts_every_state_and_step(ex):
    from tcpcheck.graph import tcp_state_summary
    s = tcp_state_summary(ex)
    assert sum(s.states.values()) == ex.n_states
    across = sum(n for ways in s.edges.values() for n in ways.values())
    assert across + s.loops == ex.n_edges
    assert ("ESTABLISHED", "ESTABLISHED") in s.initial
    # a three-way close passes through client FIN_WAIT_1 / server LAST_ACK in one step
    assert any(a[0] == "FIN_WAIT_1" and b[1] == "LAST_ACK" for a, b in s.edges)


def test_the_endpoint_view_one_combination_at_a_time_is_the_whole_view(ex):
    from tcpcheck.graph import endpoint_view_each
    each = endpoint_view_each(ex.system)
    assert each.stop_reason is None and each.combinations == each.total == len(ex.initial)
    assert endpoint_dot(each.view, "t") == endpoint_dot(endpoint_view(ex), "t")
    assert sorted(each.view.edges(keys=True, data="count")) == \
        sorted(endpoint_view(ex).edges(keys=True, data="count"))


def test_the_endpoint_view_of_one_chosen_combination_is_a_part_of_the_whole(ex):
    from tcpcheck.graph import endpoint_view_each
    one = endpoint_view_each(tcpcheck.load(DEFAULT_MODEL, ["delayed_ack=false",
                                                           "passive_has_data=true"]))
    assert one.total == 1
    whole = {(a, b, k) for a, b, k in endpoint_view(ex).edges(keys=True)}
    assert {(a, b, k) for a, b, k in one.view.edges(keys=True)} < whole
