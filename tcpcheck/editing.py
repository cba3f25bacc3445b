"""What an editor asks of a model or spec being written, with no protocol in it: the
document's diagnostics (the checker's own: tcpcheck.load for a model, verify.resolve_specs for
a spec against the model it names, the editor's text of that model when it is open), what the
name at a place is, its hover text, what may be written at a place, and where a "did you
mean" fix goes. tcpcheck.lsp puts it on the Language Server Protocol; the facts come from
tcpcheck.facts (the same that `tcpcheck list` prints).
"""
from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import load
from . import spec as S
from .diagnostics import Diagnostic, TcpcheckError
from .facts import (CALL_NAMES, FLAG_NAMES, MODEL_KEYWORDS, SHUTDOWN_ARGS, SPEC_KEYWORDS,
                    STATE_NAMES, ModelFacts, Observation, Symbol, model_facts, spec_facts)
from .parse import parse_text, read_source
from .tcp import APP_CALLS
from .verify import merge_params, resolve_specs

MODEL_SUFFIX, SPEC_SUFFIX = ".tcpm", ".spec"


# ---------------------------------------------------------------- what a document says


@dataclass(frozen=True, slots=True)
class Analysis:
    """A document checked: its diagnostics (a spec's may lie in its model), the facts of the
    model it is or names (None when that model does not parse), and a spec's properties."""

    path: str
    language: str            # "model" or "spec"
    diagnostics: tuple[Diagnostic, ...]
    model: ModelFacts | None
    properties: tuple[Symbol, ...] = ()


# the editor's text of a file when it holds one (None: read the disk)
Reader = Callable[[Path], "str | None"]


def analyse(path: str, text: str, read: Reader, default_model: Path) -> Analysis:
    """Check a document as `tcpcheck check` would, and gather its facts."""
    if path.endswith(SPEC_SUFFIX):
        return _analyse_spec(path, text, read, default_model)
    return _analyse_model(path, text)


def _analyse_model(path: str, text: str) -> Analysis:
    try:
        facts = model_facts(parse_text(text, path))
    except TcpcheckError as err:
        return Analysis(path, "model", tuple(err.diagnostics), None)
    try:
        ts = load(path, text=text)   # type check and compile, with the defaults of the params
    except TcpcheckError as err:
        return Analysis(path, "model", tuple(err.diagnostics), facts)
    return Analysis(path, "model", ts.model.warnings, facts)


def _analyse_spec(path: str, text: str, read: Reader, default_model: Path) -> Analysis:
    try:
        sf = S.parse_spec_text(text, path)
    except TcpcheckError as err:
        # half a formula as it is typed: the model's names are still worth offering
        named = _MODEL_LINE.search(text)
        model_path = (Path(os.path.normpath(Path(path).parent / named.group(1))) if named
                      else default_model)
        return Analysis(path, "spec", tuple(err.diagnostics), _facts_of(model_path, read))
    model_path = S.model_path_of(sf) or default_model
    model_text = read(model_path)
    facts = _facts_of(model_path, read)
    try:
        resolve_specs(model_path, [(Path(path), sf)], merge_params(sf.params, []), model_text)
    except TcpcheckError as err:
        return Analysis(path, "spec", tuple(err.diagnostics), facts, spec_facts(sf))
    return Analysis(path, "spec", (), facts, spec_facts(sf))


_MODEL_LINE = re.compile(r'^\s*model\s+"([^"]+)"', re.MULTILINE)


def _facts_of(model_path: Path, read: Reader) -> ModelFacts | None:
    """The facts of the model a spec is about (None when it cannot be read or parsed: the
    check reports why)."""
    try:
        text = read(model_path)
        return model_facts(parse_text(text if text is not None else read_source(model_path),
                                      str(model_path)))
    except TcpcheckError:
        return None


# ---------------------------------------------------------------- what a name at a place is


@dataclass(frozen=True, slots=True)
class Target:
    """What the name under the cursor is: a declared symbol, an observation, or a word of
    TCP's own (a state, a flag, a call)."""

    name: str
    kind: str
    symbol: Symbol | None = None
    observation: Observation | None = None


_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def word_at(text: str, line: int, character: int) -> tuple[str, str | None, str | None]:
    """The word at a 0-based position, the name before a '.' in front of it (`seg`,
    `client`), and the word before it (`observe`, `observed`, `call`)."""
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        return "", None, None
    src = lines[line]
    for m in _WORD.finditer(src):
        if m.start() <= character <= m.end():
            before = src[:m.start()]
            qualifier = re.search(r"([A-Za-z_]\w*)\.$", before)
            previous = re.search(r"([A-Za-z_]\w*)[\s(]*$", before)
            return (m.group(), qualifier.group(1) if qualifier else None,
                    previous.group(1) if previous and not qualifier else None)
    return "", None, None


