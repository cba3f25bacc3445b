"""`tcpcheck report`: the verdicts, their runs and the model on one self-contained HTML page.

The page needs nothing but itself: the CSS is in a <style> element, every diagram is an inline
SVG drawn by Graphviz, and there is no script and no link to the network, so it opens from a
mail attachment or a design document's folder, reads at laptop width (wide tables and
diagrams scale down or scroll in their own box) and prints (diagrams are not split across
pages, the contents list is left out). Nothing on it depends on the clock: the same check on
the same machine writes the same bytes.

The sections: the verdict table; for each property its statement in words, verdict, figures
and the ladder of its witness or counterexample; the endpoint diagram and the behaviour map of
the model at its own parameters; the model's parameters and timer ranges with the comments
written above them; the versions of tcpcheck, z3 and Graphviz.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html import escape
from pathlib import Path

import z3
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer

from . import __version__
from .behaviour import KINDS, MapRow
from .explore import NO_DEADLINE, Deadline, Exploration
from .graph import endpoint_view
from .facts import model_facts
from .ladder import ladder_dot
from .lexer import ModelLexer, SpecLexer
from .model import CheckedModel
from .parse import parse_text
from .render import endpoint_dot, write_drawing
from .trace import run_steps
from .verdicts import Verdict
from .verify import ModelCheck


@dataclass(frozen=True)
class Declared:
    """A parameter or timer of the model as the report lists it."""
    name: str
    where: str       # the endpoint of a timer; "" for a parameter
    what: str        # the declaration as written (`param delayed_ack: bool`, `0ms..200ms`)
    comment: str     # the comment lines written just above it, joined


@dataclass(frozen=True)
class Overview:
    """The model at its own parameters (no spec's `with`): what the endpoint diagram and the
    behaviour map are drawn from. `map_rows` may be shorter than the combinations when a
    limit stopped the map (`map_stop` says why)."""
    exploration: Exploration
    map_rows: tuple[MapRow, ...]
    map_stop: str | None = None


# ---------------------------------------------------------------- what the page is made of

def declarations(model: CheckedModel) -> tuple[list[Declared], list[Declared]]:
    """The model's parameters and its endpoints' timers, in the order they are written, as
    tcpcheck.facts reads them (the declaration as written, the comment above it)."""
    facts = model_facts(parse_text(model.text, model.path))
    params = [Declared(s.name, "", s.detail, s.paragraph()) for s in facts.of_kind("param")]
    timers = [Declared(s.name, s.scope or "", s.detail, s.paragraph())
              for s in facts.of_kind("timer")]
    return params, timers


def versions() -> dict[str, str]:
    """tcpcheck's, z3's and Graphviz's versions (Graphviz: "not installed" without `dot`)."""
    dot = shutil.which("dot")
    graphviz = "not installed"
    if dot is not None:
        try:
            said = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=10)
            found = re.search(r"version\s+(\S+)", said.stderr + said.stdout)
            graphviz = found.group(1) if found else "unknown"
        except (OSError, subprocess.TimeoutExpired):
            graphviz = "unknown"
    return {"tcpcheck": __version__, "z3": z3.get_version_string(), "Graphviz": graphviz}


def inline_svg(source: str, prefix: str, deadline: Deadline = NO_DEADLINE) -> str | None:
    """A DOT drawing as an <svg> element to put in the page (None without Graphviz, or when
    `dot` failed). Drawn through render.write_drawing, under the command's deadline; the ids
    Graphviz gives (node1, graph0, ...) get `prefix` so that two drawings on one page never
    share one."""
    with tempfile.TemporaryDirectory(prefix="tcpcheck-report-") as tmp:
        written = write_drawing(source, Path(tmp) / "drawing.svg", deadline)
        if not written.rendered or written.image_path is None:
            return None
        svg = written.image_path.read_text(encoding="utf-8")
    start = svg.find("<svg")
    if start < 0:
        return None
    svg = svg[start:]
    svg = re.sub(r'\bid="', f'id="{prefix}', svg)
    svg = re.sub(r'(xlink:href|href)="#', rf'\1="#{prefix}', svg)
    svg = svg.replace("url(#", f"url(#{prefix}")
    return svg.replace("<svg ", '<svg role="img" ', 1)


