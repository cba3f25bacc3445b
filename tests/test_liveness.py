"""The dead-variable reduction (tcpcheck.liveness) is exact: a state with its dead variables
cleared has the same steps, to the same (cleared) successors, as the full state. Checked on
every reachable state of the default model in configurations that open its behaviours, and
on random models written by hypothesis; and a property that reads a variable keeps it.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, note, settings

from conftest import DEFAULT_MODEL
from test_explore_hypothesis import models
from tcpcheck.typecheck import check
from tcpcheck.compile import compile_model
from tcpcheck.transitions import ExplorationError
from tcpcheck.params import parse_param_overrides
from tcpcheck.explore import explore
from tcpcheck.parse import parse_file, parse_text
from tcpcheck.spec import parse_spec_text, variables_read
from tcpcheck.verify import check_model


def _steps(ts, state):
    try:
        return sorted(ts.successors(state)), None
    except ExplorationError as err:  # a range error (TCP500) or a division by zero (TCP501)
        return None, (err.variant, err.code)


def assert_exact(full, reduced, max_states=None) -> tuple[int, int]:
    """Every reachable state of `full` steps like its reduced form in `reduced`; and the
    reduced exploration finds exactly the reduced forms of the full one's states."""
    ex_full = explore(full, max_states=max_states, record_edges=False)
    ex_red = explore(reduced, max_states=max_states, record_edges=False)
    if ex_full.complete and ex_red.complete:
        assert set(ex_red.states) == {reduced.canonical(s) for s in ex_full.states}
    assert ex_full.stop_reason == ex_red.stop_reason or "max-states" in (
        ex_full.stop_reason, ex_red.stop_reason)
    for s in ex_full.states:
        steps, err = _steps(full, s)
        r_steps, r_err = _steps(reduced, reduced.canonical(s))
        assert err == r_err
        if steps is not None:
            assert sorted((v, reduced.canonical(t)) for v, t in steps) == r_steps, \
                full.decode(s)
    return ex_full.n_states, ex_red.n_states


def _systems(params, keep=frozenset()):
    model = check(parse_file(DEFAULT_MODEL))
    fixed = parse_param_overrides(model, list(params))
    return (compile_model(model, fixed, reduce=False),
            compile_model(model, fixed, keep=keep))


@pytest.mark.parametrize("params", [
    (),
    ("early_data=true", "more_calls=true", "passive_has_data=*"),
    ("shared_socket=true", "linger_zero=*", "passive_never_closes=*"),
    ("lossy_network=true", "client_quickack=*"),
], ids=lambda p: ",".join(p) or "default")
def test_reduction_is_exact_on_the_default_model(params):
    n_full, n_reduced = assert_exact(*_systems(params))
    assert n_reduced < n_full  # the reduction merges something in every one of these


def test_a_closed_socket_forgets_its_counters_but_not_what_a_call_still_reports():
    full, reduced = _systems(("more_calls=true", "early_data=true"))
    ex = explore(reduced)
    closed = [reduced.decode(s) for s in ex.states
              if reduced.decode(s)["client.state"] == "CLOSED"]
    assert closed and all(d["client.rcvd"] is None and d["client.sent"] is None
                          and d["client.retries"] is None for d in closed)
    # a process that still holds a reset socket has its next call's error in econnreset
    assert any(d["client.econnreset"] is True for d in closed)


def test_a_kept_variable_is_never_cleared():
    _full, reduced = _systems(("early_data=true",), keep=frozenset({"client.rcvd"}))
    ex = explore(reduced)
    assert all(reduced.decode(s)["client.rcvd"] is not None for s in ex.states)
    assert any(reduced.decode(s)["server.rcvd"] is None for s in ex.states)


COUNTING_SPEC = """\
runs every_byte_before_fin_is_delivered:
    never sends(any, RST) implies finally (client.rcvd == server.sent + 1)
"""


def test_the_variables_a_spec_reads_are_known_before_compiling():
    spec = parse_spec_text(COUNTING_SPEC)
    assert variables_read(spec) == {"client.rcvd", "server.sent"}


def test_check_keeps_what_its_properties_read_in_its_one_compile():
    spec = parse_spec_text(COUNTING_SPEC)
    result = check_model(DEFAULT_MODEL, [("counting.spec", spec)], ["early_data=true"], None, None)
    ts, ex = result.exploration.system, result.exploration
    assert ts.keep == {"client.rcvd", "server.sent"}
    assert all(ts.decode(s)["client.rcvd"] is not None for s in ex.states)
    assert any(ts.decode(s)["server.rcvd"] is None for s in ex.states)  # the others still go
    assert [v.name for v in result.verdicts] == ["every_byte_before_fin_is_delivered"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(models(with_tcp_state=True))
def test_reduction_is_exact_on_random_models(text):
    note(text)
    model = check(parse_text(text, "random.tcpm"))
    full = compile_model(model, reduce=False)
    reduced = compile_model(model)
    note(f"reduction: {reduced.reduction}")
    assert_exact(full, reduced, max_states=2000)
