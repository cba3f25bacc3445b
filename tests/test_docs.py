"""The reference pages (docs/language.md, docs/specs.md) cannot rot: every command they show
prints what they say, every model and spec they show is a file of docs/examples/ as it
stands, every keyword of both languages appears in one of those examples, and the table of
the default model's observations is the model's. The machinery is the README's
(tests/transcript.py); `pytest tests/test_docs.py --update-golden` rewrites the output shown
under each command (read the diff)."""
from __future__ import annotations

import re

import pytest

import tcpcheck
from tcpcheck.model import SIf, SObserve
from tcpcheck.parse import _parser as model_parser
from tcpcheck.spec import _parser as spec_parser

from conftest import DEFAULT_MODEL, ROOT
from transcript import Block, blocks, check_example_file, commands, rewritten, run

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