def _scope_at(facts: ModelFacts, path: str, line: int) -> str | None:
    """The endpoint whose body holds a 1-based line of the model (None: outside any)."""
    if facts.path != path:
        return None
    for s in facts.symbols:
        if s.kind == "endpoint" and s.decl_span.line <= line <= s.decl_span.end_line:
            return s.name
    return None


def target_at(an: Analysis, text: str, line: int, character: int) -> Target | None:
    word, qualifier, previous = word_at(text, line, character)
    if not word:
        return None
    facts = an.model
    if facts is not None:
        if previous in ("observe", "observed") and facts.observation(word):
            return Target(word, "observation", observation=facts.observation(word))
        if qualifier == "seg":
            found = [s for s in facts.symbols if s.kind == "field" and s.name == word]
            return Target(word, "field", found[0]) if found else None
        if qualifier is not None and qualifier in facts.instances():
            endpoint = facts.instances()[qualifier]
            found = [s for s in facts.symbols if s.scope == endpoint and s.name == word]
            return Target(word, found[0].kind, found[0]) if found else None
        for p in an.properties:
            if p.name == word:
                return Target(word, "property", p)
        found = facts.named(word, _scope_at(facts, an.path, line + 1))
        if found:
            return Target(word, found[0].kind, found[0])
        if facts.observation(word):
            return Target(word, "observation", observation=facts.observation(word))
    for p in an.properties:
        if p.name == word:
            return Target(word, "property", p)
    if word in STATE_NAMES:
        return Target(word, "state")
    if word in FLAG_NAMES:
        return Target(word, "flag")
    if word in CALL_NAMES or word in SHUTDOWN_ARGS:
        return Target(word, "call")
    return None


# ---------------------------------------------------------------- hover


def _type_words(detail: str) -> str | None:
    """A declaration's type in words: "0..2" is an integer range, bool, or an enum."""
    m = re.search(r":\s*([^=()]+?)\s*(?:=|\(a setting|$)", detail)
    if not m:
        return None
    typ = m.group(1).strip()
    if ".." in typ:
        lo, hi = (x.strip() for x in typ.split("..", 1))
        return f"integer, range {lo}..{hi}"
    if typ == "tcp_state":
        return "tcp_state, one of RFC 9293's states"
    return typ


_KIND_WORDS = {"param": "parameter", "const": "constant", "enum": "enum", "value": "enum value",
               "field": "segment field", "endpoint": "endpoint", "setting": "setting",
               "var": "variable", "timer": "timer", "instance": "instance",
               "property": "property"}


def hover_text(t: Target) -> str:
    """Markdown: what the name is, its type and range or duration, its comment."""
    if t.observation is not None:
        recs = t.observation.recorded_by
        out = [f"**observation** `{t.name}`, recorded by {len(recs)} "
               f"transition{'s' if len(recs) != 1 else ''}:", ""]
        out += [f"- `{r.transition}` ({r.endpoint}, line {r.span.line})" for r in recs]
        return "\n".join(out)
    if t.symbol is not None:
        s = t.symbol
        where = f" of endpoint `{s.scope}`" if s.scope else ""
        out = [f"**{_KIND_WORDS.get(s.kind, s.kind)}** `{s.name}`{where}", "",
               f"```\n{s.detail}\n```"]
        if s.kind in ("var", "param", "field", "setting"):
            words = _type_words(s.detail)
            if words:
                out.append(f"type: {words}")
        if s.kind == "timer":
            out.append("duration: " + s.detail.split(" ", 2)[2].replace("..", " to "))
        if s.comment:
            out += ["", s.comment]
        return "\n".join(out)
    if t.kind == "state":
        return f"**TCP state** `{t.name}` (RFC 9293, section 3.3.2)"
    if t.kind == "flag":
        return (f"**segment flag** `{t.name}`" + (" (not a header flag: the segment carries "
                                                   "one unit of data)" if t.name == "DATA" else ""))
    if t.name in SHUTDOWN_ARGS:
        return f"**shutdown's argument** `{t.name}`: `shutdown({t.name})`"
    args = APP_CALLS.get(t.name, ())
    return f"**application call** `{t.name}({' | '.join(args)})`"


