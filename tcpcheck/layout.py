"""`tcpcheck fmt`: the canonical layout of model (.tcpm) and spec (.spec) files.

The formatter walks the parse tree of the file's own grammar (model.lark, spec.lark, parsed
with every token kept) and writes the tokens back with these rules:

- a declaration, statement, property (an *item*: the rules in `Language.items`) starts a line,
  indented four spaces per enclosing block (`Language.blocks`: endpoints, `segment`, the
  bodies of `on` and `if`); a block's `}` has a line of its own, and `} elif`, `} else` and
  `... {` join the line before;
- inside an item the author's line breaks are kept (long guards and formulas are broken where
  they read best, which no width rule knows), and each continuation line is indented past
  its item (two levels in a model, clear of a body's statements; one in a spec, and one more
  once a property's formula has a line of its own), plus one per parenthesis still open;
- spaces between tokens are fixed: around operators and after commas and colons, none inside
  parentheses, around `.` and `..`, inside a flag set (`FIN+ACK`), after a unary minus, or
  before the `(` of a call (`room()`, `sends(any, FIN)`, `DATA(ack = rcvd)`);
- optional semicolons are dropped (a statement ends where the next begins);
- comments are kept where they stand: a comment on a line of its own is re-indented as the
  line after it; a comment after code stays after that code, and the trailing comments of
  consecutive lines are aligned on one column (two spaces past the longest code); a comment
  line that continues the trailing comment above it (written at its column) stays under it;
- runs of blank lines become one; none after a `{` or before a `}`.

So a construct added to a grammar is formatted without a word here when it is an expression
or part of a line; a new declaration or statement needs its rule named in `items`, a new
block rule in `blocks`, and a rule whose tokens join without spaces in `tight`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from lark import Lark, Token, Tree

from . import parse as model_parse
from . import spec as spec_parse

INDENT = "    "


@dataclass(frozen=True, slots=True)
class Language:
    grammar: Path
    lexer: str
    items: frozenset[str]   # rules that start a line of their own
    blocks: frozenset[str]  # rules whose braces hold items
    tight: frozenset[str]   # rules whose tokens are written without spaces
    continued: int          # levels a continuation line adds to its item's indent
    hangs: bool             # a body begun on a line after its item's `name:` header
                            # indents its own continuation lines one level more
    check: object           # the real parser: a file that does not parse is reported by it


MODEL = Language(
    model_parse.GRAMMAR, "contextual",
    items=frozenset({"model_decl", "param_decl", "const_decl", "enum_decl", "segment_decl",
                     "var_decl", "endpoint_decl", "instance_decl", "channel_decl", "field_decl",
                     "timer_decl", "transition", "assign", "send", "arm", "cancel", "observe",
                     "if_stmt", "call_decl"}),
    blocks=frozenset({"endpoint_decl", "segment_decl", "block"}),
    tight=frozenset({"flags", "neg"}),
    continued=2,  # past the body's statements, so a long guard does not read as one
    hangs=False,
    check=model_parse.parse_text)

SPEC = Language(
    spec_parse.GRAMMAR, "basic",
    items=frozenset({"model_ref", "property", "terminates", "timing"}),
    blocks=frozenset(),
    tight=frozenset({"flags", "neg", "timer_ref", "qualified"}),
    continued=1,
    hangs=True,
    check=spec_parse.parse_spec_text)


def language_of(path: Path) -> Language:
    return SPEC if path.suffix == ".spec" else MODEL


class _Comments:
    """Collects the comments the lexer skips, for the parse in progress."""

    def __init__(self):
        self.found: list[Token] = []

    def __call__(self, tok: Token) -> Token:
        self.found.append(tok)
        return tok


@functools.cache
def _parser(lang: Language) -> tuple[Lark, _Comments]:
    comments = _Comments()
    parser = Lark(lang.grammar.read_text(), parser="lalr", lexer=lang.lexer,
                  keep_all_tokens=True, propagate_positions=True, maybe_placeholders=False,
                  lexer_callbacks={"COMMENT": comments})
    return parser, comments


# ---------------------------------------------------------------- the walk


@dataclass(frozen=True, slots=True)
class _Tok:
    """A token in tree order with what the layout needs to know about its place."""

    tok: Token
    parent: str
    index: int            # position among its parent's children
    first_child_token: bool  # the parent's first child is a token (a keyword: `sends`)
    item_start: bool      # the first token of an item
    block_open: bool
    block_close: bool


def _one_liner(tree: Tree, lang: Language) -> bool:
    """A block written on one line around one item without a block of its own
    (`if lossy_network { arm rto }`) stays on one line."""
    braces = [c for c in tree.children if isinstance(c, Token) and c.value in ("{", "}")]
    items = [c for c in tree.children if isinstance(c, Tree) and c.data in lang.items]
    return (len(braces) == 2 and braces[0].line == braces[1].line and len(items) == 1
            and not any(t.data in lang.blocks for t in items[0].iter_subtrees()))


def _tokens(tree: Tree, lang: Language, starting: bool = False, inline: bool = False):
    first_is_token = bool(tree.children) and isinstance(tree.children[0], Token)
    is_block = tree.data in lang.blocks and not inline
    if is_block and _one_liner(tree, lang):
        is_block, inline = False, True
    is_item = tree.data in lang.items and not inline
    for i, child in enumerate(tree.children):
        start = (starting or is_item) and i == 0
        if isinstance(child, Tree):
            yield from _tokens(child, lang, start, inline)
        else:
            brace = is_block and child.value in ("{", "}")
            yield _Tok(child, str(tree.data), i, first_is_token, start,
                       brace and child.value == "{", brace and child.value == "}")


def _tight(a: _Tok, b: _Tok, lang: Language) -> bool:
    """No space between a and b on one line."""
    if b.tok.value in (",", ")", ".", "..") or a.tok.value in ("(", ".", ".."):
        return True
    if b.tok.value == ":":
        return True
    if b.tok.value == "(":
        # a call or argument list: after a name, or right after its keyword (`sends(`)
        return a.tok.type == "NAME" or (b.index == 1 and b.first_child_token
                                         and b.parent == a.parent)
    if a.parent == b.parent and a.parent in lang.tight:
        return True
    return a.parent == "neg" and a.index == 0  # `-x`: the minus holds on


# ---------------------------------------------------------------- the lines


@dataclass(slots=True)
class _Line:
    indent: int                   # spaces
    text: str = ""
    src_first: int = 0
    src_last: int = 0
    trailing: str | None = None   # a comment after the code
    trailing_col: int = 0         # its column in the source
    under: bool = False           # a comment line continuing the trailing comment above
    blank_before: bool = False
    opens: bool = False           # ends with a block's `{`


@dataclass
class _Writer:
    lang: Language
    comments: list[Token]
    lines: list[_Line] = field(default_factory=list)
    cur: _Line | None = None
    depth: int = 0                # enclosing blocks
    parens: int = 0               # parentheses open in the current item
    hang: int = 0                 # 1 once the item's body began on a line of its own
    after_header: bool = False    # the previous token ended an item's `name:` header
    prev: _Tok | None = None
    prev_line: _Line | None = None  # the line the previous token went on
    last_src: int = 0             # the last source line written (code or comment)
    next_comment: int = 0

    def push(self, line: _Line, boundary: bool) -> None:
        gap = line.src_first - self.last_src > 1 and self.last_src > 0
        after_open = bool(self.lines) and self.lines[-1].opens
        line.blank_before = boundary and gap and not after_open
        self.lines.append(line)

    def end_line(self) -> None:
        self.cur = None

    def comments_before(self, line: int, column: int, boundary: bool, closing: bool) -> None:
        while self.next_comment < len(self.comments):
            com = self.comments[self.next_comment]
            if (com.line, com.column) > (line, column):
                return
            self.next_comment += 1
            self.comment(com, boundary, closing)

    def comment(self, com: Token, boundary: bool, closing: bool) -> None:
        text = com.value.rstrip()
        if (self.prev_line is not None and com.line == self.prev.tok.end_line
                and self.prev_line.trailing is None):
            self.prev_line.trailing, self.prev_line.trailing_col = text, com.column
            self.end_line()
        else:
            self.end_line()
            last = self.lines[-1] if self.lines else None
            under = (last is not None and last.src_last == com.line - 1
                     and (last.trailing is not None or last.under)
                     and last.trailing_col == com.column)
            # before a block's `}` (whose depth is already the outer one) a comment is
            # inside the block
            indent = (INDENT * (self.depth + 1) if closing else INDENT * self.depth if boundary
                      else self.continuation())
            line = _Line(len(indent), text, com.line, com.line, under=under,
                         trailing_col=com.column if under else 0)
            self.push(line, boundary and not under)
        self.last_src = com.line

    def continuation(self) -> str:
        return INDENT * (self.depth + self.lang.continued + self.parens + self.hang)

    def token(self, t: _Tok) -> None:
        tok = t.tok
        boundary = t.item_start or t.block_close
        # `} else {`, `} elif x {`: what follows a block's `}` joins its line, or starts a
        # line at the block's own indent when a comment stands between them
        after_close = (self.prev is not None and self.prev.tok.value == "}"
                       and self.prev.parent in self.lang.blocks and not t.item_start)
        if t.block_close:
            self.depth -= 1
        self.comments_before(tok.line, tok.column, boundary or after_close, t.block_close)
        if tok.type == "SEMICOLON":
            return
        if t.item_start:
            self.parens, self.hang = 0, 0
        if tok.value == ")":
            self.parens = max(0, self.parens - 1)
        joins_prev = self.prev is not None and (t.block_open or after_close)
        new_line = (self.cur is None or boundary
                    or (not joins_prev and tok.line > self.prev.tok.end_line))
        if new_line:
            indent = INDENT * self.depth if boundary or after_close else self.continuation()
            if self.after_header:
                self.hang = 1
            self.cur = _Line(len(indent), tok.value, tok.line, tok.end_line)
            self.push(self.cur, boundary and not t.block_close)
        else:
            sep = "" if _tight(self.prev, t, self.lang) else " "
            self.cur.text += sep + tok.value
            self.cur.src_last = tok.end_line
        self.prev_line = self.cur
        if t.block_open:
            self.cur.opens = True
            self.depth += 1
            self.end_line()
        if tok.value == "(":
            self.parens += 1
        self.prev = t
        self.after_header = (self.lang.hangs and tok.value == ":" and t.parent in self.lang.items)
        self.last_src = max(self.last_src, tok.end_line)

    def finish(self) -> str:
        self.comments_before(10 ** 9, 0, True, False)
        return _render(self.lines)


def _render(lines: list[_Line]) -> str:
    """The lines as text, trailing comments aligned run by run."""
    column: dict[int, int] = {}
    run: list[int] = []

    def close_run() -> None:
        if run:
            width = max(lines[i].indent + len(lines[i].text) for i in run
                        if not lines[i].under) + 2
            for i in run:
                column[i] = width
            run.clear()

    for i, line in enumerate(lines):
        if line.blank_before or not (line.trailing is not None or line.under):
            close_run()
        if line.trailing is not None or (line.under and run):
            run.append(i)
    close_run()
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.blank_before and out:
            out.append("")
        if line.under and i in column:
            out.append(" " * column[i] + line.text)
        elif line.trailing is not None:
            code = " " * line.indent + line.text
            out.append(code.ljust(column[i]) + line.trailing)
        else:
            out.append(" " * line.indent + line.text)
    return "\n".join(out) + "\n" if out else ""


# ---------------------------------------------------------------- entry points


def format_text(text: str, path: str, lang: Language) -> str:
    """The canonical layout of a model or spec; raises TcpcheckError (located, as the
    checker words it) on a file that does not parse."""
    lang.check(text, path)  # the real parser's diagnostics, never the layout parser's
    parser, comments = _parser(lang)
    comments.found = []
    tree = parser.parse(text)  # the same grammar the real parser accepted the text with
    writer = _Writer(lang, sorted(comments.found, key=lambda c: (c.line, c.column)))
    for t in _tokens(tree, lang):
        writer.token(t)
    return writer.finish()


def format_file(path: Path) -> tuple[str, str]:
    """(the file's text, its canonical layout); TcpcheckError if it cannot be read or parsed."""
    text = model_parse.read_source(path)
    return text, format_text(text, str(path), language_of(path))

