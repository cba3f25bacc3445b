"""Spec files: properties of a model's runs, parsed (spec.lark) and resolved against a model.

A spec file names its model and lists properties:

    model "../models/teardown.tcpm"
    invariant NAME: STATE-PREDICATE                 every reachable state satisfies it
    reachable NAME: FORMULA                         some complete run satisfies it (a witness)
    runs NAME: FORMULA                              every complete run satisfies it
    terminates NAME [: END-PREDICATE]               every run can end, and ends, in END
    timing NAME: FORMULA solve inst.timer, ...      for which timer durations is FORMULA possible

Formulas are built in three layers, sorted out here by type:
  * state predicates talk about one joint state (`client.state == TIME_WAIT`, `delayed_ack`);
  * step predicates talk about one step (`observed three_way_close`, `sends(server, FIN+ACK)`,
    `receives(client, FIN)`, `loses(server, FIN | FIN+ACK)`, `calls(server, close)`);
  * run formulas talk about a whole complete run: `eventually P`, `always P`, `never P`,
    `initially P`, `finally P`, `A before B`, `count(S) >= k`, combined with and/or/not/implies.
    Inside a run formula a state predicate without a temporal word is read at the start of
    the run (the parameters), and a step predicate without one means "at some step".
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from .model import Type
from .params import ParamSetting
from .tcp import FLAG_BITS
from .transitions import TransitionSystem
from .diagnostics import Diagnostic, Span, TcpcheckError, did_you_mean
from .parse import SpanTransformer, check_nesting, literal_int, read_source, transform

GRAMMAR = Path(__file__).with_name("spec.lark")


@functools.cache
def _parser() -> Lark:
    # the basic lexer makes the keywords (runs, reachable, implies, ...) reserved words, so a
    # formula left unfinished ends at the next property instead of swallowing its keyword
    return Lark(GRAMMAR.read_text(), parser="lalr", lexer="basic", propagate_positions=True,
                maybe_placeholders=True)


# ---------------------------------------------------------------- raw syntax (from the parser)


@dataclass(frozen=True, slots=True)
class Raw:
    """A formula node as written: `op` names the construct, `args` its parts."""

    op: str
    args: tuple
    span: Span


@dataclass(frozen=True, slots=True)
class RawProperty:
    kind: str  # invariant reachable runs terminates timing
    name: str
    doc: str | None
    formula: Raw | None
    timers: tuple[tuple[str, str, Span], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class SpecFile:
    path: str
    text: str
    model: str | None
    model_span: Span | None
    properties: tuple[RawProperty, ...]
    params: tuple[ParamSetting, ...] = ()  # from `with` (value "*": every value)


@v_args(meta=True)
class _ToRaw(SpanTransformer):
    def model_ref(self, meta, ch):
        params = tuple(x for x in ch[1:] if x is not None)
        return ("model", ch[0][1:-1], self._span(meta), params)

    def param_setting(self, meta, ch):
        return ParamSetting(str(ch[0]), ch[1], self._span(meta))

    def param_value(self, meta, ch):
        return str(ch[0])

    def kind(self, meta, ch):
        return str(ch[0])

    def property(self, meta, ch):
        kind, name, doc, formula = ch
        return RawProperty(str(kind), str(name), doc[1:-1] if doc else None, formula, (),
                           self._span(meta))

    def terminates(self, meta, ch):
        name, doc, formula = ch
        return RawProperty("terminates", str(name), doc[1:-1] if doc else None, formula, (),
                           self._span(meta))

    def timing(self, meta, ch):
        name, doc, formula, timers = ch
        return RawProperty("timing", str(name), doc[1:-1] if doc else None, formula, timers,
                           self._span(meta))

    def timer_list(self, meta, ch):
        return tuple(ch)

    def timer_ref(self, meta, ch):
        return (str(ch[0]), str(ch[1]), self._span(meta))

    def _node(self, op, meta, args):
        return Raw(op, tuple(args), self._span(meta))

    def implies(self, meta, ch):
        return self._node("implies", meta, ch)

    def or_(self, meta, ch):
        return ch[0] if len(ch) == 1 else self._node("or", meta, ch)

    def and_(self, meta, ch):
        return ch[0] if len(ch) == 1 else self._node("and", meta, ch)

    def not_(self, meta, ch):
        return self._node("not", meta, ch)

    def eventually(self, meta, ch):
        return self._node("eventually", meta, ch)

    def always(self, meta, ch):
        return self._node("always", meta, ch)

    def never(self, meta, ch):
        return self._node("never", meta, ch)

    def initially(self, meta, ch):
        return self._node("initially", meta, ch)

    def finally_(self, meta, ch):
        return self._node("finally", meta, ch)

    def before(self, meta, ch):
        return self._node("before", meta, ch)

    def compare(self, meta, ch):
        if len(ch) == 1:
            return ch[0]
        return self._node(str(ch[1]), meta, (ch[0], ch[2]))

    def arith(self, meta, ch):
        result = ch[0]
        for i in range(1, len(ch), 2):
            right = ch[i + 1]
            span = Span(self.path, result.span.line, result.span.column, right.span.end_line,
                        right.span.end_column)
            result = Raw(str(ch[i]), (result, right), span)
        return result

    def neg(self, meta, ch):
        return self._node("neg", meta, ch[1:])

    def int_lit(self, meta, ch):
        return self._node("int", meta, (literal_int(ch[0], self._tok(ch[0])),))

    def true_lit(self, meta, ch):
        return self._node("bool", meta, (True,))

    def false_lit(self, meta, ch):
        return self._node("bool", meta, (False,))

    def observed(self, meta, ch):
        return self._node("observed", meta, (str(ch[0]),))

    def sends(self, meta, ch):
        return self._node("sends", meta, ch)

    def receives(self, meta, ch):
        return self._node("receives", meta, ch)

    def loses(self, meta, ch):
        return self._node("loses", meta, ch)

    def calls(self, meta, ch):
        who, call = ch[0], str(ch[1])
        arg = ch[2] if len(ch) > 2 else None
        return self._node("calls", meta, (who, call, arg))

    def call_arg(self, meta, ch):
        return str(ch[0])

    def count(self, meta, ch):
        return self._node("count", meta, ch)

    def running(self, meta, ch):
        return self._node("running", meta, (str(ch[0]), str(ch[1])))

    def channel_len(self, meta, ch):
        return self._node("len", meta, (str(ch[0]), str(ch[1])))

    def qualified(self, meta, ch):
        return self._node("qualified", meta, (str(ch[0]), str(ch[1])))

    def name(self, meta, ch):
        return self._node("name", meta, (str(ch[0]),))

    def who(self, meta, ch):
        return (str(ch[0]), self._tok(ch[0]))

    def flag_alts(self, meta, ch):
        return tuple(ch)

    def flags(self, meta, ch):
        return (tuple(str(t) for t in ch if t.type == "NAME"), self._span(meta))


def parse_spec_text(text: str, path: str = "<spec>") -> SpecFile:
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as err:
        raise TcpcheckError([_syntax_diagnostic(err, text, path)]) from None
    check_nesting(tree, path, _CHAINS, "split the property in two, or drop redundant "
                  "parentheses")
    items = transform(_ToRaw(path), tree).children
    model, model_span, params = None, None, ()
    props = []
    for it in items:
        if isinstance(it, tuple) and it[0] == "model":
            model, model_span, params = it[1], it[2], it[3]
        else:
            props.append(it)
    return SpecFile(path, text, model, model_span, tuple(props), params)


# rules listing a chain of operands (see parse.check_nesting)
_CHAINS = frozenset({"or_", "and_", "compare", "arith"})


def _syntax_diagnostic(err: UnexpectedInput, text: str, path: str) -> Diagnostic:
    """lark's error in words: what was found and what would have been accepted."""
    line, col = getattr(err, "line", 1), getattr(err, "column", 1)
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        return Diagnostic("TCP101", f"unexpected character {ch!r}", Span(path, line, col, line, col + 1))
    names = set(getattr(err, "expected", ()) or ())
    # where a formula may start, say so instead of listing every word that can start one
    starters = {"EVENTUALLY", "ALWAYS", "NEVER", "NOT", "COUNT", "OBSERVED", "SENDS"}
    if starters & names:
        expected = ["a formula"]
    else:
        expected = sorted(_word(name) for name in names)
    shown = ", ".join(expected[:8]) + (", ..." if len(expected) > 8 else "")
    if isinstance(err, UnexpectedEOF) or getattr(getattr(err, "token", None), "type", "") == "$END":
        lines = text.splitlines() or [""]
        return Diagnostic("TCP102", f"unexpected end of file; expected {shown}",
                          Span(path, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2))
    tok = err.token
    span = Span(path, tok.line, tok.column, tok.line, tok.column + max(1, len(str(tok.value))))
    if str(tok.value) in _PROPERTY_WORDS:
        return Diagnostic("TCP100", f"'{tok.value}' starts a new property, but the formula "
                          f"before it is unfinished; expected {shown}", span)
    hint = did_you_mean(str(tok.value), _PROPERTY_WORDS) if tok.column == 1 else ""
    hint = f" ({hint[2:]})" if hint else ""
    return Diagnostic("TCP100", f"unexpected '{tok.value}'{hint}; expected {shown}", span)


