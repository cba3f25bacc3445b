"""The tabled monitor (tcpcheck.monitor) against the generic one (query._Monitor): the same
product graph, node for node and edge for edge, the same targets, the same runs and
verdicts, on every shipped spec and on random formulas."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcpcheck
from conftest import DEFAULT_MODEL, ROOT
from tcpcheck import monitor, query, verify
from tcpcheck.explore import NO_DEADLINE, explore
from tcpcheck.monitor import Alphabet, TabledMonitor, divides, leaves_of, tabled
from tcpcheck.spec import parse_spec_text, resolve

SPECS = sorted((ROOT / "specs").glob("*.spec"))
# the configurations are compared on their first 3,000 states (data_phase has 85k): the
# generic product takes seconds on a whole big graph, and every formula is still exercised
MAX_STATES = 3_000


def _groups(spec: Path):
    """(exploration, properties) of each model configuration the spec file names, as
    `check` loads them."""
    groups = verify.group_by_model([spec], None, DEFAULT_MODEL)
    for (model, spec_params), group in groups.items():
        ts, props = verify.resolve_specs(model, group, verify.merge_params(spec_params, []))
        yield explore(ts, max_states=MAX_STATES), props


def _run_formulas(props):
    return [f for p in props if p.kind in ("runs", "reachable")
            for f in (p.formula, *(q.formula for q in p.premises))]


def _same_product(ex, formula, alphabet: Alphabet) -> None:
    """Both monitors give the same product graph: nodes (by state), successors, starts,
    and the same verdict at every node; the same first target for either verdict."""
    ev = query._Eval(ex)
    generic = query._Monitor(ev, formula)
    adj = ex.adjacency
    nodes, succ, starts = query._product(ex, adj, generic, NO_DEADLINE)
    walked = TabledMonitor(ex, query._Monitor(ev, formula), alphabet, formula)
    t_nodes, t_succ, t_starts = walked.product(NO_DEADLINE)
    assert [sid for sid, _m in t_nodes] == [sid for sid, _m in nodes]
    assert t_succ == succ
    assert t_starts == starts
    assert len(set(m for _sid, m in t_nodes)) == len(set(m for _sid, m in nodes))
    terminal = ex.terminal
    for (sid, m), (_sid, tm) in zip(nodes, t_nodes):
        if sid in terminal:
            assert walked.accepts(sid, tm) == generic.top(m, ex.states[sid])
    for want in (True, False):
        runs = query._RunSearch(ex, generic, adj).targets(want)
        assert next(walked.targets(want, NO_DEADLINE), None) == next(runs, None)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_shipped_formula_gives_the_generic_product(spec):
    checked = 0
    for ex, props in _groups(spec):
        formulas = [f for f in _run_formulas(props) if tabled(f)]
        alphabet = Alphabet(ex, query._Eval(ex), formulas, NO_DEADLINE)
        for formula in formulas:
            _same_product(ex, formula, alphabet)
            # a formula's own alphabet (no prepare) gives the same again
            _same_product(ex, formula, Alphabet(ex, query._Eval(ex), [formula], NO_DEADLINE))
            checked += 1
    if any(p.kind in ("runs", "reachable") for _ex, props in _groups(spec) for p in props):
        assert checked


def _generic_verdicts(ex, props):
    """The verdicts with every formula left to the generic monitor."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(query, "tabled", lambda formula: False)
        return [query.check_property(ex, p) for p in props]


SMALL = [s for s in SPECS if s.stem not in ("data_phase", "retransmission", "loss")]


@pytest.mark.parametrize("spec", SMALL, ids=lambda p: p.stem)
def test_verdicts_and_runs_are_the_generic_ones(spec):
    for ex, props in _groups(spec):
        props = [p for p in props if p.kind != "timing"]   # z3's, the same code either way
        prepared = query.prepare(ex, props)
        tabled_results = [query.check_property(ex, p, prepared=prepared) for p in props]
        assert tabled_results == [query.check_property(ex, p) for p in props]
        assert tabled_results == _generic_verdicts(ex, props)


def test_a_division_is_left_to_the_generic_monitor():
    sf = parse_spec_text('model "../models/teardown.tcpm"\n'
                         'runs r "x": never (client.rcvd / 1 == 99)\n'
                         'runs q "y": never sends(any, RST) or eventually client.state == CLOSED\n',
                         str(ROOT / "specs" / "x.spec"))
    ts = tcpcheck.load(DEFAULT_MODEL)
    r, q = resolve(sf, ts)
    assert divides(r.formula) and not tabled(r.formula)
    assert tabled(q.formula)
    assert [kind for kind, _body in leaves_of(q.formula)] == ["step", "state"]


# ---------------------------------------------------------------- random formulas

STEP_ATOMS = ["sends(client, FIN)", "sends(any, RST)", "sends(server, FIN | FIN+ACK)",
              "receives(client, FIN)", "receives(server, any)", "calls(client, close)",
              "observed three_way_close", "sends(any, ACK) and client.state == TIME_WAIT",
              "receives(server, FIN) or calls(server, close)"]
STATE_ATOMS = ["client.state == TIME_WAIT", "server.state == CLOSE_WAIT",
               "client.state == CLOSED and server.state == CLOSED", "len(client -> server) == 1"]


def _atom():
    return st.sampled_from(STEP_ATOMS + STATE_ATOMS)


_temporal = st.one_of(
    st.builds(lambda a: f"eventually ({a})", _atom()),
    st.builds(lambda a: f"never ({a})", _atom()),
    st.builds(lambda a: f"always ({a})", _atom()),
    st.builds(lambda a, b: f"({a}) before ({b})", _atom(), _atom()),
    st.builds(lambda a, op, n: f"count({a}) {op} {n}", st.sampled_from(STEP_ATOMS),
              st.sampled_from([">=", "==", "<="]), st.integers(0, 4)),
    st.builds(lambda a: f"finally ({a})", st.sampled_from(STATE_ATOMS)),
    st.builds(lambda a: f"initially ({a})", st.sampled_from(STATE_ATOMS)),
)
_formula = st.recursive(_temporal, lambda inner: st.one_of(
    st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
    st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
    st.builds(lambda a, b: f"({a}) implies ({b})", inner, inner),
    st.builds(lambda a: f"not ({a})", inner)), max_leaves=4)

_TS = tcpcheck.load(DEFAULT_MODEL)
_EX = explore(_TS)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["runs", "reachable"]), text=_formula)
def test_random_formulas_agree(kind, text):
    sf = parse_spec_text(f'model "../models/teardown.tcpm"\n{kind} p "random": {text}\n',
                         str(ROOT / "specs" / "random.spec"))
    (prop,) = resolve(sf, _TS)
    alphabet = Alphabet(_EX, query._Eval(_EX), [prop.formula], NO_DEADLINE)
    _same_product(_EX, prop.formula, alphabet)
    assert query.check_property(_EX, prop) == _generic_verdicts(_EX, [prop])[0]


def test_values_past_the_lists_are_placed_in_dicts(monkeypatch):
    # a formula with many monitor values keeps the later values' nodes in dicts: the same
    # product either way
    monkeypatch.setattr(monitor, "LIST_SLOTS", 1)
    sf = parse_spec_text('model "../models/teardown.tcpm"\n'
                         'runs p "x": count(sends(any, any)) <= 3 and eventually '
                         'client.state == TIME_WAIT\n', str(ROOT / "specs" / "x.spec"))
    (prop,) = resolve(sf, _TS)
    _same_product(_EX, prop.formula, Alphabet(_EX, query._Eval(_EX), [prop.formula],
                                              NO_DEADLINE))
