"""The sinks of the emitted steps agree (tcpcheck.emit states the semantics once).

For every state the search loop (tcpcheck.searchloop, what explore and check run) expanded,
the successor function (tcpcheck.successors, what simulate and replay run) lists exactly the
edges the loop recorded from it, in the same order, to the same states; where the loop
stopped on a model error, the successor function fails the same way. Checked on every
configuration the shipped specs explore, on the shipped and fixture models, and on random
models.
"""
from __future__ import annotations

import collections
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings

from conftest import FIXTURES, ROOT, run_tcpcheck
from test_explore_hypothesis import models
import tcpcheck.emit as emit_module
import tcpcheck.searchloop as searchloop_module
from tcpcheck import load
from tcpcheck.compile import compile_model
from tcpcheck.explore import explore
from tcpcheck.parse import parse_text
from tcpcheck.transitions import ExplorationError
from tcpcheck.typecheck import check
from tcpcheck.verify import group_by_model, spec_files

GUARD = FIXTURES / "guard_division"


def assert_sinks_agree(ts) -> object:
    """Explore `ts` recording every edge, then compare each expanded state's edges with the
    successor function's answer; returns the exploration."""
    ex = explore(ts, record_edges=True)
    recorded = collections.defaultdict(list)
    for a, b, vid in zip(ex.edge_src, ex.edge_dst, ex.edge_variant):
        recorded[a].append((vid, ex.states[b]))
    for i in range(ex.expanded):
        if i == ex.error_state:
            continue
        assert ts.successors(ex.states[i]) == recorded.get(i, []), f"state #{i} differs"
    if ex.stop_reason == "model-error":
        with pytest.raises(ExplorationError) as failed:
            ts.successors(ex.states[ex.error_state])
        err = failed.value
        assert (err.variant, err.code, err.message, err.span) == \
            (ex.error.variant, ex.error.code, ex.error.message, ex.error.span)
    else:
        assert ex.complete
    return ex


def _shipped_configurations() -> list[tuple[str, tuple[str, ...]]]:
    specs, _ = spec_files([], ROOT / "specs")
    groups = group_by_model(specs, None, ROOT / "models" / "teardown.tcpm")
    found = {(str(Path(model).resolve().relative_to(ROOT)), tuple(p.text for p in params))
             for model, params in groups}
    found |= {("models/teardown.tcpm", ()), ("models/bench/teardown_n.tcpm", ("N=1",)),
              ("models/bench/teardown_n.tcpm", ("N=2",))}
    found |= {(str(p.relative_to(ROOT)), ()) for p in (FIXTURES / "models").glob("*.tcpm")}
    return sorted(found)


@pytest.mark.parametrize("model,params", _shipped_configurations(),
                         ids=lambda x: ",".join(x) if isinstance(x, tuple) else x)
def test_successor_function_lists_the_edges_the_search_loop_records(model, params):
    ex = assert_sinks_agree(load(ROOT / model, list(params)))
    assert ex.n_states > 1


def test_sinks_agree_without_the_dead_variable_reduction():
    assert_sinks_agree(load(ROOT / "models/teardown.tcpm", ["more_calls=true"], reduce=False))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(models())
def test_sinks_agree_on_random_models(text):
    note(text)
    ts = compile_model(check(parse_text(text, "random.tcpm")))
    ex = explore(ts, max_states=3000, record_edges=False)
    if ex.stop_reason == "max-states":
        return  # too big to compare edge by edge in a quick test (rare)
    assert_sinks_agree(ts)


# ---------------------------------------------------------------- one rule, every command


def test_a_failing_guard_fails_even_behind_a_full_channel():
    ts = load(GUARD / "full_channel.tcpm")
    ex = assert_sinks_agree(ts)
    assert ex.stop_reason == "model-error" and ex.n_states == 2
    assert ex.error.code == "TCP501" and ex.error.span.line == 14
    assert ts.variants[ex.error.variant].label == "client: close()"


LOCATED = "full_channel.tcpm:14:5: error[TCP501]: division by zero in the guard of client: on close()"


@pytest.mark.parametrize("command", [
    ["explore", "full_channel.tcpm"],
    ["check", "full_channel.spec"],
    ["simulate", "full_channel.tcpm", "--seed", "1"],
    ["replay", "full_channel.tcpm", "one_write.json"],
    ["trace", "full_channel.spec", "-p", "at_most_one_write"],
    ["map", "full_channel.tcpm"],
    ["graph", "full_channel.tcpm", "-o", "{tmp}/graph.dot"],
], ids=lambda c: c[0])
def test_every_command_reports_the_same_located_model_error(command, tmp_path):
    r = run_tcpcheck(*(arg.format(tmp=tmp_path) for arg in command), cwd=GUARD)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert LOCATED in r.stdout + r.stderr


# ---------------------------------------------------------------- generated code within Python's limits


def _pipeline(writes: int, capacity: int, guard: str = "") -> str:
    text = (FIXTURES / "models" / "pipeline.tcpm").read_text()
    text = text.replace("0..2", f"0..{writes}").replace("sent < 2", f"sent < {writes}{guard}")
    return text.replace("client -> server capacity 2", f"client -> server capacity {capacity}")


def _graph(ts):
    ex = assert_sinks_agree(ts)
    return list(ex.states), list(zip(ex.edge_src, ex.edge_dst, ex.edge_variant))


def test_a_long_channel_finds_its_free_position_by_counting_bits(monkeypatch):
    text = _pipeline(12, 12)
    counted = _graph(compile_model(check(parse_text(text))))
    monkeypatch.setattr(emit_module, "_MAX_CHAINED_SLOTS", 100)  # one conditional per slot
    chained = _graph(compile_model(check(parse_text(text))))
    assert counted == chained
    assert len(counted[0]) == 13 * 14 // 2   # (sent, got) with got <= sent <= 12


def test_a_channel_of_the_largest_capacity_and_a_guard_of_many_conjuncts():
    ts = compile_model(check(parse_text(_pipeline(3, 256, " and sent < 9" * 120))))
    states, _edges = _graph(ts)
    assert len(states) == 10


def test_conditions_beyond_the_shared_depth_are_one_conjunction(monkeypatch):
    ts = load(ROOT / "models" / "teardown.tcpm", ["delayed_ack=true"])
    nested = _graph(ts)
    monkeypatch.setattr(searchloop_module, "_MAX_SHARED", 1)
    ts = load(ROOT / "models" / "teardown.tcpm", ["delayed_ack=true"])
    assert _graph(ts) == nested
