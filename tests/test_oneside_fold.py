"""One-sided replay folds a repeating phase (tcpcheck/fold.py) to the answer it gives unfolded.

As tests/test_long_replay.py does for two-sided replay: each test replays one capture of
bench/captures.py (handshake, one-byte writes each acknowledged, a four-way close; some with a
FIN in the data phase, a byte of data for an ACK, or a late ACK) with `fold=False` and with the
fold, one side judged and the peer taken as given, and compares all a user sees, the JSON
report included (but `searched`: the folded search keeps fewer pairs, that is its point).
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest

from tcpcheck import oneside as oneside_module
from tcpcheck import replay as replay_module
from tcpcheck import timing as timing_module
from tcpcheck.oneside import replay_side
from tcpcheck.replay_report import replay_json, replay_lines
from tcpcheck.verdicts import Verdict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

MODEL = ROOT / "models" / "teardown.tcpm"
SIDES = ["client", "server"]


# the model opened for long captures, and a capture of bench/captures.py's connection
from test_long_replay import (_capture, assert_shown_folded,  # noqa: E402
                              assert_timeline_agrees_with_z3, ts)  # noqa: E402,F401  (ts: a fixture)


def _seen(r) -> tuple:
    """Everything of a replay a user is shown (z3's clashing constraints as a set: their
    order varies between two z3 calls in one process, folded or not), its JSON report and
    its text report."""
    timing = None if r.timing is None else (
        r.timing.feasible, r.timing.times_ms, sorted(r.timing.conflict or []))
    doc = replay_json(r)
    doc.pop("searched")
    if doc.get("timing"):
        doc["timing"] = dict(doc["timing"], conflict=sorted(doc["timing"]["conflict"] or []))
    text = [line for line in replay_lines(r) if not line.startswith("timing:")]
    return (r.verdict, r.accepted, r.matched, r.failed_at and r.failed_at.number,
            r.ended_early, r.combos, r.required, r.kind, timing, r.timing_limit,
            r.could_be_in, r.instead, r.peer_unfit, r.run_length, r.given,
            None if r.view is None else list(r.view.states), r.run, doc, text)


def _both(ts, cap, side):
    return replay_side(ts, cap, side, fold=False), replay_side(ts, cap, side)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("packets", [10, 41, 301])
def test_accepted_capture_folds_to_the_same_answer(ts, tmp_path, packets, side):
    unfolded, folded = _both(ts, _capture(tmp_path, packets), side)
    assert unfolded.verdict == Verdict.ACCEPTED
    assert _seen(folded) == _seen(unfolded)
    assert unfolded.fold is None
    if packets >= 41:   # long enough to repeat itself: periods were cut out
        assert folded.fold is not None and folded.fold.repeats >= 1
        assert folded.searched < unfolded.searched


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("kw,failed_at", [
    (dict(fin=14), {"client": 32, "server": 30}),     # the client writes after its FIN
    (dict(fin=16), {"client": None, "server": 34}),   # its FIN on the last write
    (dict(odd=10), {"client": None, "server": None}),  # the server sends data for an ACK
    (dict(odd=16), {"client": None, "server": None})],
    ids=["fin-in-the-repeating-phase", "fin-in-the-tail", "data-for-an-ack-early",
         "data-for-an-ack-late"])
def test_odd_capture_folds_to_the_same_answer(ts, tmp_path, kw, failed_at, side):
    unfolded, folded = _both(ts, _capture(tmp_path, 41, **kw), side)
    assert _seen(folded) == _seen(unfolded)
    assert folded.fold is not None
    assert (unfolded.failed_at and unfolded.failed_at.number) == failed_at[side]
    assert unfolded.verdict == (Verdict.ACCEPTED if failed_at[side] is None
                                else Verdict.REJECTED)


@pytest.mark.parametrize("side", SIDES)
def test_late_ack_in_the_data_phase_same_timing_verdict(ts, tmp_path, monkeypatch, side):
    # an ACK 300 ms after its write, the channel allows 50: the timed search of other runs
    # is held to a few z3 checks so that the test stays fast
    monkeypatch.setattr(oneside_module, "MAX_TIMING_CHECKS", 20)
    unfolded, folded = _both(ts, _capture(tmp_path, 31, late=10, late_us=300_000), side)
    assert _seen(folded) == _seen(unfolded)
    assert folded.fold is not None
    if side == "server":            # the late ACK is the server's own
        assert unfolded.timing is not None and not unfolded.timing.feasible
        assert unfolded.verdict == Verdict.INCONCLUSIVE and unfolded.timing_limit


@pytest.mark.parametrize("late_us,feasible", [(300_000, False), (20_000, True)])
def test_long_run_timed_step_by_step_same_both_ways(ts, tmp_path, monkeypatch, late_us,
                                                    feasible):
    # runs past LONG_RUN steps are timed by tcpcheck.timeline: lowered here so that a short
    # capture takes that way, folded and not
    monkeypatch.setattr(oneside_module, "LONG_RUN", 20)
    unfolded, folded = _both(ts, _capture(tmp_path, 31, late=10, late_us=late_us), "server")
    assert unfolded.timing.feasible is feasible
    assert unfolded.timing.times_ms is None
    assert unfolded.verdict == (Verdict.ACCEPTED if feasible else Verdict.INCONCLUSIVE)
    assert _seen(folded) == _seen(unfolded)


@pytest.mark.parametrize("side", SIDES)
def test_run_shown_folded_is_the_unfolded_run(ts, tmp_path, monkeypatch, side):
    """A run too long to show whole is its repeated stretch once, with a count: unrolled,
    it is the unfolded search's run, state for state (the environment's steps left out, as
    they are from every one-sided run shown); the reports say so and stay short."""
    monkeypatch.setattr(replay_module, "SHOW_WHOLE", 30)
    unfolded, folded = _both(ts, _capture(tmp_path, 41), side)
    assert_shown_folded(unfolded, folded)
    assert (folded.verdict, folded.kind, folded.combos) == \
        (unfolded.verdict, unfolded.kind, unfolded.combos)


def test_a_script_is_not_folded(ts):
    # a packetdrill script's calls are pinned to absolute positions: no fold shifts them
    from tcpcheck.packetdrill import read_script
    script = read_script(ROOT / "tests" / "pkt" / "three_way_close.pkt")
    r = replay_side(ts, script.capture, script.side, app_calls=script.app_calls,
                    calls=script.calls, check_timing=False)
    assert r.fold is None


@pytest.mark.parametrize("side", SIDES)
def test_a_long_connection_is_accepted_one_sided_in_seconds(ts, tmp_path, side):
    cap = _capture(tmp_path, 20_001)
    start = time.process_time()
    r = replay_side(ts, cap, side)
    took = time.process_time() - start
    assert r.verdict == Verdict.ACCEPTED and r.fold is not None
    assert r.fold.repeats * r.fold.period > 19_000
    assert r.run_fold is not None and r.timing.feasible
    assert took < 30, took      # unfolded: minutes and gigabytes


@pytest.mark.parametrize("side", SIDES)
def test_call_results_fold_too(ts, tmp_path, side):
    # the calls' results are counted in the key, not by position: the search with them is
    # as shift-invariant as without, and folds to the same answer
    unfolded = replay_side(ts, _capture(tmp_path, 41), side, calls=(), fold=False)
    folded = replay_side(ts, _capture(tmp_path, 41), side, calls=())
    assert _seen(folded) == _seen(unfolded)
    assert folded.fold is not None and folded.calls_checked


@pytest.mark.parametrize("side", SIDES)
def test_step_by_step_timing_agrees_with_z3_one_sided(ts, tmp_path, monkeypatch, side):
    """tcpcheck.timeline's verdict is z3's on a one-sided run under moved pins: the channel
    out of the tested endpoint bounds no delay, and timeline keeps none of its segments."""
    seen = []
    z3_check = timing_module.check_run

    def check_run(timed, variants, pinned=None):      # the run one-sided replay times
        seen.append((timed, variants, pinned))
        return z3_check(timed, variants, pinned)

    monkeypatch.setattr(timing_module, "check_run", check_run)
    assert replay_side(ts, _capture(tmp_path, 21), side).timing.feasible
    monkeypatch.undo()
    timed, variants, pinned = seen[0]
    pins = [pin[:3] for pin in pinned]       # exact pins (a capture's): (step, ms, what)
    assert_timeline_agrees_with_z3(timed, variants, pins, z3_check, random.Random(7), 16,
                                   [0.01, 0.2, 30, 49.9, 50.1, 200, -0.1])


@pytest.mark.parametrize("side", SIDES)
def test_prefix_folds_to_the_same_answer(ts, tmp_path, side):
    unfolded = replay_side(ts, _capture(tmp_path, 41), side, prefix=True, fold=False)
    folded = replay_side(ts, _capture(tmp_path, 41), side, prefix=True)
    assert _seen(folded) == _seen(unfolded)
    assert folded.fold is not None


def test_a_search_stopped_after_the_fold_counts_in_the_capture(ts, tmp_path):
    # the bound stops the search in the tail, after 139 periods were cut: how far it got
    # (and the run to there) is said in the capture's own positions
    cap = _capture(tmp_path, 301)
    assert replay_side(ts, cap, "client").fold.cut == 278
    stopped = replay_side(ts, cap, "client", max_nodes=600)
    assert stopped.verdict == Verdict.INCONCLUSIVE and stopped.search_limit
    assert stopped.matched > 278 and stopped.run_length > 278
    assert replay_lines(stopped)


@pytest.mark.parametrize("side", SIDES)
def test_rejection_far_into_the_repeating_phase(ts, tmp_path, side):
    # the FIN of write 120 (of 147): the fold cut periods before it; where the search fails
    # and what it shows there are the unfolded search's
    unfolded, folded = _both(ts, _capture(tmp_path, 301, fin=120), side)
    assert unfolded.verdict == Verdict.REJECTED and unfolded.failed_at.number > 240
    assert _seen(folded) == _seen(unfolded)
    assert folded.fold is not None and folded.searched < unfolded.searched
