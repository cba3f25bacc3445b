"""The symbolic engine's verdict on every property kind (`tcpcheck check --engine symbolic`).

Invariants: proved by k-induction or Spacer, violated by a replayed run, or held up to the
depth (tcpcheck.kinduction). Run properties (`reachable`, `runs`): decided on the complete
runs bounded model checking enumerates (tcpcheck.bmc_runs). `terminates` and `timing`:
inconclusive, saying why (bmc_runs.other_kind)."""
from __future__ import annotations

from . import spec as S
from .bmc import SymbolicResult
from .bmc_runs import check_runs
from .kinduction import check_inductive
from .transitions import TransitionSystem


def check_symbolic_properties(ts: TransitionSystem, props: list[S.Property], depth: int,
                              deadline=None, spacer: bool = True,
                              strengthening=None) -> list[SymbolicResult]:
    """Every property, in order, by the symbolic engine; `strengthening` (kinduction's):
    the facts k-induction assumes, instead of those from a bounded exploration."""
    invariants = [p for p in props if p.kind == "invariant"]
    out = {r.name: r for r in check_inductive(ts, invariants, depth, deadline, spacer=spacer,
                                              strengthening=strengthening)} \
        if invariants else {}
    others = [p for p in props if p.kind != "invariant"]
    out.update({r.name: r for r in check_runs(ts, others, depth, deadline)})
    return [out[p.name] for p in props]