_WORDS = {"NAME": "a name", "INT": "a number", "STRING": "a string", "COMPARE": "a comparison",
          "PLUS": "'+'", "MINUS": "'-'", "MUL_OP": "'*', '/' or '%'",
          "$END": "the end of the file"}
_PROPERTY_WORDS = ("invariant", "reachable", "runs", "terminates", "timing", "model")


def _word(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    try:
        pattern = _parser().get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return terminal.lower()


def parse_spec_file(path: str | Path) -> SpecFile:
    return parse_spec_text(read_source(path), str(path))


def model_path_of(spec: SpecFile) -> Path | None:
    """The model a spec names, relative to the spec file's directory."""
    if spec.model is None:
        return None
    return Path(os.path.normpath(Path(spec.path).parent / spec.model))


# ---------------------------------------------------------------- resolved formulas


@dataclass(frozen=True, slots=True)
class Const:
    value: int


@dataclass(frozen=True, slots=True)
class SlotVal:
    """The value of one slot of the packed state (a parameter, variable or timer)."""

    slot: int


@dataclass(frozen=True, slots=True)
class ChanLen:
    slot: int


@dataclass(frozen=True, slots=True)
class Op:
    op: str
    args: tuple
    # where a division or remainder was written: the checks report a divisor that is 0 in
    # some reachable state there (every other operator is total and needs no span)
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Observed:
    name: str


@dataclass(frozen=True, slots=True)
class Sends:
    instance: str | None  # None: either endpoint
    flags: tuple[int, ...] | None  # None: any segment


@dataclass(frozen=True, slots=True)
class Receives:
    instance: str | None
    flags: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class Loses:
    instance: str | None  # the endpoint that sent the lost segment; None: either
    flags: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class Calls:
    instance: str | None
    call: str
    arg: str | None


@dataclass(frozen=True, slots=True)
class StateAfter:
    """A state predicate used inside a step predicate: read in the state the step leads to."""

    expr: object


@dataclass(frozen=True, slots=True)
class Temporal:
    """eventually/always/never over a state or step predicate; initially/finally over a state."""

    op: str
    body: object
    on_steps: bool  # the body is a step predicate


@dataclass(frozen=True, slots=True)
class Before:
    first: object
    first_on_steps: bool
    second: object
    second_on_steps: bool


@dataclass(frozen=True, slots=True)
class Count:
    body: object  # a step predicate
    op: str
    bound: int


@dataclass(frozen=True, slots=True)
class Premise:
    """The left side of an implication a property rests on. When nothing satisfies it, the
    property holds only because the implication is never put to the test: a `runs` property
    then holds vacuously, and an invariant about states no run reaches is warned about."""

    formula: object  # a run formula (runs, reachable) or a state predicate (invariant)
    span: Span
    text: str        # as written, for the message
    observed: str | None = None  # the observation, when the premise is just `observed NAME`


@dataclass(frozen=True, slots=True)
class Property:
    kind: str
    name: str
    doc: str | None
    formula: object  # state predicate (invariant, terminates) or run formula
    timers: tuple[tuple[str, str], ...]
    span: Span
    source: str  # the property as written, for reports
    premises: tuple[Premise, ...] = ()  # the implications it rests on (see Premise)


STATE, STEP, RUN = "state", "step", "run"


def variables_read(spec: SpecFile) -> frozenset[str]:
    """The endpoint variables ("client.rcvd") the spec's properties read, from the syntax: they
    are known before the model is compiled, so that it is compiled once with the
    dead-variable reduction told to keep them (tcpcheck.verify). Resolving the properties
    reports the names that are not variables."""
    read: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, Raw):
            if node.op == "qualified":
                read.add("{}.{}".format(*node.args))
            node = node.args
        if isinstance(node, tuple):
            for part in node:
                walk(part)

    for p in spec.properties:
        walk(p.formula)
    return frozenset(read)


