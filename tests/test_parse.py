"""The parser: model text -> syntax tree with 1-based spans, or one diagnostic in plain words."""
from __future__ import annotations

import re

import pytest

from tcpcheck import syntax as ast
from tcpcheck.diagnostics import Span, TcpcheckError
from tcpcheck.parse import _parser, _words, parse_file, parse_text

from conftest import DEFAULT_MODEL

# ---------------------------------------------------------------- helpers


def syntax_error(text: str):
    """The single diagnostic a syntax error in `text` produces."""
    with pytest.raises(TcpcheckError) as info:
        parse_text(text, "m.tcpm")
    (diag,) = info.value.diagnostics
    return diag


def at(diag) -> tuple[int, int]:
    return diag.span.line, diag.span.column


def endpoint(body: str, header: str = "endpoint tcp() {") -> str:
    """An endpoint with `body` inside it, on lines 2.. of the file."""
    return f"{header}\n{body}\n}}\n"


# ---------------------------------------------------------------- valid input

FULL = '''\
model m "a doc"
param p: 0..3 = 1
enum phase { OPEN, SHUT, }
segment {
    ack: 0..2;
    urgent: bool
}
endpoint tcp(quick: bool) {
    var state: tcp_state = ESTABLISHED
    timer delack 40ms..0.2s
    on recv FIN | FIN+ACK after delack when state == FIN_WAIT_1 and seg.ack > 0 {
        state := TIME_WAIT; send ACK(ack = 1, urgent = true)
        if quick { arm delack } elif not quick { cancel delack } else { observe slow }
    }
}
instance client = tcp(quick = true)
channel client -> server capacity 2 lossy
'''


@pytest.fixture(scope="module")
def full():
    return {type(d).__name__: d for d in parse_text(FULL, "x.tcpm").decls}


def test_model_declaration_keeps_its_name_and_doc_string(full):
    assert full["ModelDecl"] == ast.ModelDecl("m", "a doc", Span("x.tcpm", 1, 1, 1, 16))


def test_doc_string_escapes_are_resolved():
    (decl,) = parse_text(r'model m "the \"three-way\" close, a \\ b"').decls
    assert decl.doc == 'the "three-way" close, a \\ b'


def test_param_span_is_one_based_and_ends_after_the_default(full):
    p = full["ParamDecl"]
    assert (p.name, p.default.value) == ("p", 1)
    assert isinstance(p.type, ast.RangeType)
    assert (p.type.lo.value, p.type.hi.value) == (0, 3)
    assert p.span == Span("x.tcpm", 2, 1, 2, 18)
    assert p.type.span == Span("x.tcpm", 2, 10, 2, 14)


def test_enum_allows_a_trailing_comma_and_records_each_value_span(full):
    e = full["EnumDecl"]
    assert e.values == ("OPEN", "SHUT")
    assert [(s.line, s.column) for s in e.value_spans] == [(3, 14), (3, 20)]


def test_segment_fields_with_and_without_semicolons(full):
    fields = full["SegmentDecl"].fields
    assert [f.name for f in fields] == ["ack", "urgent"]
    assert isinstance(fields[1].type, ast.BoolType)


def test_timer_durations_are_converted_to_milliseconds(full):
    (timer,) = full["EndpointDecl"].timers
    assert (timer.name, timer.lo.ms, timer.hi.ms) == ("delack", 40.0, 200.0)


@pytest.mark.parametrize("text, ms", [("500us", 0.5), ("40ms", 40.0), ("60s", 60000.0),
                                      ("1.5min", 90000.0), ("inf", None)])
def test_duration_units(text, ms):
    ep = parse_text(endpoint(f"timer t 0ms..{text}")).decls[0]
    assert ep.timers[0].hi.ms == ms


