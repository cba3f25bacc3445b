"""The docs cannot rot. The reference pages (docs/language.md, docs/specs.md): every command
they show prints what they say, every model and spec they show is a file of docs/examples/ as
it stands, every keyword of both languages appears in one of those examples, and the table of
the default model's observations is the model's. Every other page (README.md, docs/*.md):
each fenced block says, on the line above it, how it is checked: `<!-- example: checked by
tests/FILE.py::TEST -->` (that test exists and names the command shown), `<!-- example:
excerpt -->` (its commands are run here and the lines shown, between `...`, are printed in
that order), or `<!-- example: not run: REASON -->`. The machinery is the README's
(tests/transcript.py); `pytest tests/test_docs.py --update-golden` rewrites the output shown
under each command (read the diff)."""
from __future__ import annotations

import re
import shlex

import pytest

import tcpcheck
from tcpcheck.model import SIf, SObserve
from tcpcheck.parse import _parser as model_parser
from tcpcheck.spec import _parser as spec_parser

from conftest import DEFAULT_MODEL, ROOT
from conftest import run_tcpcheck
from transcript import (Block, blocks, check_example_file, commands, normalized, rewritten,
                        run)

PAGES = ("docs/language.md", "docs/specs.md")
# a ```text block is an outline of the syntax, not an example: it runs nothing
KINDS = {"console", "tcpm", "spec", "text"}


def _blocks(page: str) -> list[Block]:
    return blocks((ROOT / page).read_text(encoding="utf-8"))


def _all(kind: str) -> list[tuple[str, Block]]:
    return [(page, b) for page in PAGES for b in _blocks(page) if b.info == kind]


_REWRITTEN: set[str] = set()   # pages --update-golden has rewritten in this session
COMMANDS = [(page, c) for page, b in _all("console") for c in commands(b)]


def test_every_block_of_the_reference_is_checked_or_an_outline():
    for page in PAGES:
        for b in _blocks(page):
            assert b.info in KINDS, f"{page}:{b.line}: a ```{b.info} block is checked by nothing"


@pytest.mark.parametrize("page, command", COMMANDS,
                         ids=[f"{p}:{c.line}" for p, c in COMMANDS])
def test_every_command_shown_prints_what_the_page_says(page, command, request):
    if request.config.getoption("--update-golden") and page not in _REWRITTEN:
        path = ROOT / page
        path.write_text(rewritten(path.read_text(encoding="utf-8")), encoding="utf-8")
        _REWRITTEN.add(page)
    output, status = run(command)
    assert (output, status) == (list(command.output), command.exit), \
        f"{page}:{command.line}: tcpcheck {' '.join(command.args)}"


@pytest.mark.parametrize("page, block", _all("tcpm") + _all("spec"),
                         ids=[f"{p}:{b.line}" for p, b in _all("tcpm") + _all("spec")])
def test_every_model_and_spec_shown_is_an_example_file(page, block):
    check_example_file(block)


def test_every_example_file_is_run_by_a_command_shown():
    run_args = " ".join(a for _page, c in COMMANDS for a in c.args)
    for path in sorted((ROOT / "docs" / "examples").iterdir()):
        assert f"docs/examples/{path.name}" in run_args or path.suffix == ".tcpm" and any(
            (ROOT / "docs" / "examples" / s).read_text().count(f'"{path.name}"')
            for s in re.findall(r"docs/examples/(\w+\.spec)", run_args)), \
            f"docs/examples/{path.name} is run by no command of the reference"


def _keywords(parser) -> set[str]:
    return {t.pattern.value for t in parser.terminals
            if t.pattern.type == "str" and t.pattern.value.isalpha()}


@pytest.mark.parametrize("kind, parser", [("tcpm", model_parser), ("spec", spec_parser)])
def test_every_keyword_of_the_language_is_in_an_example_shown(kind, parser):
    words = set(re.findall(r"[A-Za-z_]\w*", "".join(
        re.sub(r"#[^\n]*", "", b.text) for _page, b in _all(kind))))
    missing = _keywords(parser()) - words
    assert not missing, f"no {kind} example on the reference pages uses {sorted(missing)}"


def _observes(body):
    for s in body:
        if isinstance(s, SObserve):
            yield s.name
        elif isinstance(s, SIf):
            for _cond, branch in s.branches:
                yield from _observes(branch)


def default_observations() -> dict[str, str]:
    """Each observation of the default model and the events of the transitions that record
    it, as docs/specs.md lists them."""
    model = tcpcheck.load(DEFAULT_MODEL).model
    found: dict[str, list[str]] = {}
    for endpoint in model.endpoints:
        for tr in endpoint.transitions:
            for name in dict.fromkeys(_observes(tr.body)):
                # a '|' inside a table cell is written '\|'
                label = tr.event.label().replace("|", "\\|")
                found.setdefault(name, []).append(f"`{label}`")
    return {name: ", ".join(sorted(set(events), key=events.index))
            for name, events in sorted(found.items())}


