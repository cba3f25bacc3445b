"""Every core: forked worker processes, ended cleanly whatever stops the command.

A command's shared work (a loaded model, an explored graph) is done once in the parent; the
workers are forked after it, so they inherit it for free -- the transition system holds
generated functions that cannot be pickled -- and send back only small, picklable answers
(figures, verdicts, rows), which the parent merges in its own order so that the output is the
one a single process gives. Workers ignore SIGINT (a terminal sends it to the whole process
group; the parent decides) and the parent terminates and reaps them when it stops early.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from .explore import Deadline

POLL_SECONDS = 0.1   # how often the parent looks at its deadline while it waits for a worker

# the work the workers do, set in the parent just before they are forked (never pickled)
_WORK: list[Callable[..., Any]] = []


def default_jobs() -> int:
    """All the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:      # not on Linux
        return max(1, os.cpu_count() or 1)


class WorkerLost(Exception):
    """A worker process died (killed by the system, out of memory): there is no answer for
    the work it held."""


def _start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the parent takes ^C and ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # the parent's handler is not ours


# A worker must never run the parent's signal handler (tcpcheck.cli_io's, which raises in a
# process that already saw ^C: a traceback on the user's terminal). The pool's initializer
# comes too late for a SIGTERM sent while the worker is still starting (the parent ends
# workers it has just forked when ^C comes), so the stop signals are blocked across the
# fork itself and the child sets its own handlers before it unblocks them (a signal pending
# in the parent stays pending there; a child starts with none).
_FORKING_WORKERS = [False]
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _before_fork() -> None:
    if _FORKING_WORKERS[0]:
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


def _after_fork_in_parent() -> None:
    if _FORKING_WORKERS[0]:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _after_fork_in_child() -> None:
    if _FORKING_WORKERS[0]:
        _start_worker()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)


def _call(*args):
    return _WORK[0](*args)


@contextmanager
def forked(jobs: int, work: Callable[..., Any]) -> Iterator[Callable[..., Future]]:
    """`jobs` processes forked now, each able to run `work`; yields submit(*args) -> Future.
    On leaving (done, a limit, a signal, an error) every worker is ended and reaped."""
    _WORK[:] = [work]
    _FORKING_WORKERS[0] = True
    pool = ProcessPoolExecutor(max_workers=jobs,
                               mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker)
    try:
        yield lambda *args: pool.submit(_call, *args)
    finally:
        _stop(pool)
        _WORK.clear()
        _FORKING_WORKERS[0] = False


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


def result(future: Future, deadline: Deadline):
    """The worker's answer, or None when the command must stop first (a limit, a signal)."""
    while True:
        if deadline.expired():
            return None
        done, _ = wait([future], timeout=POLL_SECONDS)
        if done:
            try:
                return future.result()
            except BrokenProcessPool as err:
                raise WorkerLost(str(err)) from err


def in_order(work: Callable[[int], Any], count: int, jobs: int, deadline: Deadline
             ) -> Iterator[Any]:
    """work(0), work(1), ... work(count - 1), in that order, computed by `jobs` forked workers
    (here, one after the other, when jobs is 1 or there is one item). Once the deadline has
    passed, each answer not yet back is None: the caller says what a stopped item is."""
    if jobs <= 1 or count <= 1:
        for k in range(count):
            yield work(k)
        return
    with forked(min(jobs, count), work) as submit:
        futures = [submit(k) for k in range(count)]
        for f in futures:
            yield result(f, deadline)
