"""One-sided replay (`replay --side`) and packetdrill scripts (`.pkt`), end to end as a user runs
them: the project's own scripts for DOMAIN.md's cases replay with their expected verdicts, a
capture whose peer is not Linux is accepted for the Linux side and rejected two-sided, and bad
scripts are located errors (exit 2), never tracebacks."""
from __future__ import annotations

import json
import tomllib

import pytest
from conftest import DEFAULT_MODEL, ROOT, run_tcpcheck

from tcpcheck.capture import read_capture
from tcpcheck.cli_conform import ReplayLimits, replay_one
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.oneside import replay_side
from tcpcheck.packetdrill import parse_script, read_script
from tcpcheck.replay import load_open, replay
from tcpcheck.replay_report import replay_json
from tcpcheck.verdicts import ExitStatus, Verdict, exit_status

PKT = ROOT / "tests" / "pkt"
SCRIPTS = tomllib.loads((PKT / "expected.toml").read_text(encoding="utf-8"))
CAPTURES = ROOT / "tests" / "captures"
CAPTURE_EXPECTED = tomllib.loads((CAPTURES / "expected.toml").read_text(encoding="utf-8"))
ONE_SIDED = sorted(k for k, v in CAPTURE_EXPECTED.items() if "side" in v)

_open: dict = {}


def open_system():
    if "ts" not in _open:
        _open["ts"] = load_open(DEFAULT_MODEL, ["lossy_network=false"])
    return _open["ts"]


def test_every_script_has_an_expected_verdict():
    assert {p.name for p in PKT.glob("*.pkt")} == set(SCRIPTS)
    # DOMAIN.md's cases, each with a script that Linux passes
    accepted = {v["kind"] for v in SCRIPTS.values() if v["verdict"] == "accepted"}
    assert {"four-way", "three-way", "simultaneous", "rst"} <= accepted
    assert any(v["verdict"] == "rejected" for v in SCRIPTS.values())


def every_parameter_open():
    """The model as `tcpcheck replay SCRIPT.pkt` loads it: every parameter open."""
    if "all" not in _open:
        _open["all"] = load_open(DEFAULT_MODEL)
    return _open["all"]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_replays_one_sided_as_expected(name):
    # the command's own replay of a script and its JSON, in this process: one model for all
    # the scripts instead of a process each (the command itself, on the directory of
    # scripts, is test_a_directory_of_scripts_has_a_row_each_with_its_side)
    want = SCRIPTS[name]
    r = replay_one(every_parameter_open(), read_script(PKT / name), None, False, ReplayLimits())
    assert exit_status([r.verdict]) == (ExitStatus.OK if want["verdict"] == "accepted"
                                        else ExitStatus.VIOLATED)
    doc = json.loads(json.dumps(replay_json(r)))
    assert doc["side"] == want["side"] and doc["peer"] == "taken as given"
    assert doc["verdict"] == want["verdict"]
    if want["verdict"] == "accepted":
        assert doc["kind"] == want["kind"]
        assert doc["timing"]["feasible"]
        # the run's steps by the tested endpoint send exactly the script's outbound segments
        sent = [seg["flags"] for step in doc["run"] if step.get("endpoint") == want["side"]
                and step.get("kind") != "given" for seg in step.get("sent") or []]
        assert sent == [s["flags"] for s in doc["capture"]["segments"]
                        if s["side"] == want["side"]]
    else:
        assert doc["failed_at"]["number"] == want["failed_at"]
        assert any(want["instead"] in _texts(alt) for alt in doc["instead"])


def _texts(alt: dict) -> list[str]:
    from tcpcheck.segment import segment_text
    return [segment_text(s) for s in alt["segments"]]


def test_script_call_results_are_checked():
    # read_after_rst.pkt: data, then ECONNRESET, then EOF. A script that expects EPIPE from
    # read() instead gives no run: the model's read after an RST never fails with EPIPE
    script = read_script(PKT / "read_after_rst.pkt")
    assert script.calls == ("read_fails_econnreset", "read_returns_eof")
    ts = open_system()
    good = replay_side(ts, script.capture, script.side, calls=script.calls,
                       app_calls=script.app_calls, check_timing=False)
    assert good.accepted
    bad = replay_side(ts, script.capture, script.side, calls=("read_returns_eof",),
                      app_calls=script.app_calls, check_timing=False)
    assert not bad.accepted


