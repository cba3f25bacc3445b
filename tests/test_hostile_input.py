"""Input built to break tcpcheck gets a located diagnostic (exit 2), never a traceback.

Each case is one class of the fuzzing findings of issue 12: huge numbers, deep nesting,
constants without a value, files that are not model files, thousands of errors at once.
The goldens in tests/golden/diagnostics and spec_diagnostics show the small cases as a user
sees them; these tests push the same paths to sizes that used to exhaust Python.
"""
from __future__ import annotations

import os

import pytest

from tcpcheck import load
from tcpcheck.capture import read_capture
from tcpcheck.diagnostics import MAX_SHOWN, Diagnostic, Span, TcpcheckError, render_all
from tcpcheck.parse import parse_text
from tcpcheck.spec import parse_spec_text

from conftest import FIXTURES, run_tcpcheck

PIPELINE = (FIXTURES / "models" / "pipeline.tcpm").read_text()


def _codes(err: pytest.ExceptionInfo) -> list[str]:
    return [d.code for d in err.value.diagnostics]


def _model(tmp_path, old: str, new: str):
    assert old in PIPELINE
    path = tmp_path / "m.tcpm"
    path.write_text(PIPELINE.replace(old, new, 1))
    return path


def test_a_number_of_5000_digits_is_too_large():
    with pytest.raises(TcpcheckError) as err:
        parse_text(PIPELINE.replace("capacity 2\n", "capacity " + "9" * 5000 + "\n", 1))
    assert _codes(err) == ["TCP107"]
    assert "(5000 digits)" in err.value.diagnostics[0].message
    with pytest.raises(TcpcheckError) as err:
        parse_spec_text('model "m.tcpm"\ninvariant i: ' + "7" * 5000 + " > 0\n")
    assert _codes(err) == ["TCP107"]


def test_the_largest_number_is_read():
    model = parse_text(PIPELINE.replace("0..2 = 0", "0..1000000000000000000 = 0", 1))
    assert "1000000000000000000" in model.text


@pytest.mark.parametrize("text", [
    "when " + "not " * 5000 + "sent < 2 {",
    "when sent < 2" + " and sent < 2" * 600 + " {",
    "when sent" + " + 0" * 600 + " < 2 {",
    "when " + "(" * 3000 + "sent < 2" + ")" * 3000 + " and " + "-" * 3000 + "sent < 2 {",
])
def test_deep_nesting_is_refused_before_anything_recurses(text):
    with pytest.raises(TcpcheckError) as err:
        parse_text(PIPELINE.replace("when sent < 2 {", text, 1), "m.tcpm")
    assert set(_codes(err)) == {"TCP108"}
    assert err.value.diagnostics[0].span.line == 24


def test_deep_nesting_in_a_spec_is_refused():
    for formula in ("not " * 5000 + "true", "1" + " + 1" * 600 + " > 0"):
        with pytest.raises(TcpcheckError) as err:
            parse_spec_text(f'model "m.tcpm"\ninvariant i: {formula}\n')
        assert _codes(err) == ["TCP108"]
    # parentheses nest nothing: the formula is `true`, read without recursion
    spec = parse_spec_text('model "m.tcpm"\ninvariant i: ' + "(" * 3000 + "true" + ")" * 3000)
    assert spec.properties[0].formula.op == "bool"


def test_nesting_just_under_the_limit_runs_through_every_stage(tmp_path):
    deep = "sent" + " - (0" * 140 + ")" * 140 + " + 1"
    path = _model(tmp_path, "when sent < 2 {", f"when {'not ' * 141}sent >= 2 {{")
    path.write_text(path.read_text().replace("sent := sent + 1", f"sent := {deep}"))
    ts = load(path)
    assert len(ts.successors(ts.initial[0])) == 1


@pytest.mark.parametrize("old, new, code", [
    ("capacity 2\n", "capacity 1 / 0\n", "TCP304"),
    ("var sent: 0..2 = 0", "var sent: 0..2 = 1 % 0", "TCP304"),
    ("var sent: 0..2 = 0", "var sent: 0..1000000000 * 1000000000 * 1000000000 = 0", "TCP305"),
    ("capacity 2\n", "capacity 3000\n", "TCP306"),
    ("capacity 2\n", "capacity 1000000000000000000\n", "TCP306"),
])
def test_constants_without_a_value_are_located(tmp_path, old, new, code):
    with pytest.raises(TcpcheckError) as err:
        load(_model(tmp_path, old, new))
    assert _codes(err) == [code]
    assert err.value.diagnostics[0].span is not None


