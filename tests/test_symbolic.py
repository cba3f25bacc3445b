"""The symbolic engine (tcpcheck.symbolic, tcpcheck.bmc): a third sink of the emitted steps.

It must take exactly the steps the successor function takes, and a run it reports that the
successor function does not take must fail loudly, never become a verdict."""
from __future__ import annotations

import random

import pytest
import z3

from tcpcheck import DEFAULT_MODEL, load
from tcpcheck.bmc import RunDoesNotReplay, replay
from tcpcheck.explore import explore
from tcpcheck.symbolic import symbolic_steps, width_of


@pytest.fixture(scope="module")
def default():
    ts = load(DEFAULT_MODEL)
    return ts, explore(ts)


def _successors_by_z3(ts, steps, s, state):
    sub = (s, z3.BitVecVal(state, s.size()))
    out = []
    for step in steps:
        for p in step.paths:
            if z3.is_true(z3.simplify(z3.substitute(p.condition, sub))):
                out.append((p.variant, z3.simplify(z3.substitute(p.successor, sub)).as_long()))
    return sorted(out)


def test_the_symbolic_steps_are_the_successor_function_on_reachable_states(default):
    ts, ex = default
    s = z3.BitVec("s", width_of(ts))
    steps = symbolic_steps(ts, s)
    sample = random.Random(16).sample(list(ex.states), 40)
    for state in sample:
        assert _successors_by_z3(ts, steps, s, state) == sorted(ts.successors(state)), state


def test_a_run_the_successor_function_does_not_take_fails_loudly(default):
    ts, _ex = default
    start = ts.initial[0]
    variant, after = ts.successors(start)[0]
    assert replay(ts, [(-1, start), (variant, after)])           # a real step replays
    with pytest.raises(RunDoesNotReplay, match="step 1"):
        replay(ts, [(-1, start), (variant, after ^ 1)])          # a successor made up
    with pytest.raises(RunDoesNotReplay, match="step 1"):
        replay(ts, [(-1, start), (variant + 1000, after)])       # a variant made up
    with pytest.raises(RunDoesNotReplay, match="initial"):
        replay(ts, [(-1, after)])
