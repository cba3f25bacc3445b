"""Stage 1: model text -> syntax tree (tcpcheck.syntax), or diagnostics that say what was expected.

The grammar lives in model.lark. lark's errors are translated here into plain words: which
token was found, what would have been accepted, and which block is still open.
"""
from __future__ import annotations

import functools
import re
import stat
from pathlib import Path

from lark import Lark, Token, Transformer_NonRecursive, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from . import syntax as ast
from .diagnostics import (MAX_CONSTANT, MAX_NESTING, MAX_SOURCE_BYTES, Diagnostic, Span,
                          TcpcheckError, did_you_mean)

GRAMMAR = Path(__file__).with_name("model.lark")


@functools.cache
def _parser() -> Lark:
    # cache=True keeps the LALR tables in the temp directory (keyed by the grammar's hash):
    # building them costs 0.17 s at every start, loading them 6 ms
    return Lark(GRAMMAR.read_text(), parser="lalr", propagate_positions=True,
                maybe_placeholders=True, cache=True)


@functools.cache
def keywords() -> frozenset[str]:
    """The words of the model language (`when`, `send`, `any`, ...), read from its grammar:
    a name the user declares may not be one of them where it would read as the word."""
    return frozenset(t.pattern.value for t in _parser().terminals
                     if t.pattern.type == "str" and t.pattern.value.isidentifier())


