"""Views of an exploration as networkx graphs: the joint state graph and per-endpoint projections.

Both are built on demand from the search core's arrays, never during the search. Building
one polls the command's deadline (a big exploration makes a big graph): LimitReached.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from .transitions import Variant
from .explore import NO_DEADLINE, Deadline, Exploration, explore
from .run import received_flags as _received


def received_flags(ex: Exploration, sid: int, v: Variant) -> str | None:
    """The flags of the segment a recv step took, read from the head of its channel."""
    flags = _received(ex.system, ex.states[sid], v)
    return None if flags is None else str(flags)


def edge_attributes(ex: Exploration, src: int, v: Variant) -> dict:
    attrs = {
        "variant": v.index,
        "endpoint": v.instance or "network",
        "event": v.event.label(),
        "segments": v.segments(),
        "arms": list(v.arms),
        "cancels": list(v.cancels),
        "fires": v.fired,
        "observations": list(v.observations),
    }
    got = received_flags(ex, src, v)
    if got is not None:
        attrs["received"] = got
    return attrs


def joint_graph(ex: Exploration, nodes: set[int] | None = None,
                deadline: Deadline = NO_DEADLINE) -> nx.MultiDiGraph:
    """The explored joint state graph. Nodes are state ids with the decoded state as attributes
    (`state`), edges are keyed by variant and carry the event, segments sent and timer effects.
    (A MultiDiGraph is a networkx DiGraph; parallel edges are distinct transitions.)
    `nodes` builds only the subgraph on those states (cheaper than building all)."""
    ts = ex.system
    G = nx.MultiDiGraph(model=ts.model.name, complete=ex.complete)
    region = ex.region_of()
    initial = set(ex.initial)
    terminal = set(ex.deadlocks)
    for sid, s in enumerate(ex.states):
        if not sid & 1023:
            deadline.check()
        if nodes is None or sid in nodes:
            G.add_node(sid, state=ts.decode(s), region=region[sid], depth=ex.depth[sid],
                       initial=sid in initial, terminal=sid in terminal)
    for k in range(ex.n_edges):
        if not k & 1023:
            deadline.check()
        src, dst, vid = ex.edge_src[k], ex.edge_dst[k], ex.edge_variant[k]
        if nodes is None or (src in nodes and dst in nodes):
            G.add_edge(src, dst, key=vid, **edge_attributes(ex, src, ts.variants[vid]))
    return G


def projection_label(attrs: dict) -> str:
    """RFC 9293 figure 5 style: 'rcv FIN / snd ACK', 'close() / snd FIN'."""
    if "received" in attrs:
        what = f"rcv {attrs['received']}"
    else:
        what = attrs["event"]
    sends = attrs["segments"]
    return what + (" / snd " + ", ".join(sends) if sends else "")


def endpoint_view(ex: Exploration, instances: list[str] | None = None,
                  deadline: Deadline = NO_DEADLINE) -> nx.MultiDiGraph:
    """Project the joint graph onto endpoints' TCP states.

    Nodes are tcp_state names; an edge is one distinct (from, to, label) seen in any joint
    edge taken by one of `instances` (default: every instance running the first instance's
    behaviour, so a symmetric model yields one diagram). Steps that neither change the TCP
    state nor send a segment are left out; the `count` attribute says how many joint edges
    an edge stands for.
    """
    ts = ex.system
    model = ts.model
    if instances is None:
        first = model.instances[0].endpoint
        instances = [i.name for i in model.instances if i.endpoint == first]
    slots = {}
    for name in instances:
        slot = ts.tcp_state_slot(name)
        if slot is not None:
            slots[name] = slot
    V = nx.MultiDiGraph(instances=list(instances))
    names = model.enum_values("tcp_state")
    seen: dict[tuple[str, str, str], dict] = {}
    for k in range(ex.n_edges):
        if not k & 1023:
            deadline.check()
        v = ts.variants[ex.edge_variant[k]]
        if v.instance not in slots:
            continue
        slot = slots[v.instance]
        src, dst = ex.edge_src[k], ex.edge_dst[k]
        a = names[ts.slot_value(ex.states[src], slot)]
        b = names[ts.slot_value(ex.states[dst], slot)]
        if a == b and not v.sends:
            continue
        attrs = edge_attributes(ex, src, v)
        label = projection_label(attrs)
        key = (a, b, label)
        if key in seen:
            seen[key]["count"] += 1
        else:
            seen[key] = {"label": label, "event": attrs["event"], "segments": attrs["segments"],
                         "observations": attrs["observations"], "count": 1}
    for (a, b, label), attrs in seen.items():
        V.add_edge(a, b, key=label, **attrs)
    for sid, s in enumerate(ex.states):
        for slot in slots.values():
            V.add_node(names[ts.slot_value(s, slot)])
    return V


# ---------------------------------------------------------------- a summary of a big graph

SUMMARY_LABELS = 4   # ways across one summary edge listed by name; the rest are counted
# The states a summary is made of when the joint graph is too big to lay out: the search stops
# here, so that `graph --param '*'` answers in seconds (50,000 states: about 2 s of search and
# 1 s of folding on the 2-core machine); a bigger graph's summary is marked partial.
SUMMARY_MAX_STATES = 50_000
# The search behind `graph --view endpoint` over several parameter combinations stops here
# when no --max-states is given: every open parameter (`--param '*'`, 1,024 combinations that
# behave apart) is about 2 minutes of search and projection, 100,000 states about 5 s. The
# combinations done are drawn, titled partial, with a message saying how to see the rest.
ENDPOINT_EACH_MAX_STATES = 100_000


@dataclass(frozen=True)
class TcpStateSummary:
    """The joint graph folded onto the endpoints' TCP states, for a graph too big to lay out:
    a node is one combination of every instance's tcp_state (`states`: how many joint states
    it stands for), an edge one pair of them with the distinct steps across it (a step that
    changes no TCP state is left out; `loops` counts those)."""
    instances: tuple[str, ...]
    states: dict[tuple[str, ...], int]
    initial: frozenset[tuple[str, ...]]
    edges: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, int]]
    loops: int
    joint_states: int
    joint_edges: int
    complete: bool
    stop_reason: str | None


def tcp_state_summary(ex: Exploration, deadline: Deadline = NO_DEADLINE) -> TcpStateSummary:
    """Fold an exploration (complete or not) onto the instances' TCP states. Reads each
    state's tcp_state slots alone (no decoding), so a few hundred thousand states take about a
    second; the deadline is polled as the graph is read."""
    ts = ex.system
    names = ts.model.enum_values("tcp_state")
    slots = [(i.name, ts.tcp_state_slot(i.name)) for i in ts.model.instances]
    slots = [(name, slot) for name, slot in slots if slot is not None]

    def key(sid: int) -> tuple[str, ...]:
        s = ex.states[sid]
        return tuple(names[ts.slot_value(s, slot)] for _name, slot in slots)

    keys: list[tuple[str, ...]] = []
    counts: dict[tuple[str, ...], int] = {}
    for sid in range(ex.n_states):
        if not sid & 4095:
            deadline.check()
        k = key(sid)
        keys.append(k)
        counts[k] = counts.get(k, 0) + 1
    edges: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, int]] = {}
    loops = 0
    for n in range(ex.n_edges):
        if not n & 4095:
            deadline.check()
        a, b = keys[ex.edge_src[n]], keys[ex.edge_dst[n]]
        if a == b:
            loops += 1
            continue
        v = ts.variants[ex.edge_variant[n]]
        sends = v.segments()
        label = (f"{v.instance or 'network'}: {v.event.label()}"
                 + (" / snd " + ", ".join(sends) if sends else ""))
        ways = edges.setdefault((a, b), {})
        ways[label] = ways.get(label, 0) + 1
    return TcpStateSummary(tuple(name for name, _slot in slots), counts,
                           frozenset(keys[sid] for sid in ex.initial if sid < len(keys)),
                           edges, loops, ex.n_states, ex.n_edges, ex.complete,
                           None if ex.stop_reason is None else str(ex.stop_reason))


def distinguishing_values(ex: Exploration, groups: list[list[int]]) -> dict[int, str]:
    """For states that would be drawn with the same label: the variables whose values differ
    among them, `name=value` for each state (decoded states; variables a state no longer
    reads show as "-"), so that no two nodes of a drawing look alike."""
    ts = ex.system
    out: dict[int, str] = {}
    for group in groups:
        decoded = {sid: ts.decode(ex.states[sid]) for sid in group}
        first = decoded[group[0]]
        differ = [k for k in first if len({repr(d[k]) for d in decoded.values()}) > 1]
        for sid in group:
            d = decoded[sid]
            out[sid] = " ".join(f"{k}={'-' if d[k] is None else _shown(d[k])}" for k in differ)
    return out


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(map(str, value)) + "]"
    return str(value)


@dataclass(frozen=True)
class EndpointViewEach:
    """The endpoint view of every parameter combination, explored one at a time (memory:
    one combination's graph). `combinations` were explored or shared an equivalent one's
    view, of `total`; `stop_reason` says why the rest were not (None: all were)."""
    view: nx.MultiDiGraph
    combinations: int
    total: int
    states: int
    edges: int
    stop_reason: str | None
    last: Exploration | None = None   # the combination a limit or a model error stopped


def endpoint_view_each(ts, instances: list[str] | None = None, max_states: int | None = None,
                       deadline: Deadline = NO_DEADLINE) -> EndpointViewEach:
    """endpoint_view over every combination of the system's parameters, each explored on its
    own and merged (edge counts added), as explore_each does for figures: the whole model's
    endpoint diagram without holding every combination's states at once. Combinations that
    behave alike (TransitionSystem.behaviour_key) project alike: the first one stands for
    them. A limit ends it with the combinations done so far."""
    merged: nx.MultiDiGraph | None = None
    seen: set[tuple] = set()
    states = edges = done = 0
    stop = None
    last = None
    for k, s in enumerate(ts.initial):
        key = ts.behaviour_key(k)
        if key in seen:
            done += 1
            continue
        if deadline.expired():
            stop = str(deadline.reason)
            break
        left = None if max_states is None else max_states - states
        if left is not None and left <= 0:
            stop = "max-states"
            break
        ex = explore(ts, initial=(s,), max_states=left, deadline=deadline)
        states += ex.n_states
        edges += ex.n_edges
        if not ex.complete:
            stop, last = str(ex.stop_reason), ex
            break
        view = endpoint_view(ex, instances, deadline)
        merged = view if merged is None else _merge_views(merged, view)
        seen.add(key)
        done += 1
    if merged is None:
        merged = nx.MultiDiGraph(instances=list(instances or []))
    return EndpointViewEach(merged, done, len(ts.initial), states, edges, stop, last)


def _merge_views(into: nx.MultiDiGraph, view: nx.MultiDiGraph) -> nx.MultiDiGraph:
    for n in view.nodes:
        into.add_node(n)
    for a, b, key, data in view.edges(keys=True, data=True):
        if into.has_edge(a, b, key):
            into.edges[a, b, key]["count"] += data["count"]
        else:
            into.add_edge(a, b, key=key, **data)
    return into


# ---------------------------------------------------------------- a run's neighbourhood

def neighbourhood(ex: Exploration, run_states: set[int], steps: int) -> set[int]:
    """The states within `steps` transitions of a run (either way along an edge): what the
    run passed by -- the choices it did not take and the states that lead into it -- small
    enough to lay out when the whole graph is not."""
    adjacent: dict[int, set[int]] = {}
    for src, dst in zip(ex.edge_src, ex.edge_dst):
        adjacent.setdefault(src, set()).add(dst)
        adjacent.setdefault(dst, set()).add(src)
    near, frontier = set(run_states), set(run_states)
    for _ in range(steps):
        frontier = {n for s in frontier for n in adjacent.get(s, ())} - near
        near |= frontier
    return near