def test_script_application_calls_are_pinned():
    # three_way_close.pkt's close() after the FIN arrived; the same segments with close() before
    # the FIN (a different application) are no longer the model's run for this script
    text = (PKT / "three_way_close.pkt").read_text(encoding="utf-8")
    moved = text.replace("+.1   < F. 1:1(0) ack 1 win 512\n+0    read(4, ..., 100) = 0\n"
                         "+.001 close(4) = 0\n",
                         "+.1   close(4) = 0\n+0    < F. 1:1(0) ack 1 win 512\n")
    assert moved != text
    script = parse_script(moved, "moved.pkt")
    assert [(c.label, c.after) for c in script.app_calls] == [("close()", 0)]
    r = replay_side(open_system(), script.capture, script.side, app_calls=script.app_calls,
                    check_timing=False)
    assert not r.accepted


@pytest.mark.parametrize("name", ONE_SIDED)
def test_capture_with_one_linux_endpoint(name):
    want = CAPTURE_EXPECTED[name]
    path = CAPTURES / name
    two = run_tcpcheck("replay", str(path))
    assert two.returncode == ExitStatus.VIOLATED, two.stdout
    assert f"rejected at segment #{want['failed_at']}" in two.stdout
    one = run_tcpcheck("replay", "--side", want["side"], str(path), "--json")
    assert one.returncode == ExitStatus.OK, one.stdout
    doc = json.loads(one.stdout)
    assert doc["verdict"] == want["side_verdict"] and doc["kind"] == want["side_kind"]
    assert doc["side"] == want["side"]
    # the other side is not Linux: judged on its own, it is rejected
    other = "client" if want["side"] == "server" else "server"
    r = replay_side(open_system(), read_capture(path), other, check_timing=False)
    assert r.verdict is Verdict.REJECTED


@pytest.mark.parametrize("name", ["passive_closes_at_once.pcap", "simultaneous_close.pcap",
                                  "server_closes_first-delack_race.pcap",
                                  "shutdown_wr_then_close.pcap"])
@pytest.mark.parametrize("side", ["client", "server"])
def test_a_run_of_both_sides_is_a_run_of_each(name, side):
    # a capture two-sided replay accepts shows each side doing what the model does, whatever
    # the other did: one-sided replay of either side accepts it too
    ts = open_system()
    cap = read_capture(CAPTURES / name)
    assert replay(ts, cap, check_timing=False).accepted
    assert replay_side(ts, cap, side, check_timing=False).accepted


def test_report_says_which_side_was_judged(golden):
    done = run_tcpcheck("replay", "tests/pkt/three_way_close.pkt")
    assert done.returncode == ExitStatus.OK
    golden("oneside/three_way_close.txt", done.stdout)
    done = run_tcpcheck("replay", "tests/pkt/rejected_rst_instead_of_fin.pkt")
    assert done.returncode == ExitStatus.VIOLATED
    golden("oneside/rejected_rst_instead_of_fin.txt", done.stdout)
    done = run_tcpcheck("replay", "--side", "server",
                        "tests/captures/oneside/linux_server_peer_resets.pcap")
    assert done.returncode == ExitStatus.OK
    golden("oneside/linux_server_peer_resets.txt", done.stdout)


BAD_SCRIPTS = [
    ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 sendfile(3, 4, 0, 10) = 10\n",
     "TCP621", "2:4", "sendfile"),
    ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 > Q 0:0(0)\n", "TCP620", "2:6", "Q"),
    ("0 connect(3, ..., ...) = 0\n+0 `tc qdisc add dev lo root netem delay 10ms`\n",
     "TCP620", "2:4", "`"),
    (("0 connect(3, ..., ...) = 0\n+0 > S 0:0(0)\n0.5 < S. 0:0(0) ack 1 win 10\n"
      "0.1 > . 1:1(0) ack 1\n"), "TCP621", "4:1", "before the previous line"),
    ("0 connect(3, ..., ...) = 0\n+0 > S 0:0(0)\n+0 < S. 0:0(0) ack 1\n+0 > . 1:1(0)\n",
     "TCP621", "4:6", "needs its `ack N`"),
    ("0 connect(3, ..., ...) = 0\n+0 read(3, ..., 10) = -1\n", "TCP621", "2:23", "errno"),
    ("0 > F. 1:1(0) ack 1\n", "TCP621", "1:1", "cannot tell which endpoint"),
    (("0 connect(3, ..., ...) = 0\n+0 > S 0:0(0)\n+0 < S. 0:0(0) ack 1 win 10\n"
      "+0 > . 1:1(0) ack 1\n+0 < R. 1:1(0) ack 1 win 0\n"
      "+0 read(3, ..., 10) = -1 ECONNRESET\n+0 read(3, ..., 10) = -1 EAGAIN\n"),
     "TCP621", "7:1", "no call result read = EAGAIN"),
]


