"""`tcpcheck fmt`: the canonical layout is idempotent, keeps every comment, and keeps the
meaning (the formatted text parses to the same syntax tree, spans aside); shipped models and
specs are formatted; `--check` and bad input exit as documented."""
from __future__ import annotations

import dataclasses
import random
import re
import shutil

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tcpcheck.diagnostics import Span
from tcpcheck.layout import MODEL, SPEC, format_text, language_of
from tcpcheck.parse import parse_text
from tcpcheck.spec import parse_spec_text
from tcpcheck.verdicts import ExitStatus

from conftest import ROOT, run_tcpcheck
from test_parse_hypothesis import valid_models

SHIPPED = sorted((ROOT / "models").rglob("*.tcpm")) + sorted((ROOT / "specs").glob("*.spec"))


def _shape(x):
    """A syntax tree without its spans (and the file's own text), for comparing meaning."""
    if dataclasses.is_dataclass(x):
        return (type(x).__name__,) + tuple(
            _shape(getattr(x, f.name)) for f in dataclasses.fields(x)
            if f.name not in ("path", "text") and not isinstance(getattr(x, f.name), Span))
    if isinstance(x, (tuple, list)):
        return tuple(_shape(y) for y in x if not isinstance(y, Span))
    return x


def _tree(text: str, lang) -> tuple:
    return _shape(parse_text(text, "m.tcpm") if lang is MODEL else parse_spec_text(text, "s.spec"))


def _comments(text: str) -> list[str]:
    # the shipped files and the generated ones have no '#' inside a string
    return [line[line.index("#"):].rstrip() for line in text.splitlines() if "#" in line]


def _assert_canonical(text: str, lang) -> str:
    once = format_text(text, "x", lang)
    note(once)
    assert format_text(once, "x", lang) == once          # idempotent
    assert _tree(once, lang) == _tree(text, lang)         # the same model or spec
    assert _comments(once) == _comments(text)             # every comment, in order
    return once


def scrambled(text: str, seed: int) -> str:
    """The text with its layout disturbed: lines re-indented, broken at spaces between
    tokens, comments added at line ends (a seeded shuffle: a shipped file has hundreds of
    lines, too many for a draw each)."""
    rnd = random.Random(seed)
    out = []
    for i, line in enumerate(text.splitlines()):
        code, hash_, comment = line.partition("#")
        if '"' not in code and rnd.randrange(6) == 0:
            parts = code.split(" ")
            code = "".join(p + (" " if rnd.random() < 0.5 else "\n" + " " * rnd.randrange(10))
                           for p in parts[:-1]) + parts[-1]
        if rnd.randrange(4) == 0:
            code = " " * rnd.randrange(13) + code.lstrip()
        line = code + hash_ + comment
        if not hash_ and rnd.randrange(7) == 0:
            line += f"  # note {i}"
        out.append(line)
    return "\n".join(out) + "\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_models_in_any_layout(data):
    text, _, _ = data.draw(valid_models())
    _assert_canonical(scrambled(text, data.draw(st.integers(0, 2**32))), MODEL)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_shipped_files_in_any_layout(data):
    path = data.draw(st.sampled_from(SHIPPED))
    note(str(path))
    _assert_canonical(scrambled(path.read_text(), data.draw(st.integers(0, 2**32))),
                      language_of(path))


def test_shipped_models_and_specs_are_formatted():
    r = run_tcpcheck("fmt", "--check", "models", "specs", "docs/examples")
    assert r.returncode == ExitStatus.OK, r.stdout + r.stderr
    assert SHIPPED, "no shipped files found"


def test_layout_rules():
    text = ("model m\nendpoint e(){var n:0..2=0;timer t 0ms..1s\n"
            "on recv FIN|FIN+ACK when n==0 and(running(t)) {n:=n+1  # why\n"
            "send ACK(ack=n) ; if n==1 { arm t } else { cancel t }}}\n"
            "instance client=e()\ninstance server=e()\n"
            "channel client->server capacity 1\nchannel server->client capacity 1\n")
    assert format_text(text, "m.tcpm", MODEL) == (
        "model m\n"
        "endpoint e() {\n"
        "    var n: 0..2 = 0\n"
        "    timer t 0ms..1s\n"
        "    on recv FIN | FIN+ACK when n == 0 and (running(t)) {\n"
        "        n := n + 1  # why\n"
        "        send ACK(ack = n)\n"
        "        if n == 1 { arm t } else { cancel t }\n"
        "    }\n"
        "}\n"
        "instance client = e()\ninstance server = e()\n"
        "channel client -> server capacity 1\nchannel server -> client capacity 1\n")
    spec = ('model "m.tcpm"\nruns r "a run":\n  sends(client,FIN) before receives( server , FIN)\n'
            '      and count(loses(any,any))<=-1+2\n')
    assert format_text(spec, "s.spec", SPEC) == (
        'model "m.tcpm"\nruns r "a run":\n    sends(client, FIN) before receives(server, FIN)\n'
        '        and count(loses(any, any)) <= -1 + 2\n')


def test_fmt_rewrites_in_place_and_check_names_what_would_change(tmp_path):
    model = tmp_path / "m.tcpm"
    shutil.copy(ROOT / "tests" / "fixtures" / "models" / "overflow.tcpm", model)
    model.write_text(re.sub(r"\n    ", "\n  ", model.read_text()))
    r = run_tcpcheck("fmt", "--check", str(tmp_path))
    assert r.returncode == ExitStatus.VIOLATED and str(model) in r.stdout
    r = run_tcpcheck("fmt", str(model))
    assert r.returncode == ExitStatus.OK
    assert "\n    var n" in model.read_text()
    assert run_tcpcheck("fmt", "--check", str(model)).returncode == ExitStatus.OK


def test_a_file_that_does_not_parse_is_located_and_exits_2(tmp_path):
    bad = tmp_path / "bad.spec"
    bad.write_text('model "m.tcpm"\nruns r: sends(client,\n')
    before = bad.read_text()
    r = run_tcpcheck("fmt", str(bad))
    assert r.returncode == ExitStatus.BAD_INPUT
    assert re.search(r"bad\.spec:\d+:\d+: error\[TCP\d+\]", r.stderr)
    assert "Traceback" not in r.stderr and bad.read_text() == before
