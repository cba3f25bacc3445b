"""Stage 6: drawings. DOT source through the `graphviz` package; SVG/PNG through Graphviz's `dot`.

Everything written here is deterministic: nodes and edges are emitted in a fixed order, so the
same exploration gives byte-identical DOT.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import graphviz

from .tcp import TCP_STATES
from .explore import MB, NO_DEADLINE, Deadline, Exploration, LimitReached, StopReason

if TYPE_CHECKING:   # annotations only: writing a ladder (replay, trace) needs no networkx
    import networkx as nx

    from .graph import TcpStateSummary

FORMATS = ("dot", "svg", "png", "pdf")

# How big a joint graph `dot` lays out in reasonable time. Measured with graphviz 2.43 on the
# 2-core machine (`dot -Tsvg`, other work running): 422 states and 718 edges (the default
# model) 0.9 s; 400 and 1,250: 0.8 s; 600 and 1,960: 19 s; 800 and 2,433: 7.7 s; 1,200 and
# 3,336: 31 s; 1,600 and 4,428: 200 s. Time grows with the cube of the size, so past about
# 500 states (and three edges a state) a drawing takes minutes: `graph` refuses it.
MAX_LAYOUT_STATES = 500
# a .dot file is not laid out, but one of millions of states helps no reader and takes minutes
# to explore and write: above this it is summarised too (--max-nodes raises the bound)
MAX_DOT_STATES = 200_000
EDGES_PER_STATE = 3     # the bound on edges is this many times the bound on states

# dot's own memory, measured the same way: about 15 MB plus 150 bytes for every byte of DOT
# source (22 MB for the default model's joint graph, 75 MB for 1,600 states); rounded up
DOT_BASE_BYTES = 20 * MB
DOT_BYTES_PER_SOURCE_BYTE = 200
DOT_POLL_SECONDS = 0.1  # how soon a killed deadline or a signal stops a running `dot`

# Rows of RFC 9293's state diagram (figure 5), close half: keeps the drawing recognisable.
_RFC_ROWS = (("ESTABLISHED",), ("FIN_WAIT_1", "CLOSE_WAIT"), ("FIN_WAIT_2", "CLOSING", "LAST_ACK"),
             ("TIME_WAIT",), ("CLOSED",))
_FONT = "Helvetica"


def _state_order(name: str) -> int:
    return TCP_STATES.index(name) if name in TCP_STATES else len(TCP_STATES)


def endpoint_dot(view: nx.MultiDiGraph, title: str) -> str:
    """The per-endpoint TCP state diagram, laid out like RFC 9293's figure."""
    g = graphviz.Digraph("endpoint", graph_attr={
        "label": title, "labelloc": "t", "fontname": _FONT, "fontsize": "16", "rankdir": "TB",
        "nodesep": "0.9", "ranksep": "0.8"},
        node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "#eef3fb",
                   "fontname": _FONT, "fontsize": "13"},
        edge_attr={"fontname": _FONT, "fontsize": "10"})
    nodes = sorted(view.nodes, key=_state_order)
    placed = set()
    for row in _RFC_ROWS:
        present = [n for n in row if n in view.nodes]
        if present:
            with g.subgraph() as sub:
                sub.attr(rank="same")
                for n in present:
                    sub.node(n)
                    placed.add(n)
    for n in nodes:
        if n not in placed:
            g.node(n)
    # one arrow per pair of states, its label listing every way across (fewer crossings)
    labels: dict[tuple[str, str], list[str]] = {}
    for a, b, _key, data in view.edges(keys=True, data=True):
        labels.setdefault((a, b), []).append(data["label"])
    for (a, b) in sorted(labels, key=lambda e: (_state_order(e[0]), _state_order(e[1]))):
        style = "dashed" if a == b else "solid"
        g.edge(a, b, label="\\n".join(sorted(labels[(a, b)])), style=style)
    return g.source


def _node_label(ex: Exploration, sid: int, state: dict) -> str:
    ts = ex.system
    lines = [f"#{sid}"]
    parts = []
    for inst in ts.model.instances:
        slot = ts.tcp_state_slot(inst.name)
        if slot is not None:
            parts.append(f"{inst.name} {state[ts.slots[slot].name]}")
    if parts:
        lines.append("  ".join(parts))
    for ch in ts.channels:
        segs = state[ch.name]
        if segs:
            lines.append(f"{ch.src}\u2192{ch.dst}: " + " ".join(segs))
    running = [s.name.replace(".timer.", ":") for s in ts.slots
               if s.kind == "timer" and state[s.name] == "running"]
    if running:
        lines.append("timers " + " ".join(running))
    return "\\n".join(lines)


