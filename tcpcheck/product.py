"""The product of an explored graph with a monitor, and the runs it counts.

A monitor is a small hashable value folded along a run one step at a time (the close record
of tcpcheck.kinds, a timing zone of tcpcheck.timing, or both). The product's nodes are the
pairs (graph state, monitor value) reachable from one initial state, each kept once: what
every run of the graph would fold to is read off the product without enumerating the runs,
whose number grows exponentially with the length of the interleavings (the lossy default
model has 39 billion complete runs in 78,300 states).

Counting runs is dynamic programming over the product: the runs from a node are the sum of
the runs from its successors. A cycle that can reach a terminal node makes the number of runs
infinite; the count says so (None) rather than loop.

The construction is bounded like a search: it polls the command's deadline and stops with
LimitReached when the product would keep more than `max_nodes` nodes.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from .explore import NO_DEADLINE, Deadline, Exploration, LimitReached, StopReason

# folds the monitor along one edge: (monitor value, source state id, variant id, target
# state id) -> the value after the step, or None when the step cannot follow the value
# (a timing zone the step makes empty): the product has no such edge
Fold = Callable[[Hashable, int, int, int], Hashable | None]


@dataclass(frozen=True)
class Product:
    """The reachable part of (graph x monitor) from one initial state, breadth first: node 0
    is the start, nodes are numbered in discovery order, successors in the graph's edge
    order (so everything read from it is deterministic)."""
    state: list[int]              # node -> graph state id
    monitor: list[Hashable]       # node -> monitor value
    successors: list[list[int]]   # node -> successor nodes (one per product edge)
    terminal: list[int]           # nodes whose graph state has no successor (complete runs end)


def monitor_product(ex: Exploration, start: int, value: Hashable, fold: Fold, *,
                    deadline: Deadline = NO_DEADLINE, max_nodes: int | None = None) -> Product:
    """The product of `ex` from its state `start` with a monitor starting at `value`."""
    adjacency = ex.adjacency
    terminal_states = ex.terminal
    ids: dict[tuple[int, Hashable], int] = {(start, value): 0}
    state, monitor, successors, terminal = [start], [value], [], []
    node = 0
    while node < len(state):
        if not node & 63:     # a fold may cost a millisecond (a timing zone): poll often
            deadline.check()
        sid, here = state[node], monitor[node]
        if sid in terminal_states:
            terminal.append(node)
        out = []
        for vid, dst in adjacency[sid]:
            after = fold(here, sid, vid, dst)
            if after is None:
                continue
            key = (dst, after)
            nxt = ids.get(key)
            if nxt is None:
                if max_nodes is not None and len(state) >= max_nodes:
                    raise LimitReached(StopReason.MAX_RUNS)
                nxt = ids[key] = len(state)
                state.append(dst)
                monitor.append(after)
            out.append(nxt)
        successors.append(out)
        node += 1
    return Product(state, monitor, successors, terminal)


def count_runs(product: Product, label: Callable[[int], int], labels: int,
               deadline: Deadline = NO_DEADLINE) -> list[int | None]:
    """How many complete runs (paths from node 0 to a terminal node) end with each label
    (`label(terminal node)` in range(labels)); None where a cycle makes them infinite.

    The strongly connected components come out of Tarjan's algorithm successors first, so
    each node's count is the sum of its successors' counts, already known; a node in a
    cycle has infinitely many runs to every label it reaches."""
    n = len(product.state)
    succ = product.successors
    is_terminal = bytearray(n)
    for node in product.terminal:
        is_terminal[node] = 1
    counts: list[list[int | None] | None] = [None] * n
    for k, component in enumerate(_components(succ, n)):
        if not k & 1023:
            deadline.check()
        cyclic = len(component) > 1 or component[0] in succ[component[0]]
        total: list[int | None] = [0] * labels
        members = set(component)
        for node in component:
            if is_terminal[node]:
                total[label(node)] += 1
            for nxt in succ[node]:
                if nxt in members:
                    continue
                for j, c in enumerate(counts[nxt]):
                    if total[j] is not None:
                        total[j] = None if c is None else total[j] + c
        if cyclic:
            total = [None if c is None or c else 0 for c in total]
        for node in component:
            counts[node] = total
    return list(counts[0])


def _components(succ: list[list[int]], n: int):
    """Tarjan's strongly connected components of the nodes reachable from node 0, each
    after every component it reaches (iterative: runs are long)."""
    index = [-1] * n
    low = [0] * n
    on_stack = bytearray(n)
    stack: list[int] = []
    work = [(0, 0)]
    index[0] = low[0] = 0
    counter = 1
    stack.append(0)
    on_stack[0] = 1
    while work:
        node, i = work[-1]
        if i < len(succ[node]):
            work[-1] = (node, i + 1)
            nxt = succ[node][i]
            if index[nxt] == -1:
                index[nxt] = low[nxt] = counter
                counter += 1
                stack.append(nxt)
                on_stack[nxt] = 1
                work.append((nxt, 0))
            elif on_stack[nxt]:
                low[node] = min(low[node], index[nxt])
            continue
        work.pop()
        if work:
            parent = work[-1][0]
            low[parent] = min(low[parent], low[node])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack[member] = 0
                component.append(member)
                if member == node:
                    break
            yield component
