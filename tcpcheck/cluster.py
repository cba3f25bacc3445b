"""A Ray cluster (`--cluster`): the sweep of parameter combinations on Ray actors, and one big
combination explored by a breadth-first search partitioned over actors by a stable hash of
the state.

Only this module imports Ray, and only tcpcheck.cli imports this one, when --cluster is given:
without the `cluster` extra nothing else needs Ray. An actor cannot be handed the transition
system (it holds generated functions), so each one loads the model from its text, the
parameters and the reduction the driver used: the same compile gives the same states on
every node.

The partitioned search goes level by level: every actor expands its share of the frontier,
sends each successor to the actor that owns it (its partition: a hash of the state's bits,
never Python's hash()), and the owners keep the new ones as the next frontier. A state is
found at the level of its shortest run, as in the one-process search, so shortest
counterexamples stay shortest. States travel as fixed-width byte strings, not pickled ints.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import ray
from ray.exceptions import RayError

from . import load
from .explore import Deadline, Figures, ProgressFn, StopReason, Summary, explore
from .sweep import WorkerLost, _merge, representatives
from .transitions import ExplorationError, TransitionSystem

LOCAL = "local"   # --cluster local: start a Ray on this machine for the command
_MIX = 0x9E3779B97F4A7C15   # Fibonacci hashing: spreads packed states evenly over partitions
_MASK = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class ModelSource:
    """What an actor needs to compile the driver's transition system itself."""
    path: str
    text: str
    params: tuple[str, ...]
    reduce: bool

    def load(self) -> TransitionSystem:
        return load(self.path, list(self.params), reduce=self.reduce, text=self.text)


def connect(address: str, workers: int) -> None:
    """Join the cluster at `address` ("auto", "ray://host:port", "host:port"), or start a
    local one with `workers` CPUs for --cluster local."""
    if ray.is_initialized():
        return
    if address == LOCAL:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)


def partition_of(state: int, parts: int) -> int:
    """The partition that owns a state: the same on every node and in every run."""
    folded = (state ^ (state >> 64) ^ (state >> 128)) & _MASK
    return ((folded * _MIX) & _MASK) * parts >> 64


# ---------------------------------------------------------------- the sweep

@ray.remote(num_cpus=1)
class _SweepActor:
    def __init__(self, source: ModelSource, seconds: float | None, memory_mb: float | None):
        self.ts = source.load()
        self.limits = (seconds, memory_mb)

    def explore(self, k: int, max_states: int | None) -> Figures:
        ex = explore(self.ts, initial=(self.ts.initial[k],), record_edges=False,
                     max_states=max_states, deadline=Deadline(*self.limits))
        return Figures.of(ex)


def explore_sweep_ray(ts: TransitionSystem, source: ModelSource, *, workers: int,
                      max_states: int | None = None, progress: ProgressFn | None = None,
                      deadline: Deadline | None = None) -> Summary:
    """tcpcheck.sweep.explore_sweep with Ray actors as the workers: the same Summary."""
    deadline = deadline or Deadline()
    memory = None if deadline.max_memory_mb is None else deadline.max_memory_mb / workers
    actors = [_SweepActor.remote(source, deadline.left(), memory) for _ in range(workers)]
    try:
        futures = {k: actors[n % workers].explore.remote(k, max_states).future()
                   for n, k in enumerate(representatives(ts))}
        return _merge(ts, futures, max_states, progress, deadline)
    except RayError as err:
        raise WorkerLost(str(err)) from err
    finally:
        for a in actors:
            ray.kill(a)


# ---------------------------------------------------------------- one combination, partitioned

@dataclass(frozen=True, slots=True)
class PartitionedResult:
    """The figures of a partitioned search, and what it cost in traffic."""
    n_states: int
    edge_count: int
    terminal_states: int
    levels: tuple[int, ...]          # states first found at each depth (the BFS layers)
    complete: bool
    stop_reason: StopReason | None
    error: str | None                # the model error's message, if the model failed
    bytes_sent: int                  # state bytes sent from one actor to another
    workers: int
    seconds: float

    @property
    def max_depth(self) -> int:
        return len(self.levels) - 1

    @property
    def bytes_per_state(self) -> float:
        return self.bytes_sent / max(1, self.n_states)