def parse_text(text: str, path: str = "<model>") -> ast.ModelFile:
    """Parse model source; raise TcpcheckError with one diagnostic on a syntax error."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as err:
        raise TcpcheckError([syntax_diagnostic(err, text, path)]) from None
    check_nesting(tree, path, _CHAINS, "split it, e.g. with a const, a variable or a "
                  "second transition")
    decls = transform(_ToAst(path), tree).children
    return ast.ModelFile(path=path, text=text, decls=tuple(decls))


def parse_file(path: str | Path) -> ast.ModelFile:
    return parse_text(read_source(path), str(path))


def read_source(path: str | Path) -> str:
    """Read a model or spec file, turning OS errors into a diagnostic (TCP401). Only a
    regular file is read (a device such as /dev/zero never ends), and only up to
    MAX_SOURCE_BYTES."""
    try:
        info = Path(path).stat()
        if stat.S_ISDIR(info.st_mode):
            msg = f"is a directory, not a model or spec file: {path}"
        elif not stat.S_ISREG(info.st_mode):
            msg = f"not a regular file (a device, pipe or socket): {path}"
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_SOURCE_BYTES + 1)  # the file may have grown since stat
            if len(data) > MAX_SOURCE_BYTES:
                msg = (f"too large to be a model or spec: {path} holds more than "
                       f"{MAX_SOURCE_BYTES >> 20} MB")
            else:
                return data.decode("utf-8")
    except FileNotFoundError:
        msg = f"no such file: {path}"
    except UnicodeDecodeError:
        msg = f"not a UTF-8 text file: {path}"
    except OSError as err:
        msg = f"cannot read {path}: {err.strerror}"
    raise TcpcheckError([Diagnostic("TCP401", msg)])


# ---------------------------------------------------------------- input limits

# Rules that list a left-associative chain (`a + b + c`): the syntax tree nests one level
# per operator, so each operand counts as a level.
_CHAINS = frozenset({"or_expr", "and_expr", "comparison", "sum", "product"})


def check_nesting(tree: Tree, path: str, chains: frozenset[str], advice: str) -> None:
    """TCP108 where the tree nests deeper than MAX_NESTING, before any recursive stage sees
    it (the transformers, the checker, the compiler and the generated code all recurse).
    Walked with an explicit stack; a chain of n operands counts as the n - 1 levels of
    operators it becomes."""
    too_deep: set[tuple[int, int]] = set()  # where each too deep part crosses the limit
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            too_deep.add(_position(node))
            continue
        subtrees = [ch for ch in node.children if isinstance(ch, Tree)]
        if node.data not in chains:
            stack.extend((ch, depth + 1) for ch in subtrees)
        elif len(subtrees) == 1:  # a chain of one operand is that operand: no level
            stack.append((subtrees[0], depth))
        else:  # ((c0 op c1) op c2): c0 and c1 lie n - 1 levels down, c2 one level
            n = len(subtrees)
            stack.extend((ch, depth + n - max(k, 1)) for k, ch in enumerate(subtrees))
    lines = {line: col for line, col in sorted(too_deep, reverse=True)}  # one per line
    if lines:
        raise TcpcheckError([Diagnostic(
            "TCP108", f"nested too deeply: more than {MAX_NESTING} levels of expressions, "
            "operators or blocks", _point_span(path, line, col), (advice,))
            for line, col in sorted(lines.items())])


def _position(node: Tree) -> tuple[int, int]:
    meta = node.meta
    if not meta.empty:
        return meta.line, meta.column
    for ch in node.children:  # a rule without a position of its own: its first token's
        if isinstance(ch, Token):
            return ch.line, ch.column
    return 1, 1


def transform(transformer: Transformer_NonRecursive, tree: Tree) -> Tree:
    """Run a SpanTransformer; a TcpcheckError raised by one of its rules comes out as is
    (lark wraps it in a VisitError)."""
    try:
        return transformer.transform(tree)
    except VisitError as err:
        if isinstance(err.orig_exc, TcpcheckError):
            raise err.orig_exc from None
        raise


def literal_int(tok: Token, span: Span) -> int:
    """The value of a number as written; TCP107 beyond MAX_CONSTANT, before converting a
    thousand digits (Python refuses to convert over 4300)."""
    digits = str(tok).lstrip("0")
    if len(digits) <= len(str(MAX_CONSTANT)) and int(digits or "0") <= MAX_CONSTANT:
        return int(digits or "0")
    shown = digits if len(digits) <= 24 else f"{digits[:12]}...{digits[-6:]}"
    raise TcpcheckError([Diagnostic(
        "TCP107", f"number too large: {shown} ({len(digits)} digits); numbers go up to "
        "10^18", span)])


# ---------------------------------------------------------------- syntax errors

# What each terminal looks like to a user. Literal keywords and punctuation are shown quoted
# (from their pattern); every other terminal must be named here, so that no lark name
# (__ANON_0, RBRACE, $END) can reach a message.
_TERMINAL_WORDS = {
    "NAME": "a name", "INT": "a number", "DURATION": "a duration such as 40ms or 60s",
    "STRING": "a string", "COMPARE": "a comparison ('==', '!=', '<', ...)",
    "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/' or '%'", "$END": "the end of the file",
}

# Groups of terminals that a user knows by one word.
_DECL_START = frozenset({"MODEL", "PARAM", "CONST", "ENUM", "SEGMENT", "VAR", "ENDPOINT",
                         "INSTANCE", "CHANNEL", "CALL"})
_EXPR_START = frozenset({"NAME", "INT", "LPAR", "MINUS", "TRUE", "FALSE", "SEG", "NOT"})
_STMT_START = frozenset({"NAME", "SEND", "ARM", "CANCEL", "OBSERVE", "IF"})
_ITEM_START = _STMT_START | {"VAR", "TIMER", "ON", "COMMA", "ELIF", "ELSE"}
_OPERATORS = frozenset({"ADD_OP", "MUL_OP", "COMPARE", "AND", "OR"})
_DECL_WORDS = ("a declaration (model, param, const, enum, segment, var, endpoint, instance, "
               "channel or call)")

# What a lone NAME is, judged by the token before it.
_NAME_AFTER = {
    "SEND": "a segment flag (FIN, SYN, RST, ACK or DATA)",
    "RECV": "a segment flag (FIN, SYN, RST, ACK or DATA)",
    "VBAR": "a segment flag (FIN, SYN, RST, ACK or DATA)",
    "PLUS": "a segment flag (FIN, SYN, RST, ACK or DATA)",
    "CALL": "an application call's name (close, shutdown, or a call of the program's own)",
    "ARM": "a timer's name", "CANCEL": "a timer's name", "EXPIRE": "a timer's name",
    "AFTER": "a timer's name",
}

# Keywords that begin a statement, an event or a declaration. The contextual lexer reads them
# as plain names where a name fits, so an unfinished line swallows the keyword that starts the
# next one; a second parse that reserves them finds where the user's mistake really is.
_LINE_KEYWORDS = ("send", "arm", "cancel", "observe", "if", "elif", "else", "on", "var", "timer",
                  "param", "const", "enum", "segment", "endpoint", "instance", "channel", "model")

# Tokens that cannot end a line of a finished construct: something must follow them.
_CONTINUATION = frozenset({"+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", ":=", "=",
                           "and", "or", "not", "when", "(", ",", "..", "->", "|", ":"})

_CLOSE_BRACE = "'}'"
_BLOCK_KEYWORDS = frozenset({"ENDPOINT", "ENUM", "SEGMENT", "ON", "IF", "ELIF", "ELSE"})


class _ReserveKeywords:
    """A lark post-lexer that turns names spelled like a line-starting keyword into that keyword."""

    always_accept = ()

    def __init__(self, types: dict[str, str]):
        self.types = types

    def process(self, stream):
        for tok in stream:
            if tok.type == "NAME" and tok.value in self.types:
                yield Token.new_borrow_pos(self.types[tok.value], tok.value, tok)
            else:
                yield tok


@functools.cache
def _keyword_parser() -> Lark:
    """The model grammar with line-starting keywords reserved; used only to place errors."""
    types = {}
    for term in _parser().terminals:
        if term.pattern.type == "str" and term.pattern.value in _LINE_KEYWORDS:
            types[term.pattern.value] = term.name
    return Lark(GRAMMAR.read_text(), parser="lalr", propagate_positions=True,
                maybe_placeholders=True, postlex=_ReserveKeywords(types))


def _literal(name: str, parser: Lark) -> str | None:
    """The text of a terminal that is a fixed string ('{', 'send', ':='), else None."""
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return None
    return pattern.value if pattern.type == "str" else None


def _words(expected: set[str], parser: Lark, name_word: str = "a name") -> list[str]:
    """The accepted terminals in words: phrases first ('an expression'), then quoted literals."""
    expected = set(expected)
    phrases: list[str] = []
    if _DECL_START <= expected:
        expected -= _DECL_START | {"$END"}
        phrases.append(_DECL_WORDS)
    if {"NAME", "INT"} <= expected:
        phrases.append("a type (bool, a range such as 0..3, or an enum's name)"
                       if "BOOL" in expected else "an expression")
        expected -= _EXPR_START | {"BOOL"}
    elif _STMT_START <= expected:
        expected -= _STMT_START
        phrases.append("a statement")
    if _OPERATORS <= expected:
        expected -= _OPERATORS
        phrases.append("an operator")
    if len(expected) + len(phrases) > 1:
        expected.discard("SEMICOLON")  # optional after a statement: never the missing piece
    quoted = set()
    for name in expected:
        lit = _literal(name, parser)
        if name == "NAME":
            phrases.append(name_word)
        elif name in _TERMINAL_WORDS:
            phrases.append(_TERMINAL_WORDS[name])
        elif lit is not None:
            quoted.add(f"'{lit}'")
        else:  # a terminal added to the grammar without a word here; never show its lark name
            phrases.append("something else")
    return sorted(set(phrases)) + sorted(quoted)


def _or_list(words: list[str]) -> str:
    if len(words) > 8:
        words = words[:7] + ["..."]
    if len(words) <= 1:
        return "".join(words) or "something else"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _point_span(path: str, line: int, col: int, width: int = 1) -> Span:
    return Span(path, line, col, line, col + max(1, width))


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _offset(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + col - 1


_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')


def _prev_token(text: str, offset: int) -> tuple[str, int] | None:
    """The token that ends last before `offset` (comments skipped): its text and start offset."""
    code = _COMMENT_OR_STRING.sub(
        lambda m: m.group(0) if m.group(0).startswith('"') else " " * len(m.group(0)),
        text[:offset]).rstrip()
    if not code:
        return None
    end = len(code)
    if code[-2:] in (":=", "==", "!=", "<=", ">=", "->", ".."):
        return code[-2:], end - 2
    start = end
    while start > 0 and (code[start - 1].isalnum() or code[start - 1] == "_"):
        start -= 1
    if start == end:
        start = end - 1
    return code[start:end], start


def _first_on_line(text: str, offset: int) -> bool:
    return text[text.rfind("\n", 0, offset) + 1:offset].strip() == ""


def _open_blocks(stack: list, text: str, path: str) -> list[tuple[str, Span]]:
    """Every '{' still open on the parser's stack, outermost first: what it opens and where
    that construct starts (its keyword, underlined up to the '{' when on the same line).

    Closed blocks are already reduced to trees, so every '{' token left on the stack is open.
    """
    out = []
    for i, brace in enumerate(stack):
        if not (isinstance(brace, Token) and brace.type == "LBRACE"):
            continue
        for j in range(i - 1, -1, -1):
            kw = stack[j]
            if isinstance(kw, Token) and kw.type in _BLOCK_KEYWORDS:
                break
        else:
            out.append(("block", _point_span(path, brace.line, brace.column)))
            continue
        nxt = stack[j + 1]
        if kw.type in ("ENDPOINT", "ENUM") and isinstance(nxt, Token) and nxt.type == "NAME":
            what = f"{kw.value} '{nxt.value}'"
        elif kw.type == "SEGMENT":
            what = "the segment declaration"
        elif kw.type == "ON":
            header = _COMMENT_OR_STRING.sub(" ", text[kw.start_pos:brace.start_pos])
            header = re.split(r"\bwhen\b", " ".join(header.split()))[0].strip()
            what = f"transition '{header}'"
        else:
            what = f"'{kw.value}' block"
        width = brace.end_column - kw.column if brace.line == kw.line else len(kw.value)
        out.append((what, _point_span(path, kw.line, kw.column, width)))
    return out


def _where(span: Span) -> str:
    return f"{span.line}:{span.column}"


def _token_offset(tok: Token, text: str) -> int:
    if tok.type == "$END":
        return len(text)
    return tok.start_pos if tok.start_pos is not None else _offset(text, tok.line, tok.column)


def _swallowed_keyword_error(err: UnexpectedToken, text: str) -> UnexpectedToken | None:
    """An earlier error that appears once keywords are reserved, if it marks the real mistake.

    It counts only when a reserved keyword begins a line (so an unfinished line ate it), and is
    not being assigned to (a variable may legitimately be named like a keyword).
    """
    try:
        _keyword_parser().parse(text)
    except UnexpectedToken as err2:
        tok = err2.token
        if tok.type == "$END" or tok.value not in _LINE_KEYWORDS:
            return None
        at = _token_offset(tok, text)
        if at >= _token_offset(err.token, text) or not _first_on_line(text, at):
            return None
        if text[tok.end_pos:].lstrip().startswith(":="):
            return None
        return err2
    except UnexpectedInput:
        return None
    return None


def syntax_diagnostic(err: UnexpectedInput, text: str, path: str) -> Diagnostic:
    """Translate a lark error into a diagnostic with a location and words a user knows."""
    parser = _parser()
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        span = _point_span(path, err.line, err.column)
        if ch == '"':
            return Diagnostic("TCP101", "this string is not closed: a string ends with '\"' on "
                              "the same line", span)
        return Diagnostic("TCP101", f"unexpected character {ch!r}", span)
    if not isinstance(err, UnexpectedToken):  # UnexpectedEOF: only Earley raises it
        line, col = _line_col(text, len(text))
        return Diagnostic("TCP102", "unexpected end of file", _point_span(path, line, col))
    err = _swallowed_keyword_error(err, text) or err
    tok = err.token
    accepts = set(err.accepts or err.expected)
    stack = list(err.interactive_parser.parser_state.value_stack) if err.interactive_parser else []
    last = stack[-1] if stack else None
    name_word = _NAME_AFTER.get(last.type, "a name") if isinstance(last, Token) else "a name"
    words = _words(accepts, parser, name_word)
    at = _token_offset(tok, text)
    prev = _prev_token(text, at)
    prev_span = None
    if prev is not None:
        pline, pcol = _line_col(text, prev[1])
        prev_span = _point_span(path, pline, pcol, len(prev[0]))
    open_blocks = _open_blocks(stack, text, path)
    opened = open_blocks[-1] if open_blocks else None

    if tok.type == "$END":
        if opened and "RBRACE" in accepts:
            what, ospan = opened
            outer = tuple(f"{w} opened at {_where(sp)} is not closed either"
                          for w, sp in reversed(open_blocks[:-1]))
            return Diagnostic("TCP103", f"expected '}}' to close {what} opened at {_where(ospan)}",
                              ospan, ("the file ended before it was closed",) + outer)
        if prev is None:
            return Diagnostic("TCP102", "unexpected end of file; expected " + _or_list(words),
                              _point_span(path, 1, 1))
        if prev[0] in _CONTINUATION:
            return Diagnostic("TCP102", f"unexpected end of file after '{prev[0]}'; expected "
                              + _or_list(words), prev_span)
        # just after the last token, where the missing piece would go
        end = _point_span(path, prev_span.line, prev_span.end_column)
        return Diagnostic("TCP102", "unexpected end of file; expected " + _or_list(words), end)

    found = f"'{tok.value}'"
    span = _point_span(path, tok.line, tok.column, len(str(tok.value)))
    accepts_assign = ":=" in {_literal(a, parser) for a in accepts}
    if tok.type == "EQUAL" and accepts_assign:
        return Diagnostic("TCP104", "use ':=' to assign a variable; '=' is for declarations",
                          span)
    if tok.type == "EQUAL" and "COMPARE" in accepts:
        return Diagnostic("TCP106", "use '==' to compare; '=' is for declarations", span)
    if tok.value == ":=" and "COMPARE" in accepts:
        return Diagnostic("TCP106", "use '==' to compare; ':=' assigns a variable", span)
    if tok.value == ":=" and "EQUAL" in accepts:
        return Diagnostic("TCP104", "use '=' here; ':=' assigns variables inside transitions",
                          span)
    if tok.value == "==" and accepts_assign:
        return Diagnostic("TCP104", "use ':=' to assign a variable; '==' compares", span)
    if tok.type == "INT" and "DURATION" in accepts:
        return Diagnostic("TCP105", f"a duration needs a unit: write {tok.value}ms, "
                          f"{tok.value}s, ... (units: us, ms, s, min)", span)
    if (isinstance(last, Token) and last.type == "NAME" and accepts_assign
            and _first_on_line(text, _token_offset(last, text))):
        hint = did_you_mean(last.value, ("send", "arm", "cancel", "observe", "if"))
        if hint:  # a misspelt statement keyword reads as the start of an assignment
            return Diagnostic("TCP100", f"'{last.value}' is not a statement{hint}",
                              _point_span(path, last.line, last.column, len(last.value)))
    if prev is not None and prev[0] == "else" and tok.value == "if":
        width = tok.end_pos - prev[1] if prev_span.line == tok.line else len("else")
        return Diagnostic("TCP100", "write 'elif' for 'else if'",
                          _point_span(path, prev_span.line, prev_span.column, width))
    between_items = "RBRACE" in accepts or _DECL_START <= accepts
    if (prev is not None and prev_span.line < tok.line and _first_on_line(text, at)
            and not between_items):
        # The line before is unfinished; the token found is only where that became certain.
        return Diagnostic("TCP100", f"expected {_or_list(words)} after '{prev[0]}'", prev_span,
                          (f"found {found} on line {tok.line} instead",))
    if tok.type == "RBRACE" and "RBRACE" not in accepts and opened is None:
        return Diagnostic("TCP100", "unexpected '}': there is no open '{' to close", span)

    msg = f"unexpected {found}"
    keywords = {lit for a in accepts if (lit := _literal(a, parser)) and lit.isalpha()}
    hint = did_you_mean(tok.value, keywords) if tok.type == "NAME" else ""
    notes: tuple[str, ...] = ()
    if ("RBRACE" in accepts and opened is not None
            and tok.value in {_literal(t, parser) for t in _DECL_START - {"VAR", "CALL"}}):
        # a declaration inside a block: the block's '}' is most likely what is missing ('var'
        # and 'call' also start an endpoint's items: 'call close' there lacks its 'on')
        what, ospan = opened
        return Diagnostic("TCP100", f"unexpected '{tok.value}' inside {what}; is its closing "
                          "'}' missing?", span, (f"{what} was opened at {_where(ospan)}",))
    if "RBRACE" in accepts and opened is not None:
        what, ospan = opened
        # what may start the next item of the block; tokens that could only extend the
        # previous statement (an operator, '(' of a send's fields) are not what is missing
        rest = _words(accepts & _ITEM_START, parser, name_word)
        msg += f"; expected {_or_list(rest + [_CLOSE_BRACE])} to close {what}"
        notes = (f"{what} was opened at {_where(ospan)}",)
    else:
        msg += "; expected " + _or_list(words)
    return Diagnostic("TCP100", msg + hint, span, notes)


# ---------------------------------------------------------------- tree -> syntax tree


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60000.0}


class SpanTransformer(Transformer_NonRecursive):
    """A lark transformer over one file that locates what it builds, for diagnostics: the
    span of a rule (`_span`) or of a token (`_tok`). Models are read with it here, specs in
    tcpcheck.spec. It walks the tree without recursion, so that only check_nesting's limit
    bounds how deep a tree may be."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _span(self, meta) -> Span:
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, tok: Token) -> Span:
        return Span(self.path, tok.line, tok.column, tok.end_line, tok.end_column)