@pytest.mark.parametrize("text,code,where,words", BAD_SCRIPTS)
def test_bad_script_is_a_located_error(tmp_path, text, code, where, words):
    path = tmp_path / "bad.pkt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TcpcheckError) as err:
        read_script(path)
    diag = err.value.diagnostics[0]
    assert diag.code == code and words in diag.message + " ".join(diag.notes)
    assert f"{diag.span.line}:{diag.span.column}" == where
    done = run_tcpcheck("replay", str(path))
    assert done.returncode == ExitStatus.BAD_INPUT
    assert f"bad.pkt:{where}: error[{code}]" in done.stderr
    assert "Traceback" not in done.stderr


def test_side_must_match_the_script(tmp_path):
    done = run_tcpcheck("replay", "--side", "client", str(PKT / "four_way_close.pkt"))
    assert done.returncode == ExitStatus.BAD_INPUT
    assert "error[TCP622]" in done.stderr and "describes the server" in done.stderr


def test_a_script_and_a_capture_of_the_same_exchange_read_alike():
    # the script's packets go through the capture reader's one translation
    script = read_script(PKT / "three_way_close.pkt")
    cap = read_capture(CAPTURES / "passive_closes_at_once.pcap")
    assert script.capture.compact == cap.compact == "C:FA S:FA C:A"
    assert [s.segment for s in script.capture.segments] == [s.segment for s in cap.segments]


def test_the_tested_side_is_held_to_the_capture_times():
    # invalid/late_fin_ack.pcap: the server's FIN+ACK 300 ms after the client's FIN, later than
    # any delayed-ACK timeout. The peer's FIN reaches the server within the model's channel
    # delay after it was captured, so one-sided replay of the server rejects it on timing too
    r = replay_side(open_system(), read_capture(CAPTURES / "invalid" / "late_fin_ack.pcap"),
                    "server")
    assert r.verdict is Verdict.REJECTED and r.untimely
    assert any("server.delack" in c for c in r.timing.conflict), r.timing.conflict


def test_a_script_call_has_its_line_time_on_the_capture_clock():
    # three_way_close.pkt: the client's FIN (the first kept segment, the clock's 0) at 0.11 s,
    # close() 1 ms later; a call at `*` has no time
    script = read_script(PKT / "three_way_close.pkt")
    assert [(c.label, c.time_ms) for c in script.app_calls] == [("close()", 1.0)]
    star = parse_script((PKT / "three_way_close.pkt").read_text(encoding="utf-8")
                        .replace("+.001 close(4) = 0", "*     close(4) = 0"), "star.pkt")
    assert [(c.label, c.time_ms) for c in star.app_calls] == [("close()", None)]


def _three_way_close_with_fin_after(seconds: str):
    text = (PKT / "three_way_close.pkt").read_text(encoding="utf-8")
    moved = text.replace("+.001 close(4) = 0\n+0    > F. 1:1(0) ack 2\n",
                         f"+.001 close(4) = 0\n+{seconds} > F. 1:1(0) ack 2\n")
    assert moved != text
    script = parse_script(moved, "moved.pkt")
    return replay_side(open_system(), script.capture, script.side, calls=script.calls,
                       app_calls=script.app_calls)


def test_a_script_call_and_the_segment_it_sends_agree_within_packetdrills_tolerance():
    # close() sends the FIN+ACK in the same step: the script may put the packet up to 4 ms
    # (packetdrill's --tolerance_usecs) after the call, not more
    assert _three_way_close_with_fin_after(".003").verdict is Verdict.ACCEPTED
    late = _three_way_close_with_fin_after(".006")
    assert late.verdict is Verdict.REJECTED and late.untimely
    assert sorted(late.timing.conflict) == [
        "close() on line 14 (step 3) is made at +1 ms, within packetdrill's tolerance of 4 ms",
        "segment #2 (step 3) was captured at +7 ms"]


# shutdown(SHUT_WR), then close() in FIN_WAIT_2: the orphan gives up after tcp_fin_timeout (60 s),
# so the peer's FIN at 61.2 s meets an RST, if close() came early enough
_ORPHAN_TIMES_OUT = """0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    connect(3, ..., ...) = 0
+0    > S 0:0(0) <mss 65495>
+.01  < S. 0:0(0) ack 1 win 65535 <mss 1460>
+0    > . 1:1(0) ack 1
+.1   shutdown(3, SHUT_WR) = 0
+0    > F. 1:1(0) ack 1
+.01  < . 1:1(0) ack 2 win 512
+0    close(3) = 0
61.2  < F. 1:1(0) ack 2 win 512
+0    > R 2:2(0)
"""


