"""What a model and its specs offer, by name: observations, parameters, calls, timers and
properties, for `tcpcheck list`: the facts an editor shows (tcpcheck.facts, read from the
syntax trees) laid out as entries, plain and as JSON. No rule about a model is stated here:
which transitions record an observation, what a declaration's comment is, how a range is
written, all come from tcpcheck.facts. Orders are fixed (by name, then by position) so that
the JSON is byte-identical from run to run.
"""
from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Span
from .facts import ModelFacts, Recording, Symbol, spec_facts
from .spec import SpecFile

KINDS = ("observations", "params", "calls", "timers", "properties")


@dataclass(frozen=True, slots=True)
class Site:
    """A transition of an endpoint, where an observation is recorded or a call answered."""

    endpoint: str
    event: str  # as written: "on call close", "on recv FIN | FIN+ACK after delack"
    line: int
    column: int

    def text(self) -> str:
        return f"{self.endpoint} line {self.line}: {self.event}"

    def as_json(self) -> dict:
        return {"endpoint": self.endpoint, "event": self.event, "line": self.line,
                "column": self.column}


@dataclass(frozen=True, slots=True)
class Entry:
    """One name a model or spec offers: what it is (`detail`), where, and its comment."""

    name: str
    detail: str
    span: Span
    doc: str
    sites: tuple[Site, ...] = ()

    def as_json(self) -> dict:
        doc = {"name": self.name, "detail": self.detail, "file": self.span.file,
               "line": self.span.line, "doc": self.doc}
        if self.sites:
            doc["transitions"] = [s.as_json() for s in self.sites]
        return doc


def _site(r: Recording) -> Site:
    return Site(r.endpoint, r.event, r.at.line, r.at.column)


def _after_name(s: Symbol) -> str:
    """What a declaration says after its name: "bool = false", "0ms..200ms"."""
    return s.detail.split(s.name, 1)[1].lstrip(": ").strip()


def _by(name: str, verb: str, recs: tuple[Recording, ...]) -> Entry:
    n = len(recs)
    return Entry(name, f"{verb} by {n} transition{'s' if n != 1 else ''}", recs[0].at, "",
                 tuple(_site(r) for r in recs))


def observations(facts: ModelFacts) -> list[Entry]:
    """Every name a transition records with `observe`, with the transitions that record it."""
    return [_by(o.name, "recorded", o.recorded_by) for o in facts.observations]


def params(facts: ModelFacts) -> list[Entry]:
    entries = [Entry(s.name, _after_name(s), s.span, s.paragraph()) for s in facts.of_kind("param")]
    return sorted(entries, key=lambda e: e.name)


def calls(facts: ModelFacts) -> list[Entry]:
    """Every application call some transition answers, with those transitions."""
    return [_by(a.call, "answered", a.answered_by) for a in facts.answered]


def timers(facts: ModelFacts) -> list[Entry]:
    entries = [Entry(f"{s.scope}.{s.name}", _after_name(s), s.span, s.paragraph())
               for s in facts.of_kind("timer")]
    return sorted(entries, key=lambda e: e.name)


def properties(specs: list[SpecFile]) -> list[Entry]:
    entries = []
    for sf in specs:
        for p, sym in zip(sf.properties, spec_facts(sf)):
            entries.append(Entry(p.name, p.kind, p.span, p.doc or sym.paragraph()))
    return entries


def text_lines(kind: str, entries: list[Entry]) -> list[str]:
    """The plain listing: a name and what it is per line, its transitions indented below."""
    if not entries:
        return [f"(no {kind})"]
    width = max(len(e.name) for e in entries)
    out = []
    for e in entries:
        where = f"{e.span.file}:{e.span.line}" if kind == "properties" else f"line {e.span.line}"
        out.append(f"{e.name:<{width}}  {e.detail}" + ("" if e.sites else f"  ({where})"))
        out.extend(f"    {s.text()}" for s in e.sites)
    return out
