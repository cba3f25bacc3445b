"""The Pygments lexers: every shipped model and spec lexes without an Error token, the words
that matter get their kinds, and pyproject.toml registers both as `pygments.lexers` entry
points that resolve to them."""
from __future__ import annotations

import importlib
import importlib.metadata
import tomllib

import pytest
from pygments.lexer import Lexer
from pygments.token import Error, Keyword, Name

from tcpcheck.lexer import ModelLexer, SpecLexer

from conftest import ROOT

SHIPPED = (sorted((ROOT / "models").rglob("*.tcpm")) + sorted((ROOT / "specs").glob("*.spec"))
           + sorted((ROOT / "tests" / "fixtures").rglob("*.tcpm")))


def _lexer(path):
    return SpecLexer() if path.suffix == ".spec" else ModelLexer()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_file_lexes_without_error_tokens(path):
    text = path.read_text()
    tokens = list(_lexer(path).get_tokens(text))
    bad = [v for t, v in tokens if t in Error]
    assert not bad, f"{path}: no rule for {bad[:5]}"
    assert "".join(v for _, v in tokens).rstrip("\n") == text.rstrip("\n")  # nothing dropped


def test_words_get_their_kinds():
    model = {v: t for t, v in ModelLexer().get_tokens(
        "endpoint tcp() {\n  on call close when room() >= 1 { send FIN+ACK(ack = 0) }\n}\n")}
    assert model["endpoint"] in Keyword.Declaration and model["on"] in Keyword
    assert model["room"] in Name.Builtin and model["FIN"] in Name.Constant
    assert model["close"] in Name.Function and model["tcp"] is Name
    spec = {v: t for t, v in SpecLexer().get_tokens(
        "runs r: eventually sends(client, FIN) before observed x\n")}
    assert spec["runs"] in Keyword.Declaration and spec["eventually"] in Keyword
    assert spec["sends"] in Name.Builtin


def test_entry_points_are_declared_and_resolve():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "project"]["entry-points"]["pygments.lexers"]
    for target in declared.values():
        module, _, cls = target.partition(":")
        lexer = getattr(importlib.import_module(module), cls)
        assert issubclass(lexer, Lexer) and lexer.aliases
    assert {v.split(":")[1] for v in declared.values()} == {"ModelLexer", "SpecLexer"}


def test_installed_entry_points_find_the_lexers():
    installed = {ep.name for ep in importlib.metadata.entry_points(group="pygments.lexers")}
    if not {"tcpm", "tcpspec"} <= installed:
        pytest.skip("tcpcheck's installed metadata predates the entry points: "
                    "reinstall (scripts/setup.sh) to register them")
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    assert isinstance(get_lexer_by_name("tcpm"), ModelLexer)
    assert isinstance(get_lexer_for_filename("x.tcpm"), ModelLexer)
    assert isinstance(get_lexer_by_name("tcpspec"), SpecLexer)
