"""`tcpcheck lsp`: a language server for models (.tcpm) and specs (.spec), on pygls.

What it says comes from the pipeline, never from a second reading of the languages:
diagnostics are the checker's own (tcpcheck.load for a model; verify.resolve_specs for a spec,
against the model it names, the editor's text of that model when it is open), so an editor
shows the codes and messages `tcpcheck check` prints. Hover, completion, go to definition and
the outline come from tcpcheck.facts (the same facts `tcpcheck list` prints); a "did you mean"
in a diagnostic becomes a quick fix.

The first half of this module knows nothing of the protocol (`analyse`, `target_at`,
`hover_text`, `completions`): the tests call it directly too. The second half wires it to pygls.
"""
from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import __version__, load
from . import spec as S
from .diagnostics import Diagnostic, Span, TcpcheckError
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
        load(path, text=text)      # type check and compile, with the defaults of the params
    except TcpcheckError as err:
        return Analysis(path, "model", tuple(err.diagnostics), facts)
    return Analysis(path, "model", (), facts)


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


# ---------------------------------------------------------------- the protocol


def _range(span: Span) -> lsp.Range:
    return lsp.Range(lsp.Position(span.line - 1, span.column - 1),
                     lsp.Position(span.end_line - 1, max(span.end_column - 1, 0)))


_FILE_START = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 1))
_SEVERITY = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning}


def lsp_diagnostic(d: Diagnostic, path: str, anchor: Span | None) -> lsp.Diagnostic:
    """The checker's diagnostic for an editor: its code and message as the command line
    prints them. One located in another file (a spec's model) is shown at `anchor` (the
    spec's `model` line) and points at where it is."""
    message = "\n".join([d.message, *(f"note: {n}" for n in d.notes)])
    related = None
    if d.span is not None and d.span.file == path:
        where = _range(d.span)
    else:
        where = _range(anchor) if anchor is not None else _FILE_START
        if d.span is not None:
            message = f"{d.span}: {message}"
            related = [lsp.DiagnosticRelatedInformation(
                lsp.Location(from_fs_path(str(Path(d.span.file).resolve())), _range(d.span)),
                d.message)]
    return lsp.Diagnostic(where, message, severity=_SEVERITY.get(d.severity),
                          code=d.code, source="tcpcheck", related_information=related)


_ITEM_KINDS = {"param": lsp.CompletionItemKind.Constant, "const": lsp.CompletionItemKind.Constant,
               "enum": lsp.CompletionItemKind.Enum, "value": lsp.CompletionItemKind.EnumMember,
               "field": lsp.CompletionItemKind.Field, "setting": lsp.CompletionItemKind.Property,
               "var": lsp.CompletionItemKind.Variable, "timer": lsp.CompletionItemKind.Event,
               "instance": lsp.CompletionItemKind.Module,
               "observation": lsp.CompletionItemKind.Event,
               "state": lsp.CompletionItemKind.EnumMember, "flag": lsp.CompletionItemKind.Constant,
               "call": lsp.CompletionItemKind.Function, "keyword": lsp.CompletionItemKind.Keyword}
_SYMBOL_KINDS = {"param": lsp.SymbolKind.Constant, "const": lsp.SymbolKind.Constant,
                 "enum": lsp.SymbolKind.Enum, "value": lsp.SymbolKind.EnumMember,
                 "field": lsp.SymbolKind.Field, "endpoint": lsp.SymbolKind.Class,
                 "setting": lsp.SymbolKind.Property, "var": lsp.SymbolKind.Variable,
                 "timer": lsp.SymbolKind.Event, "instance": lsp.SymbolKind.Object,
                 "property": lsp.SymbolKind.Boolean}


class TcpcheckServer(LanguageServer):
    """The server: every open document analysed on open, change and save."""

    def __init__(self, default_model: Path):
        super().__init__("tcpcheck", __version__,
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
        self.default_model = default_model
        self.analyses: dict[str, Analysis] = {}

    def read(self, path: Path) -> str | None:
        """The editor's text of a file, when it has it open."""
        wanted = Path(path).resolve()
        for doc in list(self.workspace.text_documents.values()):
            if doc.path and Path(doc.path).resolve() == wanted:
                return doc.source
        return None

    def refresh(self, uri: str) -> None:
        doc = self.workspace.get_text_document(uri)
        path = to_fs_path(uri) or uri
        an = analyse(path, doc.source, self.read, self.default_model)
        self.analyses[uri] = an
        anchor = None
        if an.language == "spec":
            try:
                anchor = S.parse_spec_text(doc.source, path).model_span
            except TcpcheckError:
                pass
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri, [lsp_diagnostic(d, path, anchor) for d in an.diagnostics], doc.version))

    def refresh_dependents(self, uri: str) -> None:
        """A model changed: the open specs are checked again against its new text."""
        if not uri.endswith(MODEL_SUFFIX):
            return
        for other in list(self.workspace.text_documents):
            if other.endswith(SPEC_SUFFIX):
                self.refresh(other)


