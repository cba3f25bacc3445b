"""Property tests for the front end: random valid models go through every stage; random damage
to the default model gives diagnostics inside the file, never a crash."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tcpcheck.tcp import TCP_STATES
from tcpcheck.typecheck import check
from tcpcheck.compile import compile_model
from tcpcheck.transitions import ExplorationError
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.explore import explore
from tcpcheck.parse import _parser, parse_text

from conftest import DEFAULT_MODEL

FLAG_SETS = ("FIN", "ACK", "FIN+ACK", "DATA", "DATA+ACK", "RST", "SYN", "SYN+ACK", "RST+ACK")
PHASES = ("PH_OPEN", "PH_HALF", "PH_DONE")
DURATIONS = ("0ms", "500us", "40ms", "200ms", "1s", "1.5s", "60s", "2min")

# ---------------------------------------------------------------- random valid models


class Scope:
    """The names an expression may use at one place, by type."""

    def __init__(self, ints, bools, phases, timers, in_recv=False, fields=()):
        self.ints, self.bools, self.phases, self.timers = ints, bools, phases, timers
        self.in_recv, self.fields = in_recv, fields

    def int_leaves(self):
        seg = [f"seg.{f}" for f, kind in self.fields if kind == "int"] if self.in_recv else []
        return self.ints + seg

    def bool_leaves(self):
        seg = [f"seg.{f}" for f, kind in self.fields if kind == "bool"] if self.in_recv else []
        return self.bools + seg + [f"running({t})" for t in self.timers]


def int_expr(draw, scope: Scope, depth: int = 2) -> str:
    leaves = scope.int_leaves()
    kind = draw(st.integers(0, 6 if depth else 1))
    if kind == 0 or not leaves and kind == 1:
        return str(draw(st.integers(0, 3)))
    if kind == 1:
        return draw(st.sampled_from(leaves))
    if kind in (2, 3):
        op = draw(st.sampled_from(["+", "-", "*", "/", "%"]))
        return f"({int_expr(draw, scope, depth - 1)} {op} {int_expr(draw, scope, depth - 1)})"
    if kind == 4:
        return f"-{int_expr(draw, scope, depth - 1)}"
    func = draw(st.sampled_from(["min", "max"]))
    args = [int_expr(draw, scope, depth - 1) for _ in range(draw(st.integers(1, 3)))]
    return f"{func}({', '.join(args)})"


def bool_expr(draw, scope: Scope, depth: int = 2) -> str:
    leaves = scope.bool_leaves()
    kind = draw(st.integers(0, 7 if depth else 1))
    if kind == 0 or not leaves and kind == 1:
        return draw(st.sampled_from(["true", "false"]))
    if kind == 1:
        return draw(st.sampled_from(leaves))
    if kind == 2:
        return f"not {bool_expr(draw, scope, depth - 1)}"
    if kind in (3, 4):
        op = draw(st.sampled_from(["and", "or"]))
        return f"({bool_expr(draw, scope, depth - 1)} {op} {bool_expr(draw, scope, depth - 1)})"
    if kind == 5:
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"{int_expr(draw, scope, depth - 1)} {op} {int_expr(draw, scope, depth - 1)}"
    if kind == 6 and scope.phases:
        return f"v_phase == {draw(st.sampled_from(scope.phases))}"
    return f"v_state {draw(st.sampled_from(['==', '!=']))} {draw(st.sampled_from(TCP_STATES))}"


def statements(draw, scope: Scope, int_vars, bool_vars, fields, depth: int = 1) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        # sends are likelier: segments in flight are what makes recv transitions fire
        kind = draw(st.sampled_from(["send", "send", "send", "int", "int", "state", "bool",
                                     "phase", "timer", "observe", "if"]))
        if kind == "state":
            out.append(f"v_state := {draw(st.sampled_from(TCP_STATES))}")
        elif kind == "int" and int_vars:
            out.append(f"{draw(st.sampled_from(int_vars))} := {int_expr(draw, scope)}")
        elif kind == "bool" and bool_vars:
            out.append(f"{draw(st.sampled_from(bool_vars))} := {bool_expr(draw, scope)}")
        elif kind == "phase" and scope.phases:
            out.append(f"v_phase := {draw(st.sampled_from(scope.phases))}")
        elif kind == "send":
            inits = []
            for name, ftype in fields:
                if draw(st.booleans()):
                    expr = int_expr if ftype == "int" else bool_expr
                    value = expr(draw, scope, 1)
                    inits.append(f"{name} = {value}")
            args = f"({', '.join(inits)})" if inits or draw(st.booleans()) else ""
            out.append(f"send {draw(st.sampled_from(FLAG_SETS))}{args}")
        elif kind == "timer" and scope.timers:
            out.append(f"{draw(st.sampled_from(['arm', 'cancel']))} "
                       f"{draw(st.sampled_from(scope.timers))}")
        elif kind == "observe":
            out.append(f"observe {draw(st.sampled_from(['three_way_close', 'rst_sent']))}")
        elif kind == "if" and depth > 0:
            def body() -> str:
                return "{ " + block(draw, scope, int_vars, bool_vars, fields, depth - 1) + " }"
            text = f"if {bool_expr(draw, scope)} {body()}"
            for _ in range(draw(st.integers(0, 2))):
                text += f" elif {bool_expr(draw, scope)} {body()}"
            if draw(st.booleans()):
                text += f" else {body()}"
            out.append(text)
    return out


def block(draw, scope, int_vars, bool_vars, fields, depth) -> str:
    # statements need no separator; a newline or ';' may follow any but an if
    text = ""
    for stmt in statements(draw, scope, int_vars, bool_vars, fields, depth):
        seps = ["\n        ", " "] + ([";", "; "] if not stmt.startswith("if ") else [])
        text += stmt + draw(st.sampled_from(seps))
    return text


@st.composite
def valid_models(draw):
    """Model text plus what the generator knows about it: transitions and parameter combos."""
    lines = ['model random "generated by hypothesis"']
    combos = 1
    params_int, params_bool = [], []
    if draw(st.booleans()):
        hi = draw(st.integers(0, 2))
        default = f" = {draw(st.integers(0, hi))}" if draw(st.booleans()) else ""
        lines.append(f"param p_int: 0..{hi}{default}")
        combos *= 1 if default else hi + 1
        params_int.append("p_int")
    if draw(st.booleans()):
        lines.append("param p_bool: bool")
        combos *= 2
        params_bool.append("p_bool")
    n_phases = draw(st.integers(0, 3))
    if n_phases >= 2:
        lines.append(f"enum phase {{ {', '.join(PHASES[:n_phases])} }}")
    fields = [("f_ack", "int")] + ([("f_urg", "bool")] if draw(st.booleans()) else [])
    # calls of the model's own, declared before or after the endpoint that takes them
    own_calls = draw(st.lists(st.sampled_from(["drain(ONE)", "drain(ALL)", "abort"]),
                              unique=True, max_size=3))
    declared = (["call drain(ONE, ALL)"] * any(c.startswith("drain") for c in own_calls)
                + ["call abort"] * ("abort" in own_calls))
    calls_first = draw(st.booleans())
    if calls_first:
        lines += declared
    lines.append("segment {")
    lines += [f"    {name}: {'0..2' if kind == 'int' else 'bool'}" for name, kind in fields]
    lines.append("}")

    lines.append("endpoint node(s_quick: bool, s_limit: 0..3) {")
    lines.append("    var v_state: tcp_state = ESTABLISHED")
    int_vars, bool_vars, phases = [], [], []
    for i in range(draw(st.integers(0, 2))):
        # bounds may depend on a setting or a parameter; every range holds its initial value
        lo = draw(st.integers(0, 1))
        hi = draw(st.sampled_from([str(lo + draw(st.integers(0, 2))), f"{lo} + s_limit"]
                                  + [f"{lo} + p_int"] * bool(params_int)))
        lines.append(f"    var v_n{i}: {lo}..{hi} = {lo}")
        int_vars.append(f"v_n{i}")
    if draw(st.booleans()):
        init = draw(st.sampled_from(["true", "false", "s_quick"]))
        lines.append(f"    var v_flag: bool = {init}")
        bool_vars.append("v_flag")
    if n_phases >= 2:
        lines.append("    var v_phase: phase = PH_OPEN")
        phases += PHASES[:n_phases]
    timers = []
    for i in range(draw(st.integers(0, 2))):
        lo, hi = sorted(draw(st.lists(st.sampled_from(DURATIONS), min_size=2, max_size=2)),
                        key=lambda d: DURATIONS.index(d))
        hi = "inf" if draw(st.integers(0, 4)) == 0 else hi
        lines.append(f"    timer t{i} {lo}..{hi}")
        timers.append(f"t{i}")

    n_transitions = draw(st.integers(1, 5))
    for _ in range(n_transitions):
        kinds = ["call", "recv", "recv any", "internal"] + ["expire"] * bool(timers)
        kind = draw(st.sampled_from(kinds))
        if kind == "call":
            event = "call " + draw(st.sampled_from(["close", "write", "read", "shutdown(SHUT_WR)",
                                                    "shutdown(SHUT_RDWR)", "exit", *own_calls]))
        elif kind == "recv":
            event = "recv " + " | ".join(draw(st.lists(st.sampled_from(FLAG_SETS), min_size=1,
                                                       max_size=3)))
        elif kind == "recv any":
            event = "recv any"
        elif kind == "expire":
            event = "expire " + draw(st.sampled_from(timers))
        else:
            event = "internal owed_ack"
        scope = Scope(int_vars + params_int + ["s_limit"], bool_vars + params_bool + ["s_quick"],
                      phases, timers, in_recv=kind.startswith("recv"), fields=fields)
        head = f"    on {event}"
        if timers and kind != "expire" and draw(st.booleans()):
            head += f" after {draw(st.sampled_from(timers))}"
        if draw(st.integers(0, 2)) == 0:
            head += f" when {bool_expr(draw, scope)}"
        body = block(draw, scope, int_vars, bool_vars, fields, depth=1)
        lines.append(f"{head} {{\n        {body}\n    }}")
    lines.append("}")
    if not calls_first:
        lines += declared

    quick = st.sampled_from(["true", "false"] + params_bool)
    for name in ("client", "server"):
        lines.append(f"instance {name} = node(s_quick = {draw(quick)}, "
                     f"s_limit = {draw(st.integers(0, 3))})")
    for src, dst in (("client", "server"), ("server", "client")):
        lossy = " lossy" if draw(st.integers(0, 3)) == 0 else ""
        lines.append(f"channel {src} -> {dst} capacity {draw(st.integers(1, 2))}{lossy}")
    return "\n".join(lines) + "\n", n_transitions, combos


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_models())
def test_random_valid_models_parse_check_compile_and_explore(generated):
    text, n_transitions, combos = generated
    note(text)
    mf = parse_text(text, "random.tcpm")
    (node,) = [d for d in mf.decls if type(d).__name__ == "EndpointDecl"]
    assert len(node.transitions) == n_transitions
    model = check(mf)
    assert len(model.endpoint("node").transitions) == n_transitions
    ts = compile_model(model)
    ex = explore(ts, max_states=2000)
    # one initial state per combination of parameter values
    assert len(ex.initial) == combos
    assert ex.n_states >= 1
    assert ex.stop_reason in (None, "max-states", "model-error")
    if ex.stop_reason == "model-error":
        # a value out of range, or a division by zero, found in some reachable state
        assert isinstance(ex.error, ExplorationError)
        assert ex.error.code in ("TCP500", "TCP501")
    else:
        assert ex.error is None


# ---------------------------------------------------------------- damaged default model

DEFAULT_TEXT = DEFAULT_MODEL.read_text()
TOKEN = re.compile(r"\w+|:=|==|!=|<=|>=|->|\.\.|[^\s\w]")
TOKENS = sorted(set(TOKEN.findall(DEFAULT_TEXT)))
LARK_NAMES = {t.name for t in _parser().terminals} | {"$END"}


@st.composite
def damaged_default_model(draw):
    """The default model with 1 to 3 random character or token edits."""
    text = DEFAULT_TEXT
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete char", "insert char", "replace char",
                                     "delete token", "insert token", "replace token", "cut"]))
        if kind.endswith("char") or kind == "cut":
            at = draw(st.integers(0, max(0, len(text) - 1)))
            char = draw(st.sampled_from(list(" \n{}()=:+-.|,;#\"@x0_")) | st.characters())
            text = {"delete char": text[:at] + text[at + 1:],
                    "insert char": text[:at] + char + text[at:],
                    "replace char": text[:at] + char + text[at + 1:],
                    "cut": text[:at]}[kind]
        else:
            spans = [m.span() for m in TOKEN.finditer(text)]
            if not spans:
                continue
            start, end = spans[draw(st.integers(0, len(spans) - 1))]
            token = draw(st.sampled_from(TOKENS))
            text = {"delete token": text[:start] + text[end:],
                    "insert token": text[:start] + token + " " + text[start:],
                    "replace token": text[:start] + token + text[end:]}[kind]
    return text


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_default_model())
def test_damaged_default_model_gives_diagnostics_inside_the_file(text):
    note(text)
    try:
        check(parse_text(text, "m.tcpm"))
        return  # some edits keep the model valid (a changed number, a deleted comment)
    except TcpcheckError as err:
        diags = err.diagnostics
    lines = text.split("\n")
    assert diags
    for d in diags:
        assert d.span is not None and d.span.file == "m.tcpm"
        assert 1 <= d.span.line <= len(lines), d
        assert 1 <= d.span.column <= len(lines[d.span.line - 1]) + 1, d
        words = " ".join((d.message,) + d.notes)
        assert "__ANON" not in words and "$END" not in words, words
        # lark's terminal names (RBRACE, NAME, ...) never appear, except as the user's own words
        unquoted = re.sub(r"'[^']*'", "", words)
        leaked = {n for n in LARK_NAMES if re.search(rf"\b{re.escape(n)}\b", unquoted)
                  and not re.search(rf"\b{re.escape(n)}\b", text)}
        assert not leaked, words
