"""`tcpcheck lsp` end to end: a real LSP client (pytest-lsp) starts `python -m tcpcheck lsp`,
opens models and specs, and asks what an editor asks. The diagnostics must be the command
line's own (same code, same message)."""
from __future__ import annotations

import asyncio
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls", reason="the language server needs pygls (pip install pygls)")
pytest_lsp = pytest.importorskip("pytest_lsp", reason="these tests need pytest-lsp")

from lsprotocol import types as lsp  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


# one server for the module (starting one takes a second or two), as an editor keeps one
@pytest_lsp.fixture(scope="module",
                    config=ClientServerConfig(
                        server_command=[sys.executable, "-m", "tcpcheck", "lsp"],
                        # this checkout's tcpcheck, wherever pytest runs from
                        server_env={**os.environ, "PYTHONPATH": str(ROOT)}))
async def client(lsp_client: LanguageClient):
    lsp_client.diagnostics = _Published()
    await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(), root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def workdir(tmp_path):
    """A model and a spec of our own, so that a test may edit them."""
    (tmp_path / "models").mkdir()
    (tmp_path / "specs").mkdir()
    shutil.copy(FIXTURES / "models" / "lossy.tcpm", tmp_path / "models" / "lossy.tcpm")
    (tmp_path / "specs" / "a.spec").write_text(SPEC)
    return tmp_path


SPEC = '''model "../models/lossy.tcpm"
# the FIN's ACK can arrive
reachable fin_wait_2_reached "the client reaches FIN_WAIT_2":
    eventually client.state == FIN_WAIT_2
invariant never_closing "nobody in CLOSING": client.state != CLOSING
'''


class _Published(dict):
    """The client's diagnostics by URI, counting the notifications that set them: a test
    waits for the next one of a document, not for any notification."""

    def __init__(self):
        super().__init__()
        self.count: dict[str, int] = {}

    def __setitem__(self, uri, diagnostics):
        super().__setitem__(uri, diagnostics)
        self.count[uri] = self.count.get(uri, 0) + 1