def _distinct_labels(ex: Exploration, G: nx.MultiDiGraph) -> dict[int, str]:
    """Every node's label; nodes of one cluster whose TCP states, channels and timers read
    alike also get the variables that tell them apart (a bare state id would say nothing)."""
    from .graph import distinguishing_values  # deferred: graph loads networkx
    base = {sid: _node_label(ex, sid, d["state"]) for sid, d in G.nodes(data=True)}
    alike: dict[tuple[int, str], list[int]] = {}   # one cluster (parameters) at a time
    for sid in sorted(base):
        alike.setdefault((G.nodes[sid]["region"], base[sid].split("\\n", 1)[-1]), []).append(sid)
    extra = distinguishing_values(ex, [g for g in alike.values() if len(g) > 1])
    return {sid: base[sid] + (f"\\n{extra[sid]}" if extra.get(sid) else "") for sid in base}


def joint_dot(ex: Exploration, highlight: set[tuple[int, int, int]] | None = None,
              regions: set[int] | None = None, keep: set[int] | None = None,
              deadline: Deadline = NO_DEADLINE) -> str:
    """The joint state graph, one cluster per parameter combination.

    `highlight` is a set of (src, dst, variant) edges drawn bold and red (a trace);
    `regions` keeps only those parameter combinations (indexes of ex.initial); `keep` only
    those states. Raises LimitReached when the command's deadline passes."""
    chosen = None
    if regions is not None or keep is not None:
        region = ex.region_of()
        chosen = {sid for sid in range(ex.n_states)
                  if (regions is None or region[sid] in regions) and (keep is None or sid in keep)}
    from .graph import joint_graph, projection_label  # deferred: graph loads networkx

    G = joint_graph(ex, chosen, deadline)
    ts = ex.system
    shown = "" if keep is None else f"; showing {G.number_of_nodes()} around the run"
    g = graphviz.Digraph("joint", graph_attr={
        "label": f"{ts.model.name}: {ex.n_states} states, {ex.n_edges} edges"
                 + ("" if ex.complete else f" (partial: {ex.stop_reason})") + shown,
        "labelloc": "t", "fontname": _FONT, "rankdir": "TB"},
        node_attr={"shape": "box", "style": "rounded", "fontname": _FONT, "fontsize": "9"},
        edge_attr={"fontname": _FONT, "fontsize": "8"})
    highlight = highlight or set()
    on_path = {n for e in highlight for n in e[:2]}
    labels = _distinct_labels(ex, G)
    for k, init in enumerate(ex.initial):
        if regions is not None and k not in regions:
            continue
        params = ex.system.initial_params[k]
        notable = ts.notable_params(params)
        label = ts.params_text(params, [n for n in params if n in notable]) or "model"
        with g.subgraph(name=f"cluster_{k}") as sub:
            sub.attr(label=label, style="rounded", color="#999999", fontname=_FONT)
            for sid in sorted(n for n, d in G.nodes(data=True) if d["region"] == k):
                if not sid & 1023:
                    deadline.check()
                d = G.nodes[sid]
                attrs = {}
                if d["initial"]:
                    attrs["penwidth"] = "2"
                if d["terminal"]:
                    attrs["peripheries"] = "2"
                if sid in on_path:
                    attrs.update(color="red", penwidth="2")
                sub.node(str(sid), label=labels[sid], **attrs)
    for n, (src, dst, vid, d) in enumerate(sorted(G.edges(keys=True, data=True))):
        if not n & 1023:
            deadline.check()
        label = f"{d['endpoint']}: {projection_label(d)}"
        attrs = {"color": "red", "penwidth": "2.5"} if (src, dst, vid) in highlight else {}
        g.edge(str(src), str(dst), label=label, **attrs)
    return g.source