# ---------------------------------------------------------------- completion


def completions(an: Analysis, text: str, line: int, character: int) -> list[tuple[str, str, str]]:
    """(label, kind, detail) for what may be written here, most likely first."""
    lines = text.split("\n")
    before = lines[line][:character] if 0 <= line < len(lines) else ""
    facts = an.model
    qualifier = re.search(r"([A-Za-z_]\w*)\.\w*$", before)
    previous = re.search(r"([A-Za-z_]\w*)[\s(]+\w*$", before)
    prev = previous.group(1) if previous else None
    out: list[tuple[str, str, str]] = []
    observations = [(o.name, "observation", f"recorded by {len(o.recorded_by)} transitions")
                    for o in (facts.observations if facts else ())]
    if qualifier is not None and facts is not None:
        q = qualifier.group(1)
        if q == "seg":
            return [(s.name, s.kind, s.detail) for s in facts.symbols if s.kind == "field"]
        endpoint = facts.instances().get(q)
        if endpoint is not None:
            return [(s.name, s.kind, s.detail) for s in facts.symbols
                    if s.scope == endpoint and s.kind in ("var", "timer")]
    flags = [(f, "flag", "segment flag") for f in FLAG_NAMES]
    if prev in ("observe", "observed"):
        return observations
    if prev == "call" or re.search(r"\bcalls\(\s*\w+\s*,\s*\w*$", before):
        return [(c, "call", "application call") for c in CALL_NAMES]
    if prev == "shutdown":
        return [(a, "call", "shutdown's argument") for a in SHUTDOWN_ARGS]
    # segment flags: what a transition sends or receives, what a spec's step sends, ...
    flagged = re.search(r"\b(?:FIN|SYN|RST|ACK|DATA)\s*[+|]\s*\w*$", before)
    if prev in ("send", "recv") or flagged or re.search(
            r"\b(sends|receives|loses)\(\s*\w+\s*,[\s\w+|]*$", before):
        return flags
    if facts is not None and an.language == "model" and (
            prev in ("arm", "cancel", "expire", "after", "running")):
        scope = _scope_at(facts, an.path, line + 1)
        return [(s.name, s.kind, s.detail) for s in facts.symbols
                if s.kind == "timer" and s.scope == scope]
    if facts is not None:
        if an.language == "model":
            scope = _scope_at(facts, an.path, line + 1)   # the endpoint's own names first
            out += [(s.name, s.kind, s.detail) for s in facts.symbols
                    if scope is not None and s.scope == scope]
            out += [(s.name, s.kind, s.detail) for s in facts.symbols
                    if s.scope is None and s.kind != "endpoint"]
        else:
            out += [(s.name, s.kind, s.detail) for s in facts.symbols
                    if s.kind in ("param", "instance", "const", "value")]
    out += observations
    out += [(s, "state", "TCP state") for s in STATE_NAMES]
    out += flags
    out += [(c, "call", "application call") for c in CALL_NAMES]
    keywords = MODEL_KEYWORDS if an.language == "model" else SPEC_KEYWORDS
    out += [(k, "keyword", "") for k in keywords]
    seen: set[str] = set()
    return [c for c in out if not (c[0] in seen or seen.add(c[0]))]


# ---------------------------------------------------------------- "did you mean"

_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'")


def suggestion(message: str) -> str | None:
    """The name a diagnostic suggests instead of what is written."""
    m = _DID_YOU_MEAN.search(message)
    return m.group(1) if m else None


def misspelt(text: str, start: tuple[int, int], end: tuple[int, int], instead: str
             ) -> tuple[int, int, int] | None:
    """Where, inside a diagnostic's range (0-based line and character), the name that
    `instead` should replace is written: (line, start, end). A diagnostic may cover more
    than the name (`client.stat` for the variable `stat`): the name is the word in it most
    like the suggestion."""
    lines = text.split("\n")
    best: tuple[float, tuple[int, int, int]] | None = None
    for line in range(start[0], min(end[0], len(lines) - 1) + 1):
        lo = start[1] if line == start[0] else 0
        hi = end[1] if line == end[0] else len(lines[line])
        for m in _WORD.finditer(lines[line]):
            if m.start() >= lo and m.end() <= hi:
                score = difflib.SequenceMatcher(None, m.group(), instead).ratio()
                if best is None or score > best[0]:
                    best = (score, (line, m.start(), m.end()))
    # a word nothing like the suggestion is not the misspelling (difflib's own threshold)
    return best[1] if best and best[0] >= 0.6 else None