def test_recv_transition_with_patterns_after_and_guard(full):
    (tr,) = full["EndpointDecl"].transitions
    assert isinstance(tr.event, ast.Recv)
    assert [p.names for p in tr.event.patterns] == [("FIN",), ("FIN", "ACK")]
    assert tr.after == "delack" and tr.after_span == Span("x.tcpm", 11, 33, 11, 39)
    guard = tr.guard
    assert isinstance(guard, ast.Binary) and guard.op == "and"
    assert guard.left == ast.Binary(
        "==", ast.Name("state", Span("x.tcpm", 11, 45, 11, 50)),
        ast.Name("FIN_WAIT_1", Span("x.tcpm", 11, 54, 11, 64)), Span("x.tcpm", 11, 45, 11, 64))
    assert guard.right.left == ast.SegField("ack", Span("x.tcpm", 11, 69, 11, 76))
    assert tr.span == Span("x.tcpm", 11, 5, 14, 6)


def test_transition_body_statements(full):
    (tr,) = full["EndpointDecl"].transitions
    assign, send, if_ = tr.body
    assert assign.target == "state" and assign.target_span == Span("x.tcpm", 12, 9, 12, 14)
    assert send.flags.names == ("ACK",)
    assert [(f.field, f.value) for f in send.fields] == [
        ("ack", ast.IntLit(1, Span("x.tcpm", 12, 44, 12, 45))),
        ("urgent", ast.BoolLit(True, Span("x.tcpm", 12, 56, 12, 60)))]
    (c1, b1), (c2, b2), (c3, b3) = if_.branches
    assert c1 == ast.Name("quick", Span("x.tcpm", 13, 12, 13, 17)) and b1[0].timer == "delack"
    assert isinstance(c2, ast.Unary) and c2.op == "not"
    assert isinstance(b2[0], ast.Cancel)
    assert c3 is None and b3 == (ast.Observe("slow", Span("x.tcpm", 13, 73, 13, 85)),)


def test_instance_bindings_and_channel_options(full):
    inst, chan = full["InstanceDecl"], full["ChannelDecl"]
    assert (inst.name, inst.endpoint) == ("client", "tcp")
    assert inst.endpoint_span == Span("x.tcpm", 16, 19, 16, 22)
    assert [(b.name, b.value.value) for b in inst.bindings] == [("quick", True)]
    assert (chan.src, chan.dst, chan.capacity.value, chan.lossy) == ("client", "server", 2, True)


def test_application_call_events():
    ep = parse_text(endpoint("on call close { }\non call shutdown(SHUT_WR) { }\n"
                             "on expire delack { }\non internal send_owed_ack { }\n"
                             "on recv any { }")).decls[0]
    events = [t.event for t in ep.transitions]
    assert [(e.call, e.arg) for e in events[:2]] == [("close", None), ("shutdown", "SHUT_WR")]
    assert events[2].timer == "delack"
    assert events[3].name == "send_owed_ack"
    assert events[4].patterns is None


def test_operator_precedence_not_binds_tighter_than_and_tighter_than_or():
    (decl,) = parse_text("const c = a or not b and c == 1 + 2 * 3").decls
    e = decl.value
    assert e.op == "or"
    assert e.right.op == "and"
    assert isinstance(e.right.left, ast.Unary) and e.right.left.op == "not"
    cmp_ = e.right.right
    assert cmp_.op == "==" and cmp_.right.op == "+" and cmp_.right.right.op == "*"


def test_arithmetic_is_left_associative():
    (decl,) = parse_text("const c = 10 - 3 - 2").decls
    assert decl.value.op == "-" and decl.value.left.op == "-"
    assert decl.value.right.value == 2


def test_comments_are_ignored_and_keywords_may_name_variables():
    text = endpoint("# a comment { with a brace\n var timer: bool = true  # trailing\n"
                    " on call close { timer := false }")
    ep = parse_text(text).decls[0]
    assert ep.vars[0].name == "timer"
    assert ep.transitions[0].body[0].target == "timer"


