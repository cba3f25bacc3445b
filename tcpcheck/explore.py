"""Stage 4: breadth-first exploration of every reachable joint state.

The search core keeps no Python object per state beyond the packed int itself: states are
numbered in the order BFS discovers them (so the numbering is deterministic), each id's
first parent and the variant that reached it are kept in flat arrays (shortest paths come
from them), and every edge is three array entries. The networkx graph is a view built from
this afterwards (tcpcheck.graph).
"""
from __future__ import annotations

import gc
import time
from array import array
from dataclasses import dataclass, field
from typing import Callable

from .compile import ExplorationError, TransitionSystem


@dataclass
class Exploration:
    system: TransitionSystem
    states: list[int]                 # id -> packed state
    index: dict[int, int]             # packed state -> id
    parent: array                     # id -> id of the state it was first reached from (-1: initial)
    parent_variant: array             # id -> variant of that step (-1: initial)
    depth: array                      # id -> BFS level
    edge_src: array
    edge_dst: array
    edge_variant: array
    initial: list[int]                # ids of the initial states, one per parameter combination
    expanded: int                     # how many states had their successors computed
    seconds: float
    complete: bool
    stop_reason: str | None = None    # "max-states", "time-limit" or "model-error"
    error: ExplorationError | None = None
    error_state: int | None = None    # id of the state whose step failed
    deadlocks: list[int] = field(default_factory=list)  # expanded states with no successor

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def n_edges(self) -> int:
        return len(self.edge_src)

    @property
    def max_depth(self) -> int:
        return max(self.depth) if len(self.depth) else 0

    def path_to(self, sid: int) -> list[tuple[int, int]]:
        """The shortest run to a state: [(variant or -1, state id), ...] starting at an initial state."""
        steps = []
        while sid != -1:
            steps.append((self.parent_variant[sid], sid))
            sid = self.parent[sid]
        steps.reverse()
        return steps

    def stats(self) -> dict:
        return {
            "states": self.n_states,
            "edges": self.n_edges,
            "depth": self.max_depth,
            "seconds": round(self.seconds, 3),
            "initial_states": len(self.initial),
            "terminal_states": len(self.deadlocks),
            "complete": self.complete,
            "stop_reason": self.stop_reason,
        }


ProgressFn = Callable[[int, int, int], None]


def explore(ts: TransitionSystem, *, max_states: int | None = None,
            time_limit: float | None = None, record_edges: bool = True,
            progress: ProgressFn | None = None, progress_every: float = 0.2) -> Exploration:
    """Explore breadth-first from every initial state.

    Keeps at most `max_states` states (one more would be dropped, with the edges to it) and
    stops when `time_limit` seconds have passed; either way it returns what was found, with
    complete=False and stop_reason "max-states" or "time-limit" when something was cut off.
    A value out of range in some reachable state stops the search with stop_reason
    "model-error" and the failing step recorded.
    """
    successors = ts.successors
    states: list[int] = []
    index: dict[int, int] = {}
    parent = array("q")
    parent_variant = array("q")
    depth = array("l")
    esrc, edst, evar = array("l"), array("l"), array("l")
    deadlocks: list[int] = []

    for s in ts.initial:
        if s not in index:
            index[s] = len(states)
            states.append(s)
            parent.append(-1)
            parent_variant.append(-1)
            depth.append(0)
    initial = [index[s] for s in ts.initial]

    start = time.perf_counter()
    next_report = start + progress_every
    head = 0
    stop_reason = None
    error = error_state = None
    was_enabled = gc.isenabled()
    gc.disable()  # the state set holds only ints: nothing for the cyclic GC to find
    try:
        while head < len(states):
            # max_states bounds the states *kept*: known states are still expanded (edges
            # between them recorded), and only a state that would exceed the bound makes the
            # result partial, so a limit equal to the true count still gives a complete graph
            if (head & 1023) == 0:
                now = time.perf_counter()
                if time_limit is not None and now - start >= time_limit:
                    stop_reason = "time-limit"
                    break
                if progress is not None and now >= next_report:
                    progress(head, len(states), len(esrc))
                    next_report = now + progress_every
            s = states[head]
            try:
                succ = successors(s)
            except ExplorationError as err:
                stop_reason, error, error_state = "model-error", err, head
                break
            except (ZeroDivisionError, ValueError) as err:
                stop_reason = "model-error"
                error = ExplorationError(-1, "TCP501", f"arithmetic error: {err}", None)
                error_state = head
                break
            if not succ:
                deadlocks.append(head)
            d = depth[head] + 1
            for vid, t in succ:
                j = index.get(t)
                if j is None:
                    if max_states is not None and len(states) >= max_states:
                        stop_reason = "max-states"
                        continue
                    j = len(states)
                    index[t] = j
                    states.append(t)
                    parent.append(head)
                    parent_variant.append(vid)
                    depth.append(d)
                if record_edges:
                    esrc.append(head)
                    edst.append(j)
                    evar.append(vid)
            head += 1
    finally:
        if was_enabled:
            gc.enable()
    seconds = time.perf_counter() - start
    if progress is not None:
        progress(head, len(states), len(esrc))
    complete = stop_reason is None
    return Exploration(ts, states, index, parent, parent_variant, depth, esrc, edst, evar,
                       initial, head, seconds, complete, stop_reason, error, error_state,
                       deadlocks)