def summary_dot(summary: TcpStateSummary, title: str) -> str:
    """A joint graph too big to lay out, folded onto the endpoints' TCP states
    (graph.tcp_state_summary): one node per combination of TCP states with the number of
    joint states it stands for, clustered by the first endpoint's TCP state."""
    from .graph import SUMMARY_LABELS  # deferred: graph loads networkx

    g = graphviz.Digraph("summary", graph_attr={
        "label": title, "labelloc": "t", "fontname": _FONT, "rankdir": "TB", "nodesep": "0.5"},
        node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "#eef3fb",
                   "fontname": _FONT, "fontsize": "10"},
        edge_attr={"fontname": _FONT, "fontsize": "8"})
    first = summary.instances[0] if summary.instances else ""

    def order(k: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(_state_order(n) for n in k)

    def node_id(k: tuple[str, ...]) -> str:
        return "/".join(k)

    by_first: dict[str, list[tuple[str, ...]]] = {}
    for k in sorted(summary.states, key=order):
        by_first.setdefault(k[0] if k else "", []).append(k)
    for n, (state, keys) in enumerate(sorted(by_first.items(), key=lambda i: _state_order(i[0]))):
        with g.subgraph(name=f"cluster_{n}") as sub:
            sub.attr(label=f"{first} {state}", style="rounded", color="#999999", fontname=_FONT)
            for k in keys:
                count = summary.states[k]
                text = "\\n".join(f"{i} {s}" for i, s in zip(summary.instances, k))
                attrs = {"penwidth": "2"} if k in summary.initial else {}
                sub.node(node_id(k), label=f"{text}\\n{count:,} state{'s' if count != 1 else ''}",
                         **attrs)
    for (a, b) in sorted(summary.edges, key=lambda e: (order(e[0]), order(e[1]))):
        ways = summary.edges[(a, b)]
        named = sorted(ways, key=lambda w: (-ways[w], w))
        shown = named[:SUMMARY_LABELS]
        more = len(named) - len(shown)
        label = "\\n".join(shown) + (f"\\n+{more} more" if more else "")
        g.edge(node_id(a), node_id(b), label=label)
    return g.source


@dataclass(frozen=True)
class Written:
    dot_path: Path
    image_path: Path | None
    rendered: bool
    message: str | None

    def as_json(self) -> dict:
        return {"dot": str(self.dot_path), "image": str(self.image_path) if self.image_path else None,
                "rendered": self.rendered, "message": self.message}


def dot_available() -> bool:
    return shutil.which("dot") is not None


def write_drawing(source: str, out: Path, deadline: Deadline = NO_DEADLINE) -> Written:
    """Write `out` (.dot, .svg, .png or .pdf). The .dot source is always written beside it;
    when Graphviz's `dot` is missing the image is skipped with a message saying so.

    `dot` runs under the command's deadline: it is killed when the time limit passes or a
    signal comes, and not started when its estimated memory would pass --max-memory; then
    LimitReached is raised, the .dot source stands whole and no image is written."""
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"cannot write '{out.suffix}': use one of " + ", ".join("." + f for f in FORMATS))
    out.parent.mkdir(parents=True, exist_ok=True)
    dot_path = out if fmt == "dot" else out.with_suffix(".dot")
    data = source.encode("utf-8")
    write_whole(dot_path, data)
    if fmt == "dot":
        return Written(dot_path, None, False, None)
    dot = shutil.which("dot")
    if dot is None:
        return Written(dot_path, None, False,
                       f"Graphviz's 'dot' program is not installed, so {out} was not drawn; "
                       f"the DOT source is in {dot_path}. Install it with "
                       "'apt-get install graphviz' (Debian) and run again.")
    left = deadline.memory_left()
    if left is not None and dot_memory_estimate(data) > left:
        raise LimitReached(StopReason.MAX_MEMORY)
    image, failure = _run_dot(dot, fmt, data, deadline)
    if failure is not None:
        return Written(dot_path, None, False, f"dot failed to draw {out}: {failure}")
    write_whole(out, image)
    return Written(dot_path, out, True, None)


def dot_memory_estimate(source: bytes) -> int:
    """Bytes `dot` is expected to take for this source (see DOT_BYTES_PER_SOURCE_BYTE)."""
    return DOT_BASE_BYTES + DOT_BYTES_PER_SOURCE_BYTE * len(source)


def _run_dot(dot: str, fmt: str, data: bytes, deadline: Deadline) -> tuple[bytes, str | None]:
    """`dot -Kdot -T<fmt>` (the command the graphviz package runs) on `data`: (the image,
    None) or (b"", why it failed). It runs in its own session, so that Ctrl-C reaches
    tcpcheck alone and tcpcheck decides: the deadline is looked at every DOT_POLL_SECONDS,
    and when it has passed `dot` is killed and LimitReached raised."""
    proc = subprocess.Popen([dot, "-Kdot", f"-T{fmt}"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        pending = data
        while True:
            try:
                image, errors = proc.communicate(pending, timeout=DOT_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pending = None   # communicate() goes on writing what it was given
                deadline.check()
    finally:
        if proc.poll() is None:    # stopped by the deadline (or anything else): no orphan
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        said = errors.decode("utf-8", "replace").strip().splitlines()
        return b"", f"exit status {proc.returncode}" + (f": {said[0]}" if said else "")
    return image, None


def write_whole(path: Path, data: bytes) -> None:
    """Write a file so that it is never seen half written: the bytes go to a temporary file in
    the same directory, which then replaces `path` in one rename. A failure (a full disk, a
    signal) leaves `path` as it was and no temporary file behind."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)   # no fsync: whole against a crash of tcpcheck, not of the machine
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes it 0600; a written file is 0666-umask
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)   # reading the umask sets it: put it straight back
    os.umask(mask)
    return mask