def test_a_state_too_wide_to_pack_is_refused(tmp_path):
    wide = "".join(f"    var w{i}: 0..1000000000000000000 = 0\n" for i in range(150))
    with pytest.raises(TcpcheckError) as err:
        load(_model(tmp_path, "    var got: 0..2 = 0\n", "    var got: 0..2 = 0\n" + wide))
    assert _codes(err) == ["TCP306"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_not_read():
    result = run_tcpcheck("explore", "/dev/zero")
    assert result.returncode == 2
    assert "error[TCP401]: not a regular file" in result.stderr


def test_a_spec_naming_a_device_as_its_model(tmp_path):
    spec = tmp_path / "dev.spec"
    spec.write_text('model "/dev/zero"\ninvariant i: true\n')
    result = run_tcpcheck("check", str(spec), "--no-progress")
    assert result.returncode == 2
    assert "TCP401" in result.stderr and "Traceback" not in result.stderr


def test_a_file_too_large_is_not_read(tmp_path):
    big = tmp_path / "big.tcpm"
    big.write_text("# padding\n" * 500_000)
    result = run_tcpcheck("explore", str(big))
    assert result.returncode == 2
    assert "error[TCP401]: too large" in result.stderr


def test_thousands_of_diagnostics_are_capped():
    text = "x" * 5000 + "\n"
    diags = [Diagnostic("TCP201", f"unknown name 'n{i}'", Span("f", 1, 10 * i + 1, 1, 10 * i + 4))
             for i in range(2000)]
    out = render_all(diags, {"f": text})
    assert out.count("error[TCP201]") == MAX_SHOWN
    assert f"... and {2000 - MAX_SHOWN} more" in out
    assert out.endswith("2000 errors")
    # a long source line is shown as a window around the caret
    assert max(len(line) for line in out.splitlines()) < 200
    window, caret = out.splitlines()[-4:-2]
    assert caret.index("^") < len(window) and window[caret.index("^")] == "x"


@pytest.mark.parametrize("value", ["٣", "３", "3.0", "0x3", "9" * 5000])
def test_a_param_value_is_ascii_digits(value):
    result = run_tcpcheck("explore", "models/bench/teardown_n.tcpm", "--param", f"N={value}")
    assert result.returncode == 2
    assert "error[TCP400]: --param N:" in result.stderr and "is not an integer" in result.stderr


def test_trace_of_a_misspelt_property_suggests_the_name():
    result = run_tcpcheck("trace", "tests/fixtures/bad_specs/../../../specs/teardown.spec",
                          "-p", "three_way_close_is_posible")
    assert result.returncode == 2
    assert "did you mean 'three_way_close_is_possible'?" in result.stderr


@pytest.mark.parametrize("text, message", [
    ('{"trace": [{"step": 0}, {"step": 1, "endpoint": "client", "sent": 5}]}',
     'step 1: "sent" must be a list of segments, not a number'),
    ('[{"step": 0}, 7]', "step 1: every step must be an object, not a number"),
    ('{"segments": [{"side": "client", "flags": "FIN", "ack": ' + "9" * 5000 + "}]}",
     "a number in it is too large"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"segments": [{"side": "client", "flags": "FIN", "ack": 100000000000000000000}]}',
     "segment 1: ack must be a count"),
    ('{"segments": [{"side": ["client"], "flags": "FIN", "ack": 1}]}',
     'side must be "client" or "server", not a list'),
])
def test_a_bad_json_trace_is_a_located_error(tmp_path, text, message):
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(TcpcheckError) as err:
        read_capture(path)
    assert _codes(err) == ["TCP604"]
    assert str(path) in err.value.diagnostics[0].message
    assert message in err.value.diagnostics[0].message


@pytest.mark.parametrize("duration", ["9" * 4300 + "ms", "1" + "0" * 16 + "min", "1" + "0" * 19 + ".5ms"])
def test_a_duration_too_large_is_located(tmp_path, duration):
    """Found by python -m tcpcheck.fuzz: a duration of 4,300 digits was read as inf, which z3
    cannot take (a traceback from `simulate` and `check`'s timing)."""
    text = (FIXTURES.parent.parent / "models" / "teardown.tcpm").read_text()
    assert "timer delack 0ms..200ms" in text
    path = tmp_path / "m.tcpm"
    path.write_text(text.replace("timer delack 0ms..200ms", f"timer delack 0ms..{duration}", 1))
    with pytest.raises(TcpcheckError) as err:
        parse_text(path.read_text(), str(path))
    assert _codes(err) == ["TCP107"] and "durations go up to 10^18 ms" in \
        err.value.diagnostics[0].message
    result = run_tcpcheck("simulate", str(path), "--seed", "11")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}:" in result.stderr and "error[TCP107]" in result.stderr


def test_the_largest_duration_is_read(tmp_path):
    text = (FIXTURES.parent.parent / "models" / "teardown.tcpm").read_text()
    model = parse_text(text.replace("timer delack 0ms..200ms",
                                    "timer delack 0ms..1000000000000000000ms", 1))
    assert "1000000000000000000ms" in model.text
