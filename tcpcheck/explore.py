"""Stage 4: breadth-first exploration of every reachable joint state.

The search core keeps no Python object per state beyond the packed int itself: states are
numbered in the order BFS discovers them (so the numbering is deterministic), each id's
first parent and the variant that reached it are kept in flat arrays (shortest paths come
from them), and every edge is three array entries. The networkx graph is a view built from
this afterwards (tcpcheck.graph).
"""
from __future__ import annotations

import gc
import os
import resource
import sys
import time
from array import array
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Callable

from . import csink
from .searchloop import search_function
from .transitions import ExplorationError, TransitionSystem


class StopReason(StrEnum):
    """Why a search (or a later phase: checking, mapping, drawing) ended before it covered
    everything (JSON shows the value)."""

    MAX_STATES = "max-states"     # --max-states: one more state would have been kept
    TIME_LIMIT = "time-limit"     # --time-limit
    MAX_MEMORY = "max-memory"     # --max-memory: the process's resident memory reached it
    INTERRUPTED = "interrupted"   # SIGINT (Ctrl-C) or SIGTERM
    MAX_RUNS = "max-runs"         # a phase that enumerates runs (or builds a product of the
                                  # graph, as map does) met its budget
    MODEL_ERROR = "model-error"   # a step failed (TCP5xx): the model must be fixed first


class LimitReached(Exception):
    """A phase after the search (checking, mapping, drawing) met the command's deadline: the
    caller keeps what it has and reports it as inconclusive."""

    def __init__(self, reason: StopReason):
        super().__init__(str(reason))
        self.reason = reason


# How often the memory bound looks at the process's resident size: reading /proc/self/statm
# costs about 10 us, and the search grows by about 45 MB a second (100 bytes a state at
# 450k states/s), so a look every 10 ms overshoots by half a megabyte at most.
MEMORY_POLL_SECONDS = 0.01
MB = 1_000_000   # --max-memory counts decimal megabytes: 2000 stays under 2 GB
# The share of --max-memory kept for what a command does after a phase stops: loading rich
# for its table (20 MB), building the JSON, the unchecked properties' notes. Measured with
# --max-memory 2000: peaks of 1,230-1,800 MB, so the bound was never met by the report.
MEMORY_RESERVE = 0.1