def make_server(default_model: Path) -> TcpcheckServer:
    server = TcpcheckServer(default_model)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TcpcheckServer, params: lsp.DidOpenTextDocumentParams):
        ls.refresh(params.text_document.uri)
        ls.refresh_dependents(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TcpcheckServer, params: lsp.DidChangeTextDocumentParams):
        ls.refresh(params.text_document.uri)
        ls.refresh_dependents(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: TcpcheckServer, params: lsp.DidSaveTextDocumentParams):
        ls.refresh(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TcpcheckServer, params: lsp.DidCloseTextDocumentParams):
        ls.analyses.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(params.text_document.uri, []))

    def _at(ls: TcpcheckServer, params) -> tuple[Analysis, Target | None] | None:
        uri = params.text_document.uri
        an = ls.analyses.get(uri)
        if an is None:
            return None
        text = ls.workspace.get_text_document(uri).source
        return an, target_at(an, text, params.position.line, params.position.character)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: TcpcheckServer, params: lsp.HoverParams):
        found = _at(ls, params)
        if found is None or found[1] is None:
            return None
        return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, hover_text(found[1])))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: TcpcheckServer, params: lsp.DefinitionParams):
        found = _at(ls, params)
        if found is None or found[1] is None:
            return None
        t = found[1]
        spans = ([t.symbol.span] if t.symbol is not None else
                 [r.span for r in t.observation.recorded_by] if t.observation is not None else [])
        return [lsp.Location(from_fs_path(str(Path(s.file).resolve())), _range(s))
                for s in spans] or None

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                    lsp.CompletionOptions(trigger_characters=[".", " ", "("]))
    def completion(ls: TcpcheckServer, params: lsp.CompletionParams):
        uri = params.text_document.uri
        an = ls.analyses.get(uri)
        if an is None:
            return None
        text = ls.workspace.get_text_document(uri).source
        items = [lsp.CompletionItem(label, kind=_ITEM_KINDS.get(kind), detail=detail or None)
                 for label, kind, detail in completions(an, text, params.position.line,
                                                        params.position.character)]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls: TcpcheckServer, params: lsp.DocumentSymbolParams):
        an = ls.analyses.get(params.text_document.uri)
        if an is None:
            return None
        return _outline(an)

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
    def code_action(ls: TcpcheckServer, params: lsp.CodeActionParams):
        uri = params.text_document.uri
        text = ls.workspace.get_text_document(uri).source
        actions = []
        for d in params.context.diagnostics:
            name = suggestion(d.message)
            # a diagnostic of another file (a spec's model) is fixed in that file
            if name is None or d.source != "tcpcheck" or d.related_information:
                continue
            where = misspelt(text, (d.range.start.line, d.range.start.character),
                             (d.range.end.line, d.range.end.character), name)
            if where is None:
                continue
            line, first, last = where
            edit = lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(
                lsp.Range(lsp.Position(line, first), lsp.Position(line, last)), name)]})
            actions.append(lsp.CodeAction(f"Change to '{name}'", kind=lsp.CodeActionKind.QuickFix,
                                          diagnostics=[d], edit=edit, is_preferred=True))
        return actions

    return server


def _symbol(s: Symbol, children: list[lsp.DocumentSymbol] | None = None) -> lsp.DocumentSymbol:
    return lsp.DocumentSymbol(s.name, _SYMBOL_KINDS.get(s.kind, lsp.SymbolKind.Variable),
                              _range(s.decl_span), _range(s.span), detail=s.detail,
                              children=children)


def _outline(an: Analysis) -> list[lsp.DocumentSymbol]:
    """The document's declarations: a model's top level with each endpoint's settings,
    variables and timers inside it; a spec's properties."""
    if an.language == "spec":
        return [_symbol(p) for p in an.properties]
    if an.model is None or an.model.path != an.path:
        return []
    out = []
    for s in an.model.symbols:
        if s.scope is not None or s.kind == "value":
            continue
        children = ([_symbol(c) for c in an.model.symbols if c.scope == s.name]
                    if s.kind == "endpoint" else None)
        out.append(_symbol(s, children))
    return out


def serve(default_model: Path) -> None:
    """Run the server on stdin and stdout until the editor ends it. pygls closes the streams
    it is given when it stops: it is given copies, so that the command's own stdout is still
    open for the command line's last flush."""
    with os.fdopen(os.dup(0), "rb") as stdin, os.fdopen(os.dup(1), "wb") as stdout:
        make_server(default_model).start_io(stdin, stdout)
