"""Calls of the user's own (`call drain(ONE, ALL)`, `call abort`): declared in the model, taken
by transitions, named by specs, shown in traces, ladders and replays like the built-in calls."""
from __future__ import annotations

import json

import pytest

import tcpcheck
from tcpcheck import syntax as ast
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.parse import parse_text
from tcpcheck.tcp import APP_CALLS
from tcpcheck.typecheck import check

from conftest import ROOT, run_tcpcheck
from test_check import errors, model, pos, where

EXAMPLE = ROOT / "docs" / "examples" / "drain.tcpm"


def test_a_call_declaration_parses_with_its_arguments_and_where_they_are():
    text = "call drain(ONE, ALL)\ncall abort\n"
    drain, abort = parse_text(text, "m.tcpm").decls
    assert isinstance(drain, ast.CallDecl) and isinstance(abort, ast.CallDecl)
    assert (drain.name, drain.args, abort.name, abort.args) == ("drain", ("ONE", "ALL"), "abort", ())
    assert [(s.line, s.column) for s in drain.arg_spans] == [(1, 12), (1, 17)]
    assert (drain.name_span.column, abort.name_span.line) == (6, 2)


def test_the_checked_model_knows_its_own_calls_after_the_built_in_ones():
    text = model("    on call drain(ALL) { }\n    on call abort { }",
                 top="call drain(ONE, ALL)\ncall abort")
    m = check(parse_text(text, "m.tcpm"))
    assert [(c.name, c.args) for c in m.calls] == [("drain", ("ONE", "ALL")), ("abort", ())]
    calls = m.app_calls()
    assert list(calls)[:len(APP_CALLS)] == list(APP_CALLS)
    assert calls["drain"] == ("ONE", "ALL") and calls["abort"] == ()
    events = [t.event for t in m.endpoint("tcp").transitions if t.event.kind == "call"]
    assert [e.label() for e in events] == ["close()", "drain(ALL)", "abort()"]


def test_a_call_may_be_declared_after_the_transition_that_takes_it():
    text = model("    on call abort { }") + "call abort\n"
    assert [c.name for c in check(parse_text(text, "m.tcpm")).calls] == ["abort"]


def test_an_undeclared_call_is_unknown_and_the_error_says_how_to_declare_it():
    text = model("    on call abort { }")
    (d,) = errors(text)
    assert (d.code, d.message) == ("TCP204", "unknown application call 'abort'")
    assert where(d) == pos(text, "abort")
    assert d.notes[-1] == "a call of the program's own is declared at top level: 'call abort'"


@pytest.mark.parametrize("top, body, code, needle, message", [
    ("call drain(ONE, ALL)", "on call drian(ALL) { }", "TCP204", "drian",
     "unknown application call 'drian'; did you mean 'drain'?"),
    ("call drain(ONE, ALL)", "on call drain(AL) { }", "TCP213", "AL)",
     "drain() takes ONE or ALL, not 'AL'; did you mean 'ALL'?"),
    ("call drain(ONE, ALL)", "on call drain { }", "TCP213", "drain {",
     "drain needs an argument: drain(ONE) or drain(ALL)"),
    ("call abort", "on call abort(NOW) { }", "TCP213", "NOW",
     "abort() takes no argument; write 'on call abort'"),
    ("call close", "", "TCP200", "close\n", "'close' is a built-in application call"),
    ("call abort\ncall abort", "", "TCP200", "abort\n", "call 'abort' is already declared"),
    ("call drain(ONE, ONE)", "", "TCP200", "ONE)", "argument 'ONE' of call 'drain' is already declared"),
])
def test_a_call_declared_or_used_wrongly_is_located(top, body, code, needle, message):
    text = model("    " + body, top=top)
    # (a call declared and not answered is also warned about: TCP216, tested below)
    (d,) = [d for d in errors(text) if d.severity == "error"]
    assert (d.code, d.message) == (code, message)
    nth = 1 if top == "call abort\ncall abort" else 0
    assert where(d) == pos(text, needle, nth)


def test_a_call_declaration_is_a_declaration_in_syntax_errors():
    with pytest.raises(TcpcheckError) as err:
        parse_text("call\n", "m.tcpm")
    assert err.value.diagnostics[0].code == "TCP102"   # the end of the file, not a name
    with pytest.raises(TcpcheckError) as err:
        parse_text("model m\nstate\n", "m.tcpm")
    assert "channel or call)" in err.value.diagnostics[0].message


