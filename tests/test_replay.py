"""Replaying captures against the model: real ones from Linux must be runs of it, hand-made
impossible ones must be rejected at the right segment, bad files must be bad input (exit 2)."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import dpkt
import pytest
from conftest import DEFAULT_MODEL, ROOT, run_tcpcheck
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpcheck import load
from tcpcheck.capture import capture_kind, read_capture
from tcpcheck.conform import SCENARIOS, predicted_kinds
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.replay import calls_after_error, channel_depth, load_open, replay
from tcpcheck.tcp import Flags
from tcpcheck.trace import run_steps
from tcpcheck.verdicts import ExitStatus, Verdict

CAPTURES = ROOT / "tests" / "captures"
EXPECTED = tomllib.loads((CAPTURES / "expected.toml").read_text(encoding="utf-8"))
REAL = sorted(k for k, v in EXPECTED.items()
              if v["verdict"] == "accepted" and v.get("source") != "user")
USER = sorted(k for k, v in EXPECTED.items() if v.get("source") == "user")
INVALID = sorted(k for k, v in EXPECTED.items() if v["verdict"] == "rejected")
SCENARIO = {s.name: s for s in SCENARIOS}

_systems: dict = {}


def system_for(params: tuple[str, ...], cap=None):
    """The model with a scenario's parameters, its channels as deep as `cap` needs (as
    conform and replay make them: replay.channel_depth)."""
    depth = channel_depth([cap]) if cap is not None else 0
    if (params, depth) not in _systems:
        _systems[(params, depth)] = load(DEFAULT_MODEL, list(params), min_capacity=depth)
    return _systems[(params, depth)]


def test_every_capture_in_the_directory_has_an_expected_verdict():
    # links/ holds one of these captures under other link types: tests/test_capture_links.py
    # expects each to read exactly like its original
    on_disk = {str(p.relative_to(CAPTURES)) for p in CAPTURES.rglob("*.pcap")
               if p.parent.name != "links"}
    assert on_disk == set(EXPECTED)


def open_system():
    if "open" not in _systems:
        _systems["open"] = load_open(DEFAULT_MODEL, ["lossy_network=false"])
    return _systems["open"]


@pytest.mark.parametrize("name", REAL)
def test_real_capture_is_a_run_of_the_model(name):
    want = EXPECTED[name]
    sc = SCENARIO[want["scenario"]]
    cap = read_capture(CAPTURES / name)
    assert cap.compact == want["segments"]
    r = replay(system_for(sc.params, cap), cap)
    assert r.accepted and r.verdict is Verdict.ACCEPTED, name
    assert r.kind == want["kind"]
    # z3 found times for the run: the very times the segments were captured at
    assert r.timed_by_capture and r.timing is not None and r.timing.feasible
    sent_at = [t for step in run_steps(r.view, r.run, r.timing.times_ms)
               for t in [step.get("time_ms")] * len(step.get("sent") or [])]
    got = [round(t - sent_at[0], 3) for t in sent_at]
    assert got == pytest.approx([g.time_ms - cap.segments[0].time_ms for g in cap.segments],
                                abs=0.002)
    # the run the replay found sends exactly the captured segments, in order, side by side
    sent = [(step["endpoint"], seg["flags"], seg.get("ack"))
            for step in run_steps(r.view, r.run) for seg in step.get("sent") or []]
    assert [(side, flags) for side, flags, _ in sent] == [(s.side, str(s.flags))
                                                          for s in cap.segments]
    assert all(ack == s.ack for (_, _, ack), s in zip(sent, cap.segments) if s.ack is not None)
    assert capture_kind(cap) == want["kind"]               # read from the segments alone too


WITH_CALLS = sorted(n for n in REAL if "calls" in EXPECTED[n])


@pytest.mark.parametrize("name", WITH_CALLS)
def test_calls_after_an_rst_return_what_the_model_says(name):
    # the kernel's results (ECONNRESET first, then EOF and EPIPE) must be a run's observations
    want = EXPECTED[name]
    calls = {side: calls_after_error(rec) for side, rec in want["calls"].items()}
    assert all(calls.values())
    cap = read_capture(CAPTURES / name)
    ts = system_for(SCENARIO[want["scenario"]].params, cap)   # as conform sizes the channels
    assert replay(ts, cap, calls=calls, check_timing=False).accepted


OTHER_RESULT = {"write_fails_econnreset": "write_fails_epipe",
                "write_fails_epipe": "write_fails_econnreset",
                "read_fails_econnreset": "read_returns_eof",
                "read_returns_eof": "read_fails_econnreset"}


@pytest.mark.parametrize("name", WITH_CALLS)
def test_the_other_error_on_the_first_call_after_the_rst_is_rejected(name):
    # which error the first call sees depends on the state the RST arrived in: ECONNRESET in
    # ESTABLISHED (or with data unread), EPIPE / EOF at once in CLOSE_WAIT; swap it, no run fits
    want = EXPECTED[name]
    calls = {}
    for side, rec in want["calls"].items():
        obs = calls_after_error(rec)
        calls[side] = (OTHER_RESULT[obs[0]],) + obs[1:]
    cap = read_capture(CAPTURES / name)
    r = replay(system_for(SCENARIO[want["scenario"]].params, cap), cap, calls=calls,
               check_timing=False)
    assert not r.accepted and r.calls_checked


FROM_CLOSE = sorted(n for n in REAL if "from_close_kind" in EXPECTED[n])


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=False, reason=EXPECTED[n]["from_close_problem"]))
    if "from_close_problem" in EXPECTED[n] else n for n in FROM_CLOSE])
def test_a_long_data_phase_replays_from_its_close(name):
    # the scenario's parameters fixed, as conform --from-close replays it
    want = EXPECTED[name]
    cap = read_capture(CAPTURES / name, from_close=True)
    assert cap.compact == want["from_close_segments"]
    assert "before the close" in {i.what for i in cap.ignored}
    r = replay(system_for(SCENARIO[want["scenario"]].params), cap)
    assert r.accepted and r.kind == want["from_close_kind"]


def test_call_results_from_the_first_failure_on():
    assert calls_after_error(["read=0", "write=ok", "write=EPIPE", "read=0"]) == (
        "write_fails_epipe", "read_returns_eof")
    assert calls_after_error(["write=ECONNRESET", "read=0"]) == (
        "write_fails_econnreset", "read_returns_eof")
    assert calls_after_error(["read=0", "write=ok"]) is None        # nothing failed
    assert calls_after_error(["write=EPIPE", "(killed)"]) is None   # not in the model's words


@pytest.mark.parametrize("scenario", sorted({EXPECTED[n]["scenario"] for n in REAL}))
def test_kind_seen_on_linux_is_one_the_model_predicts(scenario):
    sc = SCENARIO[scenario]
    kinds, unsettled = predicted_kinds(system_for(sc.params), sc)
    assert not unsettled
    seen = {EXPECTED[n]["kind"] for n in REAL if EXPECTED[n]["scenario"] == scenario}
    if not sc.simultaneous:
        assert seen <= set(kinds), (seen, kinds)
    assert "incomplete" not in kinds


def test_the_scenarios_call_narrows_the_prediction():
    # the client close()s, the server writes after EOF: the data meets a closed socket (RST);
    # a client that had used shutdown(SHUT_WR) would have read it (four-way)
    sc = SCENARIO["write_after_rst"]
    assert predicted_kinds(system_for(sc.params), sc)[0] == ["rst"]
    sc = SCENARIO["passive_sends_data_then_closes"]
    assert predicted_kinds(system_for(sc.params), sc)[0] == ["four-way"]


def test_waiting_past_the_delayed_ack_rules_out_the_three_way_close():
    # the server closes 500 ms after EOF; the delayed-ACK timer runs out by 200 ms
    sc = SCENARIO["passive_waits_past_delack"]
    kinds, _ = predicted_kinds(system_for(sc.params), sc)
    assert kinds == ["four-way"]


def test_one_ack_for_a_burst_is_a_run_only_through_the_rule_that_holds_it_back(tmp_path):
    # bulk_then_close, 1 run in 5: four data segments and the DATA+FIN, then one ACK (#38).
    # Without the rule that lets a receiver hold back the ACK of more unread data
    # (__tcp_ack_snd_check, tcp_add_backlog), no run sends that ACK; with TCP_QUICKACK on the
    # reader (every segment acknowledged at once) the capture is no run either (rejected
    # earlier: its reader also held back ACKs in the middle of the transfer).
    name = "bulk_then_close-one_ack_for_the_burst.pcap"
    sc = SCENARIO[EXPECTED[name]["scenario"]]
    cap = read_capture(CAPTURES / name)
    depth = channel_depth([cap])
    rule = "and state == ESTABLISHED and running(delack) and unread {"
    text = DEFAULT_MODEL.read_text(encoding="utf-8")
    assert text.count(rule) == 1
    without = tmp_path / "without_the_rule.tcpm"
    without.write_text(text.replace(rule, "and state == ESTABLISHED and false {"))
    r = replay(load(without, list(sc.params), min_capacity=depth), cap, check_timing=False)
    assert r.verdict is Verdict.REJECTED
    assert r.failed_at is not None and r.failed_at.number == 38, r.matched
    assert str(r.failed_at.flags) == "ACK" and r.failed_at.ack == 3
    quickack = list(sc.params) + ["client_quickack=true"]
    r = replay(load(DEFAULT_MODEL, quickack, min_capacity=depth), cap, check_timing=False)
    assert r.verdict is Verdict.REJECTED and r.failed_at is not None
    assert r.failed_at.side == "server" and r.failed_at.number < 38


@pytest.mark.parametrize("name", INVALID)
def test_impossible_capture_is_rejected_at_the_right_segment(name):
    want = EXPECTED[name]
    cap = read_capture(CAPTURES / name)
    assert cap.compact == want["segments"]
    r = replay(open_system(), cap)       # every parameter combination but a lossy network
    assert r.verdict is Verdict.REJECTED
    if want.get("timing"):
        # the segments are a run, but not at the times they were captured at; z3 says why
        assert r.accepted and r.untimely and not r.timing_limit
        # (z3's core may name the FIN+ACK's timestamp or the last ACK's, 1 ms later)
        assert any(re.search(r"was captured at \+30[01] ms", c) for c in r.timing.conflict), \
            r.timing.conflict
        assert any("server.delack" in c for c in r.timing.conflict), r.timing.conflict
    elif "failed_at" in want:
        assert r.failed_at is not None and r.failed_at.number == want["failed_at"]
        assert r.matched == want["failed_at"] - 1
        assert r.could_be_in and r.instead    # where the model was, what it could send
    else:
        assert r.ended_early and r.failed_at is None and r.matched == len(cap.segments)


# the parameters a whole user capture cannot need (no shared socket, no loss, no calls after
# an RST, no close without a data phase): fixed, so that the test replays 64 combinations
USER_FIXED = ["lossy_network=false", "shared_socket=false", "more_calls=false",
              "passive_never_closes=false", "early_data=false"]


@pytest.mark.parametrize("name", USER)
def test_a_users_whole_connection_is_a_run_of_the_data_phase(name):
    want = EXPECTED[name]
    cap = read_capture(CAPTURES / name)
    assert cap.compact == want["segments"]
    assert [i.what for i in cap.ignored].count("handshake") == 3
    r = replay(load_open(DEFAULT_MODEL, USER_FIXED, [cap]), cap)
    assert r.verdict is Verdict.ACCEPTED and r.kind == want["kind"], name
    assert r.required["data_phase"] is True        # only a data phase of any length has it
    assert r.timed_by_capture and r.timing.feasible
    assert capture_kind(cap) == want["kind"]


def test_counts_saturate_as_the_model_counts_them():
    # 1 MiB in 20 segments: the acks count the data up to two segments, and the FIN on top
    cap = read_capture(CAPTURES / "user" / "bulk_1mb.pcap")
    assert {s.ack for s in cap.segments if s.side == "client"} == {1, 2, 3}
    fin_ack = cap.segments[-2]
    assert fin_ack.flags == Flags.FIN | Flags.ACK and fin_ack.ack == 3
    assert "ack 1048578" in fin_ack.tcp                    # the real number is kept
    assert cap.in_flight == 5                              # the backlog of the last burst


def test_a_users_http_exchange_is_replayed_from_its_close():
    want = EXPECTED["user/http_get.pcap"]
    cap = read_capture(CAPTURES / "user" / "http_get.pcap", from_close=True)
    assert cap.compact == want["from_close_segments"]
    assert [i.what for i in cap.ignored].count("before the close") == 6
    assert any("set aside (--from-close)" in n for n in cap.notes)
    r = replay(open_system(), cap)
    assert r.accepted and r.kind == want["from_close_kind"]


def test_data_before_the_close_gets_a_hint():
    # without the data phase the model writes one segment each way at most
    r = run_tcpcheck("replay", "--param", "lossy_network=false", "--param", "data_phase=false",
                     str(CAPTURES / "user" / "http_get.pcap"))
    assert r.returncode == 1
    failed_at = EXPECTED["user/http_get.pcap"]["without_data_phase_failed_at"]
    assert f"rejected at segment #{failed_at}" in r.stdout
    assert "with data_phase off" in r.stdout and "--from-close replays only the teardown" \
        in r.stdout
    assert "the handshake (3 segments) is set aside" in r.stdout


def test_open_parameters_are_inferred_from_a_three_way_capture():
    ts = open_system()
    r = replay(ts, read_capture(CAPTURES / "passive_closes_at_once.pcap"))
    assert r.accepted and r.kind == "three-way"
    # a three-way close needs delayed ACK and nothing left to send (DOMAIN.md)
    assert r.required["delayed_ack"] is True and r.required["passive_has_data"] is False
    assert 0 < len(r.combos) < len(ts.initial)


def test_same_capture_as_pcapng_reads_the_same(tmp_path):
    src = CAPTURES / "shutdown_wr_late_data.pcap"
    out = tmp_path / "x.pcapng"
    with src.open("rb") as f, out.open("wb") as g:
        w = dpkt.pcapng.Writer(g, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, buf in dpkt.pcap.Reader(f):
            w.writepkt(buf, ts=ts)
    a, b = read_capture(src), read_capture(out)
    assert b.format == "pcapng" and a.compact == b.compact
    assert [s.as_model() for s in a.segments] == [s.as_model() for s in b.segments]


def _merged(tmp_path, *names):
    """One pcap holding several captures' packets, one connection after the other."""
    out = tmp_path / "two.pcap"
    with out.open("wb") as g:
        w = dpkt.pcap.Writer(g, linktype=dpkt.pcap.DLT_EN10MB)
        for name in names:
            with (CAPTURES / name).open("rb") as f:
                for ts, buf in dpkt.pcap.Reader(f):
                    w.writepkt(buf, ts=ts)
    return out


