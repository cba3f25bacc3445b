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


def test_a_body_of_too_many_paths_is_refused_where_it_is(tmp_path):
    # found by the fuzzer: fifty `if`s in a row are 2^50 variants, stated one by one (the
    # command hung at 18 GB); ten are 1,024, the limit, and explore as any model does
    def ifs(n: int) -> str:
        return "sent := sent + 1\n" + "        if sent == 1 { sent := 1 }\n" * n

    ten = load(_model(tmp_path, "sent := sent + 1\n", ifs(10)))
    assert len(ten.variants) >= 1024 and ten.successors(ten.initial[0])
    with pytest.raises(TcpcheckError) as err:
        load(_model(tmp_path, "sent := sent + 1\n", ifs(50)))
    assert _codes(err) == ["TCP306"]
    assert "1,125,899,906,842,624 paths" in err.value.diagnostics[0].message
    assert err.value.diagnostics[0].span.line == 24


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


# ---------------------------------------------------------------- issue 12's reproducers, end to end
# Every reproducer of issue 12 (its "19 distinct tracebacks" and "silent wrong answers"), run
# through the command as a user would: each ends with a located error (exit 2) or with the
# correct result, and never a traceback. The cases above push the same paths at the library
# level; this table is the issue's list, one row each.

LOCATED = r":\d+:\d+: error\[TCP\d{3}\]"   # file:line:col: error[TCPnnn]
W = "models/bench/teardown_n.tcpm"         # instances a and b: no client, no server


def _pipeline(old: str, new: str):
    def make(tmp_path):
        return str(_model(tmp_path, old, new))
    return make


def _spec_file(body: str, model: str = "models/teardown.tcpm", with_: str = ""):
    def make(tmp_path):
        path = tmp_path / "s.spec"
        path.write_text(f'model "{(FIXTURES.parent.parent / model).resolve()}"{with_}\n{body}\n')
        return str(path)
    return make


def _file(name: str, content: bytes):
    def make(tmp_path):
        path = tmp_path / name
        path.write_bytes(content)
        return str(path)
    return make


def _options_pcap() -> bytes:
    """98 bytes: one FIN+ACK whose TCP options are 01 01 01 08 (three NOPs, then a timestamp
    option cut off before its length byte)."""
    import struct
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 6 << 4, 0x11, 65535, 0, 0) + b"\x01\x01\x01\x08"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
                     b"\x7f\0\0\x01", b"\x7f\0\0\x01")
    frame = b"\0" * 12 + b"\x08\x00" + ip + tcp
    return (struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
            + struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)


_MANY_UNKNOWN = " ".join(f"invariant p{i}: n{i}" for i in range(10_000))

