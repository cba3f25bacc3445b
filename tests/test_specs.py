"""The shipped specs: each holds on the default model, and each can fail.

A property that cannot fail proves nothing, so for every shipped property there is a variant
of the default model (one rule changed, made here by editing the model's text) or a negated
spec on which the checker must produce a counterexample.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import tcpcheck
from conftest import DEFAULT_MODEL, ROOT, run_tcpcheck
from tcpcheck.explore import explore
from tcpcheck.query import check_property
from tcpcheck.spec import parse_spec_file, parse_spec_text, resolve
from tcpcheck.verdicts import Verdict

SPEC = ROOT / "specs" / "teardown.spec"
MODEL_TEXT = DEFAULT_MODEL.read_text(encoding="utf-8")


def verdicts(model_path: Path, spec_text: str | None = None, params=(),
             only: tuple[str, ...] | None = None) -> dict:
    """The verdict of every property of the spec (of those named in `only`: a timing query
    asks z3 for seconds, which a test about another property need not wait for)."""
    ts = tcpcheck.load(model_path, list(params))
    ex = explore(ts)
    sf = parse_spec_text(spec_text, "test.spec") if spec_text else parse_spec_file(SPEC)
    return {p.name: check_property(ex, p) for p in resolve(sf, ts)
            if only is None or p.name in only}


def verdict_of(model_path: Path, name: str, params=()):
    """The verdict of one property of the default spec."""
    return verdicts(model_path, params=params, only=(name,))[name]


def variant(tmp_path: Path, old: str, new: str, name: str = "variant.tcpm") -> Path:
    """The default model with one rule changed."""
    assert MODEL_TEXT.count(old) == 1, f"the default model no longer contains {old!r} once"
    path = tmp_path / name
    path.write_text(MODEL_TEXT.replace(old, new), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def default_verdicts():
    return verdicts(DEFAULT_MODEL)


def test_every_shipped_property_holds_on_the_default_model(default_verdicts):
    assert default_verdicts, "the shipped spec has no properties"
    wrong = {n: (v.verdict, v.message) for n, v in default_verdicts.items()
             if v.verdict is not Verdict.HOLDS}
    assert not wrong


def test_three_way_close_witness_is_fin_finack_ack_within_the_timer_ranges(default_verdicts):
    v = default_verdicts["three_way_close_is_possible"]
    ex_ts = tcpcheck.load(DEFAULT_MODEL)
    sent = [ex_ts.variants[vid].segments() for vid, _ in v.run[1:]]
    flat = [s for seg in sent for s in seg]
    assert flat == ["FIN", "FIN+ACK", "ACK"]
    # the FIN+ACK leaves before the delayed-ACK timer (0..200 ms after the FIN arrived) fires
    steps = [ex_ts.variants[vid] for vid, _ in v.run[1:]]
    fin_arrives = next(i for i, s in enumerate(steps, 1) if s.event.kind == "recv")
    finack = next(i for i, s in enumerate(steps, 1) if "FIN+ACK" in s.segments())
    assert 0 <= v.times[finack] - v.times[fin_arrives] < 200


def test_think_time_query_answers_think_below_delayed_ack(default_verdicts):
    v = default_verdicts["three_way_close_needs_a_prompt_close"]
    assert v.verdict is Verdict.HOLDS
    assert v.answer == "server.think <= server.delack"


def test_three_way_close_requires_delayed_ack_fails_when_the_ack_is_always_delayed(tmp_path):
    model = variant(tmp_path, "        if delayed_ack {\n            arm delack",
                    "        if true {\n            arm delack")
    v = verdict_of(model, "three_way_close_needs_delayed_ack_and_no_data")
    assert v.verdict is Verdict.VIOLATED
    assert v.run is not None


def test_three_way_close_requires_no_data_fails_when_data_does_not_carry_the_ack(tmp_path):
    model = variant(tmp_path, "        replied := true\n        cancel delack\n",
                    "        replied := true\n")
    v = verdict_of(model, "three_way_close_needs_delayed_ack_and_no_data")
    assert v.verdict is Verdict.VIOLATED


def test_three_segments_fails_when_the_three_way_close_sends_an_extra_ack(tmp_path):
    model = variant(tmp_path, "            send FIN+ACK(ack = rcvd)\n",
                    "            send ACK(ack = rcvd)\n            send FIN+ACK(ack = rcvd)\n")
    assert verdict_of(model, "three_way_close_takes_three_segments").verdict is Verdict.VIOLATED


def test_time_wait_property_fails_when_the_passive_side_waits_too(tmp_path):
    model = variant(tmp_path, "        } elif state == LAST_ACK and seg.ack == sent + 1 {\n"
                    "            state := CLOSED\n",
                    "        } elif state == LAST_ACK and seg.ack == sent + 1 {\n"
                    "            state := TIME_WAIT\n            arm time_wait\n")
    vs = verdicts(model, only=("time_wait_only_on_the_side_that_sent_fin_first",
                               "time_wait_only_after_the_peer_closed"))
    assert vs["time_wait_only_on_the_side_that_sent_fin_first"].verdict is Verdict.VIOLATED
    assert vs["time_wait_only_after_the_peer_closed"].verdict is Verdict.HOLDS  # a different rule


def test_time_wait_invariant_fails_when_the_ack_of_fin_leads_to_time_wait(tmp_path):
    model = variant(tmp_path, "        if state == FIN_WAIT_1 and seg.ack == sent + 1 {\n"
                    "            state := FIN_WAIT_2\n",
                    "        if state == FIN_WAIT_1 and seg.ack == sent + 1 {\n"
                    "            state := TIME_WAIT\n            arm time_wait\n")
    v = verdict_of(model, "time_wait_only_after_the_peer_closed")
    assert v.verdict is Verdict.VIOLATED
    assert v.run is not None and len(v.run) >= 3


def test_termination_fails_when_time_wait_never_expires(tmp_path):
    model = variant(tmp_path, "    on expire time_wait {\n        state := CLOSED\n    }\n", "")
    v = verdict_of(model, "every_close_ends_with_both_sides_closed")
    assert v.verdict is Verdict.VIOLATED
    assert "deadlock" in v.message


def test_negated_witness_specs_produce_counterexamples():
    spec = (
        'model "../models/teardown.tcpm"\n'
        "runs no_three_way: not observed three_way_close\n"
        "runs no_four_way: not (count(sends(any, any)) == 4 and count(sends(any, FIN)) == 2"
        " and count(sends(any, ACK)) == 2)\n"
        "runs no_simultaneous: not (eventually client.state == CLOSING and eventually "
        "server.state == CLOSING)\n"
    )
    vs = verdicts(DEFAULT_MODEL, spec)
    for name in ("no_three_way", "no_four_way", "no_simultaneous"):
        assert vs[name].verdict is Verdict.VIOLATED, name
        assert vs[name].run is not None


def test_the_delayed_ack_races_only_a_close_at_its_expiry(default_verdicts):
    # the kernel's window (tcp_delack_timer against tcp_send_fin) is microseconds: the stale
    # ACK needs the delayed-ACK timer to fire within `ack_race` (100 us) of the close
    v = default_verdicts["the_delayed_ack_races_only_a_close_at_its_expiry"]
    assert v.verdict is Verdict.HOLDS
    assert v.answer == "server.delack <= server.think + 0.1 ms and server.think <= server.delack"


def test_without_the_race_window_any_close_before_the_timer_races_it(tmp_path):
    # the rule removed: the held-back ACK may leave any time until the peer's last ACK ends
    # LAST_ACK (a round trip: 100 ms on the model's network), so the race would follow a close
    # up to 100 ms before the timer fires (what the model once said)
    model = variant(tmp_path, "        state := LAST_ACK\n        arm ack_race\n",
                    "        state := LAST_ACK\n")
    v = verdict_of(model, "the_delayed_ack_races_only_a_close_at_its_expiry")
    assert v.verdict is Verdict.HOLDS
    assert v.answer == "server.delack <= server.think + 100 ms and server.think <= server.delack"


def test_timing_query_is_never_when_the_application_always_thinks_longer(tmp_path):
    model = variant(tmp_path, "timer think 0ms..inf", "timer think 500ms..inf")
    vs = verdicts(model, only=("three_way_close_needs_a_prompt_close",
                               "three_way_close_is_possible"))
    assert vs["three_way_close_needs_a_prompt_close"].verdict is Verdict.VIOLATED
    reach = vs["three_way_close_is_possible"]
    assert reach.verdict is Verdict.VIOLATED
    # the explanation names the model's own timers
    assert any("server.delack" in n and "500" in n for n in reach.notes)


def test_timing_query_with_a_known_answer_by_hand(tmp_path):
    # think lasts 100..300 ms, delayed ACK 40..200 ms: a three-way close needs think < delack,
    # which within those ranges is possible, and the answer names exactly that
    model = variant(tmp_path, "timer think 0ms..inf", "timer think 100ms..300ms")
    v = verdict_of(model, "three_way_close_needs_a_prompt_close")
    assert v.verdict is Verdict.HOLDS
    assert v.answer == "server.think <= server.delack"


def test_check_command_prints_a_table_and_exits_0():
    result = run_tcpcheck("check", "--no-progress")
    assert result.returncode == 0, result.stderr
    for name in ("three_way_close_is_possible", "every_close_ends_with_both_sides_closed"):
        assert name in result.stdout
    assert "Traceback" not in result.stderr


def test_check_json_has_the_documented_shape_and_is_deterministic():
    first = run_tcpcheck("check", "specs/teardown.spec", "--json", "--no-timing")
    second = run_tcpcheck("check", "specs/teardown.spec", "--json", "--no-timing")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    doc = json.loads(first.stdout)
    assert {"model", "states", "edges", "properties"} <= set(doc)
    props = {p["name"]: p for p in doc["properties"]}
    witness = props["three_way_close_is_possible"]
    assert witness["verdict"] == "holds"
    steps = witness["trace"][1:]
    assert [s["segment"] for s in steps if s["segment"]] == ["FIN", "FIN+ACK", "ACK"]
    assert all({"event", "endpoint", "segment", "time_ms"} <= set(s) for s in steps)
    assert props["every_close_ends_with_both_sides_closed"]["trace"] is None


def test_check_json_of_every_spec_keeps_the_same_top_level_shape():
    # no arguments: 8 spec files, each against its own configuration of the model
    r = run_tcpcheck("check", "--json", "--no-timing", "--no-progress")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {"model", "states", "edges", "properties", "models"} <= set(doc)
    assert doc["model"] == "models/teardown.tcpm"
    assert doc["states"] == sum(m["states"] for m in doc["models"])
    assert len(doc["properties"]) == sum(len(m["properties"]) for m in doc["models"])
    assert {p["verdict"] for p in doc["properties"]} == {"holds"}
    loss = [p for p in doc["properties"] if "lossy_network=true" in p["params"]]
    assert loss and all(p["model"] == doc["model"] for p in loss)


LOSS_SPEC = """model "MODEL" with lossy_network = true, delayed_ack = true, passive_has_data = false
reachable a_fin_is_lost: loses(client, FIN)
reachable an_rst_is_lost: loses(any, RST)
runs only_fin_or_ack_is_lost: never loses(any, DATA | RST)
"""


def test_loses_speaks_of_the_segment_the_network_drops(tmp_path):
    spec = tmp_path / "loses.spec"
    spec.write_text(LOSS_SPEC.replace("MODEL", str(DEFAULT_MODEL)), encoding="utf-8")
    r = run_tcpcheck("check", str(spec), "--json", "--no-timing", "--no-progress")
    props = {p["name"]: p for p in json.loads(r.stdout)["properties"]}
    assert props["a_fin_is_lost"]["verdict"] == "holds"
    lost = [s for s in props["a_fin_is_lost"]["trace"] if s.get("kind") == "loss"]
    assert lost and lost[0]["lost"]["flags"] == "FIN" and lost[0]["channel"] == "client->server"
    # the model's channels lose only FIN, FIN+ACK and ACK
    assert props["an_rst_is_lost"]["verdict"] == "violated"
    assert props["only_fin_or_ack_is_lost"]["verdict"] == "holds"
    assert r.returncode == 1


def test_check_exits_1_on_a_violated_property(tmp_path):
    spec = tmp_path / "neg.spec"
    spec.write_text(f'model "{DEFAULT_MODEL}"\nruns no_three_way: never observed three_way_close\n')
    result = run_tcpcheck("check", str(spec), "--no-progress")
    assert result.returncode == 1
    assert "violated" in result.stdout and "FIN+ACK" in result.stdout


def test_spec_errors_name_file_line_column_and_exit_2(tmp_path):
    spec = tmp_path / "bad.spec"
    spec.write_text('model "%s"\ninvariant typo: client.stat == CLOSED\n'
                    "runs bad_flag: sends(client, FNI)\n" % DEFAULT_MODEL)
    result = run_tcpcheck("check", str(spec), "--no-progress")
    assert result.returncode == 2
    assert f"{spec}:2:17: error[TCP201]: client has no variable 'stat'; did you mean 'state'?" \
        in result.stderr
    assert "error[TCP203]: unknown segment flag 'FNI'" in result.stderr
    assert "Traceback" not in result.stderr


def test_termination_tells_an_application_that_never_closes_from_a_tcp_deadlock():
    v = verdict_of(DEFAULT_MODEL, "every_close_ends_with_both_sides_closed",
                   params=["passive_never_closes=true"])
    assert v.verdict is Verdict.VIOLATED
    assert "wait for their applications" in v.message and "CLOSE_WAIT" in v.message
    assert "deadlock" not in v.message


def _negations(spec_path: Path) -> str:
    """Every shipped property negated into a `runs` property (which must then fail)."""
    sf = parse_spec_file(spec_path)
    with_ = (" with " + ", ".join(f"{p.name} = {p.value}" for p in sf.params)) if sf.params else ""
    lines = [f'model "{DEFAULT_MODEL}"{with_}']
    for p in sf.properties:
        if p.kind == "terminates":
            formula = "finally (client.state == CLOSED and server.state == CLOSED)"
        else:
            text = spec_path.read_text().splitlines()
            formula = p.formula.span  # the formula as written, from its span
            rows = text[formula.line - 1: formula.end_line]
            rows[-1] = rows[-1][: formula.end_column - 1]
            rows[0] = rows[0][formula.column - 1:]
            formula = " ".join(r.strip() for r in rows)
            if p.kind == "invariant":
                formula = f"always ({formula})"
            elif p.kind == "timing":
                formula = f"({formula})"
        lines.append(f"runs not_{p.name}: not ({formula})")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("shipped", sorted((ROOT / "specs").glob("*.spec")), ids=lambda p: p.stem)
def test_negating_any_shipped_property_gives_a_counterexample_diagram(tmp_path, shipped):
    spec = tmp_path / "negated.spec"
    spec.write_text(_negations(shipped))
    out = tmp_path / "out"
    result = run_tcpcheck("check", str(spec), "--out", str(out), "--json", "--no-progress")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["properties"]) == len(parse_spec_file(shipped).properties)
    for p in doc["properties"]:
        assert p["verdict"] == "violated", p["name"]
        assert p["trace"], p["name"]
        ladder = [f for f in p["files"] if ".ladder." in f]
        assert ladder and Path(ladder[0]).exists(), p["name"]
