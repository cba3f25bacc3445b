"""Specs are grouped by the model and the parameter values they choose (tcpcheck.verify.
group_by_model): each group is explored once and, with the symbolic engine, its facts mined
and filtered by Houdini once. Two specs that choose the same values, in another order, in
another place (a spec's `with` or --param) share a group; others do not."""
from __future__ import annotations

import json

from conftest import DEFAULT_MODEL, run_tcpcheck
from tcpcheck.verify import group_by_model

PROPERTY = 'invariant {name} "no RST from the passive side before it closed": true\n'


def _spec(tmp_path, name: str, with_: str) -> object:
    path = tmp_path / f"{name}.spec"
    head = f'model "{DEFAULT_MODEL}"' + (f" with {with_}" if with_ else "")
    path.write_text(head + "\n" + PROPERTY.format(name=name), encoding="utf-8")
    return path


def test_the_same_values_written_in_another_order_or_place_share_a_group(tmp_path):
    a = _spec(tmp_path, "a", "data_phase = true, delayed_ack = false")
    b = _spec(tmp_path, "b", "delayed_ack = false, data_phase = true")
    c = _spec(tmp_path, "c", "delayed_ack = false")
    d = _spec(tmp_path, "d", "data_phase = false, delayed_ack = false")
    groups = group_by_model([a, b, c, d], None, DEFAULT_MODEL, ["data_phase=true"])
    # --param data_phase=true overrides d's `with`: all four choose the same
    assert [[p.name for p, _sf in g] for g in groups.values()] == [["a.spec", "b.spec",
                                                                     "c.spec", "d.spec"]]
    groups = group_by_model([a, b, c, d], None, DEFAULT_MODEL)
    assert [[p.name for p, _sf in g] for g in groups.values()] == [["a.spec", "b.spec"],
                                                                    ["c.spec"], ["d.spec"]]


def test_two_specs_choosing_the_same_values_are_checked_on_one_model(tmp_path):
    a = _spec(tmp_path, "a", "data_phase = true")
    b = _spec(tmp_path, "b", "")
    for engine in ("explicit", "symbolic"):
        r = run_tcpcheck("check", str(a), str(b), "--param", "data_phase=true", "--engine",
                         engine, "--depth", "1", "--json")
        doc = json.loads(r.stdout)
        assert "models" not in doc, (engine, r.stdout[:300])
        assert sorted(p["name"] for p in doc["properties"]) == ["a", "b"], engine