def test_the_default_models_observations_are_the_ones_the_reference_lists():
    page = (ROOT / "docs" / "specs.md").read_text(encoding="utf-8")
    table = page.split("## The default model's observations", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ((?:\\\||[^|])+) \|", table, re.MULTILINE)
    listed = {name: events.strip() for name, events in rows}
    expected = default_observations()
    expected["segment_lost"] = "a loss on a `lossy` channel"  # recorded by the network
    assert listed == expected, "docs/specs.md's table should be:\n" + "\n".join(
        f"| `{n}` | {e} |" for n, e in expected.items())



# ---------------------------------------------------------------- every other page

OTHER_PAGES = ["README.md"] + sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md") if str(p.relative_to(ROOT))
    not in PAGES)
MARK = re.compile(r"<!-- example: (checked by (tests/\w+\.py)::(\w+)|excerpt(?: of: (.+))?"
                  r"|not run: (.+)) -->")


def _marked() -> list[tuple[str, Block, re.Match | None]]:
    out = []
    for page in OTHER_PAGES:
        lines = (ROOT / page).read_text(encoding="utf-8").split("\n")
        for b in _blocks(page):
            above = lines[b.line - 3] if b.line >= 3 else ""
            out.append((page, b, MARK.fullmatch(above)))
    return out


MARKED = _marked()


def _shown_commands(block: Block) -> list[str]:
    return [ln[2:] for ln in block.text.split("\n") if ln.startswith("$ tcpcheck ")]


@pytest.mark.parametrize("page, block, mark", MARKED,
                         ids=[f"{p}:{b.line}" for p, b, _m in MARKED])
def test_every_block_of_every_page_says_how_it_is_checked(page, block, mark):
    assert mark, (f"{page}:{block.line}: say above the block how it is checked: "
                  "<!-- example: checked by tests/FILE.py::TEST -->, <!-- example: excerpt -->"
                  " or <!-- example: not run: REASON -->")
    if mark.group(2):
        source = (ROOT / mark.group(2)).read_text(encoding="utf-8")
        body = re.search(rf"^def {mark.group(3)}\(.*?(?=^\S|\Z)", source, re.M | re.S)
        assert body, f"{page}:{block.line}: {mark.group(2)} has no test {mark.group(3)}"
        for command in _shown_commands(block)[:1]:
            words = shlex.split(command, comments=True)[1:]
            missing = [w for w in words if w not in body.group(0)]
            assert not missing, f"{page}:{block.line}: {mark.group(3)} never runs {missing}"
    elif mark.group(1).startswith("excerpt"):
        assert _shown_commands(block) or mark.group(4), \
            f"{page}:{block.line}: an excerpt shows or names its command"
    else:
        assert not _shown_commands(block) or len(mark.group(5)) > 20, \
            f"{page}:{block.line}: say why a command shown is not run"


EXCERPTS = [(p, b, m) for p, b, m in MARKED if m and m.group(1).startswith("excerpt")]


def _excerpt_runs(block: Block, mark: re.Match) -> list[tuple[str, list[str]]]:
    """(command, lines shown under it) for each command of an excerpt."""
    if mark.group(4):
        return [(mark.group(4), block.text.rstrip("\n").split("\n"))]
    runs: list[tuple[str, list[str]]] = []
    for ln in block.text.rstrip("\n").split("\n"):
        if ln.startswith("$ "):
            runs.append((ln[2:], []))
        else:
            runs[-1][1].append(ln)
    return runs


@pytest.mark.parametrize("page, block, mark", EXCERPTS,
                         ids=[f"{p}:{b.line}" for p, b, _m in EXCERPTS])
def test_an_excerpt_shows_lines_the_command_prints_in_that_order(page, block, mark):
    for command, shown_lines in _excerpt_runs(block, mark):
        words = shlex.split(command)
        assert words[0] == "tcpcheck"
        result = run_tcpcheck(*words[1:])
        printed_lines = normalized(result.stdout + result.stderr)
        at = 0
        for part in re.split(r"\n\s*\.\.\.\n", "\n" + "\n".join(shown_lines) + "\n"):
            want = normalized(part.strip("\n"))
            if not want:
                continue
            found = next((k for k in range(at, len(printed_lines) - len(want) + 1)
                          if printed_lines[k:k + len(want)] == want), None)
            assert found is not None, f"{page}:{block.line}: not printed in a row: {want}"
            at = found + len(want)