def test_default_model_parses_into_its_declarations():
    mf = parse_file(DEFAULT_MODEL)
    assert mf.path == str(DEFAULT_MODEL)
    by_kind: dict[type, list] = {}
    for d in mf.decls:
        by_kind.setdefault(type(d), []).append(d)
    assert [m.name for m in by_kind[ast.ModelDecl]] == ["teardown"]
    assert [(i.name, i.endpoint) for i in by_kind[ast.InstanceDecl]] == [
        ("client", "tcp"), ("server", "tcp")]
    assert sorted((c.src, c.dst) for c in by_kind[ast.ChannelDecl]) == [
        ("client", "server"), ("server", "client")]
    (tcp,) = by_kind[ast.EndpointDecl]
    # the delayed-ACK timer as measured on Linux: the next tick before any data has arrived,
    # at most TCP_DELACK_MAX
    assert {t.name: (t.lo.ms, t.hi.ms) for t in tcp.timers}["delack"] == (0.0, 200.0)
    events = {type(t.event) for t in tcp.transitions}
    assert events >= {ast.AppCall, ast.Recv, ast.Expire}
    for tr in tcp.transitions:  # spans are 1-based and inside the file
        assert 1 <= tr.span.line <= tr.span.end_line <= mf.text.count("\n") + 1


# ---------------------------------------------------------------- syntax errors


def test_unexpected_character_is_tcp101_at_its_column():
    d = syntax_error("param x: bool\n  param y: bool $\n")
    assert d.code == "TCP101"
    assert at(d) == (2, 17)
    assert "'$'" in d.message


def test_unclosed_string_says_so():
    d = syntax_error('model m "TCP teardown\nparam x: bool\n')
    assert (d.code, at(d)) == ("TCP101", (1, 9))
    assert "string is not closed" in d.message


def test_unclosed_endpoint_at_end_of_file_names_the_endpoint_and_where_it_opened():
    text = "".join(f"param p{i}: bool\n" for i in range(11))
    text += "endpoint tcp() {\n    var state: tcp_state = ESTABLISHED\n"
    d = syntax_error(text)
    assert d.code == "TCP103"
    assert d.message == "expected '}' to close endpoint 'tcp' opened at 12:1"
    assert at(d) == (12, 1)


def test_unclosed_block_reports_the_innermost_block_and_notes_the_outer_ones():
    text = endpoint("    on call close when state == ESTABLISHED {\n        if x {\n"
                    "            send FIN\n")[:-3]
    d = syntax_error(text)
    assert d.code == "TCP103"
    assert d.message == "expected '}' to close 'if' block opened at 3:9"
    assert any("transition 'on call close' opened at 2:5" in n for n in d.notes)
    assert any("endpoint 'tcp' opened at 1:1" in n for n in d.notes)


def test_truncated_default_model_names_the_open_transition():
    lines = DEFAULT_MODEL.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("on call close"))
    column = lines[start].index("on") + 1
    # cut inside the transition's body, before any nested block opens
    body = next(i for i in range(start + 1, len(lines)) if "{" in lines[i] or "}" in lines[i])
    d = syntax_error("".join(lines[:body]))
    assert d.code == "TCP103"
    assert d.message == (f"expected '}}' to close transition 'on call close' opened at "
                         f"{start + 1}:{column}")


def test_missing_endpoint_brace_is_found_at_the_next_declaration():
    text = endpoint("    on call close { send FIN }")[:-2] + "instance client = tcp()\n"
    d = syntax_error(text)
    assert (d.code, at(d)) == ("TCP100", (3, 1))
    assert d.message == "unexpected 'instance' inside endpoint 'tcp'; is its closing '}' missing?"
    assert d.notes == ("endpoint 'tcp' was opened at 1:1",)


def test_equals_used_to_assign_inside_a_transition_is_tcp104():
    d = syntax_error(endpoint("    var sent: 0..1 = 0\n    on call write { sent = 1 }"))
    assert (d.code, at(d)) == ("TCP104", (3, 26))
    assert "':='" in d.message


def test_colon_equals_in_a_declaration_is_tcp104():
    d = syntax_error(endpoint("    var sent: 0..1 := 0"))
    assert (d.code, at(d)) == ("TCP104", (2, 20))
    assert "use '='" in d.message


