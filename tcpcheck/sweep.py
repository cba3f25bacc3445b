"""Every core: a sweep of independent parameter combinations spread over worker processes.

The combinations of a model's parameters have disjoint state spaces (parameters never
change), so each one is a search of its own (tcpcheck.explore.explore_each). Here the
combinations that explore_each would search are handed to `jobs` worker processes, and their
figures are merged in combination order by the very rules explore_each applies, so that the
Summary -- and every byte printed from it -- is the one a single core gives. Where a worker's
figures cannot stand in for the one-core search (the state bound cuts the combination, or the
model fails in it), the parent searches that combination again itself, as one core would.

Workers are forked: the transition system holds generated functions that cannot be pickled,
and a fork hands them over for free. They ignore SIGINT (a terminal sends it to the whole
process group; the parent decides) and the parent terminates them when it stops early.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from . import csink
from .explore import (Deadline, Figures, ProgressFn, StopReason, Summary, explore,
                      explore_each, search_combination)
from .transitions import TransitionSystem

POLL_SECONDS = 0.1   # how often the parent looks at its deadline while it waits for a worker


def default_jobs() -> int:
    """All the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:      # not on Linux
        return max(1, os.cpu_count() or 1)


class WorkerLost(Exception):
    """A worker process died (killed by the system, out of memory): the sweep has no answer
    for its combination."""


# set in the parent just before the workers are forked, read by them (never pickled)
_SYSTEM: list[TransitionSystem] = []
_WORKER_LIMITS: list[tuple[float | None, float | None]] = []


def _start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the parent takes ^C and ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # the parent's handler is not ours


def _explore_combination(k: int, max_states: int | None, core: str) -> Figures:
    ts = _SYSTEM[0]
    seconds, memory_mb = _WORKER_LIMITS[0]
    ex = explore(ts, initial=(ts.initial[k],), record_edges=False, max_states=max_states,
                 deadline=Deadline(seconds, memory_mb), core=core)
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
    _SYSTEM[:] = [ts]
    _WORKER_LIMITS[:] = [(seconds, memory)]
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(reps)),
                               mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker)
    try:
        futures = {k: pool.submit(_explore_combination, k, max_states, core) for k in reps}
        out = _merge(ts, futures, max_states, progress, deadline, core)
    finally:
        _stop(pool)
        _SYSTEM.clear()
    return out


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers now, busy or not, and reap them: no orphan outlives the command."""
    # the executor has no public way to end a busy worker (Python 3.14 adds terminate_workers)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join()
    # its manager thread sees the workers gone and ends; waiting for it leaves nothing behind
    pool.shutdown(wait=True, cancel_futures=True)


def _result(future: Future, deadline: Deadline) -> Figures | None:
    """The worker's figures, or None when the command must stop first (a limit, a signal)."""
    while True:
        if deadline.expired():
            return None
        done, _ = wait([future], timeout=POLL_SECONDS)
        if done:
            try:
                return future.result()
            except BrokenProcessPool as err:
                raise WorkerLost(str(err)) from err


def _merge(ts: TransitionSystem, futures: dict[int, Future], max_states: int | None,
           progress: ProgressFn | None, deadline: Deadline, core: str = "python") -> Summary:
    """explore_each, taking each searched combination's figures from its worker."""
    here = search_combination(ts, deadline, core)

    def search(k: int, left: int | None, report: ProgressFn | None):
        f = _result(futures[k], deadline) if k in futures else None
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