def resident_bytes() -> int:
    """The process's resident set size now (Linux: /proc/self/statm); elsewhere its peak so
    far (getrusage), which is never below the present size, so a bound on it is still kept."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024  # bytes there, KiB here


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Deadline:
    """The limits of one whole command (time, memory), and whether a signal asked it to stop.

    One object is made when a command starts and passed down to every phase (exploring,
    checking, mapping, drawing), so that `--time-limit 5` bounds the command, not just the
    search, and `--max-memory 2000` its resident memory in every phase. Each phase polls
    `expired()` (or `check()`, which raises LimitReached) every so often and stops with what
    it has. A signal handler (tcpcheck.cli_io) calls `interrupt()`; the object is not frozen
    for that reason, and because the memory bound, once reached, stays reached (the answer
    must not change between two looks because a phase freed something).
    """

    def __init__(self, seconds: float | None = None, max_memory_mb: float | None = None):
        # read through the module (not a bound function): tests replace `time`
        self.seconds = seconds
        self._end = None if seconds is None else time.perf_counter() + seconds
        self.signal: str | None = None   # the name of the signal that interrupted the command
        self.max_memory_mb = max_memory_mb
        # the phases stop short of the bound, so that what the command does after one stops
        # (its summary, the JSON, a module the report loads) still fits under it
        self._memory_limit = (None if max_memory_mb is None
                              else int(max_memory_mb * MB * (1 - MEMORY_RESERVE)))
        self._memory_reached = False
        self._next_memory_look = 0.0
        self._resident = 0

    def interrupt(self, signal_name: str) -> None:
        self.signal = signal_name

    @property
    def reason(self) -> StopReason | None:
        """Why the command must stop now, or None while it may go on."""
        return self.reason_after(0)

    def reason_after(self, growth: int) -> StopReason | None:
        """Why the command must stop, counting `growth` more bytes than it has now: what the
        phase is about to take at once (a table doubling), which must fit under the bound
        too, since no look at the memory can come in the middle of one allocation."""
        if self.signal is not None:
            return StopReason.INTERRUPTED
        if self._end is not None and time.perf_counter() >= self._end:
            return StopReason.TIME_LIMIT
        if self._memory_limit is not None and self._over_memory(growth):
            return StopReason.MAX_MEMORY
        return None

    @property
    def bounds_memory(self) -> bool:
        return self._memory_limit is not None

    def _over_memory(self, growth: int = 0) -> bool:
        if self._memory_reached:
            return True
        now = time.perf_counter()
        if now >= self._next_memory_look:
            self._next_memory_look = now + MEMORY_POLL_SECONDS
            self._resident = resident_bytes()
        self._memory_reached = self._resident + growth >= self._memory_limit
        return self._memory_reached

    def memory_left(self) -> int | None:
        """Bytes the command may still take before its phases must stop (None: no bound)."""
        if self._memory_limit is None:
            return None
        return max(0, self._memory_limit - resident_bytes())

    def expired(self, growth: int = 0) -> bool:
        return self.reason_after(growth) is not None

    def left(self) -> float | None:
        """Seconds left (None: no time limit)."""
        return None if self._end is None else max(0.0, self._end - time.perf_counter())

    def check(self) -> None:
        """Raise LimitReached when the command must stop."""
        reason = self.reason
        if reason is not None:
            raise LimitReached(reason)


NO_DEADLINE = Deadline()  # never expires; never handed to a signal handler


@dataclass
class Exploration:
    system: TransitionSystem
    states: list[int]                 # id -> packed state
    parent: array                     # id -> id of the state it was first reached from (-1: initial)
    parent_variant: array             # id -> variant of that step (-1: initial)
    edge_src: array                   # empty unless edges were recorded
    edge_dst: array
    edge_variant: array
    initial: list[int]                # ids of the initial states, one per parameter combination
    expanded: int                     # how many states had their successors computed
    seconds: float
    complete: bool
    stop_reason: StopReason | None = None
    error: ExplorationError | None = None
    error_state: int | None = None    # id of the state whose step failed
    deadlocks: list[int] = field(default_factory=list)  # expanded states with no successor
    edge_count: int = 0               # edges seen, recorded or not
    _index: dict | None = field(default=None, repr=False)
    _depth: array | None = field(default=None, repr=False)
    _adjacency: list | None = field(default=None, repr=False)
    _terminal: frozenset | None = field(default=None, repr=False)

    @property
    def terminal(self) -> frozenset[int]:
        """Ids of the states with no successor at all: where complete runs end. The search
        counts a successor before the state limit may drop it, and never counts for a state
        it did not expand, so a state cut off by a limit is never terminal (an empty
        adjacency list does not say that much)."""
        if self._terminal is None:
            self._terminal = frozenset(self.deadlocks)
        return self._terminal

    @property
    def index(self) -> dict[int, int]:
        """packed state -> id (built on first use when the search did not keep it)."""
        if self._index is None:
            self._index = {s: i for i, s in enumerate(self.states)}
        return self._index

    @property
    def adjacency(self) -> list[list[tuple[int, int]]]:
        """id -> [(variant, successor id)] in edge order (built once, on first use; every
        property of a spec file walks the same lists)."""
        return self.adjacency_until(NO_DEADLINE)

    def adjacency_until(self, deadline: Deadline) -> list[list[tuple[int, int]]]:
        """The adjacency lists, built polling the command's deadline: they take several
        times the memory of the edge arrays (a tuple an edge), so --max-memory must be
        able to stop them half way (LimitReached; nothing is kept)."""
        if self._adjacency is None:
            adj: list[list[tuple[int, int]]] = [[] for _ in range(self.n_states)]
            for k, (src, dst, v) in enumerate(zip(self.edge_src, self.edge_dst,
                                                  self.edge_variant)):
                if not k & 0xFFFF:
                    deadline.check()
                adj[src].append((v, dst))
            self._adjacency = adj
        return self._adjacency

    @property
    def depth(self) -> array:
        """id -> BFS level (built on first use from the parents: a parent's id is smaller)."""
        if self._depth is None:
            depth = array("i", bytes(4 * len(self.states)))
            parent = self.parent
            for i in range(len(self.states)):
                p = parent[i]
                if p != -1:
                    depth[i] = depth[p] + 1
            self._depth = depth
        return self._depth

    def on_a_cycle(self) -> int | None:
        """The id of a state that lies on a cycle of the recorded edges, or None when the graph
        is acyclic (Kahn: peel off states with no incoming edge; what remains holds a cycle).
        A data phase of any length (write, acknowledge, write, ...) makes one."""
        incoming = array("i", bytes(4 * self.n_states))
        for dst in self.edge_dst:
            incoming[dst] += 1
        todo = [sid for sid in range(self.n_states) if not incoming[sid]]
        adj = self.adjacency
        while todo:
            sid = todo.pop()
            for _v, dst in adj[sid]:
                incoming[dst] -= 1
                if not incoming[dst]:
                    todo.append(dst)
        return next((sid for sid in range(self.n_states) if incoming[sid]), None)

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def n_edges(self) -> int:
        return len(self.edge_src)

    @property
    def max_depth(self) -> int:
        # ids are handed out level by level, so the last state is one of the deepest
        return len(self.path_to(len(self.states) - 1)) - 1 if self.states else 0

    def region_of(self) -> list[int]:
        """For every state, the index of the initial state (parameter combination) it came
        from: parameters never change, and a parent's id is smaller than its child's."""
        by_initial = {sid: k for k, sid in enumerate(self.initial)}
        region = [0] * len(self.states)
        parent = self.parent
        for sid in range(len(self.states)):
            p = parent[sid]
            region[sid] = by_initial[sid] if p == -1 else region[p]
        return region

    def path_to(self, sid: int) -> list[tuple[int, int]]:
        """The shortest run to a state: [(variant or -1, state id), ...] starting at an initial state."""
        steps = []
        while sid != -1:
            steps.append((self.parent_variant[sid], sid))
            sid = self.parent[sid]
        steps.reverse()
        return steps

    def stats(self) -> dict:
        return _stats(self, len(self.initial), len(self.deadlocks))


def _stats(ex, initial_states: int, terminal_states: int) -> dict:
    """The figures `tcpcheck explore` prints, of an Exploration or a Summary."""
    return {
        "states": ex.n_states,
        "edges": ex.edge_count,
        "depth": ex.max_depth,
        "seconds": round(ex.seconds, 3),
        "initial_states": initial_states,
        "terminal_states": terminal_states,
        "complete": ex.complete,
        "stop_reason": ex.stop_reason,
    }


ProgressFn = Callable[[int, int, int], None]


def explore(ts: TransitionSystem, *, max_states: int | None = None,
            time_limit: float | None = None, record_edges: bool = True,
            progress: ProgressFn | None = None, progress_every: float = 0.2,
            initial: tuple[int, ...] | None = None,
            deadline: Deadline | None = None, core: str = "python") -> Exploration:
    """Explore breadth-first from every initial state.

    Keeps at most `max_states` states (one more would be dropped, with the edges to it) and
    stops when `time_limit` seconds have passed; either way it returns what was found, with
    complete=False and stop_reason "max-states" or "time-limit" when something was cut off.
    A value out of range in some reachable state stops the search with stop_reason
    "model-error" and the failing step recorded. Without `record_edges` the edges are only
    counted (`edge_count`), and the state set is a plain set (less memory per state).
    `initial` starts from these states instead of the system's (explore_each). `deadline`
    is the command's (then `time_limit` is ignored): a signal stops the search too, with
    stop_reason "interrupted".
    """
    if deadline is None:
        deadline = Deadline(time_limit)
    initial_states = ts.initial if initial is None else initial
    if csink.resolve(core) == "c":
        try:
            return _explore_compiled(ts, max_states, record_edges, progress, initial_states,
                                     deadline)
        except csink.CoreUnavailable as err:
            if core == "c":
                raise
            csink.resolve_failed(str(err))
    search = search_function(ts, record_edges)
    states: list[int] = []
    seen: dict[int, int] | set[int] = {} if record_edges else set()
    parent = array("i")
    wide = len(ts.variants) >= 1 << 15
    parent_variant = array("i" if wide else "h")
    esrc, edst, evar = array("i"), array("i"), array("i" if wide else "h")
    deadlocks: list[int] = []

    for s in initial_states:
        if s not in seen:
            if record_edges:
                seen[s] = len(states)
            else:
                seen.add(s)
            states.append(s)
            parent.append(-1)
            parent_variant.append(-1)
    first = {s: i for i, s in enumerate(states)}
    initial_ids = [first[s] for s in initial_states]

    start = time.perf_counter()
    next_report = start + progress_every

    bounded = deadline.bounds_memory

    def tick(done: int, found: int, edges: int) -> bool:
        """Every 1024 expansions: report progress; True stops the search (the deadline)."""
        nonlocal next_report
        if deadline.expired(_next_growth(seen, states, parent, esrc) if bounded else 0):
            return True
        now = time.perf_counter()
        if progress is not None and now >= next_report:
            progress(done, found, edges)
            next_report = now + progress_every
        return False

    was_enabled = gc.isenabled()
    gc.disable()  # the state set holds only ints: nothing for the cyclic GC to find
    try:
        head, n_edges, stop_reason, error = search(
            states, seen, parent, parent_variant, esrc, edst, evar, deadlocks, 0,
            max_states if max_states is not None else 1 << 62, tick)
        error_state = None
        stop_reason = None if stop_reason is None else StopReason(stop_reason)
        if stop_reason is StopReason.TIME_LIMIT:
            stop_reason = deadline.reason or stop_reason  # the deadline says which: time or signal
        if stop_reason is StopReason.MODEL_ERROR:
            error_state = head
            _forget_expansion(head, states, seen, parent, parent_variant, esrc, edst, evar)
            if record_edges:
                n_edges = len(esrc)
    finally:
        if was_enabled:
            gc.enable()
    seconds = time.perf_counter() - start
    if progress is not None:
        progress(head, len(states), n_edges)
    return Exploration(ts, states, parent, parent_variant, esrc, edst, evar, initial_ids, head,
                       seconds, stop_reason is None, stop_reason, error, error_state, deadlocks,
                       edge_count=n_edges,
                       _index=seen if record_edges else None)


def _explore_compiled(ts, max_states, record_edges, progress, initial_states, deadline):
    """explore() on the compiled core (tcpcheck.csink): the same numbering, edges, limits."""
    start = time.perf_counter()

    def tick(done: int, found: int, edges: int):
        growth = csink.memory_estimate(found, edges if record_edges else 0)
        if deadline.expired(growth if deadline.bounds_memory else 0):
            return deadline.reason or StopReason.TIME_LIMIT
        if progress is not None:
            progress(done, found, edges)
        return None

    r = csink.search(ts, record_edges=record_edges, max_states=max_states, tick=tick,
                     initial=tuple(initial_states))
    wide = len(ts.variants) >= 1 << 15
    states, parent = r.states, r.parent
    parent_variant = array("i" if wide else "h", r.parent_variant)
    esrc, edst, evar = r.edge_src, r.edge_dst, array("i" if wide else "h", r.edge_variant)
    stop_reason = None if r.stop_reason is None else StopReason(r.stop_reason)
    error = None
    n_edges = r.edge_count
    if stop_reason is StopReason.MODEL_ERROR:
        # the C search stops at the failing state; the successor function names the error
        states = list(states)
        try:
            ts.successors(states[r.error_state])
        except ExplorationError as err:
            error = err
        seen = set(states)
        _forget_expansion(r.error_state, states, seen, parent, parent_variant, esrc, edst, evar)
        if record_edges:
            n_edges = len(esrc)
    first = {}
    for i, s in enumerate(states[:len(initial_states)]):
        first.setdefault(s, i)
    initial_ids = [first[s] for s in initial_states]
    if progress is not None:
        progress(r.expanded, len(states), n_edges)
    return Exploration(ts, states, parent, parent_variant, esrc, edst, evar, initial_ids,
                       r.expanded, time.perf_counter() - start, stop_reason is None,
                       stop_reason, error, r.error_state, r.deadlocks, edge_count=n_edges)


def _next_growth(seen, states, parent, esrc) -> int:
    """Bytes the search's containers may take at once, in one step between two looks at the
    memory: the state set (or index) doubles its table when it fills up, keeping the old one
    until the new one is full, and a list or array grows by an eighth, copied (a search of
    10M states doubles a 500 MB table in one step, past any bound polled a moment before)."""
    tables = 2 * sys.getsizeof(seen)
    rows = sys.getsizeof(states) + 3 * sys.getsizeof(parent) + 4 * sys.getsizeof(esrc)
    return tables + rows // 4


def _forget_expansion(head, states, seen, parent, parent_variant, esrc, edst, evar) -> None:
    """Undo what the failed expansion of `head` added: its step failed, so it has no successors."""
    k = len(states)
    while k > 0 and parent[k - 1] == head:
        k -= 1
    for s in states[k:]:
        if isinstance(seen, dict):
            del seen[s]
        else:
            seen.discard(s)
    del states[k:], parent[k:], parent_variant[k:]
    e = len(esrc)
    while e > 0 and esrc[e - 1] == head:
        e -= 1
    del esrc[e:], edst[e:], evar[e:]


@dataclass
class Summary:
    """The figures of an exploration done one parameter combination at a time (explore_each):
    what `tcpcheck explore` prints, without keeping every state of every combination."""

    system: TransitionSystem
    n_states: int = 0
    edge_count: int = 0
    max_depth: int = 0
    seconds: float = 0.0
    expanded: int = 0
    deadlocks: int = 0
    complete: bool = True
    stop_reason: str | None = None
    regions: list[tuple[int, int]] = field(default_factory=list)  # (states, terminal) per combination
    reused: int = 0                    # combinations that took the figures of an equivalent one
    last: Exploration | None = None    # the combination that stopped the search, if one did

    @property
    def error(self):
        return self.last.error if self.last is not None else None

    def stats(self) -> dict:
        return _stats(self, len(self.system.initial), self.deadlocks)

    def add(self, f: Figures) -> None:
        """Count one more combination's figures."""
        self.n_states += f.n_states
        self.edge_count += f.edge_count
        self.expanded += f.expanded
        self.deadlocks += f.deadlocks
        self.max_depth = max(self.max_depth, f.max_depth)
        self.regions.append((f.n_states, f.deadlocks))


@dataclass(frozen=True, slots=True)
class Figures:
    """One parameter combination's share of a Summary: what explore_each adds up (and what a
    worker process of a sweep sends back, tcpcheck.sweep)."""
    n_states: int
    edge_count: int
    expanded: int
    deadlocks: int
    max_depth: int
    complete: bool
    stop_reason: str | None

    @classmethod
    def of(cls, ex: Exploration) -> Figures:
        return cls(ex.n_states, ex.edge_count, ex.expanded, len(ex.deadlocks), ex.max_depth,
                   ex.complete, ex.stop_reason)


# the search of combination k below a bound of `left` states (None: no bound), reporting its
# own progress through the function given: its figures, and its Exploration when it has one
# (a search that stops shows its run from it); None when the command stopped before it began
CombinationSearch = Callable[[int, "int | None", "ProgressFn | None"],
                             "tuple[Figures, Exploration | None] | None"]


def search_combination(ts: TransitionSystem, deadline: Deadline, core: str = "python"
                       ) -> CombinationSearch:
    """The search of one combination in this process, as explore_each makes it."""
    def search(k: int, left: int | None, report: ProgressFn | None):
        ex = explore(ts, initial=(ts.initial[k],), record_edges=False, deadline=deadline,
                     progress=report, core=core, max_states=left)
        return Figures.of(ex), (None if ex.complete else as_combination(ex, k))
    return search


def as_combination(ex: Exploration, k: int) -> Exploration:
    """An exploration from combination k's initial state alone, numbered as one of the
    whole system's: its run starts at combination k (with k's parameters), not at the first."""
    initial = [-1] * len(ex.system.initial)
    initial[k] = ex.initial[0]
    return replace(ex, initial=initial)


def explore_each(ts: TransitionSystem, *, max_states: int | None = None,
                 time_limit: float | None = None, progress: ProgressFn | None = None,
                 deadline: Deadline | None = None, core: str = "python",
                 search: CombinationSearch | None = None) -> Summary:
    """Explore each parameter combination on its own, keeping only the figures.

    Parameters never change, so the combinations' state spaces are disjoint and the figures
    add up to those of one search from every initial state (depth: the deepest). One
    combination's states at a time need far less memory, and a small set stays in the
    processor's caches: the whole default model with every parameter open runs this way.
    The limits apply to the total; a combination cut off by one ends the search.

    Combinations that differ only in parameters the model no longer reads once the others are
    set (TransitionSystem.behaviour_key: delayed_ack=false makes client_quickack irrelevant)
    explore graphs that differ only in those parameters' bits: the first one is explored and
    the others get its figures (`reused` counts them).

    `search` makes the search of one combination (default: here, search_combination); a
    sweep over processes passes one that takes the figures its workers found. These rules --
    reuse, limits, where the figures stop -- are the same whoever searches.
    """
    if deadline is None:
        deadline = Deadline(time_limit)
    if search is None:
        search = search_combination(ts, deadline, core)
    out = Summary(ts)
    start = time.perf_counter()
    seen_behaviour: dict[tuple, Figures] = {}
    for k in range(len(ts.initial)):
        key = ts.behaviour_key(k)
        same = seen_behaviour.get(key)
        if same is not None and (max_states is None or out.n_states + same.n_states <= max_states):
            out.add(same)
            out.reused += 1
            continue
        if deadline.expired():
            out.complete, out.stop_reason = False, deadline.reason
            break
        if max_states is not None and out.n_states >= max_states:
            out.complete, out.stop_reason = False, StopReason.MAX_STATES
            break
        found = search(k, None if max_states is None else max_states - out.n_states,
                       _offset(progress, out))
        if found is None:   # a limit or a signal came first: nothing of this combination
            out.complete, out.stop_reason = False, deadline.reason
            break
        figures, ex = found
        out.add(figures)
        if not figures.complete:
            out.complete, out.stop_reason, out.last = False, figures.stop_reason, ex
            break
        seen_behaviour[key] = figures
    out.seconds = time.perf_counter() - start
    return out


def _offset(progress: ProgressFn | None, out: Summary) -> ProgressFn | None:
    """Progress of one combination's search, reported as the sweep's totals."""
    if progress is None:
        return None
    done, found, edges = out.expanded, out.n_states, out.edge_count
    return lambda d, f, e: progress(done + d, found + f, edges + e)