def test_equals_used_to_compare_in_a_guard_is_tcp106():
    d = syntax_error(endpoint("    on call close when state = ESTABLISHED { }"))
    assert (d.code, at(d)) == ("TCP106", (2, 30))
    assert "'=='" in d.message


def test_duration_without_a_unit_is_tcp105():
    d = syntax_error(endpoint("    timer delack 40..200ms"))
    assert (d.code, at(d)) == ("TCP105", (2, 18))
    assert "40ms" in d.message


def test_generic_syntax_error_says_what_was_expected_in_words():
    d = syntax_error("channel client => server\n")
    assert (d.code, at(d)) == ("TCP100", (1, 16))
    assert d.message == "unexpected '='; expected '->'"


def test_missing_event_lists_the_event_kinds():
    d = syntax_error(endpoint("    on { }"))
    assert d.code == "TCP100"
    assert d.message == "unexpected '{'; expected 'call', 'expire', 'internal' or 'recv'"


def test_missing_type_says_a_type_is_expected():
    d = syntax_error("param x: = 3\n")
    assert (d.code, at(d)) == ("TCP100", (1, 10))
    assert "expected a type" in d.message


def test_send_without_flags_asks_for_a_segment_flag():
    d = syntax_error(endpoint("    on call close { send }"))
    assert "expected a segment flag" in d.message


def test_misspelt_declaration_keyword_gets_a_suggestion():
    d = syntax_error("pram delayed_ack: bool\n")
    assert (d.code, at(d)) == ("TCP100", (1, 1))
    assert d.message.endswith("did you mean 'param'?")


def test_misspelt_statement_keyword_is_not_mistaken_for_an_assignment():
    d = syntax_error(endpoint("    on call close {\n        sned FIN\n    }"))
    assert (d.code, at(d)) == ("TCP100", (3, 9))
    assert d.message == "'sned' is not a statement; did you mean 'send'?"


def test_unfinished_expression_is_reported_where_the_line_ends():
    # `cancel` would otherwise be read as a name continuing `rcvd + ...`
    d = syntax_error(endpoint("    on call close {\n        rcvd := rcvd +\n"
                              "        cancel delack\n        arm think\n    }"))
    assert (d.code, at(d)) == ("TCP100", (3, 22))
    assert d.message == "expected an expression after '+'"
    assert d.notes == ("found 'cancel' on line 4 instead",)


def test_missing_opening_brace_of_a_transition_points_at_the_end_of_its_header():
    d = syntax_error(endpoint("    on call close when state == ESTABLISHED\n        send FIN\n"))
    assert (d.code, at(d)) == ("TCP100", (2, 33))
    assert d.message == "expected '{' after 'ESTABLISHED'"


def test_lost_closing_brace_of_an_if_is_reported_at_the_else():
    d = syntax_error(endpoint("    on call close {\n        if x {\n            send RST\n"
                              "        else {\n            send FIN\n        }\n    }"))
    assert (d.code, at(d)) == ("TCP100", (5, 9))
    assert d.message == "unexpected 'else'; expected a statement or '}' to close 'if' block"
    assert d.notes == ("'if' block was opened at 3:9",)


def test_else_if_suggests_elif():
    d = syntax_error(endpoint("    on call close { if a { } else if b { } }"))
    assert (d.code, at(d)) == ("TCP100", (2, 30))
    assert "'elif'" in d.message


def test_stray_closing_brace():
    d = syntax_error("param x: bool\n}\n")
    assert (d.code, at(d)) == ("TCP100", (2, 1))
    assert d.message == "unexpected '}': there is no open '{' to close"


def test_statement_outside_an_endpoint_expects_a_declaration():
    d = syntax_error("state := CLOSED\n")
    assert d.message.startswith("unexpected 'state'; expected a declaration (model, param")


def test_end_of_file_after_an_operator_is_tcp102_at_the_operator():
    d = syntax_error("param x: 0..3 =\n")
    assert (d.code, at(d)) == ("TCP102", (1, 15))
    assert d.message == "unexpected end of file after '='; expected an expression"