@ray.remote(num_cpus=1)
class _Partition:
    def __init__(self, source: ModelSource, index: int, parts: int):
        self.ts = source.load()
        self.index, self.parts = index, parts
        self.width = (self.ts.state_bits + 7) // 8
        self.seen: set[int] = set()
        self.frontier: list[int] = []

    def accept(self, *batches: bytes) -> int:
        """Keep the states of these batches not seen before as the next frontier."""
        w, seen = self.width, self.seen
        new = []
        for batch in batches:
            for i in range(0, len(batch), w):
                s = int.from_bytes(batch[i:i + w], "little")
                if s not in seen:
                    seen.add(s)
                    new.append(s)
        new.sort()   # the same frontier order whatever order the batches came in
        self.frontier = new
        return len(new)

    def expand(self) -> tuple:
        """Expand the frontier: (edges, terminal states, error or None, bytes sent to other
        partitions) followed by one batch of successors per partition."""
        out = [bytearray() for _ in range(self.parts)]
        edges = terminal = 0
        w, parts, succ = self.width, self.parts, self.ts.successors
        try:
            for s in self.frontier:
                nexts = succ(s)
                if not nexts:
                    terminal += 1
                edges += len(nexts)
                for _vid, t in nexts:
                    out[partition_of(t, parts)] += t.to_bytes(w, "little")
        except ExplorationError as err:
            return (edges, terminal, err.message, 0, *[b""] * parts)
        sent = sum(len(b) for j, b in enumerate(out) if j != self.index)
        return (edges, terminal, None, sent, *map(bytes, out))


def explore_partitioned(source: ModelSource, *, workers: int, max_states: int | None = None,
                        deadline: Deadline | None = None) -> PartitionedResult:
    """Breadth-first search of `source`'s model (every initial state) over `workers` Ray
    actors, each owning the states of one partition; level by level, so each state is found
    at the depth of its shortest run. Limits are looked at between levels."""
    deadline = deadline or Deadline()
    start = time.perf_counter()
    ts = source.load()
    width = (ts.state_bits + 7) // 8
    actors = [_Partition.remote(source, j, workers) for j in range(workers)]
    try:
        seeds = [bytearray() for _ in range(workers)]
        for s in dict.fromkeys(ts.initial):
            seeds[partition_of(s, workers)] += s.to_bytes(width, "little")
        new = ray.get([a.accept.remote(bytes(b)) for a, b in zip(actors, seeds)])
        levels, n_states, edges, terminal, sent = [sum(new)], sum(new), 0, 0, 0
        stop, error = None, None
        while True:
            outs = [a.expand.options(num_returns=4 + workers).remote() for a in actors]
            flat = ray.get([r for o in outs for r in o[:4]])
            for e, t, err, b in (flat[i:i + 4] for i in range(0, len(flat), 4)):
                edges, terminal, sent = edges + e, terminal + t, sent + b
                error = error or err
            if error is not None:
                stop = StopReason.MODEL_ERROR
                break
            new = ray.get([a.accept.remote(*[o[4 + j] for o in outs])
                           for j, a in enumerate(actors)])
            if sum(new) == 0:
                break
            levels.append(sum(new))
            n_states += sum(new)
            if max_states is not None and n_states >= max_states:
                stop = StopReason.MAX_STATES
                break
            if deadline.expired():
                stop = deadline.reason
                break
    except RayError as err:
        raise WorkerLost(str(err)) from err
    finally:
        for a in actors:
            ray.kill(a)
    return PartitionedResult(n_states, edges, terminal, tuple(levels), stop is None, stop,
                             error, sent, workers, time.perf_counter() - start)


def level_sizes(depths) -> tuple[int, ...]:
    """The BFS layers of a one-process exploration (Exploration.depth()), to compare."""
    count = Counter(depths)
    return tuple(count[d] for d in range(max(count) + 1)) if count else ()
