"""Facts about a model and its specs, read from their syntax trees: every name a model
declares (with where, its type or range, and the comment written with it), the observations
and the transitions that record them, the calls it reacts to, and a spec's properties.

What an editor shows (tcpcheck.lsp: hover, completion, go to definition, the outline) and what
`tcpcheck list` prints are the same facts, so they are worked out here once. They come from
the syntax tree, not the checked model, so that a model with a type error still has them
while it is being edited; the checker is the only judge of whether a name is right.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import syntax as ast
from .diagnostics import Span
from .spec import SpecFile
from .tcp import APP_CALLS, FLAG_BITS, TCP_STATES


@dataclass(frozen=True, slots=True)
class Symbol:
    """A declared name. `scope` is the endpoint it belongs to (None: the whole model);
    `detail` is its declaration in one line ("var sent: 0..2 = 0", "timer rto 200ms..120s");
    `comment` is the comment written beside or just above it."""

    name: str
    kind: str   # param const enum value field endpoint setting var timer instance property
    detail: str
    comment: str
    span: Span        # the name where it is declared
    decl_span: Span   # the whole declaration
    scope: str | None = None

    def paragraph(self) -> str:
        """The comment on one line, as a listing or a table shows it."""
        return " ".join(line for line in self.comment.split("\n") if line)


@dataclass(frozen=True, slots=True)
class Recording:
    """A transition that records an observation or answers a call: its endpoint, how it
    starts ("on call close when ..."), its event as a spec sees it ("on call close after
    think", no guard), where the transition starts, and where the `observe` statement (or the
    call's event) is. The network's loss step on a lossy channel is one too ("network")."""

    endpoint: str
    transition: str
    event: str
    at: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Observation:
    name: str
    recorded_by: tuple[Recording, ...]


@dataclass(frozen=True, slots=True)
class Answered:
    """An application call as transitions take it ("drain(ALL)": with its argument)."""

    call: str
    answered_by: tuple[Recording, ...]


@dataclass(frozen=True, slots=True)
class ModelFacts:
    path: str
    symbols: tuple[Symbol, ...]
    observations: tuple[Observation, ...]
    calls: tuple[str, ...]      # the application calls the model's transitions react to
    answered: tuple[Answered, ...] = ()   # each call and argument, with its transitions

    def named(self, name: str, scope: str | None = None) -> list[Symbol]:
        """The symbols called `name` visible in `scope` (an endpoint's own first)."""
        own = [s for s in self.symbols if s.name == name and s.scope == scope and scope]
        return own + [s for s in self.symbols if s.name == name and s.scope is None]

    def of_kind(self, kind: str) -> list[Symbol]:
        """Every symbol of one kind ("param", "timer", ...), in the order declared."""
        return [s for s in self.symbols if s.kind == kind]

    def observation(self, name: str) -> Observation | None:
        return next((o for o in self.observations if o.name == name), None)

    def instances(self) -> dict[str, str]:
        """Instance name -> the endpoint it runs."""
        return {s.name: s.detail.split("=", 1)[1].strip().split("(")[0]
                for s in self.symbols if s.kind == "instance"}


# what the loss of a segment on a lossy channel records (the name emit.py gives that step)
LOSS_OBSERVATION = "segment_lost"

# the words of the languages, for completion and for telling a keyword from a name
FLAG_NAMES: tuple[str, ...] = tuple(FLAG_BITS)
STATE_NAMES: tuple[str, ...] = TCP_STATES
CALL_NAMES: tuple[str, ...] = tuple(APP_CALLS)
SHUTDOWN_ARGS: tuple[str, ...] = APP_CALLS["shutdown"]
MODEL_KEYWORDS = ("model", "param", "const", "enum", "segment", "endpoint", "var", "timer",
                  "instance", "channel", "on", "call", "recv", "expire", "after", "when",
                  "send", "arm", "cancel", "observe", "if", "elif", "else", "and", "or", "not",
                  "true", "false", "bool", "tcp_state", "seg", "capacity", "lossy", "delay",
                  "max", "of", "any", "room", "running", "min")
SPEC_KEYWORDS = ("model", "with", "invariant", "reachable", "runs", "terminates", "timing",
                 "solve", "implies", "and", "or", "not", "eventually", "always", "never",
                 "initially", "finally", "before", "count", "observed", "sends", "receives",
                 "loses", "calls", "running", "len", "any", "true", "false")


# ---------------------------------------------------------------- a model's facts


def model_facts(mf: ast.ModelFile) -> ModelFacts:
    lines = mf.text.split("\n")
    symbols: list[Symbol] = []
    recordings: dict[str, list[Recording]] = {}
    answers: dict[str, list[Recording]] = {}
    calls: set[str] = set()

    def add(name: str, kind: str, decl: Span, scope: str | None = None,
            detail: str | None = None, after: str | None = None) -> None:
        symbols.append(Symbol(name, kind, detail if detail is not None else _line_of(lines, decl),
                              _comment(lines, decl), _name_span(lines, decl, name, after),
                              decl, scope))

    for d in mf.decls:
        if isinstance(d, ast.ParamDecl):
            add(d.name, "param", d.span)
        elif isinstance(d, ast.ConstDecl):
            add(d.name, "const", d.span)
        elif isinstance(d, ast.EnumDecl):
            add(d.name, "enum", d.span)
            for value, span in zip(d.values, d.value_spans):
                add(value, "value", span, detail=f"{value}: a value of enum {d.name}")
        elif isinstance(d, ast.SegmentDecl):
            for f in d.fields:
                add(f.name, "field", f.span, detail=f"seg.{_line_of(lines, f.span)}")
        elif isinstance(d, ast.EndpointDecl):
            add(d.name, "endpoint", d.span, detail=_line_of(lines, d.span).rstrip(" {"))
            for s in d.settings:
                add(s.name, "setting", s.span, d.name,
                    detail=f"{s.name}: {_source(lines, s.type.span)} (a setting of {d.name})")
            for v in d.vars:
                add(v.name, "var", v.span, d.name)
            for t in d.timers:   # the range as written (100us..100us), no unit changed
                add(t.name, "timer", t.span, d.name)
            for tr in d.transitions:
                start = _line_of(lines, tr.span).rstrip(" {")
                event = _event_text(lines, tr)
                if isinstance(tr.event, ast.AppCall):
                    calls.add(tr.event.call)
                    ev = tr.event
                    answers.setdefault(ev.call + (f"({ev.arg})" if ev.arg else ""), []).append(
                        Recording(d.name, start, event, tr.span, ev.span))
                for obs in _observations(tr.body):
                    recordings.setdefault(obs.name, []).append(
                        Recording(d.name, start, event, tr.span, obs.span))
        elif isinstance(d, ast.InstanceDecl):
            add(d.name, "instance", d.span, detail=f"instance {d.name} = {d.endpoint}(...)")
        elif isinstance(d, ast.ChannelDecl) and d.lossy:
            # the network's own step records it (tcpcheck.emit, the loss step)
            where = f"{d.src}->{d.dst}"
            recordings.setdefault(LOSS_OBSERVATION, []).append(Recording(
                "network", _line_of(lines, d.span), f"loss on {where}", d.span, d.span))
    observations = tuple(Observation(name, tuple(recs))
                         for name, recs in sorted(recordings.items()))
    answered = tuple(Answered(call, tuple(recs)) for call, recs in sorted(answers.items()))
    return ModelFacts(mf.path, tuple(symbols), observations, tuple(sorted(calls)), answered)


def _event_text(lines: list[str], tr: ast.Transition) -> str:
    """A transition's event as written, with the timer it waits for and without its guard:
    "on call close after think", "on recv FIN | FIN+ACK"."""
    words = " ".join(_source(lines, tr.event.span).split())
    if isinstance(tr.event, ast.Expire) and not words.startswith("expire"):
        words = f"expire {words}"
    return f"on {words}" + (f" after {tr.after}" if tr.after else "")


def _observations(body) -> list[ast.Observe]:
    out: list[ast.Observe] = []
    for stmt in body:
        if isinstance(stmt, ast.Observe):
            out.append(stmt)
        elif isinstance(stmt, ast.If):
            for _cond, block in stmt.branches:
                out.extend(_observations(block))
    return out


# ---------------------------------------------------------------- a spec's facts


def spec_facts(sf: SpecFile) -> tuple[Symbol, ...]:
    """A spec's properties as symbols (detail: the kind and its description)."""
    lines = sf.text.split("\n")
    out = []
    for p in sf.properties:
        detail = f"{p.kind} {p.name}" + (f' "{p.doc}"' if p.doc else "")
        out.append(Symbol(p.name, "property", detail, _comment(lines, p.span),
                          _name_span(lines, p.span, p.name), p.span))
    return tuple(out)


# ---------------------------------------------------------------- source text


def _line_of(lines: list[str], span: Span) -> str:
    """The declaration's first line, without its trailing comment."""
    if not 0 < span.line <= len(lines):
        return ""
    text = lines[span.line - 1][span.column - 1:]
    if span.end_line == span.line:
        text = text[:span.end_column - span.column]
    return text.split("#", 1)[0].strip()


def _source(lines: list[str], span: Span) -> str:
    if span.line != span.end_line or not 0 < span.line <= len(lines):
        return _line_of(lines, span)
    return lines[span.line - 1][span.column - 1:span.end_column - 1]


def _comment(lines: list[str], span: Span) -> str:
    """The comment on the declaration's line, else the comment lines right above it."""
    if not 0 < span.line <= len(lines):
        return ""
    _, hash_, trailing = lines[span.line - 1].partition("#")
    if hash_ and "#" not in lines[span.line - 1][:span.column - 1]:
        # a comment on the line, and any continued below it at the same column
        out = [trailing.strip()]
        col = lines[span.line - 1].index("#")
        for nxt in lines[span.line:]:
            if len(nxt) > col and nxt[col] == "#" and not nxt[:col].strip():
                out.append(nxt[col + 1:].strip())
            else:
                break
        return " ".join(out)
    above: list[str] = []
    k = span.line - 2
    # a section rule (`# ---- ...`) ends it: what is above the rule is about the section
    while k >= 0 and lines[k].strip().startswith("#") and \
            not lines[k].strip()[1:].strip().startswith("--"):
        above.append(lines[k].strip()[1:].strip())
        k -= 1
    return "\n".join(reversed(above))


def _name_span(lines: list[str], decl: Span, name: str, after: str | None = None) -> Span:
    """Where `name` is written in its declaration's first line (the declaration when not)."""
    if not 0 < decl.line <= len(lines):
        return decl
    line = lines[decl.line - 1]
    start = decl.column - 1
    if after is not None and line.find(after, start) >= 0:
        start = line.find(after, start) + len(after)
    m = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)").search(line, start)
    if not m:
        return decl
    return Span(decl.file, decl.line, m.start() + 1, decl.line, m.end() + 1)
