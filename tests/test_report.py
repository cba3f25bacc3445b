"""`tcpcheck report` without a browser: what the page says, and how the command fails.

The page's verdicts come from `check`'s own library call on the same spec; the browser test
(test_report_browser.py) checks the drawn page against `check --json`.
"""
from __future__ import annotations

import re
from html import unescape

from click.testing import CliRunner

from tcpcheck.cli import main
from tcpcheck.lexer import ModelLexer, SpecLexer
from tcpcheck.report import HIGHLIGHT_CSS, declarations, highlighted
from tcpcheck.verdicts import ExitStatus

from conftest import DEFAULT_MODEL, FIXTURES, ROOT

SPEC = str(ROOT / "specs" / "teardown.spec")


def _text(html: str) -> str:
    """What a reader sees of some HTML: the tags left out, the entities read."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def _assert_highlighted(page: str) -> None:
    """Every property's statement and every declaration is shown through the lexers: the
    words in spans of their token class, the text unchanged, each class coloured by a rule
    of the page's own style (no link, no script)."""
    blocks = re.findall(r'<pre class="hl">(.*?)</pre>', page, re.S)
    spec_text = (ROOT / "specs" / "teardown.spec").read_text(encoding="utf-8")
    assert blocks and all(" ".join(_text(b).split()) in " ".join(spec_text.split())
                          for b in blocks)
    assert all('<span class="k' in b for b in blocks)     # a keyword's class (k, kd, ...)
    cells = re.findall(r'<code class="hl">(.*?)</code>', page, re.S)
    assert any('<span class="kd">param</span>' in c for c in cells)
    used = set(re.findall(r'<span class="([\w-]+)">', "".join(blocks + cells)))
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    coloured = set(re.findall(r"^\.hl \.([\w-]+) \{", style, re.M))
    assert used - {"w", "n", "p"} <= coloured, used - coloured   # plain words stay plain
    assert "http" not in style and "@import" not in style


def test_the_page_holds_every_verdict_the_model_and_the_versions(tmp_path, teardown_ex):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(main, ["report", SPEC, "-o", str(out)])
    assert result.exit_code == ExitStatus.OK, result.output
    page = out.read_text(encoding="utf-8")
    rows = dict(re.findall(r'<tr data-property="([^"]+)" data-verdict="([^"]+)">', page))
    named = re.findall(r"^\s*(?:reachable|runs|invariant|terminates|timing)\s+(\w+)",
                       (ROOT / "specs" / "teardown.spec").read_text(encoding="utf-8"), re.M)
    assert sorted(rows) == sorted(named)
    for section in ("verdicts", "properties", "endpoint", "map", "model", "versions"):
        assert f'id="{section}"' in page
    assert "<script" not in page and page.count("<svg") >= 2
    assert "tcpcheck 0." in page and "z3 " in page and "Graphviz " in page
    assert "60s..60s" in _text(page)               # the time_wait timer's range
    _assert_highlighted(page)
    # the map's rows: one per parameter combination of the model at its own parameters
    assert page.count("<tr><td>") >= len(teardown_ex.initial)
    # written whole: nothing but the page is left in the directory
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_a_declaration_carries_the_comment_written_above_it():
    import tcpcheck
    model = tcpcheck.load(DEFAULT_MODEL).model
    params, timers = declarations(model)
    delayed = next(p for p in params if p.name == "delayed_ack")
    assert "pingpong" in delayed.comment and delayed.what == "param delayed_ack: bool"
    time_wait = next(t for t in timers if t.name == "time_wait")
    assert "TIME_WAIT lasts" in time_wait.comment



def test_an_output_that_is_not_html_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["report", SPEC, "-o", str(tmp_path / "r.svg")])
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "must end in .html" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_bad_spec_is_a_located_error_and_no_page(tmp_path):
    bad = FIXTURES / "bad_specs" / "missing_model.spec"
    result = CliRunner().invoke(main, ["report", str(bad), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert re.search(r"missing_model\.spec:\d+:\d+: error\[TCP\d{3}\]", result.output)
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_same_check_writes_the_same_bytes(tmp_path):
    pages = []
    for name in ("a.html", "b.html"):
        result = CliRunner().invoke(main, ["report", SPEC, "-o", str(tmp_path / name)])
        assert result.exit_code == ExitStatus.OK, result.output
        pages.append((tmp_path / name).read_bytes())
    assert pages[0] == pages[1]


def test_model_and_spec_text_is_highlighted_by_the_lexers_and_escaped():
    spec = highlighted('reachable r "a <b> & c": eventually client.state == TIME_WAIT',
                       SpecLexer())
    assert spec.startswith('<span class="kd">reachable</span>')
    assert '<span class="k">eventually</span>' in spec and "<b>" not in spec
    assert _text(spec) == 'reachable r "a <b> & c": eventually client.state == TIME_WAIT'
    model = highlighted("param delayed_ack: bool = false  # pingpong", ModelLexer())
    assert '<span class="kd">param</span>' in model and '<span class="c' in model
    assert _text(model) == "param delayed_ack: bool = false  # pingpong"
    # the same text gives the same bytes; the colours are plain CSS rules
    assert highlighted("timer delack 0ms..200ms", ModelLexer()) == \
        highlighted("timer delack 0ms..200ms", ModelLexer())
    assert HIGHLIGHT_CSS and all(r.startswith(".hl .") for r in HIGHLIGHT_CSS.splitlines())
