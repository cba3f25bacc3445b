"""tcpcheck simulate: seeded random runs that the timers allow, and the in-transit deadline
that keeps a walk (and every timed search) from waiting past a segment's longest delay."""
from __future__ import annotations

import json

from conftest import DEFAULT_MODEL, FIXTURES, run_tcpcheck

from tcpcheck import load
from tcpcheck.typecheck import check
from tcpcheck.compile import compile_model
from tcpcheck.parse import parse_text
from tcpcheck.simulate import simulate
from tcpcheck.timing import IncrementalRun, check_run
from tcpcheck.trace import run_steps

SLOW_TIMER = """
model slow
endpoint sender() {
    var done: bool = false
    timer slow 100ms..100ms
    on call close when not done { send FIN  arm slow  done := true }
    on expire slow { }
}
endpoint receiver() {
    on recv FIN { }
}
instance client = sender()
instance server = receiver()
channel client -> server capacity 1 delay 0ms..50ms
channel server -> client capacity 1 delay 0ms..50ms
"""


def _variant(ts, instance: str, label: str):
    return next(v for v in ts.variants if v.instance == instance and v.event.label() == label)


def test_a_segment_cannot_stay_on_the_wire_past_its_longest_delay():
    ts = compile_model(check(parse_text(SLOW_TIMER, "slow.tcpm")))
    close = _variant(ts, "client", "close()")
    expire = _variant(ts, "client", "slow expires")
    arrive = _variant(ts, "server", "recv FIN")
    late = IncrementalRun(ts)
    assert late.push(close)
    assert not late.push(expire)    # 100 ms later, the FIN (0..50 ms) would still be in flight
    on_time = IncrementalRun(ts)
    assert on_time.push(close) and on_time.push(arrive) and on_time.push(expire)
    why = check_run(ts, [close, expire]).conflict
    assert any("still on its way to server" in c for c in why)


def test_simulation_is_a_complete_timed_run_and_the_seed_decides_it():
    ts = load(DEFAULT_MODEL, [])
    runs = {}
    for seed in range(8):
        sim = simulate(ts, seed)
        assert sim.ended == "complete" and sim.timing.feasible
        assert not ts.successors(sim.view.states[sim.run[-1][1]])     # nothing more can happen
        again = simulate(ts, seed)
        assert again.run == sim.run and again.view.states == sim.view.states
        runs[seed] = tuple(sim.view.states)
    assert len(set(runs.values())) > 1      # different seeds walk differently


def test_simulate_command_prints_a_ladder_and_json(tmp_path):
    r = run_tcpcheck("simulate", "--seed", "3", "--param", "delayed_ack=true",
                     "--param", "passive_has_data=false", "-o", str(tmp_path / "walk.dot"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("teardown: random run, seed 3 (the run is complete)")
    assert (tmp_path / "walk.dot").read_text(encoding="utf-8").startswith("digraph ladder")
    first = run_tcpcheck("simulate", "--seed", "3", "--json")
    second = run_tcpcheck("simulate", "--seed", "3", "--json")
    assert first.returncode == 0 and first.stdout == second.stdout
    doc = json.loads(first.stdout)
    assert doc["seed"] == 3 and doc["ended"] == "complete"
    assert all({"event", "endpoint", "segment", "time_ms"} <= set(s) for s in doc["trace"][1:])
    times = [s["time_ms"] for s in doc["trace"]]
    assert times == sorted(times)


def test_simulate_stops_at_the_max_steps():
    sim = simulate(load(DEFAULT_MODEL, []), seed=1, max_steps=2)
    assert sim.ended == "max-steps" and len(sim.run) == 3


def test_simulate_shows_the_run_into_a_model_error():
    path = FIXTURES / "models" / "overflow.tcpm"
    sim = None
    for seed in range(20):
        sim = simulate(load(path, []), seed)
        if sim.ended == "model-error":
            break
    assert sim.ended == "model-error" and sim.error.code == "TCP500"
    steps = run_steps(sim.view, sim.run)
    assert steps[0]["step"] == 0
    r = run_tcpcheck("simulate", str(path), "--seed", str(sim.seed))
    assert r.returncode == 1 and "error[TCP500]" in r.stdout


def test_simulate_bad_model_is_bad_input(tmp_path):
    bad = tmp_path / "bad.tcpm"
    bad.write_text("model x\nendpoint e( {\n", encoding="utf-8")
    r = run_tcpcheck("simulate", str(bad))
    assert r.returncode == 2 and "bad.tcpm:2:" in r.stderr and "Traceback" not in r.stderr
