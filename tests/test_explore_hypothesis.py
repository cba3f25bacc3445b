"""The compiled explorer against the reference interpreter, on random small models.

hypothesis writes model text (guards, assignments, sends with fields, recv patterns, timers
with `after` and `expire`, if/elif/else, lossy channels, parameters and settings); both
engines explore it, and must find the same states in the same order, the same steps between
them, and the same model error (if any) at the same state.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import reference
from conftest import ROOT
from tcpcheck.typecheck import check
from tcpcheck.compile import compile_model
from tcpcheck.explore import explore
from tcpcheck.parse import parse_text

MAX_STATES = 3000
FLAG_SETS = ("FIN", "ACK", "FIN+ACK", "DATA", "DATA+ACK", "RST")
ENUMS = {"color": ("RED", "GREEN", "BLUE"),
         "tcp_state": ("ESTABLISHED", "FIN_WAIT_1", "CLOSE_WAIT", "CLOSED")}  # a few of them


@dataclass
class Names:
    """What an expression may mention at one place in the model."""

    ints: list[str] = field(default_factory=list)
    bools: list[str] = field(default_factory=list)
    enums: dict[str, list[str]] = field(default_factory=dict)  # enum -> names of that type
    timers: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- expressions


def int_expr(names: Names, depth: int = 2):
    leaves = [st.integers(-1, 3).map(str)]
    if names.ints:
        leaves.append(st.sampled_from(names.ints))
    leaf = st.one_of(*leaves)
    if depth == 0:
        return leaf
    sub = int_expr(names, depth - 1)
    return st.one_of(
        leaf, leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "%"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        sub.map(lambda e: f"-{e}"),
        st.tuples(st.sampled_from(["min", "max"]), st.lists(sub, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"),
    )


def enum_expr(names: Names, enum: str):
    options = [st.sampled_from(ENUMS[enum])]
    if names.enums.get(enum):
        options.append(st.sampled_from(names.enums[enum]))
    return st.one_of(*options)


def bool_expr(names: Names, depth: int = 2):
    leaves = [st.sampled_from(["true", "false"])]
    if names.bools:
        leaves.append(st.sampled_from(names.bools))
    if names.timers:
        leaves.append(st.sampled_from(names.timers).map(lambda t: f"running({t})"))
    leaf = st.one_of(*leaves)
    ints = int_expr(names, 1)
    compare = st.tuples(ints, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), ints).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})")
    enum_cmp = [st.tuples(enum_expr(names, e), st.sampled_from(["==", "!="]), enum_expr(names, e))
                .map(lambda t: f"({t[0]} {t[1]} {t[2]})") for e in names.enums if names.enums[e]]
    if depth == 0:
        return st.one_of(leaf, compare, *enum_cmp)
    sub = bool_expr(names, depth - 1)
    return st.one_of(
        leaf, compare, *enum_cmp,
        sub.map(lambda e: f"(not {e})"),
        st.tuples(sub, st.sampled_from(["and", "or"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(["==", "!="]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    )


def typed_expr(names: Names, typ: tuple):
    kind = typ[0]
    if kind == "bool":
        return bool_expr(names, 1)
    if kind == "enum":
        return enum_expr(names, typ[1])
    lo, hi = typ[1], typ[2]
    # clamp most of the time, so that most runs go deep; the rest may overflow (TCP500)
    return st.tuples(int_expr(names, 2), st.integers(0, 3)).map(
        lambda t: t[0] if t[1] == 0 else f"min(max({t[0]}, {lo}), {hi})")


def new_value(names: Names, target: str, typ: tuple):
    """The right-hand side of an assignment: often a step from the old value (counters)."""
    if typ[0] == "int":
        lo, hi = typ[1], typ[2]
        steps = st.sampled_from([f"{target} + 1", f"{target} - 1", f"min({target} + 1, {hi})",
                                 f"max({target} - 1, {lo})", f"({target} + 1) % ({hi} + 1)"])
        return st.one_of(steps, typed_expr(names, typ))
    if typ[0] == "bool":
        return st.one_of(st.just(f"not {target}"), typed_expr(names, typ))
    return typed_expr(names, typ)


@dataclass
class Scope:
    """Everything a transition body may use."""

    names: Names
    targets: dict            # assignable name -> type
    fields: dict             # segment field -> type
    timers: list[str]
    flag_sets: list[str]     # the flags this model sends (and so may receive)


# ---------------------------------------------------------------- statements and transitions


@st.composite
def block(draw, sc: Scope, depth: int, at_least: int = 0):
    stmts = []
    for _ in range(draw(st.integers(at_least, 3))):
        kinds = ["assign", "assign", "send", "observe"] + (["arm", "cancel"] if sc.timers else [])
        if depth > 0:
            kinds.append("if")
        kind = draw(st.sampled_from(kinds))
        if kind == "assign" and sc.targets:
            name = draw(st.sampled_from(sorted(sc.targets)))
            stmts.append(f"{name} := {draw(new_value(sc.names, name, sc.targets[name]))}")
        elif kind == "send" or (kind == "assign" and not sc.targets):
            flags = draw(st.sampled_from(sc.flag_sets))
            given = draw(st.lists(st.sampled_from(sorted(sc.fields)), unique=True)) if sc.fields else []
            inits = [f"{f} = {draw(typed_expr(sc.names, sc.fields[f]))}" for f in given]
            stmts.append(f"send {flags}" + (f"({', '.join(inits)})" if inits or draw(st.booleans()) else ""))
        elif kind == "observe":
            stmts.append(f"observe {draw(st.sampled_from(['o1', 'o2']))}")
        elif kind in ("arm", "cancel"):
            stmts.append(f"{kind} {draw(st.sampled_from(sc.timers))}")
        else:
            def body():
                return " ".join(draw(block(sc, depth - 1)))
            text = f"if {draw(bool_expr(sc.names, 1))} {{ {body()} }}"
            for _ in range(draw(st.integers(0, 1))):
                text += f" elif {draw(bool_expr(sc.names, 1))} {{ {body()} }}"
            if draw(st.booleans()):
                text += f" else {{ {body()} }}"
            stmts.append(text)
    return stmts


@st.composite
def transition(draw, sc: Scope, spontaneous: bool = False):
    """One `on ...` transition; a spontaneous one is enabled without a segment or a timer."""
    kinds = ["call", "internal", "recv", "recv", "recv any"] + (["expire"] * 2 if sc.timers else [])
    if spontaneous:
        kinds = ["call", "internal"]
    kind = draw(st.sampled_from(kinds))
    names = sc.names
    local = Names(list(names.ints), list(names.bools), {k: list(v) for k, v in names.enums.items()},
                  list(names.timers))
    if kind == "call":
        event = draw(st.sampled_from(["call close", "call write", "call shutdown(SHUT_WR)"]))
    elif kind == "internal":
        event = f"internal {draw(st.sampled_from(['step', 'tick']))}"
    elif kind == "recv any":
        event = "recv any"
    elif kind == "recv":
        pats = draw(st.lists(st.sampled_from(sc.flag_sets), min_size=1, max_size=2, unique=True))
        event = "recv " + " | ".join(pats)
    else:
        event = f"expire {draw(st.sampled_from(sc.timers))}"
    if kind.startswith("recv"):
        for f, typ in sc.fields.items():
            if typ[0] == "int":
                local.ints.append(f"seg.{f}")
            elif typ[0] == "bool":
                local.bools.append(f"seg.{f}")
            else:
                local.enums.setdefault(typ[1], []).append(f"seg.{f}")
    after = ""
    if kind != "expire" and sc.timers and not spontaneous and draw(st.integers(0, 3)) == 0:
        after = f" after {draw(st.sampled_from(sc.timers))}"
    guard = f" when {draw(bool_expr(local, 2))}" if draw(st.integers(0, 2)) == 0 else ""
    body = draw(block(Scope(local, sc.targets, sc.fields, sc.timers, sc.flag_sets), 2, at_least=1))
    return f"on {event}{after}{guard} {{\n        " + "\n        ".join(body) + "\n    }"


def var_type(draw, int_params: list[str], kind: str | None = None):
    kind = kind or draw(st.sampled_from(["int", "int", "bool", "color", "tcp_state"]))
    if kind == "bool":
        return "bool", ("bool",), draw(st.sampled_from(["false", "true"]))
    if kind in ENUMS:
        return kind, ("enum", kind), draw(st.sampled_from(ENUMS[kind]))
    lo = draw(st.integers(-1, 0))
    hi = draw(st.integers(1, 2))
    init = str(draw(st.integers(lo, hi)))
    if int_params and draw(st.integers(0, 3)) == 0:
        p = draw(st.sampled_from(int_params))
        # the upper bound depends on a parameter or a setting: the slot must fit every
        # combination and every instance (a setting of 0 leaves one value: a 0-bit slot)
        if p == "k":
            return "0..k", ("int", 0, "k"), draw(st.sampled_from(["0", "k"]))
        return f"{lo}..{p} + {hi}", ("int", lo, f"({p} + {hi})"), init
    return f"{lo}..{hi}", ("int", lo, hi), init


@st.composite
def models(draw, with_tcp_state: bool = False) -> str:
    """Random model text; `with_tcp_state` gives every endpoint a tcp_state variable first
    (and another beside it), which the dead-variable reduction keys on."""
    lines = ["model rand", "enum color { RED, GREEN, BLUE }"]
    top = Names()
    int_params: list[str] = []
    bool_params: list[str] = []
    for i in range(draw(st.integers(0, 2))):
        name = f"p{i}"
        kind = draw(st.sampled_from(["bool", "int", "enum"]))
        if kind == "bool":
            default = draw(st.sampled_from(["", " = true", " = false"]))
            lines.append(f"param {name}: bool{default}")
            top.bools.append(name)
            bool_params.append(name)
        elif kind == "enum":
            default = draw(st.sampled_from(["", " = GREEN"]))
            lines.append(f"param {name}: color{default}")
            top.enums.setdefault("color", []).append(name)
        else:
            hi = draw(st.sampled_from(["1", "2"] + [f"{p} + 1" for p in int_params]))
            default = draw(st.sampled_from(["", "", " = 1"]))
            lines.append(f"param {name}: 0..{hi}{default}")
            top.ints.append(name)
            int_params.append(name)
    fields: dict[str, tuple] = {}
    n_fields = draw(st.integers(0, 2))
    if n_fields:
        decls = []
        for i in range(n_fields):
            kind = draw(st.sampled_from(["int", "bool", "color"]))
            if kind == "int":
                lo = draw(st.integers(-1, 0))
                hi = draw(st.integers(0, 2))
                fields[f"f{i}"] = ("int", lo, hi)
                decls.append(f"f{i}: {lo}..{hi}")
            elif kind == "bool":
                fields[f"f{i}"] = ("bool",)
                decls.append(f"f{i}: bool")
            else:
                fields[f"f{i}"] = ("enum", "color")
                decls.append(f"f{i}: color")
        lines.append("segment { " + "  ".join(decls) + " }")
    targets: dict[str, tuple] = {}
    if draw(st.booleans()):
        decl, typ, init = var_type(draw, [])
        lines.append(f"var g0: {decl} = {init}")
        targets["g0"] = typ
        _add(top, "g0", typ)

    flag_sets = draw(st.lists(st.sampled_from(FLAG_SETS), min_size=1, max_size=3, unique=True))
    same = draw(st.booleans())
    bindings = {}
    for ep in (["tcp"] if same else ["a", "b"]):
        names = Names(list(top.ints), list(top.bools), {k: list(v) for k, v in top.enums.items()})
        ep_targets = dict(targets)
        settings_decl = []
        binding_choices = []
        if draw(st.booleans()):
            settings_decl.append("s: bool")
            names.bools.append("s")
            binding_choices.append(("s", st.sampled_from(["true", "false", *bool_params])))
        if draw(st.booleans()):
            settings_decl.append("k: 0..3")
            names.ints.append("k")
            binding_choices.append(("k", st.sampled_from(["0", "2", *[f"min({p}, 3)" for p in int_params]])))
        bindings[ep] = binding_choices
        body = []
        timers = [f"t{i}" for i in range(draw(st.integers(0, 2)))]
        for t in timers:
            body.append(f"timer {t} 1ms..{draw(st.sampled_from(['5ms', 'inf']))}")
        names.timers = timers
        for i in range(draw(st.integers(2 if with_tcp_state else 1, 3 if with_tcp_state else 2))):
            decl, typ, init = var_type(draw, int_params + (["k"] if "k" in names.ints else []),
                                       "tcp_state" if with_tcp_state and i == 0 else None)
            body.append(f"var x{i}: {decl} = {init}")
            ep_targets[f"x{i}"] = typ
            _add(names, f"x{i}", typ)
        scope = Scope(names, ep_targets, fields, timers, flag_sets)
        # the first transition gets things going: without it most random models stop at once
        body.append(draw(transition(scope, spontaneous=True)))
        for _ in range(draw(st.integers(0, 4))):
            body.append(draw(transition(scope)))
        lines.append(f"endpoint {ep}({', '.join(settings_decl)}) {{\n    " + "\n    ".join(body) + "\n}")
    for inst, ep in (("client", "tcp" if same else "a"), ("server", "tcp" if same else "b")):
        given = [f"{n} = {draw(choice)}" for n, choice in bindings[ep]]
        lines.append(f"instance {inst} = {ep}({', '.join(given)})")
    for src, dst in (("client", "server"), ("server", "client")):
        cap = draw(st.sampled_from(["1", "2"] + [f"{p} + 1" for p in int_params]))
        lossy = ""
        if draw(st.integers(0, 2)) == 0:
            # bounded, conditional and filtered losses as well as plain ones
            lossy = " lossy"
            if draw(st.booleans()):
                lossy += f" max {draw(st.sampled_from(['1', '2'] + [str(p) for p in int_params]))}"
            if draw(st.booleans()):
                lossy += f" when {draw(st.sampled_from(['true', 'false', '1 < 2']))}"
            if draw(st.booleans()):
                lossy += f" of {draw(st.sampled_from(['FIN', 'ACK | FIN+ACK', 'DATA | RST | FIN']))}"
        delay = draw(st.sampled_from(["", "", " delay 0ms..5ms"]))  # timing only: same states
        lines.append(f"channel {src} -> {dst} capacity {cap}{lossy}{delay}")
    return "\n".join(lines) + "\n"


def _add(names: Names, name: str, typ: tuple) -> None:
    if typ[0] == "int":
        names.ints.append(name)
    elif typ[0] == "bool":
        names.bools.append(name)
    else:
        names.enums.setdefault(typ[1], []).append(name)


# ---------------------------------------------------------------- the comparison


def compiled_steps(ts, ex, keys) -> collections.Counter:
    out = collections.Counter()
    for a, b, vid in zip(ex.edge_src, ex.edge_dst, ex.edge_variant):
        v = ts.variants[vid]
        out[(keys[a], keys[b], reference.Step(v.instance, v.transition,
                                              tuple(f for _, f in v.sends), v.arms, v.cancels,
                                              v.observations))] += 1
    return out


def explore_both(text: str):
    """Explore a model with the compiled explorer and with the reference interpreter."""
    model = check(parse_text(text, "random.tcpm"))
    ts = compile_model(model, reduce=False)  # the reference keeps dead variables too
    ex = explore(ts, max_states=MAX_STATES)
    ref = reference.explore(model) if ex.stop_reason != "max-states" else None
    return ts, ex, ref


def assert_same_exploration(ts, ex, ref) -> None:
    keys = [reference.key(ts.decode(s)) for s in ex.states]
    assert set(keys) == set(ref.states)
    assert keys == ref.states, "same states, but discovered in a different order"
    assert ex.n_edges == len(ref.edges)
    assert compiled_steps(ts, ex, keys) == collections.Counter(ref.edges)
    if ref.error is None:
        assert ex.stop_reason is None and ex.complete
    else:
        assert ex.stop_reason == "model-error"
        assert ex.error.code == ref.error.code
        assert keys[ex.error_state] == ref.error_state
        if ex.error.code == "TCP500":
            failing = ts.variants[ex.error.variant]
            assert (failing.instance, failing.transition) == (ref.error.instance, ref.error.transition)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(models())
def test_compiled_explorer_agrees_with_the_reference_interpreter(text):
    note(text)
    ts, ex, ref = explore_both(text)
    assume(ref is not None)  # over MAX_STATES: too big to compare quickly (rare)
    note(f"{ex.n_states} states, {ex.n_edges} edges, stop: {ex.stop_reason}")
    assert_same_exploration(ts, ex, ref)


# ---------------------------------------------------------------- found by the comparison

ONE_ARGUMENT_MIN = """
model minmax
endpoint counter() {
    var n: 0..2 = 0
    on internal step when min(n) < 2 { n := max(n + 1) }
}
endpoint idle() {
}
instance client = counter()
instance server = idle()
channel client -> server capacity 1
channel server -> client capacity 1
"""


def test_min_and_max_of_one_argument():
    ts, ex, ref = explore_both(ONE_ARGUMENT_MIN)
    assert ex.complete and ex.n_states == 3
    assert_same_exploration(ts, ex, ref)


BAD_FIELD_THEN_FULL = """
model blocked
segment { f0: 0..0 }
endpoint tcp() {
    on call close when true {
        send FIN(f0 = 1)
        send FIN
    }
}
instance client = tcp()
instance server = tcp()
channel client -> server capacity 1
channel server -> client capacity 1
"""


def test_a_step_a_full_channel_blocks_does_not_fail_on_a_bad_field():
    # two sends into a channel of one: the step never happens, so its out-of-range field
    # is no error (the reference once failed here; found by the comparison above)
    ts, ex, ref = explore_both(BAD_FIELD_THEN_FULL)
    assert ex.complete and ex.n_states == 1 and ex.n_edges == 0 and ref.error is None
    assert_same_exploration(ts, ex, ref)
    # with room for both, the same step happens and fails at the field
    ts, ex, ref = explore_both(BAD_FIELD_THEN_FULL.replace("capacity 1", "capacity 2"))
    assert ex.stop_reason == "model-error" and ex.error.code == "TCP500"
    assert_same_exploration(ts, ex, ref)


@pytest.mark.parametrize("path", ["models/teardown.tcpm", "tests/fixtures/models/pipeline.tcpm",
                                  "tests/fixtures/models/lossy.tcpm",
                                  "tests/fixtures/models/quickack.tcpm",
                                  "tests/fixtures/models/overflow.tcpm"])
def test_shipped_models_agree_with_the_reference_interpreter(path):
    assert_same_exploration(*explore_both((ROOT / path).read_text()))


TWO_FIELDS = """
model fields
segment { urgent: bool  ack: 0..1 }
endpoint sender() {
    var sent: bool = false
    on call close when not sent {
        send FIN(urgent = true, ack = 0)
        sent := true
    }
}
endpoint idle() {
}
instance client = sender()
instance server = idle()
channel client -> server capacity 1
channel server -> client capacity 1
"""


def test_every_field_of_a_sent_segment_keeps_its_own_value():
    # the generated code once packed every field with the value of the last one
    ts, ex, ref = explore_both(TWO_FIELDS)
    assert [ts.decode(s)["client->server"] for s in ex.states] == [[], ["FIN(urgent,ack=0)"]]
    assert_same_exploration(ts, ex, ref)
