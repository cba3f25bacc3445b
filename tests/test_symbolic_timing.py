"""Timing in both engines (issue 16, deliverable 5): a timed property gets the same answer
from the explorer and from the symbolic engine, because the symbolic engine's runs go
through the explorer's own timing code (timing.DurationQuestion, query.duration_verdict);
a run the timers forbid is excluded by its shortest forbidden prefix and never reported; a
run that does not replay through the successor function stops the engine loudly; and a
search cut short by its limit gives no verdict from part of the runs.

The model is small (a close racing a delayed ACK, every run ends within 7 steps), so each
engine looks at every run in a fraction of a second."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import run_tcpcheck
from tcpcheck import bmc, load, query
from tcpcheck import spec as S
from tcpcheck.bmc import RunDoesNotReplay, agrees, forbidden_prefix
from tcpcheck.bmc_runs import check_runs
from tcpcheck.explore import explore
from tcpcheck.timing import check_run
from tcpcheck.verdicts import Verdict

# The server owes an ACK for the client's FIN (delack) and its application closes after
# `think`: closing first puts the FIN on the owed ACK (a three-way close), the timer first
# sends the ACK alone (a four-way close).
RACE = """\
model race "a close racing a delayed ACK"

endpoint closer() {
    var state: tcp_state = ESTABLISHED
    on call close when state == ESTABLISHED {
        send FIN
        state := FIN_WAIT_1
    }
    on recv ACK when state == FIN_WAIT_1 {
        state := FIN_WAIT_2
    }
    on recv FIN+ACK when state == FIN_WAIT_1 {
        send ACK
        state := TIME_WAIT
    }
    on recv FIN when state == FIN_WAIT_2 {
        send ACK
        state := TIME_WAIT
    }
}

endpoint peer() {
    var state: tcp_state = ESTABLISHED
    var owed: bool = false
    timer delack 40ms..200ms
    timer think 0ms..inf
    on recv FIN when state == ESTABLISHED {
        state := CLOSE_WAIT
        owed := true
        arm delack
        arm think
    }
    on expire delack when owed {
        send ACK
        owed := false
    }
    on expire think when state == CLOSE_WAIT {
        if owed {
            send FIN+ACK
            cancel delack
        } else {
            send FIN
        }
        state := LAST_ACK
    }
    on recv ACK when state == LAST_ACK {
        state := CLOSED
    }
}

instance client = closer()
instance server = peer()
channel client -> server capacity 2
channel server -> client capacity 2
"""

SPEC = """\
model "race.tcpm"

timing prompt "for which think times does the server close at once?":
    sends(server, FIN+ACK) solve server.think, server.delack

reachable three_way "a three-way close": sends(server, FIN+ACK)

runs never_three_way "never a three-way close": never sends(server, FIN+ACK)
"""

DEPTH = 10      # past the longest run: the symbolic engine sees every run


def _write(tmp_path: Path, model: str = RACE) -> Path:
    (tmp_path / "race.tcpm").write_text(model)
    spec = tmp_path / "race.spec"
    spec.write_text(SPEC)
    return spec


def _both(tmp_path: Path, model: str = RACE) -> dict[str, tuple]:
    """{name: (explicit, symbolic)} for the spec's properties on `model`."""
    spec = _write(tmp_path, model)
    ts = load(tmp_path / "race.tcpm")
    props = S.resolve(S.parse_spec_file(spec), ts)
    ex = explore(ts)
    return {p.name: (query.check_property(ex, p), s)
            for p, s in zip(props, check_runs(ts, props, DEPTH))}


def test_a_timing_query_gets_the_same_answer_from_both_engines(tmp_path):
    got = _both(tmp_path)
    e, s = got["prompt"]
    assert e.verdict is s.verdict is Verdict.HOLDS
    assert e.answer == s.answer == "server.think <= server.delack"
    assert e.durations.complete and s.durations.complete
    assert e.durations.same_durations(s.durations)
    assert agrees(e, s) is True
    # the example run the symbolic engine shows is one the timers allow
    ts = load(tmp_path / "race.tcpm")
    assert s.run is not None and s.times is not None
    assert check_run(ts, [ts.variants[v] for v, _ in s.run[1:]]).feasible
    for name in ("three_way", "never_three_way"):
        e, s = got[name]
        assert e.verdict is s.verdict, (name, e.message, s.message)