@v_args(meta=True)
class _ToAst(SpanTransformer):
    # declarations
    def model_decl(self, meta, ch):
        doc = re.sub(r"\\(.)", r"\1", ch[1][1:-1]) if ch[1] is not None else None
        return ast.ModelDecl(str(ch[0]), doc, self._span(meta))

    def param_decl(self, meta, ch):
        return ast.ParamDecl(str(ch[0]), ch[1], ch[2], self._span(meta))

    def const_decl(self, meta, ch):
        return ast.ConstDecl(str(ch[0]), ch[1], self._span(meta))

    def enum_decl(self, meta, ch):
        return ast.EnumDecl(str(ch[0]), tuple(str(t) for t in ch[1:]),
                            tuple(self._tok(t) for t in ch[1:]), self._span(meta))

    def call_decl(self, meta, ch):
        args = tuple(ch[1] or ())
        return ast.CallDecl(str(ch[0]), tuple(str(t) for t in args),
                            tuple(self._tok(t) for t in args), self._span(meta), self._tok(ch[0]))

    def call_params(self, meta, ch):
        return ch

    def segment_decl(self, meta, ch):
        return ast.SegmentDecl(tuple(ch), self._span(meta))

    def field_decl(self, meta, ch):
        return ast.FieldDecl(str(ch[0]), ch[1], self._span(meta))

    def var_decl(self, meta, ch):
        return ast.VarDecl(str(ch[0]), ch[1], ch[2], self._span(meta))

    def timer_decl(self, meta, ch):
        return ast.TimerDecl(str(ch[0]), ch[1], ch[2], self._span(meta))

    def duration(self, meta, ch):
        tok = ch[0]
        span = self._tok(tok)
        if tok.type == "INF":
            return ast.Duration(None, span)
        m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|min)", str(tok))
        if not m:  # the terminal's regex makes this unreachable; kept as a guard
            raise TcpcheckError([Diagnostic("TCP105", f"bad duration '{tok}'", span)])
        ms = float(m.group(1)) * _UNIT_MS[m.group(2)]
        if ms > MAX_CONSTANT:       # also inf, from a thousand digits: z3 cannot read it
            number = m.group(1).lstrip("0")
            shown = number if len(number) <= 24 else f"{number[:12]}...{number[-6:]}"
            raise TcpcheckError([Diagnostic(
                "TCP107", f"number too large: the duration {shown}{m.group(2)} "
                f"({len(number.split('.')[0])} digits); durations go up to 10^18 ms", span)])
        return ast.Duration(ms, span)

    def endpoint_decl(self, meta, ch):
        name = str(ch[0])
        items = ch[1:]
        settings = tuple(x for x in items if isinstance(x, ast.SettingDecl))
        vars_ = tuple(x for x in items if isinstance(x, ast.VarDecl))
        timers = tuple(x for x in items if isinstance(x, ast.TimerDecl))
        trans = tuple(x for x in items if isinstance(x, ast.Transition))
        return ast.EndpointDecl(name, settings, vars_, timers, trans, self._span(meta))

    def setting(self, meta, ch):
        return ast.SettingDecl(str(ch[0]), ch[1], self._span(meta))

    def instance_decl(self, meta, ch):
        bindings = tuple(b for b in ch[2:] if b is not None)
        return ast.InstanceDecl(str(ch[0]), str(ch[1]), bindings, self._span(meta),
                                self._tok(ch[1]))

    def binding(self, meta, ch):
        return ast.Binding(str(ch[0]), ch[1], self._span(meta))

    def channel_decl(self, meta, ch):
        capacity = None
        lossy = False
        delay = None
        loss: dict = {}
        for opt in ch[2:]:
            if opt[0] == "capacity":
                capacity = opt[1]
            elif opt[0] == "delay":
                delay = opt[1]
            else:
                lossy = True
                loss = opt[1]
        return ast.ChannelDecl(str(ch[0]), str(ch[1]), capacity, lossy, self._span(meta), delay,
                               loss.get("max"), loss.get("when"), loss.get("of"))

    def delay(self, meta, ch):
        return ("delay", (ch[0], ch[1]))

    def capacity(self, meta, ch):
        return ("capacity", ch[0])

    def lossy(self, meta, ch):
        return ("lossy", dict(ch))

    def loss_max(self, meta, ch):
        return ("max", ch[0])

    def loss_when(self, meta, ch):
        return ("when", ch[0])

    def loss_of(self, meta, ch):
        return ("of", tuple(ch))

    # types
    def bool_type(self, meta, ch):
        return ast.BoolType(self._span(meta))

    def range_type(self, meta, ch):
        return ast.RangeType(ch[0], ch[1], self._span(meta))

    def named_type(self, meta, ch):
        return ast.NamedType(str(ch[0]), self._span(meta))

    # transitions
    def transition(self, meta, ch):
        event, after, guard, body = ch
        after_name, after_span = (after if after is not None else (None, None))
        return ast.Transition(event, after_name, after_span, guard, body, self._span(meta))

    def after(self, meta, ch):
        return (str(ch[0]), self._tok(ch[0]))

    def guard(self, meta, ch):
        return ch[0]

    def app_call(self, meta, ch):
        return ast.AppCall(str(ch[0]), ch[1], self._span(meta))

    def call_arg(self, meta, ch):
        return str(ch[0])

    def recv(self, meta, ch):
        return ast.Recv(tuple(ch), self._span(meta))

    def recv_any(self, meta, ch):
        return ast.Recv(None, self._span(meta))

    def expire(self, meta, ch):
        return ast.Expire(str(ch[0]), self._span(meta))

    def internal(self, meta, ch):
        return ast.Internal(str(ch[0]), self._span(meta))

    def flags(self, meta, ch):
        return ast.Flags(tuple(str(t) for t in ch), self._span(meta))

    def block(self, meta, ch):
        return tuple(ch)

    def assign(self, meta, ch):
        return ast.Assign(str(ch[0]), ch[1], self._span(meta), self._tok(ch[0]))

    def send(self, meta, ch):
        return ast.Send(ch[0], ch[1] or (), self._span(meta))

    def send_fields(self, meta, ch):
        return tuple(f for f in ch if f is not None)

    def field_init(self, meta, ch):
        return ast.FieldInit(str(ch[0]), ch[1], self._span(meta))

    def arm(self, meta, ch):
        return ast.Arm(str(ch[0]), self._span(meta))

    def cancel(self, meta, ch):
        return ast.Cancel(str(ch[0]), self._span(meta))

    def observe(self, meta, ch):
        return ast.Observe(str(ch[0]), self._span(meta))

    def if_stmt(self, meta, ch):
        branches = [(ch[0], ch[1])]
        for clause in ch[2:]:
            branches.append(clause)
        return ast.If(tuple(branches), self._span(meta))

    def elif_clause(self, meta, ch):
        return (ch[0], ch[1])

    def else_clause(self, meta, ch):
        return (None, ch[0])

    # expressions
    def _chain(self, meta, ch, op=None):
        # left-associative chains: operands alternate with operator tokens when op is None
        if op is not None:
            result = ch[0]
            for right in ch[1:]:
                result = ast.Binary(op, result, right, _join(result.span, right.span))
            return result
        result = ch[0]
        for i in range(1, len(ch), 2):
            right = ch[i + 1]
            result = ast.Binary(str(ch[i]), result, right, _join(result.span, right.span))
        return result

    def or_expr(self, meta, ch):
        return self._chain(meta, ch, "or")

    def and_expr(self, meta, ch):
        return self._chain(meta, ch, "and")

    def comparison(self, meta, ch):
        return self._chain(meta, ch)

    def sum(self, meta, ch):
        return self._chain(meta, ch)

    def product(self, meta, ch):
        return self._chain(meta, ch)

    def not_(self, meta, ch):
        return ast.Unary("not", ch[0], self._span(meta))

    def neg(self, meta, ch):
        return ast.Unary("-", ch[0], self._span(meta))

    def int_lit(self, meta, ch):
        return ast.IntLit(literal_int(ch[0], self._tok(ch[0])), self._span(meta))

    def true_lit(self, meta, ch):
        return ast.BoolLit(True, self._span(meta))

    def false_lit(self, meta, ch):
        return ast.BoolLit(False, self._span(meta))

    def seg_field(self, meta, ch):
        return ast.SegField(str(ch[0]), self._span(meta))

    def func_call(self, meta, ch):
        args = tuple(a for a in ch[1:] if a is not None)
        return ast.Call(str(ch[0]), args, self._span(meta))

    def name(self, meta, ch):
        return ast.Name(str(ch[0]), self._span(meta))


def _join(a: Span, b: Span) -> Span:
    return Span(a.file, a.line, a.column, b.end_line, b.end_column)
