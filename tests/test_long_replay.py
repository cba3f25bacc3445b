"""The fold of a repeating phase (tcpcheck/fold.py) gives what the unfolded search gives.

Each test replays one capture of bench/captures.py (handshake, one-byte writes each
acknowledged, a four-way close; some with a wrong segment or a late ACK) twice, with
`fold=False` (every position searched) and with the fold, against the default model with
every parameter open, and compares all a user sees: verdict, where it failed, the accepted
combinations, the choices, the run shown (its states), its kind and its timing verdict.
The timing check of long runs (tcpcheck/timeline.py) is compared with z3's on the same runs.
Sizes stay small, 9 to 41 packets (the unfolded search costs ~35 ms of CPU a packet); bench/long_replay.py times
the long ones.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tcpcheck import replay as replay_module
from tcpcheck.capture import read_capture
from tcpcheck.replay import _pinned, load_open, replay
from tcpcheck.replay_report import replay_json, replay_lines
from tcpcheck.run import Run
from tcpcheck.timeline import fits
from tcpcheck.timing import check_run
from tcpcheck.verdicts import Verdict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import captures  # noqa: E402  (bench/captures.py writes the connections)

MODEL = ROOT / "models" / "teardown.tcpm"


@pytest.fixture(scope="module")
def ts(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "c.pcap"
    captures.write_connection(path, 21)
    return load_open(MODEL, [], [read_capture(path)])


def _capture(tmp_path, packets: int, **kw):
    path = tmp_path / f"conn{packets}_{'_'.join(f'{k}{v}' for k, v in kw.items())}.pcap"
    captures.write_connection(path, packets, **kw)
    return read_capture(path)


def _seen(r) -> tuple:
    """Everything of a replay a user is shown (z3's clashing constraints as a set: their
    order varies between two z3 calls in one process, folded or not)."""
    timing = None if r.timing is None else (
        r.timing.feasible, r.timing.times_ms, sorted(r.timing.conflict or []))
    return (r.verdict, r.accepted, r.matched, r.failed_at and r.failed_at.number,
            r.ended_early, r.combos, r.required, r.choices, r.kind, timing,
            r.timing_limit, r.could_be_in, r.instead, r.run_length,
            None if r.view is None else list(r.view.states), r.run)


def _both(ts, cap):
    unfolded = replay(ts, cap, fold=False)
    folded = replay(ts, cap)
    return unfolded, folded


@pytest.mark.parametrize("packets", [10, 41])
def test_accepted_capture_folds_to_the_same_answer(ts, tmp_path, packets):
    unfolded, folded = _both(ts, _capture(tmp_path, packets))
    assert unfolded.verdict == Verdict.ACCEPTED
    assert _seen(folded) == _seen(unfolded)
    assert unfolded.fold is None
    if packets >= 41:   # long enough to repeat itself: periods were cut out
        assert folded.fold is not None and folded.fold.repeats >= 1
        assert folded.searched < unfolded.searched


@pytest.mark.parametrize("kw", [dict(fin=14), dict(fin=16)],
                         ids=["fin-in-the-repeating-phase", "fin-in-the-tail"])
def test_rejected_capture_folds_to_the_same_answer(ts, tmp_path, kw):
    unfolded, folded = _both(ts, _capture(tmp_path, 41, **kw))
    assert unfolded.verdict == Verdict.REJECTED
    assert unfolded.failed_at.number == 2 * kw["fin"] + 2     # the data after the FIN
    assert _seen(folded) == _seen(unfolded)
    assert folded.fold is not None


def test_late_ack_in_the_data_phase_same_timing_verdict(ts, tmp_path, monkeypatch):
    # an ACK 300 ms after its write, the channel allows 50: no run fits; the timed search
    # of other runs is held to a few z3 checks so that the test stays fast (inconclusive)
    monkeypatch.setattr(replay_module, "MAX_TIMING_CHECKS", 20)
    unfolded, folded = _both(ts, _capture(tmp_path, 31, late=10, late_us=300_000))
    assert unfolded.timing is not None and not unfolded.timing.feasible
    assert unfolded.verdict == Verdict.INCONCLUSIVE and unfolded.timing_limit
    assert _seen(folded) == _seen(unfolded)
    assert folded.fold is not None


@pytest.mark.parametrize("late_us,feasible", [(300_000, False), (20_000, True)])
def test_long_run_timed_step_by_step_same_both_ways(ts, tmp_path, monkeypatch, late_us,
                                                    feasible):
    # runs past LONG_RUN steps are timed by tcpcheck.timeline: lowered here so that a short
    # capture takes that way, folded and not
    monkeypatch.setattr(replay_module, "LONG_RUN", 20)
    unfolded, folded = _both(ts, _capture(tmp_path, 31, late=10, late_us=late_us))
    assert unfolded.timing.feasible is feasible
    assert unfolded.timing.times_ms is None
    assert unfolded.verdict == (Verdict.ACCEPTED if feasible else Verdict.INCONCLUSIVE)
    assert _seen(folded) == _seen(unfolded)


def test_run_shown_folded_is_the_unfolded_run(ts, tmp_path, monkeypatch):
    """A run too long to show whole is its repeated stretch once, with a count: unrolled,
    it is the unfolded search's run, state for state; the reports say so and stay short."""
    monkeypatch.setattr(replay_module, "SHOW_WHOLE", 30)
    cap = _capture(tmp_path, 31)
    unfolded, folded = _both(ts, cap)
    assert_shown_folded(unfolded, folded)
    assert (folded.verdict, folded.choices, folded.kind) == \
        (unfolded.verdict, unfolded.choices, unfolded.kind)
    assert len(replay_json(folded)["run"]) == len(folded.view.states)


