"""Replay's limits (issue 12): --max-states, --time-limit, --max-memory and signals bound every
replay path (two-sided, one-sided, packetdrill scripts), and --delay reaches every one.

A limit never turns a verdict into its opposite: a replay it stops is inconclusive, with the
reason (max-states, time-limit, max-memory, interrupted), exit 3; a directory goes on past a
capture that met its own bound, and stops at the command's deadline with the rows done.
"""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import DEFAULT_MODEL, ROOT

from tcpcheck import load
from tcpcheck.capture import read_capture
from tcpcheck.cli import main
from tcpcheck.conform import SCENARIOS
from tcpcheck.explore import Deadline, StopReason
from tcpcheck.oneside import replay_side, script_params
from tcpcheck.packetdrill import read_script
from tcpcheck.replay import load_open, replay
from tcpcheck.replay_report import directory_lines, replay_lines
from tcpcheck.verdicts import ExitStatus, Verdict

CAPTURES = ROOT / "tests" / "captures"
PKT = ROOT / "tests" / "pkt"
SCENARIO = {s.name: s for s in SCENARIOS}
_systems: dict = {}


def open_system():
    if "open" not in _systems:
        _systems["open"] = load_open(DEFAULT_MODEL, ["lossy_network=false"])
    return _systems["open"]


def interrupted() -> Deadline:
    deadline = Deadline()
    deadline.interrupt("SIGINT")
    return deadline


