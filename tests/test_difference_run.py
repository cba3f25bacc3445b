"""The timed search's prefixes checked as difference constraints (timing.DifferenceRun) fit
exactly when z3's incremental solver (timing.IncrementalRun) says they do."""
from __future__ import annotations

import random

import pytest
from conftest import DEFAULT_MODEL, ROOT

from tcpcheck.capture import read_capture
from tcpcheck.replay import load_open, network_delay, replay
from tcpcheck.run import Run
from tcpcheck.timing import DifferenceRun, IncrementalRun, TimedSearch

CAPTURES = ROOT / "tests" / "captures"


def _answers(monkeypatch, name: str, exact_without_z3: bool, budget: int):
    """Every prefix the replay's timed search asked about, and whether it fits."""
    made = []

    def search(ts, _budget, fixed=None, difference=None):   # noqa: ARG001 -- replay's say
        made.append(TimedSearch(ts, budget, fixed, difference=exact_without_z3))
        return made[-1]

    import tcpcheck.timing as timing
    monkeypatch.setattr(timing, "TimedSearch", search)
    cap = read_capture(CAPTURES / name)
    r = replay(load_open(DEFAULT_MODEL, [], [cap]), cap)
    monkeypatch.undo()
    return r.verdict, [(s._prefix, s._fits) for s in made]


@pytest.mark.parametrize("name", ["invalid/late_fin_ack.pcap"])
def test_the_timed_search_asks_and_hears_the_same(monkeypatch, name):
    z3_verdict, z3_answers = _answers(monkeypatch, name, False, 1500)
    verdict, answers = _answers(monkeypatch, name, True, 1500)
    assert answers and answers == z3_answers and verdict == z3_verdict
    assert any(not fit for _prefix, fits in answers for fit in fits)


@pytest.mark.parametrize("name", ["server_closes_first.pcap", "http_server_closes.pcap",
                                  "simultaneous_close.pcap"])
def test_a_pinned_run_fits_alike_stretched_or_squeezed(name):
    cap = read_capture(CAPTURES / name)
    ts = load_open(DEFAULT_MODEL, [], [cap])
    r = replay(ts, cap)
    tsd, _delay, _given = network_delay(ts, cap, None, True)
    variants = Run.of(r.view, r.run).variants
    sends = [i for i, v in enumerate(variants, start=1) if v.sends]
    rng = random.Random(7)
    outcomes = set()
    for trial in range(40):
        scale = rng.choice([0.0, 0.1, 0.5, 1.0, 2.0, 10.0, 1000.0])
        runs = [IncrementalRun(tsd), DifferenceRun(tsd)]
        said = []
        for run in runs:
            times = random.Random(trial)
            answers = []
            at = 0.0
            for i, v in enumerate(variants, start=1):
                pin = None
                if i in sends and i != sends[0]:
                    at += times.random() * scale
                    pin = (sends[0], round(at, 3))
                answers.append(run.push(v, pin))
            said.append(answers)
        assert said[0] == said[1], (trial, scale)
        outcomes.add(said[0][-1])
    assert outcomes == {True, False}