async def _until(condition, seconds: float = 30) -> None:
    """Wait for the server's notifications to make `condition()` true (bounded)."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the server did not publish what was expected in time")


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.as_uri()
    seen = client.diagnostics.count.get(uri, 0)
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(
        uri, "tcpcheck", 1, path.read_text() if text is None else text)))
    await _until(lambda: client.diagnostics.count.get(uri, 0) > seen)
    return uri


async def _change(client: LanguageClient, uri: str, text: str, version: int = 2) -> None:
    seen = client.diagnostics.count.get(uri, 0)
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(version, uri),
        [lsp.TextDocumentContentChangeWholeDocument(text)]))
    await _until(lambda: client.diagnostics.count.get(uri, 0) > seen)


def _command_line(path: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "tcpcheck", "explore", str(path), "--no-progress"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2, out.stderr
    return out.stderr


@pytest.mark.asyncio(loop_scope="module")
async def test_diagnostics_are_the_command_lines(client: LanguageClient):
    path = FIXTURES / "bad" / "typo_in_variable.tcpm"
    uri = await _open(client, path)
    shown = client.diagnostics[uri]
    assert shown, "a model with a typo has a diagnostic"
    printed = _command_line(path)
    for d in shown:
        line, col = d.range.start.line + 1, d.range.start.character + 1
        assert f"{path}:{line}:{col}: error[{d.code}]: {d.message.splitlines()[0]}" in printed


@pytest.mark.asyncio(loop_scope="module")
async def test_diagnostics_as_you_type_and_the_did_you_mean_fix(client: LanguageClient,
                                                                workdir: Path):
    spec = workdir / "specs" / "a.spec"
    uri = await _open(client, spec)
    assert not client.diagnostics[uri]
    typo = SPEC.replace("client.state != CLOSING", "client.stat != CLOSING")
    await _change(client, uri, typo)
    [d] = client.diagnostics[uri]
    assert d.code == "TCP201" and "did you mean 'state'?" in d.message
    line = typo.split("\n")[4]
    assert (d.range.start.line, d.range.start.character) == (4, line.index("client.stat "))
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), d.range, lsp.CodeActionContext([d])))
    [fix] = actions
    [edit] = fix.edit.changes[uri]
    # the fix changes the name alone, not the instance before it
    assert edit.new_text == "state"
    assert (edit.range.start.character, edit.range.end.character) == \
        (line.index("stat "), line.index("stat ") + len("stat"))
    await _change(client, uri, SPEC, version=3)
    assert not client.diagnostics[uri]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_spec_is_checked_against_the_editors_text_of_its_model(client: LanguageClient,
                                                                       workdir: Path):
    spec_uri = await _open(client, workdir / "specs" / "a.spec")
    model = workdir / "models" / "lossy.tcpm"
    # the model, unsaved, loses its endpoint variable: the spec that reads it is wrong now
    broken = model.read_text().replace("var state", "var phase").replace("state :=", "phase :=") \
        .replace("state ==", "phase ==")
    await _open(client, model, broken)
    await _until(lambda: any(d.code == "TCP201" for d in client.diagnostics[spec_uri]))
    shown = client.diagnostics[spec_uri]
    assert {d.range.start.line for d in shown} == {3, 4}     # both uses of client.state
    assert all("client has no variable 'state'" in d.message for d in shown)


@pytest.mark.asyncio(loop_scope="module")
async def test_hover(client: LanguageClient, workdir: Path):
    model = ROOT / "models" / "teardown.tcpm"
    uri = await _open(client, model)
    lines = model.read_text().split("\n")

    async def hover_on(line_text: str, word: str) -> str:
        line = next(i for i, t in enumerate(lines) if line_text in t)
        got = await client.text_document_hover_async(lsp.HoverParams(
            lsp.TextDocumentIdentifier(uri), lsp.Position(line, lines[line].index(word) + 1)))
        assert got is not None, word
        return got.contents.value

    assert "range 0..2" in await hover_on("var sent: 0..2", "sent")
    assert "variable" in await hover_on("var sent: 0..2", "sent")
    text = await hover_on("timer delack 0ms..200ms", "delack")
    assert "duration: 0ms to 200ms" in text and "icsk_ack.ato" in text   # and its comment
    assert "TCP_QUICKACK" in await hover_on("param delayed_ack: bool", "delayed_ack")
    text = await hover_on("observe rst_for_unread_data", "rst_for_unread_data")
    assert "observation" in text and "on call close when state == ESTABLISHED" in text
    # a name used in a transition: the variable it means
    assert "variable" in await hover_on("        sent := min(sent + 1, 2)", "sent")
    # in a spec: an instance's variable, a parameter, an observation
    spec = ROOT / "specs" / "teardown.spec"
    spec_uri = await _open(client, spec)
    spec_lines = spec.read_text().split("\n")
    line = next(i for i, t in enumerate(spec_lines) if "observed three_way_close implies" in t)
    got = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(spec_uri),
        lsp.Position(line, spec_lines[line].index("three_way_close") + 2)))
    assert "observation" in got.contents.value and "recorded by" in got.contents.value


@pytest.mark.asyncio(loop_scope="module")
async def test_completion(client: LanguageClient, workdir: Path):
    spec = workdir / "specs" / "a.spec"
    text = SPEC + "reachable r: observed \n"
    uri = await _open(client, spec, text)
    last = len(text.split("\n")) - 2

    async def labels(line: int, character: int) -> set[str]:
        got = await client.text_document_completion_async(lsp.CompletionParams(
            lsp.TextDocumentIdentifier(uri), lsp.Position(line, character)))
        items = got.items if isinstance(got, lsp.CompletionList) else got
        return {i.label for i in items}

    # after `observed`: the model's observations (lossy.tcpm observes nothing itself; its
    # lossy channels record the network's segment_lost)
    assert await labels(last, len("reachable r: observed ")) == {"segment_lost"}
    # after `client.`: the variables and timers of the instance's endpoint
    assert "state" in await labels(3, len("    eventually client."))
    # anywhere in a formula: instances, TCP states, flags, calls, keywords
    got = await labels(3, 4)
    assert {"client", "server", "TIME_WAIT", "FIN", "close", "eventually"} <= got
    # in a model: the endpoint's names in scope
    model = ROOT / "models" / "teardown.tcpm"
    model_uri = await _open(client, model)
    lines = model.read_text().split("\n")
    line = next(i for i, t in enumerate(lines) if "sent := min(sent + 1, 2)" in t)
    got = await client.text_document_completion_async(lsp.CompletionParams(
        lsp.TextDocumentIdentifier(model_uri), lsp.Position(line, 8)))
    names = {i.label for i in got.items}
    assert {"sent", "rcvd", "delack", "delayed_ack", "CLOSE_WAIT", "fin_on_data"} <= names
    line = next(i for i, t in enumerate(lines) if "observe rst_for_unread_data" in t)
    col = lines[line].index("observe ") + len("observe ")
    got = await client.text_document_completion_async(lsp.CompletionParams(
        lsp.TextDocumentIdentifier(model_uri), lsp.Position(line, col)))
    assert "three_way_close" in {i.label for i in got.items}


@pytest.mark.asyncio(loop_scope="module")
async def test_definition_and_outline(client: LanguageClient):
    spec = ROOT / "specs" / "teardown.spec"
    uri = await _open(client, spec)
    lines = spec.read_text().split("\n")
    line = next(i for i, t in enumerate(lines) if "client.state == TIME_WAIT" in t)
    got = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(uri), lsp.Position(line, lines[line].index("state") + 1)))
    [where] = got
    model = ROOT / "models" / "teardown.tcpm"
    assert where.uri == model.as_uri()
    model_lines = model.read_text().split("\n")
    assert model_lines[where.range.start.line].strip().startswith("var state: tcp_state")
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        lsp.TextDocumentIdentifier(uri)))
    assert "three_way_close_is_possible" in {s.name for s in symbols}
    model_uri = await _open(client, model)
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        lsp.TextDocumentIdentifier(model_uri)))
    [tcp] = [s for s in symbols if s.name == "tcp"]
    assert {"state", "delack", "has_data"} <= {c.name for c in tcp.children}
    assert {"delayed_ack", "client", "server"} <= {s.name for s in symbols}


@pytest.mark.asyncio(loop_scope="module")
async def test_a_models_error_is_shown_on_the_specs_model_line_and_fixed_in_the_model(
        client: LanguageClient, tmp_path: Path):
    model = tmp_path / "m.tcpm"
    shutil.copy(FIXTURES / "bad" / "typo_in_variable.tcpm", model)
    spec = tmp_path / "s.spec"
    spec.write_text('# about m\nmodel "m.tcpm"\ninvariant x: client.state != CLOSING\n')
    spec_uri = await _open(client, spec)
    [d] = client.diagnostics[spec_uri]
    assert d.code == "TCP201" and d.range.start.line == 1          # the `model` line
    assert d.message.startswith(f"{model}:13:9: unknown variable 'stat'")
    [related] = d.related_information
    assert related.location.uri == model.as_uri() and related.location.range.start.line == 12
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(spec_uri), d.range, lsp.CodeActionContext([d])))
    assert not actions                                   # nothing to change in the spec
    model_uri = await _open(client, model)
    [d] = client.diagnostics[model_uri]
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(model_uri), d.range, lsp.CodeActionContext([d])))
    [edit] = actions[0].edit.changes[model_uri]
    assert (edit.range.start.line, edit.range.start.character, edit.new_text) == (12, 8, "state")


def test_completion_follows_the_context():
    from tcpcheck.editing import analyse, completions

    model = ROOT / "models" / "teardown.tcpm"
    text = model.read_text()
    an = analyse(str(model), text, lambda _path: None, model)
    lines = text.split("\n")

    def offered(line_text: str, typed: str) -> list[str]:
        line = next(i for i, t in enumerate(lines) if line_text in t)
        col = lines[line].index(typed) + len(typed)
        return [label for label, _kind, _detail in completions(an, text, line, col)]

    assert offered("cancel delack", "cancel ")[:2] == ["delack", "think"]     # timers
    assert set(offered("send FIN(ack = rcvd)", "send ")) == {"FIN", "SYN", "RST", "ACK", "DATA"}
    assert "SHUT_WR" in offered("on call shutdown(SHUT_WR)", "shutdown(")
    assert offered("if state == FIN_WAIT_1 and seg.ack", "seg.") == ["ack", "stale"]
    # in an expression: the endpoint's own names first, then the model's
    got = offered("sent := min(sent + 1, 2)", "sent + ")
    assert got.index("rcvd") < got.index("early_data")


@pytest.mark.asyncio(loop_scope="module")
async def test_columns_are_the_protocols_utf16_units(client: LanguageClient, workdir: Path):
    # an emoji is one character of the text and two UTF-16 units of the editor's column
    spec = workdir / "specs" / "a.spec"
    text = SPEC.replace('"nobody in CLOSING": client.state',
                        '"nobody \U0001F389 in CLOSING": client.stat')
    uri = await _open(client, spec, text)
    [d] = client.diagnostics[uri]
    line = text.split("\n")[4]
    assert d.range.start.character == line.index("client.stat ") + 1
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), d.range, lsp.CodeActionContext([d])))
    [edit] = actions[0].edit.changes[uri]
    assert edit.new_text == "state"
    assert edit.range.start.character == line.index("stat ") + 1


@pytest.mark.asyncio(loop_scope="module")
async def test_definition_is_in_the_protocols_utf16_units(client: LanguageClient, workdir: Path):
    # the model's description holds an emoji (two UTF-16 units, one character of the text)
    # and the variable is declared after it on the same line: go to definition from the
    # spec must land on the name in the editor's units, one column right of its text index
    model = workdir / "models" / "lossy.tcpm"
    text = model.read_text().replace(
        'model lossy "a FIN and its ACK over lossy channels"\n\nendpoint closer() {\n'
        '    var state:',
        'model lossy "a FIN \U0001F389" endpoint closer() { var state:', 1)
    assert "\U0001F389" in text
    model.write_text(text)
    line = next(i for i, t in enumerate(text.split("\n")) if "\U0001F389" in t)
    uri = await _open(client, workdir / "specs" / "a.spec")
    assert not client.diagnostics[uri]                  # the model still checks
    spec_line = SPEC.split("\n")[3]
    [where] = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(uri), lsp.Position(3, spec_line.index("state") + 1)))
    assert where.uri == model.as_uri()
    name_at = text.split("\n")[line].index("state:")
    assert (where.range.start.line, where.range.start.character,
            where.range.end.character) == (line, name_at + 1, name_at + 1 + len("state"))


@pytest.mark.asyncio(loop_scope="module")
async def test_a_declared_call_nothing_answers_is_a_warning_in_the_editor(client: LanguageClient,
                                                                          workdir: Path):
    model = workdir / "models" / "lossy.tcpm"
    text = model.read_text() + "\ncall half_close\n"
    uri = await _open(client, model, text)
    [d] = client.diagnostics[uri]
    assert (d.code, d.severity) == ("TCP216", lsp.DiagnosticSeverity.Warning)
    assert d.message.startswith("call 'half_close' is declared but no transition answers it")
    last = len(text.split("\n")) - 2
    assert (d.range.start.line, d.range.start.character) == (last, len("call "))


def test_the_editor_setups_start_the_server_the_tests_drive():
    # docs/editors.md's Neovim and Emacs set-ups (and the VS Code extension) cannot run here:
    # each must start `tcpcheck lsp`, the server these tests drive, for .tcpm and specs' files
    page = (ROOT / "docs" / "editors.md").read_text(encoding="utf-8")
    setups = re.findall(r"```(lua|elisp)\n(.*?)```", page, re.S)
    assert [kind for kind, _ in setups] == ["lua", "lua", "elisp"]
    started = {"lua": '{ "tcpcheck", "lsp" }', "elisp": '("tcpcheck" "lsp")'}
    for kind, text in setups:
        assert started[kind] in text, text
        assert "tcpm" in text and ("spec" in text)
    vscode = (ROOT / "editors" / "vscode")
    said = " ".join(p.read_text(encoding="utf-8") for p in sorted(vscode.glob("*.js*")))
    assert '"lsp"' in said and ".tcpm" in said
