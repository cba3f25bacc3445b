"""Pygments lexers for tcpcheck's two languages, so that docs, Markdown renderers and the HTML
report can highlight models (.tcpm) and specs (.spec).

Registered as `pygments.lexers` entry points in pyproject.toml: once tcpcheck is installed,
`pygmentize -l tcpm models/teardown.tcpm` and a fence marked `tcpm` or `tcpspec` work. The
words come from the grammars (model.lark, spec.lark) and tcpcheck.tcp's vocabulary;
tests/test_lexer.py lexes every shipped file and fails on a character no rule takes.
"""
from __future__ import annotations

from pygments.lexer import RegexLexer, words
from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation, String,
                            Whitespace)

from .tcp import APP_CALLS, FLAG_BITS, TCP_STATES

_MODEL_DECLS = ("model", "param", "const", "enum", "segment", "var", "timer", "endpoint",
                "instance", "channel")
_MODEL_WORDS = ("on", "after", "when", "call", "recv", "any", "expire", "internal", "send",
                "arm", "cancel", "observe", "if", "elif", "else", "delay", "capacity", "lossy",
                "max", "of", "seg")
_SPEC_KINDS = ("model", "with", "invariant", "reachable", "runs", "terminates", "timing",
               "solve")
_SPEC_WORDS = ("implies", "eventually", "always", "never", "initially", "finally", "before",
               "observed", "count", "any")
_SPEC_PREDICATES = ("sends", "receives", "loses", "calls", "running", "len")

# shared by both languages: what a comment, a string, a number and an operator look like
_COMMON = [
    (r"\s+", Whitespace),
    (r"#.*?$", Comment.Single),
    (r'"([^"\\\n]|\\.)*"', String.Double),
    (r"[0-9]+(\.[0-9]+)?(us|ms|s|min)\b", Number.Float),   # a duration: 40ms, 1.5s
    (r"[0-9]+", Number.Integer),
    (words(("and", "or", "not"), suffix=r"\b"), Operator.Word),
    (words(("true", "false", "inf"), suffix=r"\b"), Keyword.Constant),
    (words(tuple(FLAG_BITS), suffix=r"\b"), Name.Constant),
    (words(TCP_STATES, suffix=r"\b"), Name.Constant),
    (r"SHUT_(RD|WR|RDWR)\b", Name.Constant),
    (r":=|==|!=|<=|>=|->|\.\.|[<>+\-*/%|=]", Operator),
    (r"[(){},:;.]", Punctuation),
]


class ModelLexer(RegexLexer):
    """The tcpcheck model language (.tcpm)."""

    name = "tcpcheck model"
    aliases = ["tcpm", "tcpcheck-model"]
    filenames = ["*.tcpm"]
    mimetypes = ["text/x-tcpcheck-model"]

    tokens = {
        "root": [
            (words(_MODEL_DECLS, suffix=r"\b"), Keyword.Declaration),
            (words(_MODEL_WORDS, suffix=r"\b"), Keyword),
            (words(("bool", "tcp_state"), suffix=r"\b"), Keyword.Type),
            (words(("min", "max", "room", "running"), suffix=r"\b(?=\s*\()"), Name.Builtin),
            (words(tuple(APP_CALLS), prefix=r"(?<=call )", suffix=r"\b"), Name.Function),
            *_COMMON,
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
        ],
    }


class SpecLexer(RegexLexer):
    """The tcpcheck spec language (.spec): properties of a model's runs."""

    name = "tcpcheck spec"
    aliases = ["tcpspec", "tcpcheck-spec"]
    filenames = ["*.spec"]
    mimetypes = ["text/x-tcpcheck-spec"]

    tokens = {
        "root": [
            (words(_SPEC_KINDS, suffix=r"\b"), Keyword.Declaration),
            (words(_SPEC_WORDS, suffix=r"\b"), Keyword),
            (words(_SPEC_PREDICATES, suffix=r"\b"), Name.Builtin),
            *_COMMON,
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
        ],
    }