# (id, argv: strings and makers of files, exit status, a pattern the output must show)
REPRODUCERS = [
    ("simulate-help-example", ["simulate", W, "--param", "N=2", "--seed", "1"], 0, r"CLOSED"),
    ("trace-other-instances", ["trace", _spec_file(
        "reachable some_close: eventually a.state == CLOSED", W, " with N = 2"),
        "-p", "some_close"], 0, r"CLOSED"),
    ("check-out-other-instances", ["check", _spec_file(
        "reachable some_close: eventually a.state == CLOSED", W, " with N = 2"),
        "--no-progress", "--out", "{tmp}/out"], 0, r"drawn: .*some_close\.ladder\.svg"),
    ("replay-other-instances", ["replay", W, "--param", "N=2",
                                "tests/captures/server_closes_first.pcap"], 1, r"verdict: rejected"),
    ("guard-of-94-conjuncts", ["explore", _pipeline(
        "when sent < 2 {", "when sent < 2" + " and sent < 2" * 93 + " {")], 0, r"6 states"),
    ("capacity-202", ["explore", _pipeline("capacity 2\n", "capacity 202\n")], 0, r"6 states"),
    ("capacity-1/0", ["explore", _pipeline("capacity 2\n", "capacity 1 / 0\n")], 2,
     LOCATED.replace(r"\d{3}", "304")),
    ("init-1%0", ["explore", _pipeline("var sent: 0..2 = 0", "var sent: 0..2 = 1 % 0")], 2,
     LOCATED.replace(r"\d{3}", "304")),
    ("capacity-3000", ["explore", _pipeline("capacity 2\n", "capacity 3000\n")], 2,
     LOCATED.replace(r"\d{3}", "306")),
    ("capacity-10**20", ["explore", _pipeline("capacity 2\n", f"capacity {10**20}\n")], 2,
     LOCATED.replace(r"\d{3}", "107")),
    ("literal-of-5000-digits", ["explore", _pipeline("capacity 2\n", "capacity " + "9" * 5000 + "\n")],
     2, LOCATED.replace(r"\d{3}", "107")),
    ("not-x5000-in-a-model", ["explore", _pipeline("when sent < 2 {", "when " + "not " * 5000 + "sent < 2 {")],
     2, LOCATED.replace(r"\d{3}", "108")),
    ("600-plus-terms-in-a-model", ["explore", _pipeline("when sent < 2 {", "when sent" + " + 0" * 600 + " < 2 {")],
     2, LOCATED.replace(r"\d{3}", "108")),
    ("not-x1000-in-a-spec", ["check", _spec_file("invariant i: " + "not " * 1000 + "true"),
                             "--no-progress"], 2, LOCATED.replace(r"\d{3}", "108")),
    ("600-plus-terms-in-a-spec", ["check", _spec_file("invariant i: 1" + " + 1" * 600 + " > 0"),
                                  "--no-progress"], 2, LOCATED.replace(r"\d{3}", "108")),
    ("explore-dev-zero", ["explore", "/dev/zero"], 2, r"error\[TCP401\]: not a regular file"),
    ("spec-naming-dev-zero", ["check", _file("z.spec", b'model "/dev/zero"\ninvariant i: true\n'),
                              "--no-progress"], 2, LOCATED.replace(r"\d{3}", "401")),
    ("10000-unknown-names-on-one-line", ["check", _spec_file(_MANY_UNKNOWN), "--no-progress"], 2,
     r"(?s)error\[TCP201\]: unknown name 'n0'.*\.\.\. and 9950 more"),
    ("pcap-options-01-01-01-08", ["replay", _file("o.pcap", _options_pcap())], 1,
     r"(?s)malformed TCP options, read as a segment without them.*verdict: rejected"),
    ("json-trace-number-for-a-list", ["replay", _file("t.json", b'{"trace": [{"step": 0}, '
                                      b'{"step": 1, "endpoint": "client", "sent": 5}]}')], 2,
     r"error\[TCP604\]: .*t\.json: step 1: \"sent\" must be a list"),
    ("json-trace-5000-digit-ack", ["replay", _file("t.json", b'{"segments": [{"side": "client", '
                                   b'"flags": "FIN", "ack": ' + b"9" * 5000 + b"}]}")], 2,
     r"error\[TCP604\]: .*a number in it is too large"),
    ("json-trace-100000-brackets", ["replay", _file("t.json", b"[" * 100_000 + b"]" * 100_000)], 2,
     r"error\[TCP604\]: .*nested too deeply"),
    ("explore-json-to-dev-full", ["explore", "--json", ">/dev/full"], 2,
     r"tcpcheck: cannot write the output: No space left on device"),
    # the silent wrong answers
    ("misspelt-observation-in-runs", ["check", _spec_file("runs never_rst: never observed rst_send"),
                                      "--no-progress"], 2,
     LOCATED.replace(r"\d{3}", "201") + r": unknown observation 'rst_send'; did you mean 'rst_sent'\?"),
    ("misspelt-observation-in-reachable", ["check", _spec_file("reachable three: observed three_way"),
                                           "--no-progress"], 2,
     LOCATED.replace(r"\d{3}", "201")
     + r": unknown observation 'three_way'; did you mean 'three_way_close'\?"),
    ("spec-1/0-is-not-0", ["check", _spec_file("invariant i: 1/0 == 0"), "--no-progress"], 2,
     LOCATED.replace(r"\d{3}", "304")),
    ("arabic-indic-digit", ["explore", W, "--param", "N=٣"], 2,
     r"error\[TCP400\]: --param N: '٣' is not an integer"),
    ("a-limit-never-makes-a-violation", ["check", "specs/unread_data.spec", "--max-states", "1000",
                                         "--no-progress"], 3,
     r"every_byte_before_fin_is_delivered\s+runs\s+inconclusive"),
    ("time-limit-nan", ["explore", "--time-limit", "nan"], 2, r"'nan' is not a time limit"),
]


@pytest.mark.parametrize("argv, status, pattern", [r[1:] for r in REPRODUCERS],
                         ids=[r[0] for r in REPRODUCERS])
def test_every_reproducer_of_issue_12_ends_cleanly(tmp_path, argv, status, pattern):
    import re
    import subprocess
    import sys

    from conftest import ROOT
    args = [a(tmp_path) if callable(a) else a.replace("{tmp}", str(tmp_path)) for a in argv]
    if args[-1] == ">/dev/full":
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full here")
        with open("/dev/full", "w") as full:
            result = subprocess.run([sys.executable, "-m", "tcpcheck", *args[:-1]], cwd=ROOT,
                                    stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
        out = result.stderr
    else:
        result = run_tcpcheck(*args)
        out = result.stdout + result.stderr
    assert "Traceback" not in out, out[-2000:]
    assert result.returncode == status, out[-2000:]
    assert re.search(pattern, out), out[-2000:]


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