class _Resolver:
    def __init__(self, spec: SpecFile, ts: TransitionSystem):
        self.spec = spec
        self.ts = ts
        self.model = ts.model
        self.diags: list[Diagnostic] = []
        self.lines = spec.text.splitlines()  # once: a spec may hold thousands of properties
        self.instances = [i.name for i in self.model.instances]
        self.observations = {o for v in ts.variants for o in v.observations}
        self.enum_value = {v: (name, i) for name, values in self.model.enums
                           for i, v in enumerate(values)}
        # > 0 while resolving the operand of a temporal word: there step predicates combine
        # step by step; outside, each one means "at some step" on its own
        self.temporal_depth = 0

    def error(self, code, msg, span, *notes):
        self.diags.append(Diagnostic(code, msg, span, tuple(notes)))

    def run(self) -> list[Property]:
        out = []
        seen: dict[str, Span] = {}
        for p in self.spec.properties:
            if p.name in seen:
                prev = seen[p.name]
                self.error("TCP200", f"property '{p.name}' is already declared", p.span,
                           f"first declared at {prev.line}:{prev.column}")
                continue
            seen[p.name] = p.span
            r = self.property(p)
            if r is not None:
                out.append(r)
        if self.diags:
            raise TcpcheckError(self.diags)
        return out

    def property(self, p: RawProperty) -> Property | None:
        src = _source_of(self.lines, p.span)
        if p.kind == "terminates" and p.formula is None:
            return Property(p.kind, p.name, p.doc, None, (), p.span, src)
        got = self.formula(p.formula)
        if got is None:
            return None
        f, layer, typ = got
        if p.kind in ("invariant", "terminates"):
            if layer != STATE or typ != "bool":
                self.error("TCP202", f"{p.kind} needs a predicate over one state; this is "
                           f"{_describe(layer, typ)}", p.formula.span,
                           "use 'runs' for properties of whole runs")
                return None
            premises = self.premises(p.formula, f) if p.kind == "invariant" else ()
            return Property(p.kind, p.name, p.doc, f, (), p.span, src, premises)
        if typ != "bool":
            self.error("TCP202", f"a property must be true or false, but this is {_describe(layer, typ)}",
                       p.formula.span)
            return None
        if layer == STATE:
            if p.kind == "runs":
                self.error("TCP202", "a state predicate alone does not say when it must hold",
                           p.formula.span, "write 'invariant' for every state, or 'finally' / "
                           "'initially' / 'always' inside 'runs'")
                return None
            f = Temporal("eventually", f, False)  # reachable P: some run reaches a P state
        elif layer == STEP:
            f = Temporal("eventually", f, True)
        timers = ()
        if p.kind == "timing":
            timers = tuple(self.timer(t) for t in p.timers)
            if any(t is None for t in timers):
                return None
        premises = self.premises(p.formula, f) if p.kind in ("runs", "reachable") else ()
        return Property(p.kind, p.name, p.doc, f, timers, p.span, src, premises)

    def premises(self, raw: Raw, f) -> tuple[Premise, ...]:
        """The premises of the implications a property's formula is made of: the formula
        itself (`A implies B`), each of its conjuncts (`(A implies B) and (C implies D)`), and
        in a run formula an implication under `always` or `finally` (`finally (P implies Q)`
        rests on some run ending in a P state). `A before B` has none: it fails on a run
        where neither happens."""
        if isinstance(f, Op) and f.op == "and" and raw.op == "and":
            return tuple(p for r, g in zip(raw.args, f.args) for p in self.premises(r, g))
        if isinstance(f, Op) and f.op == "implies" and raw.op == "implies":
            return (self.premise(f.args[0], raw.args[0]),)
        if isinstance(f, Temporal) and f.op in ("always", "finally") and raw.args \
                and isinstance(f.body, Op) and f.body.op == "implies" \
                and raw.args[0].op == "implies":
            word = "eventually" if f.op == "always" else "finally"
            return (self.premise(Temporal(word, f.body.args[0], f.on_steps), raw.args[0].args[0],
                                 word),)
        return ()

    def premise(self, f, raw: Raw, word: str = "") -> Premise:
        """`word`: the temporal word the premise is read under (`finally (P implies Q)` rests
        on `finally P`), named in the message."""
        name = raw.args[0] if raw.op == "observed" and not word else None
        text = _source_of(self.lines, raw.span)
        return Premise(f, raw.span, f"{word} {text}" if word else text, name)

    def timer(self, t):
        inst, name, span = t
        if inst not in self.instances:
            self.error("TCP201", f"unknown instance '{inst}'" + did_you_mean(inst, self.instances), span)
            return None
        ep = self.model.endpoint(next(i.endpoint for i in self.model.instances if i.name == inst))
        if name not in [tm.name for tm in ep.timers]:
            self.error("TCP205", f"unknown timer '{name}' of {inst}"
                       + did_you_mean(name, [tm.name for tm in ep.timers]), span)
            return None
        return (inst, name)

    # -------------------------------------------------------- formulas
    # Each returns (resolved, layer, type) with type "bool", "int" or an enum name.

    def formula(self, r: Raw):
        op = r.op
        if op == "int":
            return Const(r.args[0]), STATE, "int"
        if op == "bool":
            return Const(int(r.args[0])), STATE, "bool"
        if op == "name":
            return self.name(r)
        if op == "qualified":
            return self.qualified(r)
        if op == "running":
            got = self.timer((*r.args, r.span))
            if got is None:
                return None
            return self.slot("{}.timer.{}".format(*got), r, f"timer '{got[0]}.{got[1]}'"), \
                STATE, "bool"
        if op == "len":
            name = f"{r.args[0]}->{r.args[1]}"
            ch = next((c for c in self.ts.channels if c.name == name), None)
            if ch is None:
                channels = [c.name for c in self.ts.channels]
                hint = did_you_mean(name, channels)
                self.error("TCP201", f"no channel {r.args[0]} -> {r.args[1]}"
                           + (hint.replace("->", " -> ") if hint else
                              " (channels: " + ", ".join(channels) + ")"), r.span)
                return None
            return ChanLen(ch.slot), STATE, "int"
        if op == "observed":
            return self.observed(r)
        if op in ("sends", "receives", "loses"):
            who = self.who(r.args[0])
            flags = self.flag_alts(r.args[1])
            if who is False or flags is False:
                return None
            node = {"sends": Sends, "receives": Receives, "loses": Loses}[op]
            return node(who, flags), STEP, "bool"
        if op == "calls":
            who = self.who(r.args[0])
            call, arg = r.args[1], r.args[2]
            calls = self.model.app_calls()  # the built-in calls and the model's own
            if call not in calls:
                hint = did_you_mean(call, calls)
                notes = () if hint else (
                    "the model's calls are " + ", ".join(sorted(calls)),
                    f"a call of the program's own is declared in the model: 'call {call}'")
                self.error("TCP204", f"unknown application call '{call}'" + hint, r.span,
                           *notes)
                return None
            if arg is not None and arg not in calls[call]:
                takes = ", ".join(calls[call]) or "no argument"
                self.error("TCP213", f"{call}() does not take '{arg}' (it takes {takes})"
                           + did_you_mean(arg, calls[call]), r.span)
                return None
            if who is False:
                return None
            return Calls(who, call, arg), STEP, "bool"
        if op == "count":
            got = self.inner(r.args[0])
            if got is None:
                return None
            f, layer, typ = got
            if layer != STEP:
                self.error("TCP202", "count() counts steps: give it a step predicate such as "
                           "sends(server, FIN) or observed NAME", r.args[0].span)
                return None
            return ("count", f), RUN, "int"
        if op in ("eventually", "always", "never", "initially", "finally"):
            got = self.inner(r.args[0])
            if got is None:
                return None
            f, layer, typ = got
            if typ != "bool":
                self.error("TCP202", f"'{op}' needs a predicate, but this is {_describe(layer, typ)}",
                           r.args[0].span)
                return None
            if layer == RUN:
                self.error("TCP202", f"'{op}' applies to a state or step predicate, not to a "
                           "run formula (temporal words do not nest)", r.args[0].span)
                return None
            if op in ("initially", "finally") and layer == STEP:
                self.error("TCP202", f"'{op}' speaks of a state; this is a step predicate",
                           r.args[0].span)
                return None
            return Temporal(op, f, layer == STEP), RUN, "bool"
        if op == "before":
            parts = []
            for a in r.args:
                got = self.inner(a)
                if got is None:
                    return None
                f, layer, typ = got
                if typ != "bool" or layer == RUN:
                    self.error("TCP202", "'before' compares when two state or step predicates "
                               "first hold", a.span)
                    return None
                parts.append((f, layer == STEP))
            return Before(parts[0][0], parts[0][1], parts[1][0], parts[1][1]), RUN, "bool"
        if op in ("not", "and", "or", "implies"):
            return self.logic(r)
        if op == "neg":
            got = self.formula(r.args[0])
            if got is None:
                return None
            f, layer, typ = got
            if typ != "int" or layer != STATE:
                self.error("TCP202", "'-' needs an integer", r.span)
                return None
            return Op("neg", (f,)), STATE, "int"
        return self.binary(r)

    def observed(self, r: Raw):
        """`observed NAME`: NAME must be something the model records with `observe`; a
        misspelt name would otherwise never be observed, and `never observed ...` hold."""
        name = r.args[0]
        if name not in self.observations:
            known = sorted(self.observations)
            hint = did_you_mean(name, known)
            listed = ("the model records: " + ", ".join(known)) if known else \
                "the model records no observations"
            self.error("TCP201", f"unknown observation '{name}'{hint}", r.span, listed)
            return None
        return Observed(name), STEP, "bool"

    def inner(self, r: Raw):
        """Resolve the operand of a temporal word."""
        self.temporal_depth += 1
        try:
            return self.formula(r)
        finally:
            self.temporal_depth -= 1

    def logic(self, r: Raw):
        parts = [self.formula(a) for a in r.args]
        if any(p is None for p in parts):
            return None
        for a, (_f, layer, typ) in zip(r.args, parts):
            if typ != "bool":
                self.error("TCP202", f"'{r.op}' needs predicates, but this is {_describe(layer, typ)}",
                           a.span)
                return None
        layers = {layer for _f, layer, _t in parts}
        if len(layers) == 1 and (layers != {STEP} or self.temporal_depth):
            return Op(r.op, tuple(f for f, _l, _t in parts)), layers.pop(), "bool"
        if self.temporal_depth and layers == {STATE, STEP}:
            # `eventually (receives(client, FIN) and client.state == CLOSING)`: the state
            # predicate is read in the state the step leads to
            return Op(r.op, tuple(StateAfter(f) if layer == STATE else f
                                  for f, layer, _t in parts)), STEP, "bool"
        # mixed: lift every part to a run formula (a state predicate speaks of the start,
        # a step predicate of some step)
        lifted = []
        for (f, layer, _t), raw in zip(parts, r.args):
            if layer == STATE and _reads_variables(f, self.ts):
                # a variable without a temporal word: at the start? at the end? say which
                self.error("TCP202", "this state predicate reads variables: say when it "
                           "must hold, with initially, finally, always or eventually", raw.span,
                           "only a predicate over parameters alone is read at the start "
                           "of the run without a temporal word")
                return None
            if layer == STATE:
                f = Temporal("initially", f, False)
            elif layer == STEP:
                f = Temporal("eventually", f, True)
            lifted.append(f)
        return Op(r.op, tuple(lifted)), RUN, "bool"

    def binary(self, r: Raw):
        op = r.op
        # count(S) >= k: a run formula
        first = r.args[0]
        if first.op == "count":
            got = self.formula(first)
            if got is None:
                return None
            bound = self.formula(r.args[1])
            if bound is None:
                return None
            b, _layer, btype = bound
            if not isinstance(b, Const) or btype != "int" or op not in ("==", "!=", "<", "<=", ">", ">="):
                self.error("TCP202", "compare count(...) with a number, e.g. count(sends(any, "
                           "FIN)) == 2", r.span)
                return None
            return Count(got[0][1], op, b.value), RUN, "bool"
        left, right = self.formula(r.args[0]), self.formula(r.args[1])
        if left is None or right is None:
            return None
        (lf, ll, lt), (rf, rl, rt) = left, right
        if ll != STATE or rl != STATE:
            self.error("TCP202", f"'{op}' compares values of one state", r.span)
            return None
        if op in ("==", "!="):
            if lt != rt:
                self.error("TCP202", f"cannot compare {_a(lt)} with {_a(rt)}", r.span)
                return None
            return Op(op, (lf, rf)), STATE, "bool"
        if lt != "int" or rt != "int":
            self.error("TCP202", f"'{op}' needs integers", r.span)
            return None
        if op in ("/", "%") and rf == Const(0):  # as in a model's constants
            self.error("TCP304", f"division by zero ('{op}' by 0)", r.span)
            return None
        typ = "bool" if op in ("<", "<=", ">", ">=") else "int"
        return Op(op, (lf, rf), r.span if op in ("/", "%") else None), STATE, typ

    def name(self, r: Raw):
        n = r.args[0]
        for i, s in enumerate(self.ts.slots):
            if s.kind in ("param", "global") and s.name == n:
                return SlotVal(i), STATE, _type_name(s.type)
        if n in self.enum_value:
            enum, index = self.enum_value[n]
            return Const(index), STATE, enum
        cands = [s.name for s in self.ts.slots if s.kind in ("param", "global")]
        cands += list(self.enum_value)
        hint = ""
        if n in [v.name for e in self.model.endpoints for v in e.vars]:
            hint = f"; endpoint variables are named by instance, e.g. {self.instances[0]}.{n}"
        self.error("TCP201", f"unknown name '{n}'" + (hint or did_you_mean(n, cands)), r.span)
        return None

    def qualified(self, r: Raw):
        inst, var = r.args
        if inst not in self.instances:
            self.error("TCP201", f"unknown instance '{inst}'" + did_you_mean(inst, self.instances),
                       r.span)
            return None
        for i, s in enumerate(self.ts.slots):
            if s.kind == "var" and s.name == f"{inst}.{var}":
                return SlotVal(i), STATE, _type_name(s.type)
        vars_ = [s.name.split(".", 1)[1] for s in self.ts.slots if s.kind == "var" and s.owner == inst]
        self.error("TCP201", f"{inst} has no variable '{var}'" + did_you_mean(var, vars_), r.span)
        return None

    def slot(self, name, r, what):
        for i, s in enumerate(self.ts.slots):
            if s.name == name:
                return SlotVal(i)
        self.error("TCP201", f"unknown {what}", r.span)
        return Const(0)

    def who(self, w):
        name, span = w
        if name == "any":
            return None
        if name not in self.instances:
            self.error("TCP201", f"unknown instance '{name}' (or 'any')"
                       + did_you_mean(name, self.instances), span)
            return False
        return name

    def flag_alts(self, alts):
        out = []
        for names, span in alts:
            if names == ("any",):
                return None
            bits = 0
            for n in names:
                if n not in FLAG_BITS:
                    self.error("TCP203", f"unknown segment flag '{n}'; flags are "
                               + ", ".join(FLAG_BITS) + did_you_mean(n, FLAG_BITS), span)
                    return False
                bits |= FLAG_BITS[n]
            out.append(bits)
        return tuple(out)


