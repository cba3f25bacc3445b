"""Unbounded proofs (tcpcheck.kinduction) and bounded run properties (tcpcheck.bmc_runs).

A proof must be sound: an invariant true in every reachable state but not inductive never
comes out violated, a false one always comes with a run that replays."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tcpcheck import DEFAULT_MODEL, load
from tcpcheck import spec as S
from tcpcheck.bmc import ProvedBy, agrees, replay
from tcpcheck.bmc_runs import check_runs
from tcpcheck.explore import explore
from tcpcheck.kinduction import (Strengthening, _predicate, candidate_facts,
                                 check_inductive, houdini, spacer_proves)
from tcpcheck.symbolic import width_of
from tcpcheck.verdicts import Verdict
from tcpcheck.verify import check_model

ROOT = Path(__file__).resolve().parent.parent
TEARDOWN = ROOT / "specs" / "teardown.spec"
NONE = Strengthening((), 0, 0)
slow = pytest.mark.skipif(os.environ.get("TCPCHECK_SLOW") != "1",
                          reason="Spacer takes half a minute on the default model without "
                                 "facts: set TCPCHECK_SLOW=1")


def _props(text: str, ts):
    sf = S.parse_spec_text('model "../models/teardown.tcpm"\n' + text, str(ROOT / "specs" / "x.spec"))
    return sf, S.resolve(sf, ts)


def _time_wait_invariant(ts):
    sf = S.parse_spec_file(TEARDOWN)
    return [p for p in S.resolve(sf, ts) if p.kind == "invariant"]


def test_a_true_invariant_that_is_not_inductive_is_never_violated():
    """TIME_WAIT never faces CLOSE_WAIT: true in the 428 reachable states, but a made-up
    state (a FIN in flight to a client already in TIME_WAIT...) breaks it in one step, so
    without a strengthening k-induction cannot prove it: "holds up to depth", never violated."""
    ts = load(DEFAULT_MODEL)
    (r,) = check_inductive(ts, _time_wait_invariant(ts), 2, strengthening=NONE, spacer=False)
    assert r.verdict is Verdict.BOUNDED, r.message
    assert r.depth == 2 and "not inductive up to k=2" in r.message


def test_spacer_never_proves_a_false_invariant():
    """Spacer finds the run that breaks "the client never leaves ESTABLISHED" and answers
    nothing: no invariant, no proof."""
    ts = load(DEFAULT_MODEL)
    _sf, (p,) = _props("invariant client_never_closes: client.state == ESTABLISHED\n", ts)
    s, pred = _predicate(ts, p, width_of(ts))
    assert spacer_proves(ts, s, pred, seconds=60) is None


@slow
def test_spacer_proves_what_k_induction_without_facts_cannot():
    """The TIME_WAIT invariant with no facts at all: not k-inductive up to k=2 (the test
    above), proved by Spacer, whose invariant is checked again (25 to 40 CPU s)."""
    ts = load(DEFAULT_MODEL)
    (r,) = check_inductive(ts, _time_wait_invariant(ts), 2, strengthening=NONE, spacer=True)
    assert r.verdict is Verdict.HOLDS and r.proved_by is ProvedBy.SPACER, r.message
    assert "not inductive by k-induction up to k=2)" in r.message


CLOSE_AT_5 = ["D=5", "L=5", "P=5", "delayed_ack=true", "passive_has_data=false",
              "early_data=true", "shared_socket=true", "lossy_network=true"]


@slow
def test_spacer_proves_the_held_ack_invariant_with_losses_and_sharing_past_the_explorer():
    """bench/engines.py's close configuration at n = 5 (five losses a channel, a socket
    shared by five processes, early data): the explorer stops at the 12 GB bound there
    (40.8 M states), Houdini over the facts mined at n = 2 takes hours, and Spacer alone,
    with no facts, proves that no held-back ACK runs on into TIME_WAIT (23 CPU s)."""
    ts = load(ROOT / "models" / "parametric.tcpm", CLOSE_AT_5)
    sf = S.parse_spec_file(ROOT / "specs" / "data_phase.spec")
    props = [p for p in S.resolve(sf, ts) if p.name == "a_held_ack_leaves_before_time_wait"]
    (r,) = check_inductive(ts, props, 0, strengthening=NONE, spacer=True)
    assert r.verdict is Verdict.HOLDS and r.proved_by is ProvedBy.SPACER, r.message


def test_the_explorers_facts_make_it_inductive_once_houdini_proves_them():
    ts = load(DEFAULT_MODEL)
    (r,) = check_inductive(ts, _time_wait_invariant(ts), 2, spacer=False)
    assert r.verdict is Verdict.HOLDS and r.proved_by is ProvedBy.K_INDUCTION, r.message
    assert r.message.startswith("proved by k-induction at k=")


def test_houdini_drops_a_fact_a_step_breaks():
    """Facts from the initial states only (nothing has moved yet) are false past them:
    Houdini keeps only what every step preserves, and what it keeps is inductive."""
    ts = load(DEFAULT_MODEL)
    facts = candidate_facts(ts, list(ts.initial))
    kept = houdini(ts, facts)
    assert kept is not None and 0 < len(kept) < len(facts)
    state_slot = next(i for i, s in enumerate(ts.slots) if s.name == "client.state")
    assert all(f.slots != (state_slot,) for f in kept)      # client.state does change
    # what is left holds in every state the explorer reaches
    reach = explore(ts).states
    for f in kept:
        rows = {tuple((s >> ts.slots[i].offset) & ts.slots[i].mask for i in f.slots)
                for s in reach}
        assert rows <= f.values, f.slots


def test_a_false_invariant_gives_the_explorers_shortest_run_replayed():
    ts = load(DEFAULT_MODEL)
    sf, props = _props('invariant never_fin_wait_1 "no side reaches FIN_WAIT_1":\n'
                       '    not (client.state == FIN_WAIT_1 or server.state == FIN_WAIT_1)\n', ts)
    (r,) = check_inductive(ts, props, 4, strengthening=NONE, spacer=False)
    assert r.verdict is Verdict.VIOLATED and replay(ts, r.run) == r.run
    explicit = check_model(DEFAULT_MODEL, [(ROOT / "specs" / "x.spec", sf)], [], None, None)
    assert agrees(explicit.verdicts[0], r) is True


def test_a_witness_found_by_bmc_is_a_run_of_the_model():
    """The shortest complete runs of the default model take 5 steps: BMC finds one as the
    witness of `reachable` and as the counterexample of the `runs` property that denies it;
    a `runs` property no run of up to 5 steps breaks holds up to depth 5, and no further."""
    ts = load(DEFAULT_MODEL)
    sf, props = _props('reachable some_send "a segment is sent":\n'
                       '    eventually sends(any, any)\n'
                       'runs silent "no segment is ever sent":\n'
                       '    not eventually sends(any, any)\n'
                       'runs sends_always "every run sends a segment":\n'
                       '    eventually sends(any, any)\n', ts)
    witness, counter, bounded = check_runs(ts, props, 5)
    assert witness.verdict is Verdict.HOLDS and replay(ts, witness.run) == witness.run
    assert counter.verdict is Verdict.VIOLATED and len(counter.run) - 1 == 5
    assert replay(ts, counter.run) == counter.run
    assert bounded.verdict is Verdict.BOUNDED and bounded.depth == 5


def test_agrees_never_takes_opposite_verdicts():
    from tcpcheck.bmc import SymbolicResult
    from tcpcheck.query import PropertyResult
    e = PropertyResult(name="p", kind="invariant", verdict=Verdict.HOLDS, message="")
    for v, want in ((Verdict.HOLDS, True), (Verdict.BOUNDED, True), (Verdict.VIOLATED, False),
                    (Verdict.INCONCLUSIVE, None)):
        assert agrees(e, SymbolicResult("p", "invariant", v, "", depth=3)) is want
