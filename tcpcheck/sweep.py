"""Every core: a sweep of independent parameter combinations spread over worker processes.

The combinations of a model's parameters have disjoint state spaces (parameters never
change), so each one is a search of its own (tcpcheck.explore.explore_each). Here the
combinations that explore_each would search are handed to `jobs` worker processes, and their
figures are merged in combination order by the very rules explore_each applies, so that the
Summary -- and every byte printed from it -- is the one a single core gives. Where a worker's
figures cannot stand in for the one-core search (the state bound cuts the combination, or the
model fails in it), the parent searches that combination again itself, as one core would.

Workers are forked (tcpcheck.workers): the transition system holds generated functions that
cannot be pickled, and a fork hands them over for free.
"""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace

from . import csink
from .explore import (Deadline, Figures, ProgressFn, StopReason, Summary, explore,
                      explore_each, search_combination)
from .transitions import TransitionSystem
from .workers import WorkerLost, default_jobs, forked, result

__all__ = ["WorkerLost", "default_jobs", "explore_sweep", "representatives"]


def _explore_combination(ts: TransitionSystem, limits: tuple[float | None, float | None],
                         k: int, max_states: int | None, core: str) -> Figures:
    """In a worker: one combination's figures, under the worker's share of the limits."""
    ex = explore(ts, initial=(ts.initial[k],), record_edges=False, max_states=max_states,
                 deadline=Deadline(*limits), core=core)
    return Figures.of(ex)


def representatives(ts: TransitionSystem) -> list[int]:
    """The combinations explore_each searches: the first of each behaviour (the others take
    its figures), in combination order."""
    first: dict[tuple, int] = {}
    for k in range(len(ts.initial)):
        first.setdefault(ts.behaviour_key(k), k)
    return sorted(first.values())


def explore_sweep(ts: TransitionSystem, *, jobs: int, max_states: int | None = None,
                  progress: ProgressFn | None = None,
                  deadline: Deadline | None = None, core: str = "python") -> Summary:
    """explore_each over `jobs` processes: the same Summary (figures, regions, reuse, the
    combination that stopped the search), byte for byte, whatever `jobs` is."""
    # decided here, before the workers fork, so that a fallback to Python is said once
    core = csink.resolve(core)
    reps = representatives(ts)
    if jobs <= 1 or len(reps) <= 1:
        return explore_each(ts, max_states=max_states, progress=progress, deadline=deadline,
                            core=core)
    if deadline is None:
        deadline = Deadline()
    seconds = deadline.left()
    # each worker gets an equal share of the memory bound; the parent holds only figures
    memory = None if deadline.max_memory_mb is None else deadline.max_memory_mb / jobs
    limits = (seconds, memory)
    with forked(min(jobs, len(reps)),
                lambda *args: _explore_combination(ts, limits, *args)) as submit:
        futures = {k: submit(k, max_states, core) for k in reps}
        return _merge(ts, futures, max_states, progress, deadline, core)


def _merge(ts: TransitionSystem, futures: dict[int, Future], max_states: int | None,
           progress: ProgressFn | None, deadline: Deadline, core: str = "python") -> Summary:
    """explore_each, taking each searched combination's figures from its worker."""
    here = search_combination(ts, deadline, core)

    def search(k: int, left: int | None, report: ProgressFn | None):
        f = result(futures[k], deadline) if k in futures else None
        if f is None and deadline.expired():
            return None
        if f is not None and f.complete and (left is None or f.n_states < left):
            # a complete search below the bound is the one the bounded search would make
            if report is not None:
                report(f.expanded, f.n_states, f.edge_count)
            return f, None
        if f is not None and not f.complete and f.stop_reason in _WORKER_LIMIT_REASONS:
            # the worker's own share of the time or memory bound ran out
            return replace(f, stop_reason=deadline.reason or f.stop_reason), None
        # the bound cuts it, or the model fails in it: search it here, exactly as one core
        # does, so that the cut figures and the failing run are one core's
        return here(k, left, report)

    return explore_each(ts, max_states=max_states, progress=progress, deadline=deadline,
                        search=search)


_WORKER_LIMIT_REASONS = (StopReason.TIME_LIMIT, StopReason.MAX_MEMORY, StopReason.INTERRUPTED)