def test_a_script_call_time_that_makes_an_outbound_packet_impossible_is_rejected(tmp_path):
    # the same lines with close() 30 s later: its FIN_WAIT_2 timer cannot have run out by
    # 61.2 s, so the RST cannot be sent then; the reason names the call and its time
    path = tmp_path / "early.pkt"
    path.write_text(_ORPHAN_TIMES_OUT, encoding="utf-8")
    assert run_tcpcheck("replay", str(path)).returncode == ExitStatus.OK
    late = tmp_path / "late.pkt"
    late.write_text(_ORPHAN_TIMES_OUT.replace("+0    close(3) = 0", "+30   close(3) = 0"),
                    encoding="utf-8")
    done = run_tcpcheck("replay", str(late))
    assert done.returncode == ExitStatus.VIOLATED, done.stdout
    assert "not at the times they were captured at" in done.stdout
    assert "close() on line 9 (step 4) is made at +30010 ms" in done.stdout
    assert "client.fin_wait_2 lasts at least 60000 ms" in done.stdout


def test_a_packet_at_any_time_is_not_pinned():
    # `*`: the peer's ACK may come at any time; the report stays valid JSON (no NaN)

    text = ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = 0\n"
            "+0 > S 0:0(0) <mss 65495>\n+.01 < S. 0:0(0) ack 1 win 65535\n+0 > . 1:1(0) ack 1\n"
            "+.1 close(3) = 0\n+0 > F. 1:1(0) ack 1\n* < . 1:1(0) ack 2 win 512\n"
            "+.1 < F. 1:1(0) ack 2 win 512\n+0 > . 2:2(0) ack 2\n")
    script = parse_script(text, "star.pkt")
    assert [g.time_ms for g in script.capture.segments] == [0.0, None, 100.0, 100.0]
    r = replay_side(open_system(), script.capture, script.side, calls=script.calls,
                    app_calls=script.app_calls)
    assert r.verdict is Verdict.ACCEPTED and r.kind == "four-way"
    json.dumps(replay_json(r), allow_nan=False)


def test_a_script_that_makes_no_call_lets_the_application_make_none():
    # no close() in the script: the tested client may not close on its own, it stays
    # ESTABLISHED and sends nothing, which the model allows
    script = parse_script("0 connect(3, ..., ...) = 0\n", "idle.pkt")
    assert script.app_calls == () and script.side == "client"
    r = replay_side(open_system(), script.capture, script.side, app_calls=script.app_calls,
                    check_timing=False)
    assert r.accepted


def test_a_directory_of_scripts_has_a_row_each_with_its_side():
    done = run_tcpcheck("replay", "tests/pkt", "--json")
    assert done.returncode == ExitStatus.VIOLATED      # one script is rejected on purpose
    rows = {r["file"].rsplit("/", 1)[-1]: r for r in json.loads(done.stdout)["captures"]}
    assert set(rows) == set(SCRIPTS)
    for name, want in SCRIPTS.items():
        assert rows[name]["verdict"] == want["verdict"] and rows[name]["side"] == want["side"]


def test_a_script_whose_call_results_differ_says_so(tmp_path):
    # after an RST in ESTABLISHED the first write() fails with ECONNRESET, not EPIPE
    path = tmp_path / "epipe_first.pkt"
    path.write_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = 0\n"
                    "+0 > S 0:0(0) <mss 65495>\n+.01 < S. 0:0(0) ack 1 win 65535\n"
                    "+0 > . 1:1(0) ack 1\n+.1 < R. 1:1(0) ack 1 win 0\n"
                    "+.1 write(3, ..., 5) = -1 EPIPE\n+0 write(3, ..., 5) = -1 EPIPE\n"
                    "+0 close(3) = 0\n", encoding="utf-8")
    done = run_tcpcheck("replay", str(path))
    assert done.returncode == ExitStatus.VIOLATED
    assert "none makes the application's calls in their places with their results" in done.stdout
    assert "write_fails_epipe, write_fails_epipe" in done.stdout
    fixed = path.read_text(encoding="utf-8").replace("= -1 EPIPE", "= -1 ECONNRESET", 1)
    path.write_text(fixed, encoding="utf-8")
    assert run_tcpcheck("replay", str(path)).returncode == ExitStatus.OK
