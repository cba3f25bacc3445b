"""Stage 1: model text -> syntax tree (tcpcheck.syntax), or diagnostics that say what was expected.

The grammar lives in model.lark. lark's errors are translated here into plain words: which
token was found, what would have been accepted, and which block is still open.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import syntax as ast
from .diagnostics import Diagnostic, Span, TcpcheckError

GRAMMAR = Path(__file__).with_name("model.lark")


@functools.cache
def _parser() -> Lark:
    return Lark(GRAMMAR.read_text(), parser="lalr", propagate_positions=True,
                maybe_placeholders=True)


def parse_text(text: str, path: str = "<model>") -> ast.ModelFile:
    """Parse model source; raise TcpcheckError with one diagnostic on a syntax error."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as err:
        raise TcpcheckError([syntax_diagnostic(err, text, path)]) from None
    try:
        decls = _ToAst(path).transform(tree).children
    except _DurationError as err:
        raise TcpcheckError([err.diag]) from None
    return ast.ModelFile(path=path, text=text, decls=tuple(decls))


def parse_file(path: str | Path) -> ast.ModelFile:
    return parse_text(read_source(path), str(path))


def read_source(path: str | Path) -> str:
    """Read a source file, turning OS errors into a diagnostic (TCP401)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"no such file: {path}"
    except IsADirectoryError:
        msg = f"is a directory, not a model file: {path}"
    except UnicodeDecodeError:
        msg = f"not a UTF-8 text file: {path}"
    except OSError as err:
        msg = f"cannot read {path}: {err.strerror}"
    raise TcpcheckError([Diagnostic("TCP401", msg)])


# ---------------------------------------------------------------- syntax errors

# What each terminal looks like to a user.
_TERMINAL_WORDS = {
    "RBRACE": "'}'", "LBRACE": "'{'", "LPAR": "'('", "RPAR": "')'", "COLON": "':'",
    "COMMA": "','", "SEMICOLON": "';'", "EQUAL": "'='", "DOT": "'.'", "VBAR": "'|'",
    "PLUS": "'+'", "MINUS": "'-'", "NAME": "a name", "INT": "a number",
    "DURATION": "a duration such as 40ms or 60s", "INF": "'inf'", "STRING": "a string",
    "COMPARE": "a comparison", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/' or '%'",
}

# The constructs whose '{' a user can leave open, found by the words before it.
_OPENERS = re.compile(r"\b(endpoint\s+\w+|enum\s+\w+|segment|on\s+[^{}]*?|if\s[^{}]*?|elif\s[^{}]*?|else)\s*$")


def _words(expected: set[str], parser: Lark) -> list[str]:
    out = set()
    for name in expected:
        if name in _TERMINAL_WORDS:
            out.add(_TERMINAL_WORDS[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            out.add(name.lower())
            continue
        if pattern.type == "str":
            out.add(f"'{pattern.value}'")
        else:
            out.add(name.lower())
    return sorted(out)


def _open_block(text: str, upto: int) -> tuple[str, int, int] | None:
    """The innermost '{' still open before offset `upto`: (what it opens, line, column)."""
    stack: list[int] = []
    in_comment = in_string = False
    for i, ch in enumerate(text[:upto]):
        if in_comment:
            in_comment = ch != "\n"
        elif in_string:
            in_string = ch != '"'
        elif ch == "#":
            in_comment = True
        elif ch == '"':
            in_string = True
        elif ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            stack.pop()
    if not stack:
        return None
    at = stack[-1]
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    before = text[text.rfind("\n", 0, at) + 1:at]
    m = _OPENERS.search(before)
    what = " ".join(m.group(1).split()) if m else "block"
    if what.startswith("endpoint "):
        what = f"endpoint '{what.split()[1]}'"
    elif what.startswith("enum "):
        what = f"enum '{what.split()[1]}'"
    elif what.startswith("on "):
        what = f"transition '{what}'"
    elif what.startswith(("if ", "elif ")) or what == "else":
        what = f"'{what.split()[0]}' block"
    return what, line, col


def _point_span(path: str, line: int, col: int, width: int = 1) -> Span:
    return Span(path, line, col, line, col + max(1, width))


def syntax_diagnostic(err: UnexpectedInput, text: str, path: str) -> Diagnostic:
    """Translate a lark error into a diagnostic with a location and words a user knows."""
    parser = _parser()
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        return Diagnostic("TCP101", f"unexpected character {ch!r}",
                          _point_span(path, err.line, err.column))
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        opened = _open_block(text, len(text))
        if opened:
            what, oline, ocol = opened
            return Diagnostic("TCP103", f"expected '}}' to close {what} opened at {oline}:{ocol}",
                              _point_span(path, oline, ocol), ("the file ended before it was closed",))
        expected = _words(set(err.expected), parser)
        return Diagnostic("TCP102", "unexpected end of file; expected " + _or_list(expected),
                          _point_span(path, line, col))
    assert isinstance(err, UnexpectedToken)
    tok = err.token
    found = f"'{tok.value}'" if tok.type != "$END" else "end of file"
    span = _point_span(path, tok.line, tok.column, len(str(tok.value)))
    expected = set(err.expected) | set(getattr(err, "accepts", None) or ())
    if tok.type == "EQUAL" and _is_expected(":=", expected, parser):
        return Diagnostic("TCP104", "use ':=' to assign a variable; '=' is for declarations",
                          span)
    if "EQUAL" in expected and tok.value == ":=":
        return Diagnostic("TCP104", "use '=' here; ':=' assigns variables inside transitions",
                          span)
    words = _words(expected, parser)
    msg = f"unexpected {found}; expected " + _or_list(words)
    notes: tuple[str, ...] = ()
    if "RBRACE" in expected:
        opened = _open_block(text, _offset(text, tok.line, tok.column))
        if opened:
            what, oline, ocol = opened
            msg = f"unexpected {found}; expected a statement or '}}' to close {what}"
            notes = (f"{what} was opened at {oline}:{ocol}",)
    return Diagnostic("TCP100", msg, span, notes)


def _is_expected(literal: str, expected: set[str], parser: Lark) -> bool:
    for name in expected:
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str" and pattern.value == literal:
            return True
    return False


def _offset(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + col - 1


def _or_list(words: list[str]) -> str:
    if len(words) > 8:
        words = words[:8] + ["..."]
    if len(words) <= 1:
        return "".join(words) or "something else"
    return ", ".join(words[:-1]) + " or " + words[-1]


# ---------------------------------------------------------------- tree -> syntax tree


class _DurationError(Exception):
    def __init__(self, diag: Diagnostic):
        self.diag = diag


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60000.0}


@v_args(meta=True)
class _ToAst(Transformer):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    # spans
    def _span(self, meta) -> Span:
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, tok: Token) -> Span:
        return Span(self.path, tok.line, tok.column, tok.end_line, tok.end_column)

    # declarations
    def model_decl(self, meta, ch):
        doc = ch[1][1:-1] if ch[1] is not None else None
        return ast.ModelDecl(str(ch[0]), doc, self._span(meta))

    def param_decl(self, meta, ch):
        return ast.ParamDecl(str(ch[0]), ch[1], ch[2], self._span(meta))

    def const_decl(self, meta, ch):
        return ast.ConstDecl(str(ch[0]), ch[1], self._span(meta))

    def enum_decl(self, meta, ch):
        return ast.EnumDecl(str(ch[0]), tuple(str(t) for t in ch[1:]),
                            tuple(self._tok(t) for t in ch[1:]), self._span(meta))

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
            raise _DurationError(Diagnostic("TCP105", f"bad duration '{tok}'", span))
        return ast.Duration(float(m.group(1)) * _UNIT_MS[m.group(2)], span)

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
        for opt in ch[2:]:
            if opt[0] == "capacity":
                capacity = opt[1]
            else:
                lossy = True
        return ast.ChannelDecl(str(ch[0]), str(ch[1]), capacity, lossy, self._span(meta))

    def capacity(self, meta, ch):
        return ("capacity", ch[0])

    def lossy(self, meta, ch):
        return ("lossy", None)

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
        return ast.IntLit(int(ch[0]), self._span(meta))

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