def invoke(*args: str):
    result = CliRunner().invoke(main, ["replay", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


# ------------------------------------------------------------------ the search's own bound

INPUTS = [("two-sided", CAPTURES / "passive_closes_at_once.pcap", None),
          ("two-sided", CAPTURES / "invalid" / "data_after_fin.pcap", None),
          ("one-sided", CAPTURES / "oneside" / "linux_server_peer_resets.pcap", "server"),
          ("script", PKT / "four_way_close.pkt", None),
          ("script", PKT / "rejected_rst_instead_of_fin.pkt", None)]


def _replay(path, side, **bounds):
    ts = open_system()
    if path.suffix == ".pkt":
        s = read_script(path)
        return replay_side(ts, s.capture, s.side, calls=s.calls, app_calls=s.app_calls,
                           fixed=script_params(ts, s.settings, s.side), check_timing=False,
                           **bounds)
    cap = read_capture(path)
    if side is not None:
        return replay_side(ts, cap, side, check_timing=False, **bounds)
    return replay(ts, cap, check_timing=False, **bounds)


@pytest.mark.parametrize("how, path, side", INPUTS, ids=[p.name for _h, p, _s in INPUTS])
def test_a_bound_on_the_search_gives_the_true_verdict_or_inconclusive(how, path, side):
    # a ladder of bounds on every kind of replay: each verdict is the unbounded one, or
    # inconclusive with the reason, never its opposite
    truth = _replay(path, side)
    assert truth.verdict in (Verdict.ACCEPTED, Verdict.REJECTED) and truth.stop_reason is None
    seen = set()
    for bound in (1, 100, 1_000, 10_000):
        r = _replay(path, side, max_nodes=bound)
        seen.add(r.verdict)
        if r.verdict is Verdict.INCONCLUSIVE:
            assert r.search_limit and r.stop_reason is StopReason.MAX_STATES
            assert r.searched > bound and r.run is not None   # how far it got, and where
        else:
            assert r.verdict is truth.verdict and r.searched <= bound + 8
    assert Verdict.INCONCLUSIVE in seen     # the smallest bound always stops the search


def test_one_sided_replay_past_its_bound_is_inconclusive_on_the_command_line():
    # it raised a RuntimeError (a traceback) at 2,000,000 pairs before
    for args in (["--side", "server", str(CAPTURES / "oneside" / "linux_server_peer_resets.pcap")],
                 [str(PKT / "four_way_close.pkt")]):
        result = invoke("--max-states", "3", *args)
        assert result.exit_code == ExitStatus.INCONCLUSIVE, result.output
        assert "verdict: inconclusive: the search stopped (max-states) after" in result.output
        assert "raise --max-states" in result.output
        doc = json.loads(invoke("--max-states", "3", "--json", *args).stdout)
        assert doc["verdict"] == "inconclusive" and doc["stop_reason"] == "max-states"


def test_a_directory_goes_on_past_a_capture_at_its_bound(tmp_path):
    for name in ("passive_closes_at_once.pcap", "so_linger_zero.pcap"):
        shutil.copy(CAPTURES / name, tmp_path)
    shutil.copy(PKT / "three_way_close.pkt", tmp_path)
    result = invoke("--max-states", "5", "--json", str(tmp_path))
    assert result.exit_code == ExitStatus.INCONCLUSIVE, result.output
    rows = json.loads(result.stdout)["captures"]
    assert [r["file"].rsplit("/", 1)[1] for r in rows] == sorted(p.name for p in tmp_path.iterdir())
    assert all(r["verdict"] == "inconclusive" and r["stop_reason"] == "max-states" for r in rows)
    text = invoke("--max-states", "5", str(tmp_path)).output
    assert text.count("inconclusive (max-states)") == 3 and "replay stopped" not in text


# ------------------------------------------------------------------ the command's deadline

def test_a_signal_stops_every_kind_of_replay_with_its_reason():
    for _how, path, side in INPUTS:
        r = _replay(path, side, deadline=interrupted())
        assert r.verdict is Verdict.INCONCLUSIVE, path
        assert r.stop_reason is StopReason.INTERRUPTED and r.run is not None
        assert "the search stopped (interrupted)" in "\n".join(replay_lines(r))


class _AfterFirstLook(Deadline):
    """A deadline that passes between the first look at it and the second."""

    def __init__(self):
        super().__init__()
        self.looks = 0

    def reason_after(self, growth: int) -> StopReason | None:
        self.looks += 1
        return None if self.looks == 1 else StopReason.INTERRUPTED


def test_the_deadline_stops_the_timed_search_too():
    # the wan capture judged on a LAN's delay: its segments are a run, its times none; the
    # search of the segments is small (it looks at the deadline once, on its first pair), the
    # timed search after it looks at every step
    ts = load(DEFAULT_MODEL, list(SCENARIO["request_response_close"].params))
    cap = read_capture(CAPTURES / "wan_request_response_close.pcap")
    cap.round_trip_ms = None
    assert replay(ts, cap).verdict is Verdict.REJECTED
    r = replay(ts, cap, deadline=_AfterFirstLook())
    assert r.untimely and r.timing_limit and r.stop_reason is StopReason.INTERRUPTED
    assert r.verdict is Verdict.INCONCLUSIVE
    assert "(the timed search stopped: interrupted)" in "\n".join(replay_lines(r))
    assert "inconclusive (timing, interrupted)" in "\n".join(directory_lines(ts, [r]))


def test_a_time_limit_stops_one_capture_inconclusive_and_a_directory_with_its_rows(tmp_path):
    # loading the model takes longer than 10 ms: the first look at the clock stops the search
    one = invoke("--time-limit", "0.01", "--json", str(CAPTURES / "passive_closes_at_once.pcap"))
    assert one.exit_code == ExitStatus.INCONCLUSIVE, one.output
    doc = json.loads(one.stdout)
    assert doc["verdict"] == "inconclusive" and doc["stop_reason"] == "time-limit"
    assert "replay stopped (time-limit) while searching the runs of" in one.stderr
    for name in ("passive_closes_at_once.pcap", "so_linger_zero.pcap"):
        shutil.copy(CAPTURES / name, tmp_path)
    many = invoke("--time-limit", "0.01", str(tmp_path))
    assert many.exit_code == ExitStatus.INCONCLUSIVE, many.output
    assert "replay stopped (time-limit) after 0 of 2 captures; not replayed: " \
           "passive_closes_at_once.pcap, so_linger_zero.pcap" in many.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1", "lots"])
def test_absurd_replay_limits_are_usage_errors(value):
    for option in ("--time-limit", "--max-states"):
        result = CliRunner().invoke(main, ["replay", option, value, str(PKT / "four_way_close.pkt")])
        assert result.exit_code == ExitStatus.BAD_INPUT
        assert f"Invalid value for '{option}'" in result.output


# ------------------------------------------------------------------ --delay on every path

def test_delay_reaches_one_sided_and_packetdrill_replay():
    # the script answers the peer's FIN at once; a network that takes 100 ms or more to bring
    # the FIN cannot give that answer at the time the script has it
    script = str(PKT / "four_way_close.pkt")
    fast = invoke("--json", script)
    assert fast.exit_code == ExitStatus.OK, fast.output
    assert json.loads(fast.stdout)["channel_delay"] is None
    slow = invoke("--delay", "100ms..200ms", script)
    assert slow.exit_code == ExitStatus.VIOLATED, slow.output
    assert "note: channel delay set by --delay: 100..200 ms" in slow.output
    assert "takes at least 100 ms to reach server" in slow.output
    doc = json.loads(invoke("--delay", "100ms..200ms", "--json", script).stdout)
    assert doc["channel_delay"]["from"] == "--delay" and doc["timing"]["feasible"] is False
    # a capture judged one-sided: the delay is the one given, as two-sided replay takes it
    cap = read_capture(CAPTURES / "oneside" / "linux_server_peer_resets.pcap")
    r = replay_side(open_system(), cap, "server", delay=(0.0, 500.0))
    assert r.channel_delay == (0.0, 500.0) and r.delay_given
    assert all(ch.delay_ms == (0.0, 500.0) for ch in r.system.channels)


def _long_connection(path, packets: int):
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    import captures   # bench/captures.py writes one long connection
    captures.write_connection(path, packets)
    return path


def test_reading_a_long_capture_polls_the_commands_deadline(tmp_path):
    # a million-packet file takes seconds to read and translate: the reading looks at the
    # deadline every POLL_RECORDS records and packets, so --time-limit bounds it too
    from tcpcheck.capture import POLL_RECORDS
    from tcpcheck.explore import LimitReached
    path = _long_connection(tmp_path / "long.pcap", 3 * POLL_RECORDS)
    looks = []

    def poll():
        looks.append(1)
        if len(looks) == 3:
            raise LimitReached(StopReason.TIME_LIMIT)

    with pytest.raises(LimitReached):
        read_capture(path, poll=poll)
    assert len(looks) == 3
    whole = read_capture(path, poll=lambda: None)
    assert len(whole.segments) == len(read_capture(path).segments) == 3 * POLL_RECORDS - 4


def test_a_time_limit_met_while_reading_says_so_and_exits_3(tmp_path, monkeypatch):
    from tcpcheck import capture
    path = _long_connection(tmp_path / "long.pcap", 2_000)
    monkeypatch.setattr(capture, "POLL_RECORDS", 100)
    result = CliRunner().invoke(main, ["replay", str(path), "--time-limit", "0.000001"])
    assert result.exit_code == ExitStatus.INCONCLUSIVE, result.output
    assert "replay stopped (time-limit) while reading" in result.output
