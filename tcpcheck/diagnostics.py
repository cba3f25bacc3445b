"""Diagnostics as data: every user-facing error has a stable code, a span and a message.

One renderer prints them the same way everywhere:

    models/x.tcpm:12:5: error[TCP201]: unknown variable 'stat'; did you mean 'state'?
       12 |     stat := CLOSED
          |     ^^^^

The codes are stable so that tests, scripts and users can refer to them.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file; lines and columns are 1-based, the end is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


# The one registry of stable codes: every code any stage raises is declared here with its
# meaning, and docs/language.md lists them all (tests/test_diagnostic_codes.py checks both).
# Syntax: 1xx, names and types: 2xx, model structure: 3xx, command-line input: 4xx,
# errors found while exploring: 5xx, captures and replay: 6xx.
CODES: dict[str, str] = {
    "TCP100": "syntax error",
    "TCP101": "unexpected character",
    "TCP102": "unexpected end of file",
    "TCP103": "unclosed block",
    "TCP104": "wrong assignment sign: ':=' assigns a variable, '=' declares",
    "TCP105": "bad duration",
    "TCP106": "'=' or ':=' used where '==' compares",
    "TCP107": "number too large",
    "TCP108": "nested too deeply",
    "TCP200": "duplicate declaration",
    "TCP201": "unknown name",
    "TCP202": "type mismatch",
    "TCP203": "unknown segment flag",
    "TCP204": "unknown application call",
    "TCP205": "unknown timer",
    "TCP206": "unknown segment field",
    "TCP207": "assignment to a read-only name",
    "TCP208": "'seg' outside a recv transition",
    "TCP209": "bad range",
    "TCP210": "not a constant where one is needed",
    "TCP211": "unknown endpoint setting",
    "TCP212": "missing endpoint setting",
    "TCP213": "bad call argument",
    "TCP214": "unknown function",
    "TCP215": "a word of the model language used as a name (of a call, parameter, variable, timer, ...)",
    "TCP216": "a declared call no transition answers (warning)",
    "TCP300": "wrong number of endpoints",
    "TCP301": "missing channel",
    "TCP302": "bad channel",
    "TCP303": "value out of range",
    "TCP304": "division by zero in a constant",
    "TCP305": "constant too large",
    "TCP306": "model beyond tcpcheck's size limits",
    "TCP400": "bad command-line argument (--param, --property, models given)",
    "TCP401": "cannot read a file, or no file to read",
    "TCP500": "value out of range during exploration",
    "TCP501": "division by zero during exploration",
    "TCP502": "division by zero in a spec, in a reachable state",
    "TCP503": "an invariant's premise holds in no reachable state (warning)",
    "TCP600": "cannot read a capture file, or a directory holds none",
    "TCP601": "corrupt or truncated capture file",
    "TCP602": "no TCP connection in the capture",
    "TCP603": "bad --conn",
    "TCP604": "bad JSON trace",
    "TCP605": "unsupported capture file version",
    "TCP620": "packetdrill script: syntax error",
    "TCP621": "packetdrill script: a construct one-sided replay does not support",
    "TCP622": "bad --side",
}


# ---------------------------------------------------------------- limits on input

# What makes input too big to read, stated once for every stage that checks it. Each is far
# beyond any real model, spec or trace, and below where Python itself would fail (its
# recursion and nesting limits, its int-to-text conversion limit, memory).
MAX_CONSTANT = 10**18        # a literal, and each step of working out a constant (TCP107, TCP305)
MAX_NESTING = 150            # expressions and formulas nested deeper are refused (TCP108)
MAX_SOURCE_BYTES = 4 << 20   # a model or spec file (TCP401)
MAX_SHOWN = 50               # diagnostics printed before "... and N more"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    notes: tuple[str, ...] = ()
    severity: str = "error"

    def as_json(self) -> dict:
        d = {"code": self.code, "severity": self.severity, "message": self.message}
        if self.span is not None:
            d["file"] = self.span.file
            d["line"] = self.span.line
            d["column"] = self.span.column
        if self.notes:
            d["notes"] = list(self.notes)
        return d


class TcpcheckError(Exception):
    """Raised by any stage when the user's input is bad; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def did_you_mean(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def render(diag: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """Render one diagnostic as text: location, code, message, the source line and a caret."""
    head = f"{diag.severity}[{diag.code}]: {diag.message}"
    if diag.span is None:
        lines = [head]
    else:
        lines = [f"{diag.span}: {head}"]
        text = (sources or {}).get(diag.span.file)
        if text is not None:
            lines.extend(_excerpt(text, diag.span))
    lines.extend(f"  = note: {n}" for n in diag.notes)
    return "\n".join(lines)


# a source line longer than this is shown as a window around the span
_EXCERPT_WIDTH = 160


def _excerpt(text: str, span: Span) -> list[str]:
    src_lines = text.splitlines()
    if not 1 <= span.line <= len(src_lines):
        return []
    src = src_lines[span.line - 1].expandtabs(1)
    gutter = f"{span.line:>4} | "
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    else:
        width = max(1, len(src.rstrip()) - span.column + 1) if span.end_line > span.line else 1
    start = span.column - 1
    if len(src) > _EXCERPT_WIDTH:  # a window with the span's start a quarter of the way in
        first = max(0, start - _EXCERPT_WIDTH // 4)
        cut = src[first:first + _EXCERPT_WIDTH]
        src = ("..." if first else "") + cut + ("..." if first + len(cut) < len(src) else "")
        start = start - first + (3 if first else 0)
        width = min(width, _EXCERPT_WIDTH - (start - 3 if first else start))
    caret = " " * start + "^" * max(1, width)
    return [gutter + src, " " * (len(gutter) - 2) + "| " + caret]


def render_all(diags: list[Diagnostic], sources: dict[str, str] | None = None) -> str:
    """Every diagnostic up to MAX_SHOWN, then how many more, then the count of errors."""
    shown = diags[:MAX_SHOWN]
    body = "\n".join(render(d, sources) for d in shown)
    if len(diags) > len(shown):
        body += f"\n... and {len(diags) - len(shown)} more (the first {MAX_SHOWN} are shown)"
    n = sum(1 for d in diags if d.severity == "error")
    return body + f"\n{n} error{'s' if n != 1 else ''}" if n else body


def unique(diags: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics without repeats, in their first order."""
    seen, out = set(), []
    for d in diags:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out