# Realistic and unrealistic bad inputs: each must give one diagnostic in words a user knows.
BAD_INPUTS = [
    "}", "{", "model", "model 3", "param", "param x", "param x:", "param x: bool =",
    "param x: 0..", "param x: ..3", "param x: bool;;", "const", "const k", "const k = ",
    "enum e", "enum e {", "enum e { }", "enum e { A B }", "segment", "segment {", "segment { a }",
    "segment { a: }", "var", "var x: bool", "endpoint", "endpoint e", "endpoint e(",
    "endpoint e(a)", "endpoint e() {", "endpoint e() { on }", "endpoint e() { on call }",
    "endpoint e() { on call close", "endpoint e() { on call close {", "endpoint e() { on recv }",
    "endpoint e() { on recv FIN+ { } }", "endpoint e() { on recv FIN | { } }",
    "endpoint e() { on expire { } }", "endpoint e() { on call close after { } }",
    "endpoint e() { on call close when { } }", "endpoint e() { on call close { send } }",
    "endpoint e() { on call close { send FIN( } }", "endpoint e() { on call close { x } }",
    "endpoint e() { on call close { x := } }", "endpoint e() { on call close { if } }",
    "endpoint e() { on call close { if x } }", "endpoint e() { on call close { else { } } }",
    "endpoint e() { timer t }", "endpoint e() { timer t 1ms }", "endpoint e() { timer t 1ms.. }",
    "endpoint e() { var x bool = true }", "endpoint e() { var x: bool true }",
    "instance", "instance a", "instance a =", "instance a = e", "instance a = e(",
    "instance a = e(x)", "instance a = e(x =)", "channel", "channel a", "channel a ->",
    "channel a -> b capacity", "const k = (1 + 2", "const k = 1 +* 2", "const k = min(1,",
    "const k = seg.", "const k = not", "param x: bool\n\t@", "model m 'single quotes'",
    "endpoint e() { on call close { x := 1 } } }", "instance a = e() channel a -> b ->",
]


def test_every_terminal_of_the_grammar_has_words_for_users():
    # a terminal added to model.lark without words would show as "something else"
    parser = _parser()
    for term in parser.terminals:
        if term.name not in ("WS", "COMMENT"):
            assert _words({term.name}, parser) != ["something else"], term.name


def _lark_terminal_names() -> set[str]:
    return {t.name for t in _parser().terminals} | {"$END"}


@pytest.mark.parametrize("text", BAD_INPUTS)
def test_no_lark_terminal_name_ever_reaches_a_message(text):
    d = syntax_error(text)
    assert d.code in {"TCP100", "TCP101", "TCP102", "TCP103", "TCP104", "TCP105", "TCP106"}
    words = " ".join((d.message,) + d.notes)
    leaked = {name for name in _lark_terminal_names()
              if re.search(rf"(?<![\w'$]){re.escape(name)}(?![\w'])", words)}
    assert not leaked, f"{words!r} shows lark names {leaked}"
    assert "__ANON" not in words and "$end" not in words.lower()
    lines = text.split("\n")
    assert 1 <= d.span.line <= len(lines)
    assert 1 <= d.span.column <= len(lines[d.span.line - 1]) + 1


def test_every_prefix_of_the_default_model_fails_cleanly_inside_the_file():
    text = DEFAULT_MODEL.read_text()
    lines = text.splitlines(keepends=True)
    for n in range(1, len(lines)):
        prefix = "".join(lines[:n])
        try:
            parse_text(prefix, "m.tcpm")
        except TcpcheckError as err:
            (d,) = err.diagnostics
            assert 1 <= d.span.line <= n, (n, d)
            if d.code == "TCP103":  # an unclosed block names what it is
                assert re.match(r"expected '\}' to close (endpoint 'tcp'|transition 'on "
                                r"[^']+'|the segment declaration|'(if|elif|else)' block) opened at "
                                r"\d+:\d+$", d.message), d.message