def test_a_capture_of_several_connections_names_them_and_conn_chooses(tmp_path):
    path = _merged(tmp_path, "so_linger_zero.pcap", "passive_quickack.pcap")
    first = read_capture(path)
    assert first.compact == "C:RA" and len(first.connections) == 2
    assert any("2 TCP connections" in n and "--conn" in n for n in first.notes)
    second = read_capture(path, conn="2")
    assert second.compact == "C:FA S:A S:FA C:A"
    port = second.connection.rsplit(":", 1)[1]            # the server's port chooses it too
    assert read_capture(path, conn=port).compact == second.compact
    r = run_tcpcheck("replay", str(path), "--conn", "7")
    assert r.returncode == 2 and "--conn 7: no such connection" in r.stderr
    assert "1: client" in r.stderr and "2: client" in r.stderr      # the ones there are


def test_what_does_not_matter_to_teardown_is_set_aside_and_said():
    cap = read_capture(CAPTURES / "shutdown_wr_late_data.pcap")
    assert [i.what for i in cap.ignored] == ["handshake"] * 3
    assert "TCP options ignored: timestamps" in cap.notes


# ------------------------------------------------------------------ the command line


def test_replay_command_accepts_a_real_capture_as_json():
    r = run_tcpcheck("replay", "--param", "lossy_network=false", "--json",
                     str(CAPTURES / "passive_closes_at_once.pcap"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "accepted" and doc["kind"] == "three-way"
    assert doc["required_params"]["delayed_ack"] is True
    flags = [seg["flags"] for step in doc["run"] for seg in step.get("sent") or []]
    assert flags == ["FIN", "FIN+ACK", "ACK"]


def test_replay_command_names_the_first_bad_segment(tmp_path):
    out = tmp_path / "nearest.dot"
    r = run_tcpcheck("replay", "--param", "lossy_network=false", "-o", str(out),
                     str(CAPTURES / "invalid" / "data_after_fin.pcap"))
    assert r.returncode == 1, r.stderr
    assert "verdict: rejected at segment #3: no run of model teardown sends server DATA(ack=1)" \
        in r.stdout
    assert "the model could have been in:" in r.stdout and "could have sent instead:" in r.stdout
    dot = out.read_text(encoding="utf-8")
    # the two ladders side by side, the capture's third segment marked where they part
    assert "the capture" in dot and "the nearest run of the model" in dot
    assert 'a_p1_4 -> a_p0_5 [color="#d01c1c" id=a_seg2' in dot


def test_replay_of_a_directory_prints_a_row_per_capture_and_the_coverage(tmp_path):
    for name in ("passive_closes_at_once.pcap", "so_linger_zero.pcap"):
        (tmp_path / name).write_bytes((CAPTURES / name).read_bytes())
    r = run_tcpcheck("replay", "--param", "lossy_network=false", str(tmp_path))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["capture", "segments", "verdict", "kind"]
    assert lines[1].startswith("passive_closes_at_once.pcap") and "three-way" in lines[1]
    assert lines[2].startswith("so_linger_zero.pcap") and "rst" in lines[2]
    assert any(ln.startswith("transitions exercised by the accepted captures:") for ln in lines)
    assert "never exercised:" in r.stdout


def test_a_bad_capture_in_a_directory_gets_a_row_and_the_others_are_replayed(tmp_path):
    (tmp_path / "good.pcap").write_bytes((CAPTURES / "passive_closes_at_once.pcap").read_bytes())
    (tmp_path / "cut.pcap").write_bytes((CAPTURES / "passive_quickack.pcap").read_bytes()[:300])
    (tmp_path / "notes.json").write_text("hello", encoding="utf-8")
    r = run_tcpcheck("replay", "--param", "lossy_network=false", str(tmp_path))
    # unreadable, nothing rejected: bad input; the table is printed all the same
    assert r.returncode == 2, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines()[1:4]}
    assert set(rows) == {"good.pcap", "cut.pcap", "notes.json"}
    assert "accepted" in rows["good.pcap"] and "three-way" in rows["good.pcap"]
    assert "unreadable" in rows["cut.pcap"]
    assert "error[TCP601]: truncated pcap file: record 4 (byte 286) is cut off" in rows["cut.pcap"]
    assert "error[TCP601]: is not a pcap, pcapng or JSON trace" in rows["notes.json"]
    assert "Traceback" not in r.stderr
    # a rejected capture outweighs an unreadable one
    (tmp_path / "bad.pcap").write_bytes((CAPTURES / "invalid" / "data_after_fin.pcap").read_bytes())
    r = run_tcpcheck("replay", "--param", "lossy_network=false", "--json", str(tmp_path))
    assert r.returncode == 1, r.stderr
    rows = {Path(c["file"]).name: c for c in json.loads(r.stdout)["captures"]}
    assert [rows[n]["verdict"] for n in ("bad.pcap", "cut.pcap", "good.pcap", "notes.json")] \
        == ["rejected", "unreadable", "accepted", "unreadable"]
    assert rows["cut.pcap"]["errors"][0]["code"] == "TCP601"
    assert "errors" not in rows["good.pcap"]       # the rows of readable captures are as before


@pytest.mark.parametrize("content, words", [
    (b"", "is empty"),
    (b"GIF89a this is a picture", "is not a pcap, pcapng or JSON trace"),
    (None, "truncated"),                       # a real capture cut in the middle of a packet
    (b'{"segments": [{"side": "client", "flags": "FIN"', "not valid JSON"),
])
def test_bad_capture_files_are_bad_input(tmp_path, content, words):
    bad = tmp_path / "bad.pcap"
    if content is None:
        content = (CAPTURES / "passive_quickack.pcap").read_bytes()[:-20]
    bad.write_bytes(content)
    r = run_tcpcheck("replay", str(bad))
    assert r.returncode == 2
    assert words in r.stderr and str(bad) in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_capture_is_bad_input(tmp_path):
    r = run_tcpcheck("replay", str(tmp_path / "nope.pcap"))
    assert r.returncode == 2 and "nope.pcap" in r.stderr and "Traceback" not in r.stderr


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=2000), flip=st.integers(min_value=0, max_value=255))
def test_damaged_captures_read_or_fail_cleanly(tmp_path, cut, flip):
    data = bytearray((CAPTURES / "shutdown_wr_late_data.pcap").read_bytes())
    if data:
        data[cut % len(data)] ^= flip
    path = tmp_path / "damaged.pcap"
    path.write_bytes(bytes(data[: max(0, len(data) - cut // 3)]))
    try:
        cap = read_capture(path)
    except TcpcheckError as err:
        assert err.diagnostics and all(d.code.startswith("TCP6") for d in err.diagnostics)
    else:
        assert isinstance(cap.compact, str)


def test_json_trace_of_a_witness_replays(tmp_path):
    r = run_tcpcheck("trace", "-p", "three_way_close_is_possible", "--json")
    assert r.returncode == 0, r.stderr
    trace = tmp_path / "witness.json"
    trace.write_text(r.stdout, encoding="utf-8")
    r = run_tcpcheck("replay", "--param", "lossy_network=false", str(trace))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "accepted" in r.stdout and "three-way" in r.stdout


def _corrupted(name: str, frame_edits: dict) -> list[tuple[float, bytes]]:
    """A capture's frames with some of them spoiled: {index: edit(bytearray, tcp offset)}."""
    out = []
    with (CAPTURES / name).open("rb") as f:
        for i, (ts, buf) in enumerate(dpkt.pcap.Reader(f)):
            buf = bytearray(buf)
            if i in frame_edits:
                frame_edits[i](buf, 14 + (buf[14] & 15) * 4)   # Ethernet, then IPv4's header
            out.append((ts, bytes(buf)))
    return out


def _data_offset_3(buf: bytearray, tcp: int) -> None:
    buf[tcp + 12] = (3 << 4) | (buf[tcp + 12] & 15)   # a TCP header shorter than 20 bytes


def _option_too_long(buf: bytearray, tcp: int) -> None:
    buf[tcp + 20:tcp + 24] = b"\x01\x01\x08\x40"       # a timestamp option of 64 bytes


def test_a_capture_of_several_connections_with_a_malformed_one_goes_on(tmp_path):
    # connection 1 is a whole close with two spoiled frames (a TCP header of 12 bytes, an
    # option longer than the header), connections 2 and 3 are whole: without --conn the first
    # that closes is replayed, its bad frames named, and nothing aborts; --conn reaches the
    # others as before
    path = tmp_path / "three.pcap"
    frames = (_corrupted("passive_quickack.pcap", {3: _option_too_long, 5: _data_offset_3})
              + _corrupted("so_linger_zero.pcap", {})
              + _corrupted("passive_closes_at_once.pcap", {}))
    with path.open("wb") as g:
        w = dpkt.pcap.Writer(g, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, buf in frames:
            w.writepkt(buf, ts=ts)
    r = run_tcpcheck("replay", "--param", "lossy_network=false", "--json", str(path))
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    assert r.returncode == {"accepted": 0, "rejected": 1}[doc["verdict"]], r.stderr
    assert len(doc["capture"]["connections"]) == 3
    text = run_tcpcheck("replay", "--param", "lossy_network=false", str(path)).stdout
    assert "malformed TCP header" in text                      # the header of 12 bytes
    assert "malformed TCP options, read as a segment without them" in text
    for conn, compact in (("2", "C:RA"), ("3", "C:FA S:FA C:A")):
        r = run_tcpcheck("replay", "--param", "lossy_network=false", "--conn", conn, "--json",
                         str(path))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["verdict"] == "accepted"
        assert read_capture(path, conn=conn).compact == compact


def test_a_replay_past_its_search_bound_is_inconclusive_on_the_command_line(monkeypatch):
    from click.testing import CliRunner

    from tcpcheck.cli import main
    monkeypatch.setattr("tcpcheck.replay.MAX_NODES", 5)   # the search keeps more pairs than 5
    result = CliRunner().invoke(main, ["replay", str(CAPTURES / "passive_closes_at_once.pcap")])
    assert result.exit_code == ExitStatus.INCONCLUSIVE, result.output
    assert "verdict: inconclusive: the search stopped" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_wan_capture_is_judged_with_the_delay_of_its_own_path():
    # 90 ms round trip: the server's ACK of the request is captured 90 ms after it, which the
    # model's LAN channels (0..50 ms) cannot give; the handshake's round trip widens them
    from tcpcheck.replay import channel_delay_for

    cap = read_capture(CAPTURES / "wan_request_response_close.pcap")
    assert cap.round_trip_ms == pytest.approx(90.6, abs=1.0)
    ts = system_for(SCENARIO["request_response_close"].params)
    assert channel_delay_for(ts, cap) == (0.0, 136.0)
    r = replay(ts, cap)
    assert r.verdict is Verdict.ACCEPTED and r.channel_delay == (0.0, 136.0)
    # the same segments without a handshake to measure: judged on the LAN's delay, rejected
    cap.round_trip_ms = None
    lan = replay(ts, cap)
    assert lan.untimely and lan.verdict is Verdict.REJECTED and lan.channel_delay is None
    assert any("within 50 ms" in c for c in lan.timing.conflict)


def test_a_loopback_capture_keeps_the_models_delay():
    cap = read_capture(CAPTURES / "request_response_close.pcap")
    assert cap.round_trip_ms is not None and cap.round_trip_ms < 1
    assert replay(system_for(SCENARIO["request_response_close"].params), cap,
                  check_timing=False).channel_delay is None


def test_an_rst_the_wire_cannot_explain_is_reported_with_every_call_and_cause():
    # the server's RST after the client's request: a close() or an exit with the request
    # unread, or with SO_LINGER 0 after reading it; one run is drawn, every one is named
    from tcpcheck.replay_report import replay_json, replay_lines

    r = replay(open_system(), read_capture(CAPTURES / "close_with_unread_data.pcap"),
               check_timing=False)
    assert r.accepted
    rst = next(c for c in r.choices if c.number == 3)
    assert rst.side == "server" and {"close()", "exit()"} <= set(rst.calls)
    assert rst.causes == ("rst_for_linger_zero", "rst_for_unread_data")
    assert "linger_zero" not in r.required
    text = "\n".join(replay_lines(r))
    assert "#3 server RST: close() or exit(); observing rst_for_linger_zero or " \
           "rst_for_unread_data" in text
    assert "close() | exit()" in text and "rst_for_linger_zero | rst_for_unread_data" in text
    doc = replay_json(r)
    assert {"segment": 3, "side": "server", "calls": list(rst.calls),
            "causes": list(rst.causes)} in doc["choices"]


def test_a_segment_only_one_step_can_send_is_not_a_choice():
    r = replay(open_system(), read_capture(CAPTURES / "so_linger_zero.pcap"), check_timing=False)
    assert r.accepted and r.required.get("linger_zero") is True
    [rst] = r.choices
    assert rst.calls == ("close()",) and rst.causes == () and not rst.ambiguous


def test_a_fin_is_any_call_that_sends_one():
    r = replay(open_system(), read_capture(CAPTURES / "request_response_close.pcap"),
               check_timing=False)
    fin = next(c for c in r.choices if c.number == 5)
    assert {"close()", "shutdown(SHUT_WR)"} <= set(fin.calls)


def test_delay_option_sets_the_networks_delay():
    from tcpcheck.replay import parse_delay

    assert parse_delay("0ms..200ms") == (0.0, 200.0)
    assert parse_delay("0..0.5s") == (0.0, 500.0)
    assert parse_delay("10us..1") == (0.01, 1.0)
    for bad in ("200ms", "a..b", "5..1", "0..inf", "-1..2"):
        with pytest.raises(ValueError):
            parse_delay(bad)
    wan = CAPTURES / "wan_request_response_close.pcap"
    # (data_phase off: with it, a held-back ACK of the request could explain the 90 ms gap)
    lan = run_tcpcheck("replay", "--delay", "0ms..50ms", "--param", "early_data=true",
                       "--param", "delayed_ack=true", "--param", "data_phase=false", str(wan))
    assert lan.returncode == 1 and "channel delay set by --delay: 0..50 ms" in lan.stdout
    assert "within 50 ms" in lan.stdout
    bad = run_tcpcheck("replay", "--delay", "fast", str(wan))
    assert bad.returncode == 2 and "--delay" in bad.stderr and "Traceback" not in bad.stderr


def test_a_search_too_large_is_inconclusive_not_a_traceback(monkeypatch):
    # a long capture against every parameter combination can outgrow the search's bound:
    # no answer (exit 3) with how far it got, never a wrong verdict or a Python error
    import tcpcheck.replay as replay_module
    from tcpcheck.replay_report import replay_lines

    monkeypatch.setattr(replay_module, "MAX_NODES", 500)
    cap = read_capture(CAPTURES / "user" / "http_get.pcap")
    r = replay(open_system(), cap)
    assert r.search_limit and r.verdict is Verdict.INCONCLUSIVE and not r.accepted
    assert any(line.startswith("verdict: inconclusive: the search stopped") for line in replay_lines(r))


# Programs users run (issue 11, point 4), replayed as a user replays them: no parameter fixed,
# no --from-close. Every combination is searched at once (tcpcheck.combos), so these take a
# second each; the bulk transfers (15-25 s each) are in bench/replay_combos.py.
PLAIN = {"http_server_closes.pcap": ("three-way", 48),
         "http_client_closes.pcap": ("three-way", 48),
         "client_closes_while_server_sends.pcap": ("rst", 256),
         "read_after_rst_with_queued_data.pcap": ("rst", 96),
         "shutdown_wr_then_close.pcap": ("rst", 576),
         "server_corks_reply_and_closes.pcap": ("four-way", 192)}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_a_program_s_capture_replays_with_every_parameter_open(name):
    capture = read_capture(CAPTURES / name)
    ts = load_open(DEFAULT_MODEL, [], [capture])
    result = replay(ts, capture)
    kind, allowing = PLAIN[name]
    assert result.verdict == Verdict.ACCEPTED, name
    assert result.kind.value == kind
    assert len(result.combos) == allowing and len(ts.initial) == 2048
    # every combination said to allow it allows it alone, and one said not to does not
    def only(env: dict) -> list[str]:
        """--param arguments fixing every parameter as in `env` (the model's are all bool)."""
        return [f"{p}={str(ts.param_value(p, v)).lower()}" for p, v in env.items()]
    alone = load_open(DEFAULT_MODEL, only(result.combos[-1]), [capture])
    assert replay(alone, capture, check_timing=False).verdict == Verdict.ACCEPTED
    refused = next(env for env in ts.initial_params if env not in result.combos)
    other = load_open(DEFAULT_MODEL, only(refused), [capture])
    assert replay(other, capture, check_timing=False).verdict == Verdict.REJECTED


@pytest.mark.parametrize("name", ["server_closes_first.pcap", "write_after_rst.pcap",
                                  "invalid/data_after_fin.pcap"])
def test_every_combination_at_once_is_each_combination_alone(name):
    # the set search (tcpcheck.combos) against the search of one combination: the same
    # verdict for every combination of a sample spread over all 2,048
    capture = read_capture(CAPTURES / name)
    ts = load_open(DEFAULT_MODEL, [], [capture])
    allowing = replay(ts, capture, check_timing=False).combos
    for env in ts.initial_params[::197]:
        fixed = [f"{p}={str(ts.param_value(p, v)).lower()}" for p, v in env.items()]
        alone = replay(load_open(DEFAULT_MODEL, fixed, [capture]), capture, check_timing=False)
        assert (alone.verdict == Verdict.ACCEPTED) == (env in allowing), (name, fixed)


def test_a_late_fin_ack_is_rejected_with_every_parameter_open_too():
    """The lossy network open as well: many more runs send these segments, and the timed
    search walks them all (29,816 steps checked) before it can say that none fits the 300 ms
    the FIN+ACK took; its budget (replay.MAX_TIMING_CHECKS) lets it finish."""
    cap = read_capture(CAPTURES / "invalid" / "late_fin_ack.pcap")
    r = replay(load_open(DEFAULT_MODEL, [], [cap]), cap)
    assert r.verdict is Verdict.REJECTED
    assert r.accepted and r.untimely and not r.timing_limit
