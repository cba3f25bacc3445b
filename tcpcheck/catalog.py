"""What a model and its specs offer, by name: observations, parameters, calls, timers and
properties, for `tcpcheck list` (and anything else that needs the vocabulary a spec may use).

Everything is read from the checked model (tcpcheck.typecheck) and the parsed specs; nothing
is explored. Each entry keeps where it was written, and the comment just above it in the
source (the project's models document a declaration by the `#` lines before it). Orders are
fixed (by name, then by position) so that the JSON is byte-identical from run to run.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import model as c
from .diagnostics import Span
from .spec import SpecFile

# what the loss of a segment on a lossy channel records (the name emit.py gives that step)
LOSS_OBSERVATION = "segment_lost"

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


def comment_above(text: str, line: int) -> str:
    """The `#` lines right above `line` (1-based), without their marks: a declaration's doc.
    A section rule (`# ---- ...`) ends it."""
    lines = text.splitlines()
    doc: list[str] = []
    i = line - 2
    while i >= 0 and lines[i].lstrip().startswith("#"):
        body = lines[i].lstrip()[1:].strip()
        if body.startswith("--"):
            break
        doc.append(body)
        i -= 1
    return " ".join(reversed(doc)).strip()


def _source(text: str, span: Span) -> str:
    """The text of a span on one line (a type, a range as written)."""
    line = text.splitlines()[span.line - 1]
    end = span.end_column - 1 if span.end_line == span.line else len(line)
    return line[span.column - 1:end].strip()


def _event_text(tr: c.CTransition) -> str:
    ev = tr.event
    if ev.kind == "call":
        words = f"call {ev.name}" + (f"({ev.arg})" if ev.arg else "")
    elif ev.kind == "recv":
        words = ev.label()
    elif ev.kind == "expire":
        words = f"expire {ev.name}"
    else:
        words = f"internal {ev.name}"
    # an `expire T` step is one whose timer T runs out: the checker records T as its `after`
    after = tr.after if tr.after and not (ev.kind == "expire" and tr.after == ev.name) else None
    return f"on {words}" + (f" after {after}" if after else "")


def _observed(stmts) -> set[str]:
    found: set[str] = set()
    for s in stmts:
        if isinstance(s, c.SObserve):
            found.add(s.name)
        elif isinstance(s, c.SIf):
            for _, body in s.branches:
                found |= _observed(body)
    return found


def _site(ep: c.CEndpoint, tr: c.CTransition) -> Site:
    return Site(ep.name, _event_text(tr), tr.span.line, tr.span.column)


def observations(model: c.CheckedModel) -> list[Entry]:
    """Every name a transition records with `observe`, with the transitions that record it."""
    sites: dict[str, list[tuple[Site, Span]]] = {}
    for ep in model.endpoints:
        for tr in ep.transitions:
            for name in _observed(tr.body):
                sites.setdefault(name, []).append((_site(ep, tr), tr.span))
    for ch in model.channels:
        if ch.lossy:  # the network's own step records it (tcpcheck.emit, the loss step)
            site = Site("network", f"loss on {ch.name}", ch.span.line, ch.span.column)
            sites.setdefault(LOSS_OBSERVATION, []).append((site, ch.span))
    entries = []
    for name in sorted(sites):
        found = sites[name]
        n = len(found)
        entries.append(Entry(name, f"recorded by {n} transition{'s' if n != 1 else ''}",
                             found[0][1], "", tuple(s for s, _ in found)))
    return entries


def params(model: c.CheckedModel) -> list[Entry]:
    entries = []
    for p in model.params:
        detail = _source(model.text, p.domain.span)
        if p.default is not None:
            decl = model.text.splitlines()[p.span.line - 1]
            detail += " = " + decl.split("=", 1)[1].split("#", 1)[0].strip()
        entries.append(Entry(p.name, detail, p.span, comment_above(model.text, p.span.line)))
    return sorted(entries, key=lambda e: e.name)


def calls(model: c.CheckedModel) -> list[Entry]:
    """Every application call some transition answers, with those transitions."""
    sites: dict[str, list[tuple[Site, Span]]] = {}
    for ep in model.endpoints:
        for tr in ep.transitions:
            if tr.event.kind == "call":
                name = tr.event.name + (f"({tr.event.arg})" if tr.event.arg else "")
                sites.setdefault(name, []).append((_site(ep, tr), tr.span))
    entries = []
    for name in sorted(sites):
        found = sites[name]
        n = len(found)
        entries.append(Entry(name, f"answered by {n} transition{'s' if n != 1 else ''}",
                             found[0][1], "", tuple(s for s, _ in found)))
    return entries


def timers(model: c.CheckedModel) -> list[Entry]:
    entries = []
    for ep in model.endpoints:
        for t in ep.timers:
            # the range as written (60s..60s), not in milliseconds
            decl = model.text.splitlines()[t.span.line - 1].split("#", 1)[0].split()
            entries.append(Entry(f"{ep.name}.{t.name}", " ".join(decl[2:]),
                                 t.span, comment_above(model.text, t.span.line)))
    return sorted(entries, key=lambda e: e.name)


def properties(specs: list[SpecFile]) -> list[Entry]:
    entries = []
    for sf in specs:
        for p in sf.properties:
            entries.append(Entry(p.name, p.kind, p.span,
                                 p.doc or comment_above(sf.text, p.span.line)))
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
