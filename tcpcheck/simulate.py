"""Random runs of the model: one seeded walk from an initial state, for a feel of what the model
does before asking it anything.

From the initial state of one parameter combination (drawn with the seed, or the only one
when every parameter is fixed), each step takes one of the state's successors at random, in
the order `TransitionSystem.successors` lists them shuffled by the seed, and keeps it only if
the run is still possible in time (z3's incremental solver, the same constraints as every
timed verdict): a walk never shows a run the timers rule out. It stops where the model has no
successor (the end of a complete run), after `max_steps`, or, rarely, where every successor is
ruled out by time; or where the command's deadline passes (a time limit, a signal). The same
model, parameters and seed give the same run.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from .transitions import ExplorationError, TransitionSystem
from .explore import NO_DEADLINE, Deadline, Exploration
from .timing import IncrementalRun, RunTiming, check_run
from .trace import path_view


class WalkEnd(StrEnum):
    """Why a random walk ended (JSON shows the value)."""

    COMPLETE = "complete"         # no step is possible: the end of a complete run
    MAX_STEPS = "max-steps"       # the walk took as many steps as it was allowed
    TIMING = "timing"             # every possible step is ruled out by the timers
    MODEL_ERROR = "model-error"   # the next step fails (TCP5xx)
    STOPPED = "stopped"           # the command's deadline passed (a time or memory limit, a signal)

    @property
    def words(self) -> str:
        return {WalkEnd.COMPLETE: "the run is complete",
                WalkEnd.TIMING: "every next step is ruled out by the timers",
                WalkEnd.MODEL_ERROR: "the model failed at the next step",
                WalkEnd.STOPPED: "stopped by a time or memory limit, or a signal"}.get(self, "")


@dataclass
class Simulation:
    seed: int
    region: int                        # the parameter combination walked
    view: Exploration                  # the run's states (trace.run_steps reads it)
    run: list[tuple[int, int]]
    timing: RunTiming                  # z3's times for every step
    ended: WalkEnd
    error: ExplorationError | None = None   # the step that left a variable's range

    @property
    def params(self) -> dict:
        return dict(self.view.system.initial_params[self.region])


def simulate(ts: TransitionSystem, seed: int, max_steps: int = 200,
             deadline: Deadline = NO_DEADLINE) -> Simulation:
    """One random, timing-feasible run of `ts` (see the module docstring)."""
    rng = random.Random(seed)
    region = rng.randrange(len(ts.initial))
    state = ts.initial[region]
    pairs: list[tuple[int, int]] = [(-1, state)]
    inc = IncrementalRun(ts)
    ended, error = WalkEnd.MAX_STEPS, None
    for _ in range(max_steps + 1):
        if deadline.expired():
            ended = WalkEnd.STOPPED
            break
        try:
            options = list(ts.successors(state))
        except ExplorationError as err:     # the model's own mistake, shown with its run
            ended, error = WalkEnd.MODEL_ERROR, err
            break
        if not options:
            ended = WalkEnd.COMPLETE
            break
        if len(pairs) > max_steps:
            break
        rng.shuffle(options)
        for vid, nxt in options:
            if inc.push(ts.variants[vid]):
                pairs.append((vid, nxt))
                state = nxt
                break
            inc.pop()
        else:
            ended = WalkEnd.TIMING
            break
    variants = [ts.variants[vid] for vid, _ in pairs[1:]]
    view, run = path_view(ts, pairs, region)
    return Simulation(seed, region, view, run, check_run(ts, variants), ended, error)