def _reads_variables(e, ts: TransitionSystem) -> bool:
    """Whether a state expression reads anything but parameters."""
    if isinstance(e, SlotVal):
        return ts.slots[e.slot].kind != "param"
    if isinstance(e, ChanLen):
        return True
    if isinstance(e, Op):
        return any(_reads_variables(a, ts) for a in e.args)
    return False


def _type_name(t: Type | None) -> str:
    if t is None:
        return "bool"
    return t.enum if t.kind == "enum" else t.kind


def _describe(layer, typ) -> str:
    if layer == RUN:
        return "a number about a run" if typ == "int" else "a run formula"
    if typ == "bool":
        return f"a {layer} predicate"
    return "a number" if typ == "int" else f"a value of {typ}"


def _a(t: str) -> str:
    return ("an " if t[0] in "aeiou" else "a ") + t


def _source_of(text_lines: list[str], span: Span) -> str:
    lines = text_lines[span.line - 1: span.end_line]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][span.column - 1: span.end_column - 1].strip()
    lines[0] = lines[0][span.column - 1:]
    lines[-1] = lines[-1][: span.end_column - 1]
    return " ".join(x.strip() for x in lines)


def resolve(spec: SpecFile, ts: TransitionSystem) -> list[Property]:
    """Resolve every property of a spec against a compiled model; all errors at once."""
    return _Resolver(spec, ts).run()
