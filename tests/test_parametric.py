"""models/parametric.tcpm: the default model with its size bounds as parameters (D data segments
a side told apart, P sharing processes, L losses a channel; scripts/parametric.py).

It must be the default model where the bounds are the default's, grow as documented where
they are not, and give the same verdicts with both engines."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import z3

from tcpcheck import DEFAULT_MODEL, load
from tcpcheck import spec as S
from tcpcheck.bmc import agrees, check_bounded
from tcpcheck.explore import explore
from tcpcheck.symbolic import slot_state, symbolic_steps
from tcpcheck.verdicts import Verdict
from tcpcheck.verify import check_model

from conftest import ROOT

PARAMETRIC = ROOT / "models" / "parametric.tcpm"
SPECS = ROOT / "specs"


def _generator():
    spec = importlib.util.spec_from_file_location("parametric_gen", ROOT / "scripts" / "parametric.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_parametric_model_is_the_default_model_rewritten():
    """The committed file is what scripts/parametric.py makes of teardown.tcpm today: an edit
    of the default model carries over (or the script says which rewrite no longer applies)."""
    gen = _generator()
    assert PARAMETRIC.read_text(encoding="utf-8") == \
        gen.parametric(DEFAULT_MODEL.read_text(encoding="utf-8"))
    with pytest.raises(gen.OutOfStep, match="min"):
        gen.parametric(DEFAULT_MODEL.read_text(encoding="utf-8").replace(
            "min(sent + 1, 2)", "min(sent + 1, 3)", 1))


# configurations of the shipped specs, small enough to explore here twice
CONFIGS = [
    [],                                                     # teardown.spec: the basic close
    ["shared_socket=true"],
    ["early_data=true", "more_calls=true", "delayed_ack=true"],
    ["lossy_network=true", "delayed_ack=true", "passive_has_data=false"],
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(c) or "basic")
def test_at_the_default_bounds_it_explores_the_default_models_states(config):
    """D=2, P=1, L=1 (the defaults): the same packed states (the new parameters and P's
    counter are constants of width 0) and as many edges and terminal states."""
    default = explore(load(DEFAULT_MODEL, config))
    param = explore(load(PARAMETRIC, config))
    assert default.complete and param.complete
    assert set(param.states) == set(default.states)
    assert (param.edge_count, len(param.terminal)) == (default.edge_count, len(default.terminal))


def _verdicts(model: Path, spec: Path, extra: list[str]) -> dict[str, str]:
    sf = S.parse_spec_file(spec)
    params = list(sf.params) + extra
    result = check_model(model, [(spec, sf)], params, None, None)
    return {v.name: str(v.verdict) for v in result.verdicts}


@pytest.mark.parametrize("spec", ["teardown", "shared_socket"])
def test_at_d1_the_shipped_specs_give_the_default_models_verdicts(spec):
    """D=1 counts data up to one segment: without data_phase no side sends more, so every
    kind of close (teardown.spec's witnesses: four-way, three-way, simultaneous) and every
    verdict is the default model's."""
    path = SPECS / f"{spec}.spec"
    default = _verdicts(DEFAULT_MODEL, path, [])
    assert default and set(default.values()) == {"holds"}
    assert _verdicts(PARAMETRIC, path, ["D=1"]) == default


# Explicit state counts (reduced, as `tcpcheck explore`) with delayed_ack=true and
# passive_has_data=false; the README's table of the parametric model says the same.
GROWTH = {
    "D": (["data_phase=true"], {1: 35_568, 2: 125_045}),
    "P": (["shared_socket=true"], {1: 151, 2: 174, 3: 199}),
    "L": (["lossy_network=true"], {0: 1_169, 1: 16_384, 2: 78_611}),
}


@pytest.mark.parametrize("name", sorted(GROWTH))
def test_the_state_count_grows_with_each_parameter_as_documented(name):
    config, counts = GROWTH[name]
    got = {}
    for value in counts:
        ex = explore(load(PARAMETRIC, ["delayed_ack=true", "passive_has_data=false", *config,
                                       f"{name}={value}"]), record_edges=False)
        assert ex.complete
        got[value] = len(ex.states)
    assert got == counts
    assert list(got.values()) == sorted(set(got.values()))   # strictly growing


def test_the_per_slot_steps_take_the_successor_functions_steps_with_a_constant_slot():
    """P=1 makes the sharing counter a slot of width 0 at the offset of the next slot (`sent`):
    the per-slot successors must still be the successor function's (they once wrote the
    constant's value over `sent`, and bounded model checking reported a run that did not
    replay)."""
    ts = load(PARAMETRIC, ["delayed_ack=true", "passive_has_data=true"])  # the reply: sent 1
    assert any(s.width == 0 and s.name.endswith("more_refs") for s in ts.slots)
    ex = explore(ts, record_edges=False)
    here = slot_state(ts, "s")
    steps = symbolic_steps(ts, here.packed, by_slot=True)
    for state in ex.states[::4]:
        sub = [(v, z3.BitVecVal((state >> slot.offset) & slot.mask, slot.width))
               for v, slot in zip(here.slots, ts.slots) if v is not None]
        got = sorted((p.variant, z3.simplify(z3.substitute(p.successor, *sub)).as_long())
                     for st in steps for p in st.paths
                     if z3.is_true(z3.simplify(z3.substitute(p.condition, *sub))))
        assert got == sorted(ts.successors(state)), hex(state)


@pytest.mark.parametrize("size", [["D=1"], ["shared_socket=true", "P=3"]],
                         ids=lambda s: ",".join(s))
def test_both_engines_agree_on_the_invariants_at_small_sizes(size, tmp_path):
    """teardown.spec's invariant on the parametric model and on its failing variant
    (tests/test_domain_specs.py), at D=1 and at P=3: holds / holds up to 3 steps, and the
    variant's shortest violation (3 steps) found by both at that depth. (bench/engines.py
    compares them at sizes the explorer cannot finish.)"""
    from test_domain_specs import VARIANTS
    _spec, old, new = VARIANTS["time_wait_only_after_the_peer_closed"]
    text = PARAMETRIC.read_text(encoding="utf-8")
    variant = tmp_path / "variant.tcpm"
    variant.write_text(text.replace(old, new))
    spec = SPECS / "teardown.spec"
    sf = S.parse_spec_file(spec)
    params = ["delayed_ack=false", "passive_has_data=false", *size]
    depth = 3
    for model, expected in ((PARAMETRIC, Verdict.BOUNDED), (variant, Verdict.VIOLATED)):
        explicit = check_model(model, [(spec, sf)], params, None, None)
        by_name = {e.name: e for e in explicit.verdicts}
        ts = load(model, params)
        props = [p for p in S.resolve(sf, ts) if p.kind == "invariant"]
        for r in check_bounded(ts, props, depth):
            assert r.verdict is expected, (model.name, r.name, r.message)
            assert agrees(by_name[r.name], r) is True, (model.name, r.name)
