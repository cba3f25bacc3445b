"""`tcpcheck lsp`: a language server for models (.tcpm) and specs (.spec), on pygls.

What it says comes from the pipeline, never from a second reading of the languages
(tcpcheck.editing: the checker's own diagnostics, so an editor shows the codes and messages
`tcpcheck check` prints; hover, completion, go to definition and the outline from
tcpcheck.facts, the same facts `tcpcheck list` prints). This module puts them on the
protocol: positions, documents open in the editor, a "did you mean" as a quick fix.
"""
from __future__ import annotations

import os
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import __version__
from . import spec as S
from .diagnostics import Diagnostic, Span, TcpcheckError
from .editing import (MODEL_SUFFIX, SPEC_SUFFIX, Analysis, Target, analyse, completions,
                      hover_text, misspelt, suggestion, target_at)
from .facts import Symbol


# ---------------------------------------------------------------- the protocol


def _range(span: Span) -> lsp.Range:
    return lsp.Range(lsp.Position(span.line - 1, span.column - 1),
                     lsp.Position(span.end_line - 1, max(span.end_column - 1, 0)))


def _from_client(doc, position: lsp.Position) -> tuple[int, int]:
    """An editor's position as (line, character in the text): the protocol counts a line's
    columns in UTF-16 units unless the editor and the server agree otherwise, and a character
    outside the Basic Multilingual Plane (an emoji in a description) is two of them."""
    p = doc.position_codec.position_from_client_units(doc.lines, position)
    return p.line, p.character


def _to_client(doc, r: lsp.Range) -> lsp.Range:
    """A range of this document in the editor's units (see _from_client)."""
    return doc.position_codec.range_to_client_units(doc.lines, r)


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
        shown = [lsp_diagnostic(d, path, anchor) for d in an.diagnostics]
        for d in shown:     # every diagnostic is placed in this document (see lsp_diagnostic)
            d.range = _to_client(doc, d.range)
            for r in d.related_information or ():   # where it is, in that file's units
                r.location.range = _to_client(self.workspace.get_text_document(r.location.uri),
                                              r.location.range)
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri, shown, doc.version))

    def location(self, span: Span) -> lsp.Location:
        """Where a span is, for the editor: its file's URI and the range in the protocol's
        units, counted on that file's text (the editor's when it has the file open)."""
        uri = from_fs_path(str(Path(span.file).resolve()))
        return lsp.Location(uri, _to_client(self.workspace.get_text_document(uri), _range(span)))

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
        doc = ls.workspace.get_text_document(uri)
        return an, target_at(an, doc.source, *_from_client(doc, params.position))

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
        return [ls.location(s) for s in spans] or None

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                    lsp.CompletionOptions(trigger_characters=[".", " ", "("]))
    def completion(ls: TcpcheckServer, params: lsp.CompletionParams):
        uri = params.text_document.uri
        an = ls.analyses.get(uri)
        if an is None:
            return None
        doc = ls.workspace.get_text_document(uri)
        items = [lsp.CompletionItem(label, kind=_ITEM_KINDS.get(kind), detail=detail or None)
                 for label, kind, detail in completions(an, doc.source,
                                                        *_from_client(doc, params.position))]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls: TcpcheckServer, params: lsp.DocumentSymbolParams):
        an = ls.analyses.get(params.text_document.uri)
        if an is None:
            return None
        doc = ls.workspace.get_text_document(params.text_document.uri)
        outline = _outline(an)
        todo = list(outline)
        while todo:         # every symbol of the outline is in this document
            sym = todo.pop()
            sym.range, sym.selection_range = (_to_client(doc, sym.range),
                                              _to_client(doc, sym.selection_range))
            todo += sym.children or []
        return outline

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
    def code_action(ls: TcpcheckServer, params: lsp.CodeActionParams):
        uri = params.text_document.uri
        doc = ls.workspace.get_text_document(uri)
        text = doc.source
        actions = []
        for d in params.context.diagnostics:
            name = suggestion(d.message)
            # a diagnostic of another file (a spec's model) is fixed in that file
            if name is None or d.source != "tcpcheck" or d.related_information:
                continue
            where = misspelt(text, _from_client(doc, d.range.start),
                             _from_client(doc, d.range.end), name)
            if where is None:
                continue
            line, first, last = where
            edit = lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(_to_client(
                doc, lsp.Range(lsp.Position(line, first), lsp.Position(line, last))), name)]})
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