# ---------------------------------------------------------------- the page

CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --rule: #d5dae3; --holds: #1a7f37; --bad: #b42318;
        --unsure: #9a6700; --paper: #ffffff; --tint: #f4f6fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem 1.25rem 3rem; color: var(--ink);
       background: var(--paper); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
       "DejaVu Sans", sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2.25rem 0 .5rem; padding-bottom: .25rem;
     border-bottom: 2px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 0 0 .35rem; }
p { margin: .35rem 0; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .85em; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--tint);
      padding: .4rem .6rem; border-radius: 4px; margin: .4rem 0; }
.muted { color: var(--muted); }
nav ol { columns: 2 18rem; margin: .5rem 0; padding-left: 1.25rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem;
         border-bottom: 1px solid var(--rule); }
th { background: var(--tint); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td code { overflow-wrap: anywhere; }
.verdict { font-weight: 600; white-space: nowrap; }
.v-holds { color: var(--holds); }
.v-violated, .v-error { color: var(--bad); }
.v-inconclusive, .v-holds-vacuously { color: var(--unsure); }
article { border: 1px solid var(--rule); border-radius: 6px; padding: .75rem 1rem;
          margin: 1rem 0; }
dl.figures { display: flex; flex-wrap: wrap; gap: .25rem 1.5rem; margin: .4rem 0; }
dl.figures div { display: flex; gap: .4rem; }
dl.figures dt { color: var(--muted); }
dl.figures dd { margin: 0; }
figure.diagram { margin: .75rem 0; overflow-x: auto; text-align: center; }
figure.diagram svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .9em; }
.partial { border-left: 4px solid var(--unsure); background: #fff8e6; padding: .5rem .75rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .9em; }
@media (max-width: 40rem) { body { padding: 1rem .6rem; } th, td { padding: .25rem .3rem; } }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  article, figure.diagram, tr { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  .scroll, figure.diagram { overflow: visible; }
}
@page { margin: 1.5cm; }
"""


# model and spec text is highlighted by tcpcheck's own lexers (tcpcheck.lexer) into spans
# with Pygments' short token classes; their colours are rules in the page's own <style>
_HIGHLIGHT = HtmlFormatter(nowrap=True, style="default")
HIGHLIGHT_CSS = "\n".join(
    rule for rule in _HIGHLIGHT.get_style_defs(".hl").splitlines()
    if rule.startswith(".hl .") and "{" in rule)   # the token rules, not the box's own


def highlighted(text: str, lexer: Lexer) -> str:
    """`text` as HTML: escaped, each token in a span of its class (no wrapper element)."""
    return highlight(text, lexer, _HIGHLIGHT).rstrip("\n")


def _verdict_class(verdict: Verdict | str) -> str:
    return "verdict v-" + str(verdict).replace(" ", "-")


def _anchor(check_index: int, name: str) -> str:
    return f"p{check_index}-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}"


def _configuration(check: ModelCheck) -> str:
    return ", ".join(check.params) if check.params else "its own parameters"


def _verdict_table(checks: list[ModelCheck]) -> list[str]:
    out = ['<div class="scroll"><table class="verdicts" id="verdict-table">',
           "<thead><tr><th>property</th><th>kind</th><th>verdict</th><th>model with</th>"
           "<th class=\"num\">states</th></tr></thead><tbody>"]
    for c, check in enumerate(checks):
        ex = check.exploration
        for v in check.verdicts:
            out.append(
                f'<tr data-property="{escape(v.name)}" data-verdict="{escape(str(v.verdict))}">'
                f'<td><a href="#{_anchor(c, v.name)}"><code>{escape(v.name)}</code></a></td>'
                f"<td>{escape(v.kind)}</td>"
                f'<td class="{_verdict_class(v.verdict)}">{escape(str(v.verdict))}</td>'
                f"<td>{escape(_configuration(check))}</td>"
                f'<td class="num">{ex.n_states:,}</td></tr>')
    out.append("</tbody></table></div>")
    return out


def _property_article(c: int, check: ModelCheck, v, draw) -> list[str]:
    ex = check.exploration
    out = [f'<article id="{_anchor(c, v.name)}">',
           f'<h3><code>{escape(v.name)}</code> '
           f'<span class="{_verdict_class(v.verdict)}">{escape(str(v.verdict))}</span></h3>']
    if v.doc:
        out.append(f"<p>{escape(v.doc)}</p>")
    out.append(f'<pre class="hl">{highlighted(v.source, SpecLexer())}</pre>')
    out.append(f"<p>{escape(v.message)}</p>")
    figures = [("kind", v.kind), ("model", f"{check.model_path} with {_configuration(check)}"),
               ("states", f"{ex.n_states:,}"), ("edges", f"{ex.n_edges:,}")]
    if not ex.complete:
        figures.append(("search", f"partial ({ex.stop_reason})"))
    if v.run is not None:
        figures.append(("run", f"{len(v.run) - 1} steps"))
    if v.answer:
        figures.append(("answer", v.answer))
    out.append('<dl class="figures">' + "".join(
        f"<div><dt>{escape(k)}</dt><dd>{escape(str(val))}</dd></div>" for k, val in figures)
        + "</dl>")
    for note in v.notes:
        out.append(f'<p class="muted">note: {escape(note)}</p>')
    if v.run is not None:
        what = {Verdict.VIOLATED: "counterexample", Verdict.HOLDS: "witness"}.get(
            v.verdict, "run")
        steps = run_steps(ex, v.run, v.times)
        out.append(draw(ladder_dot(steps, f"{v.name}: {v.verdict}"), f"{_anchor(c, v.name)}-",
                        f"The {what} as a ladder diagram (times from z3)."))
    out.append("</article>")
    return out


def _drawer(deadline: Deadline, not_drawn: str | None):
    """draw(dot source, id prefix, caption) -> a <figure> with the inline SVG, or a line
    saying why there is none (`not_drawn`: a limit stopped the drawings)."""
    def draw(source: str, prefix: str, caption: str) -> str:
        svg = None if not_drawn is not None else inline_svg(source, prefix, deadline)
        if svg is None:
            why = not_drawn or ("Graphviz's dot is not installed (apt-get install graphviz) "
                                "or failed")
            return f'<p class="muted">{escape(caption)} Not drawn: {escape(why)}.</p>'
        return (f'<figure class="diagram">{svg}<figcaption>{escape(caption)}</figcaption>'
                "</figure>")
    return draw


def _map_table(overview: Overview) -> list[str]:
    ts = overview.exploration.system
    varying = ts.varying_params()
    out = ['<div class="scroll"><table class="map"><thead><tr><th>parameters</th>'
           + "".join(f"<th>{escape(str(k))}</th>" for k in KINDS) + "</tr></thead><tbody>"]
    for row in overview.map_rows:
        shown = ts.params_text(row.params, [k for k in row.params if k in varying]) \
            or "(all fixed)"
        cells = []
        for kind in KINDS:
            if kind not in row.kinds:
                cells.append('<td class="muted">never</td>')
                continue
            runs = row.runs.get(kind, 0)
            count = "infinitely many runs" if runs is None else \
                f"{runs:,} run{'s' if runs != 1 else ''}"
            cells.append(f"<td>{escape(row.kinds[kind])}<br>"
                         f'<span class="muted">{escape(count)}</span></td>')
        out.append(f"<tr><td>{escape(shown)}</td>{''.join(cells)}</tr>")
    out.append("</tbody></table></div>")
    if overview.map_stop is not None:
        out.append(f'<p class="partial">Partial ({escape(overview.map_stop)}): '
                   f"{len(overview.map_rows)} of {len(overview.exploration.initial)} parameter "
                   "combinations mapped; the others are unknown.</p>")
    return out


def _declared_table(rows: list[Declared], timers: bool) -> list[str]:
    head = "<th>endpoint</th><th>timer</th>" if timers else "<th>parameter</th>"
    out = [f'<div class="scroll"><table><thead><tr>{head}<th>declared</th><th>why</th>'
           "</tr></thead><tbody>"]
    for d in rows:
        first = f"<td>{escape(d.where)}</td>" if timers else ""
        out.append(f"<tr>{first}<td><code>{escape(d.name)}</code></td>"
                   f'<td><code class="hl">{highlighted(d.what, ModelLexer())}</code></td>'
                   f"<td>{escape(d.comment)}</td></tr>")
    out.append("</tbody></table></div>")
    return out


def report_html(checks: list[ModelCheck], overview: Overview | None,
                cut_short: str | None = None, deadline: Deadline = NO_DEADLINE,
                not_drawn: str | None = None) -> str:
    """The whole page. `overview` None: the model's own exploration was not made (a limit
    came first; `cut_short` says so at the top). Raises LimitReached when the deadline passes
    while drawing; the caller may then make the page again with `not_drawn` saying why it
    has no diagrams."""
    draw = _drawer(deadline, not_drawn)
    model = (overview.exploration.system.model if overview is not None
             else checks[0].exploration.system.model if checks else None)
    title = f"tcpcheck report: {model.name}" if model is not None else "tcpcheck report"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(title)}</title><style>{CSS}{HIGHLIGHT_CSS}\n</style></head><body>",
           f"<header><h1>{escape(title)}</h1>"]
    if model is not None:
        out.append(f'<p class="muted">model <code>{escape(model.path)}</code></p>')
        if model.doc:
            out.append(f"<p>{escape(model.doc)}</p>")
    total = sum(len(c.verdicts) for c in checks)
    counts: dict[str, int] = {}
    for c in checks:
        for v in c.verdicts:
            counts[str(v.verdict)] = counts.get(str(v.verdict), 0) + 1
    out.append(f"<p>{total} properties checked: "
               + ", ".join(f"{n} {escape(k)}" for k, n in sorted(counts.items())) + ". "
               "Every verdict comes from exploring the model; runs are shortest, and their "
               "times come from z3 within the timer ranges.</p></header>")
    if cut_short is not None:
        out.append(f'<p class="partial">{escape(cut_short)}</p>')
    out.append('<nav><ol><li><a href="#verdicts">Verdicts</a></li>'
               '<li><a href="#properties">Properties and their runs</a></li>'
               '<li><a href="#endpoint">One endpoint\'s TCP states</a></li>'
               '<li><a href="#map">Kinds of close by parameters</a></li>'
               '<li><a href="#model">Parameters and timers</a></li>'
               '<li><a href="#versions">Versions</a></li></ol></nav>')
    out.append('<section id="verdicts"><h2>Verdicts</h2>')
    out += _verdict_table(checks)
    out.append('</section><section id="properties"><h2>Properties and their runs</h2>')
    for c, check in enumerate(checks):
        for v in check.verdicts:
            if not_drawn is None:
                deadline.check()
            out += _property_article(c, check, v, draw)
    out.append("</section>")
    if overview is not None:
        ex = overview.exploration
        ts = ex.system
        view = endpoint_view(ex, None, NO_DEADLINE if not_drawn else deadline)
        instances = " and ".join(view.graph["instances"])
        out.append('<section id="endpoint"><h2>One endpoint\'s TCP states</h2>')
        out.append(f"<p>The joint graph ({ex.n_states:,} states, {ex.n_edges:,} edges"
                   + ("" if ex.complete else f", partial: {ex.stop_reason}")
                   + f") projected onto the TCP states of {escape(instances)}, over every "
                   "combination of the model's open parameters.</p>")
        out.append(draw(endpoint_dot(view, f"{ts.model.name}: TCP states of {instances}"),
                        "endpoint-", "Laid out like RFC 9293's state diagram; an edge lists "
                                     "every way across (event / segments sent)."))
        out.append('</section><section id="map"><h2>Kinds of close by parameters</h2>'
                   "<p>Which kinds of close each parameter combination allows, and for which "
                   "timer durations (<code>tcpcheck map</code>).</p>")
        out += _map_table(overview)
        out.append("</section>")
    if model is not None:
        params, timers = declarations(model)
        out.append('<section id="model"><h2>Parameters and timers</h2><h3>Parameters</h3>')
        out += _declared_table(params, timers=False)
        out.append("<h3>Timers</h3>")
        out += _declared_table(timers, timers=True)
        out.append("</section>")
    out.append('<footer id="versions"><h2>Versions</h2><p>'
               + ", ".join(f"{escape(k)} {escape(v)}" for k, v in versions().items())
               + ". Written by <code>tcpcheck report</code>.</p></footer></body></html>")
    return "\n".join(out) + "\n"
