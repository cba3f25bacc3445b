"""Captures nobody wrote for the model: everyday programs over loopback (http.server with a
client that shuts down its sending side, HTTP/1.1 keep-alive, TCP_CORK, a close with unread
data), made by tests/captures/make_ordinary.py. Each is replayed as `tcpcheck replay FILE
--all` does, every parameter open, and must be a run of the model of the kind its entry in
expected.toml names, fitting the capture's own times."""
from __future__ import annotations

import importlib.util
import sys
import tomllib

import pytest
from conftest import DEFAULT_MODEL, ROOT

from tcpcheck import load
from tcpcheck.audit import Auditor
from tcpcheck.capture import read_capture
from tcpcheck.replay import load_open, replay
from tcpcheck.verdicts import Verdict

CAPTURES = ROOT / "tests" / "captures"
EXPECTED = tomllib.loads((CAPTURES / "expected.toml").read_text(encoding="utf-8"))
PROGRAMS = sorted(k for k, v in EXPECTED.items() if "program" in v)


def _maker():
    spec = importlib.util.spec_from_file_location("make_ordinary",
                                                  CAPTURES / "make_ordinary.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module      # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


MAKER = _maker()


def replayed(path):
    """The capture replayed with every parameter open (replay --all), its channels as deep as
    it needs."""
    cap = read_capture(path)
    return cap, replay(load_open(DEFAULT_MODEL, [], [cap]), cap)


# A bulk transfer of 3 MiB queues up to a dozen segments in flight; its single replay, which
# counts every parameter combination that allows it, is a search of minutes and gigabytes
# that stops at its limits (inconclusive, saying so): no fixture. `replay --all` decides it
# in seconds (it searches the combinations near the defaults first, tcpcheck.audit), and the
# capture made here is judged that way.
TOO_LONG = {"bulk_server_closes_first"}


def audited(path):
    """The capture's one connection decided as `tcpcheck replay FILE --all` decides it."""
    cap = read_capture(path)
    return cap, Auditor(DEFAULT_MODEL, []).verdict(cap, False)[0]


def test_every_program_has_a_capture_and_a_scenario():
    assert {EXPECTED[k]["program"] for k in PROGRAMS} == {
        s.name for s in MAKER.SCENARIOS if s.name not in TOO_LONG}
    assert all(k == f"user/{EXPECTED[k]['program']}.pcap" for k in PROGRAMS)


@pytest.mark.parametrize("name", PROGRAMS)
def test_an_ordinary_programs_capture_is_a_run_of_the_model(name):
    want = EXPECTED[name]
    cap, r = replayed(CAPTURES / name)
    assert cap.compact == want["segments"]
    assert r.verdict.value == want["verdict"] and r.verdict is Verdict.ACCEPTED, name
    assert r.kind.value == want["kind"]
    # held to the capture's own timestamps, and a run was found that fits them
    assert r.timed_by_capture and r.timing.feasible and not r.timing_limit


def test_the_shutdown_then_close_client_fits_in_time_without_a_cycle():
    # the run found never comes back to a state it was in (the timed search once went round
    # read() on the client's closed socket until its budget was spent: inconclusive)
    _cap, r = replayed(CAPTURES / "user" / "http_shutdown_then_close.pcap")
    states = [state for _vid, state in r.run]
    assert len(set(states)) == len(states)
    assert r.required.get("data_phase") is True


@pytest.mark.parametrize("scenario", [s.name for s in MAKER.SCENARIOS])
def test_the_programs_captured_again_here_are_runs_of_the_model(scenario, tmp_path):
    why = MAKER.can_capture()
    if why:
        pytest.skip(f"cannot capture here: {why}")
    made = MAKER.capture(next(s for s in MAKER.SCENARIOS if s.name == scenario),
                         tmp_path / f"{scenario}.pcap")
    cap, r = audited(made) if scenario in TOO_LONG else replayed(made)
    assert r.verdict is Verdict.ACCEPTED, (scenario, cap.compact)
    assert r.timed_by_capture and r.timing.feasible


def _variant(ts, label: str, arms: bool) -> int:
    """The id of a step of the model with this label that sends nothing and arms a timer or
    not."""
    return next(i for i, v in enumerate(ts.variants)
                if v.label == label and not v.sends
                and any(op == "arm" for op, _ in v.timer_ops) == arms)


@pytest.mark.parametrize("label, arms", [("client: read()", False),
                                         ("server: recv FIN", True)])
def test_the_timed_search_cuts_a_cycle_and_says_when_that_may_lose_a_run(label, arms):
    # a graph of one node with a step back to itself and no target: depth first without the
    # cut this is an endless path, each step fitting in time, until the budget runs out
    from tcpcheck.timing import TimedSearch
    ts = load(DEFAULT_MODEL, ["lossy_network=false"])
    loop = _variant(ts, label, arms)
    search = TimedSearch(ts, budget=50)
    found = list(search.paths("n", lambda node: [(loop, "n")], lambda node: False,
                              acyclic=True))
    assert found == [] and not search.exhausted
    # a cycle that arms a timer may be what a run needs (its deadline postponed)
    assert search.cut_timed_cycle is arms
    endless = TimedSearch(ts, budget=50)
    assert list(endless.paths("n", lambda node: [(loop, "n")], lambda node: False)) == []
    assert endless.exhausted
