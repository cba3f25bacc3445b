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
    assert {o.name for o in facts.observations} == written
    lines = text.split("\n")
    for o in facts.observations:
        for r in o.recorded_by:
            assert f"observe {o.name}" in lines[r.span.line - 1]
            assert r.transition.startswith("on ") and r.endpoint == "tcp"
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


def test_a_comment_beside_a_declaration_goes_on_below_it():
    mf = parse_text("model m\nendpoint e() {\n    var n: 0..2 = 0   # how many,\n"
                    "                      # at most two\n    on call close { n := 1 }\n}\n"
                    "instance client = e()\ninstance server = e()\n"
                    "channel client -> server capacity 1\nchannel server -> client capacity 1\n",
                    "m.tcpm")
    [n] = model_facts(mf).of_kind("var")
    assert n.comment == "how many, at most two" and n.detail == "var n: 0..2 = 0"


def test_a_specs_properties():
    props = spec_facts(parse_spec_file(ROOT / "specs" / "teardown.spec"))
    [p] = [p for p in props if p.name == "three_way_close_is_possible"]
    assert p.detail == 'reachable three_way_close_is_possible "a three-way close can happen"'