def test_specs_name_the_models_own_calls_and_their_verdicts_come_from_exploring():
    result = run_tcpcheck("check", "docs/examples/drain.spec", "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    verdicts = {p["name"]: p["verdict"] for p in doc["properties"]}
    assert verdicts["drain_then_fin"] == "holds" and verdicts["abort_sends_a_rst"] == "holds"
    (witness,) = [p for p in doc["properties"] if p["name"] == "drain_then_fin"]
    events = [s["event"] for s in witness["trace"] if s.get("kind") == "call"]
    assert "drain(ALL)" in events and events.index("drain(ALL)") < len(events) - 1


def test_a_spec_saying_the_wrong_thing_about_a_user_call_is_violated(tmp_path):
    spec = tmp_path / "wrong.spec"
    spec.write_text(f'model "{EXAMPLE}"\n'
                    "runs always_drains: calls(server, drain(ALL))\n", encoding="utf-8")
    result = run_tcpcheck("check", str(spec), "--no-progress")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "always_drains" in result.stdout and "violated" in result.stdout


def test_traces_ladders_and_replays_name_the_users_call():
    ts = tcpcheck.load(EXAMPLE)
    labels = {v.event.label() for v in ts.variants if v.event is not None}
    assert {"drain(ONE)", "drain(ALL)", "abort()"} <= labels
    result = run_tcpcheck("replay", "docs/examples/drain.tcpm", "docs/examples/drained.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "accepted" in result.stdout and "drain(ONE)" in result.stdout


def test_a_spec_names_a_call_with_arguments_without_one_for_any_of_them(tmp_path):
    spec = tmp_path / "any_drain.spec"
    spec.write_text(f'model "{EXAMPLE}"\n'
                    "reachable server_drains: calls(server, drain)\n"
                    "runs client_never_drains: never calls(client, drain)\n"
                    "runs one_drain_is_a_drain: calls(server, drain(ONE)) implies "
                    "calls(server, drain)\n", encoding="utf-8")
    result = run_tcpcheck("check", str(spec), "--json", "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = {p["name"]: p["verdict"] for p in json.loads(result.stdout)["properties"]}
    assert verdicts == {"server_drains": "holds", "client_never_drains": "holds",
                        "one_drain_is_a_drain": "holds"}


@pytest.mark.parametrize("word", ["any", "when", "send", "observe", "call"])
def test_a_call_named_with_a_word_of_the_model_language_is_refused(word):
    # `on call any` would read as "on any call": the declaration is the error, its uses are not
    text = model(f"    on call {word} {{ }}", top=f"call {word}")
    (d,) = errors(text)
    assert (d.code, d.severity) == ("TCP215", "error")
    assert d.message == f"'{word}' is a word of the model language, not a call name"
    assert where(d) == pos(text, f"{word}\n")


def test_a_declared_call_no_transition_answers_is_a_warning_and_the_model_still_checks():
    text = model("    on call drain { }", top="call drain\ncall half_close(SOFT, HARD)")
    checked = check(parse_text(text, "m.tcpm"))
    (w,) = checked.warnings
    assert (w.code, w.severity, w.message) == (
        "TCP216", "warning", "call 'half_close' is declared but no transition answers it")
    assert where(w) == pos(text, "half_close")
    answered = model("    on call drain { }", top="call drain")
    assert check(parse_text(answered, "m.tcpm")).warnings == ()


def test_check_prints_the_warning_and_still_exits_with_the_verdicts_status(tmp_path, golden):
    path = tmp_path / "m.tcpm"
    path.write_text(EXAMPLE.read_text(encoding="utf-8") + "\ncall half_close\n", encoding="utf-8")
    spec = tmp_path / "s.spec"
    spec.write_text('model "m.tcpm"\nreachable drains: calls(server, drain(ALL))\n',
                    encoding="utf-8")
    result = run_tcpcheck("check", str(spec), "--no-progress")
    assert result.returncode == 0, result.stderr
    golden("diagnostics/unanswered_call.txt", result.stderr.replace(str(tmp_path), "TMP"))
    result = run_tcpcheck("check", str(spec), "--no-progress", "--json")
    [w] = json.loads(result.stdout)["warnings"]
    assert (w["code"], w["severity"], w["line"]) == ("TCP216", "warning",
                                                     path.read_text().count("\n"))