def assert_shown_folded(unfolded, folded) -> None:
    """`folded` shows its run folded, `unfolded` whole: unrolled, the folded run is the whole
    one state for state, and the text and JSON reports say how it is folded (one-sided replay's
    tests use it too)."""
    assert unfolded.run_fold is None and folded.run_fold is not None
    first, length, times = folded.run_fold
    states = list(folded.view.states)
    whole = states[:first] + states[first:first + length] * times + states[first + length:]
    assert whole == list(unfolded.view.states)
    assert folded.run_length == len(unfolded.run) == len(whole)
    text = "\n".join(replay_lines(folded))
    assert f"stand for {times:,} times round" in text
    assert len(replay_lines(folded)) < len(replay_lines(unfolded))
    assert replay_json(folded)["run_fold"] == {"first_step": first, "steps": length,
                                               "times": times, "run_steps": len(whole)}


def test_step_by_step_timing_agrees_with_z3(ts, tmp_path):
    """tcpcheck.timeline's verdict is z3's (check_run) on one run under many moved pins:
    some fit, most do not."""
    cap = _capture(tmp_path, 21)
    r = replay(ts, cap, check_timing=False)
    variants = Run.of(r.view, r.run).variants
    assert_timeline_agrees_with_z3(r.system, variants, _pinned(cap, variants), check_run,
                                   random.Random(12), 24, [0.01, 0.05, 0.2, 30, 49.9, 50, 50.1,
                                                           199.9, 200, 250, -0.01, -0.1])


def assert_timeline_agrees_with_z3(system, variants, pinned, z3_check, rng, trials: int,
                                   moves: list[float]) -> None:
    """tcpcheck.timeline's verdict on a run equals z3's (`z3_check`) with its exact pins
    (step, ms, what) as given, then with one to three of them moved by one of `moves` ms, in
    `trials` trials; some must fit and some not (one-sided replay's tests use it too)."""
    verdicts = []
    for trial in range(trials):
        pins = list(pinned)
        for _ in range(trial and rng.randint(1, 3)):
            j = rng.randrange(1, len(pins))
            step, ms, what = pins[j]
            pins[j] = (step, ms + rng.choice(moves), what)
        want = z3_check(system, variants, pins).feasible
        assert fits(system, variants, pins).feasible is want, pins
        verdicts.append(want)
    assert True in verdicts and False in verdicts


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(packets=st.integers(min_value=9, max_value=31), fin=st.none() | st.integers(0, 11))
def test_generated_repeating_captures_fold_to_the_same_answer(ts, tmp_path, packets, fin):
    unfolded, folded = _both(ts, _capture(tmp_path, packets, fin=fin))
    assert _seen(folded) == _seen(unfolded)
