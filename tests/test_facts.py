"""tcpcheck.facts: what a model and a spec declare, as editors and `tcpcheck list` show it."""
from __future__ import annotations

import re

from conftest import ROOT

from tcpcheck.facts import model_facts, spec_facts
from tcpcheck.parse import parse_file, parse_text
from tcpcheck.spec import parse_spec_file

MODEL = ROOT / "models" / "teardown.tcpm"


def test_every_observation_of_the_default_model_with_the_transitions_that_record_it():
    facts = model_facts(parse_file(MODEL))
    text = MODEL.read_text()
    written = set(re.findall(r"\bobserve (\w+)", text))
    # and the network's loss step records segment_lost on each lossy channel
    lossy = [ln for ln in text.split("\n") if re.match(r"channel .* lossy", ln)]
    assert lossy
    assert {o.name for o in facts.observations} == written | {"segment_lost"}
    lines = text.split("\n")
    for o in facts.observations:
        for r in o.recorded_by:
            if o.name == "segment_lost":
                assert r.endpoint == "network" and lines[r.at.line - 1] in lossy
                assert r.event.startswith("loss on ")
                continue
            assert f"observe {o.name}" in lines[r.span.line - 1]
            assert r.transition.startswith("on ") and r.endpoint == "tcp"
            assert lines[r.at.line - 1].lstrip().startswith("on ") and " when " not in r.event
    assert len(facts.observation("segment_lost").recorded_by) == len(lossy)
    reset = facts.observation("rst_for_unread_data")
    assert "on call close when state == ESTABLISHED" in {r.transition for r in reset.recorded_by}


def test_names_with_their_declaration_comment_and_place():
    facts = model_facts(parse_file(MODEL))
    [delack] = [s for s in facts.of_kind("timer") if s.name == "delack"]
    assert delack.detail == "timer delack 0ms..200ms" and delack.scope == "tcp"
    assert "icsk_ack.ato" in delack.comment
    [param] = [s for s in facts.of_kind("param") if s.name == "linger_zero"]
    assert param.detail == "param linger_zero: bool = false"
    assert param.comment == ("SO_LINGER with a zero timeout: close() aborts the connection "
                             "with an RST.")
    line = MODEL.read_text().split("\n")[param.span.line - 1]
    assert line[param.span.column - 1:param.span.end_column - 1] == "linger_zero"
    assert facts.instances() == {"client": "tcp", "server": "tcp"}
    assert {"close", "shutdown", "write", "read"} <= set(facts.calls)


def _small(top: str, var: str):
    """A two-endpoint model with `top` after its `model` line and `var` in its endpoint."""
    return parse_text(f"model m\n{top}endpoint e() {{\n{var}    on call close {{ n := 1 }}\n}}\n"
                      "instance client = e()\ninstance server = e()\n"
                      "channel client -> server capacity 1\nchannel server -> client capacity 1\n",
                      "m.tcpm")


def test_a_comment_beside_a_declaration_goes_on_below_it():
    mf = _small("", "    var n: 0..2 = 0   # how many,\n                      # at most two\n")
    [n] = model_facts(mf).of_kind("var")
    assert n.comment == "how many, at most two" and n.detail == "var n: 0..2 = 0"


def test_a_specs_properties():
    props = spec_facts(parse_spec_file(ROOT / "specs" / "teardown.spec"))
    [p] = [p for p in props if p.name == "three_way_close_is_possible"]
    assert p.detail == 'reachable three_way_close_is_possible "a three-way close can happen"'


def test_each_call_with_its_argument_and_the_transitions_that_answer_it():
    facts = model_facts(parse_file(ROOT / "docs" / "examples" / "drain.tcpm"))
    answered = {a.call: [r.event for r in a.answered_by] for a in facts.answered}
    assert answered["drain(ALL)"] == ["on call drain(ALL)"]
    assert answered["close"] == ["on call close", "on call close"]
    assert set(facts.calls) == {c.split("(")[0] for c in answered}


def test_a_comment_above_a_section_rule_is_not_the_declarations():
    mf = _small("# about the model\n# ---- parameters\nparam p: bool\n",
                "    var n: 0..2 = 0\n")
    [p] = model_facts(mf).of_kind("param")
    assert p.comment == ""