def test_the_answer_is_the_same_in_both_engines_json(tmp_path):
    spec = _write(tmp_path)
    result = run_tcpcheck("check", str(spec), "--engine", "both", "--depth", str(DEPTH),
                          "--json")
    # never_three_way is violated (exit 1); every other answer exact, none disagreeing
    assert result.returncode == 1 and "disagree" not in result.stderr, result.stderr
    props = {p["name"]: p for p in json.loads(result.stdout)["properties"]}
    prompt = props["prompt"]
    assert prompt["answer"] == prompt["explicit"]["answer"] == "server.think <= server.delack"
    assert prompt["engines_agree"] is True
    assert all(p["engines_agree"] is True for p in props.values()), props


def test_a_run_the_timers_forbid_is_blocked_by_its_prefix_and_never_reported(tmp_path):
    # the application now thinks longer than the delayed-ACK timer can wait: the three-way
    # close is a run of the untimed model, forbidden in time at the step think runs out
    slow = RACE.replace("timer think 0ms..inf", "timer think 300ms..inf")
    got = _both(tmp_path, slow)
    ts = load(tmp_path / "race.tcpm")
    untimed = [(-1, ts.initial[0])]
    while True:     # the untimed three-way close, step by step: the path of FIN+ACK
        nxt = ts.successors(untimed[-1][1])
        if not nxt:
            break
        fin_ack = [x for x in nxt if "think" in ts.variants[x[0]].label]
        untimed.append(fin_ack[0] if fin_ack else nxt[0])
        if fin_ack:
            break
    cut = forbidden_prefix(ts, untimed)
    assert cut == len(untimed) - 1, [ts.variants[v].label for v, _ in untimed[1:]]
    assert forbidden_prefix(ts, untimed[:cut]) is None
    e, s = got["three_way"]
    assert e.verdict is s.verdict is Verdict.VIOLATED, s.message
    assert s.run is None and "timers allow" in s.message
    e, s = got["never_three_way"]
    assert e.verdict is s.verdict is Verdict.HOLDS, s.message
    e, s = got["prompt"]
    assert e.verdict is s.verdict is Verdict.VIOLATED
    assert e.answer == s.answer == "never"
    assert s.run is None


def test_a_run_that_does_not_replay_stops_the_symbolic_engine(tmp_path, monkeypatch):
    spec = _write(tmp_path)
    ts = load(tmp_path / "race.tcpm")
    props = S.resolve(S.parse_spec_file(spec), ts)
    real = bmc.Unrolling.run_of

    def tampered(self, m, k):
        run = real(self, m, k)
        return run[:-1] + [(run[-1][0], run[-1][1] ^ 1)] if k else run

    monkeypatch.setattr(bmc.Unrolling, "run_of", tampered)
    with pytest.raises(RunDoesNotReplay):
        check_runs(ts, props, DEPTH)


def test_a_timing_search_cut_short_gives_no_verdict(tmp_path, monkeypatch):
    # a client that may write any number of times before it closes: the runs are endless,
    # the explorer's enumeration of paths stops at its limit, and says so
    looping = RACE.replace("    on recv ACK when state == FIN_WAIT_1 {",
                           "    on call write when state == ESTABLISHED {\n    }\n"
                           "    on recv ACK when state == FIN_WAIT_1 {", 1)
    monkeypatch.setattr(query, "MAX_RUNS_CHECKED", 3)
    e, _s = _both(tmp_path, looping)["prompt"]
    assert e.verdict is Verdict.INCONCLUSIVE, e.message
    assert "stopped after" in e.message and not e.durations.complete


def test_a_partial_answer_wider_than_the_complete_one_is_a_disagreement(tmp_path):
    e, s = _both(tmp_path)["prompt"]
    wider = replace(s.durations, complete=False, text="always", smt="true")
    assert agrees(e, replace(s, verdict=Verdict.INCONCLUSIVE, durations=wider)) is False
    narrower = replace(s.durations, complete=False, text="never", smt="false")
    assert agrees(e, replace(s, verdict=Verdict.INCONCLUSIVE, durations=narrower)) is None
