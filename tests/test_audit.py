"""replay --all (tcpcheck.audit): every connection of a capture, checked against single replays.

The capture is built here from real single-connection captures (tests/captures), each copied
with addresses of its own and interleaved in time (bench/audit.py's writer): accepted closes
of four kinds, one rejected by its times and one rejected at a segment in the middle, a
connection the file ends half-closed and one it ends open. Every row must say what `tcpcheck
replay --conn N` says of the same connection. The parameters the scenarios cannot need are
fixed, so that each search is small.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tcpcheck.audit import Auditor, json_lines, row_lines, run_audit, summary_lines
from tcpcheck.capture import read_capture
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.replay import load_open, replay
from tcpcheck.verdicts import ExitStatus, Verdict

from conftest import ROOT, run_tcpcheck

MODEL = ROOT / "models" / "teardown.tcpm"
CAPTURES = ROOT / "tests" / "captures"
FIXED = ["lossy_network=false", "shared_socket=false", "more_calls=false", "data_phase=false",
         "early_data=false", "passive_never_closes=false"]
PARAM_ARGS = [a for p in FIXED for a in ("--param", p)]

_spec = importlib.util.spec_from_file_location("bench_audit", ROOT / "bench" / "audit.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _cut(src: Path, records: int, out: Path) -> Path:
    """The first `records` records of a pcap: a connection the capture stops in."""
    data = src.read_bytes()
    off = 24
    for _ in range(records):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    out.write_bytes(data[:off])
    return out


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> tuple[Path, list[Path]]:
    tmp = tmp_path_factory.mktemp("audit")
    half = _cut(CAPTURES / "passive_quickack.pcap", 5, tmp / "half_closed.pcap")  # C:FA S:A
    still_open = _cut(CAPTURES / "passive_quickack.pcap", 3, tmp / "open.pcap")   # handshake
    originals = [CAPTURES / n for n in (
        "server_closes_first.pcap", "passive_quickack.pcap", "so_linger_zero.pcap",
        "invalid/data_after_fin.pcap", "simultaneous_close.pcap",
        "invalid/late_fin_ack.pcap")] + [half, still_open]
    path = tmp / "many.pcap"
    # eight originals, each twice: the second copy of each is decided from the cache
    truth = bench.write_connections(path, originals, 16)
    return path, truth


@pytest.fixture(scope="module")
def audit(capture):
    return run_audit(capture[0], Auditor(MODEL, FIXED))


def test_every_row_is_what_a_single_replay_says(capture, audit):
    path, truth = capture
    assert [r.number for r in audit.rows] == list(range(1, 17))
    ts = load_open(MODEL, FIXED)
    for row in audit.rows:
        single = replay(ts, read_capture(path, conn=str(row.number)), prefix=row.prefix)
        assert row.verdict == single.verdict, row
        assert row.model_kind == (None if single.kind is None else str(single.kind)), row
        if single.accepted and single.kind != "incomplete":   # a prefix stops before its kind
            assert row.kind == str(single.kind), row
        assert bool(row.reason) == (single.verdict != Verdict.ACCEPTED), row
    by_name = {}
    for row in audit.rows:
        by_name.setdefault(truth[row.number - 1].name, set()).add((row.kind, str(row.verdict)))
    assert by_name["so_linger_zero.pcap"] == {("rst", "accepted")}
    assert by_name["data_after_fin.pcap"] == {("three-way", "rejected")}
    assert by_name["late_fin_ack.pcap"] == {("three-way", "rejected")}
    assert by_name["half_closed.pcap"] == {("half-closed", "accepted")}
    assert by_name["open.pcap"] == {("open", "accepted")}


def test_a_rejected_connection_in_the_middle_says_why_and_the_others_go_on(audit):
    rejected = [r for r in audit.rows if r.verdict == Verdict.REJECTED]
    assert {r.number for r in rejected} == {4, 6, 12, 14}
    middle = next(r for r in rejected if r.number == 4)
    assert middle.reason.startswith("no run sends server DATA(ack=1) as segment #3 [frame ")
    timed = next(r for r in rejected if r.number == 6)
    assert timed.reason.startswith("these segments, but not at the captured times")
    assert all(r.verdict == Verdict.ACCEPTED for r in audit.rows if r.number > 6 and
               r.number not in (12, 14))


def test_rst_names_its_sender_and_the_end_of_the_capture_is_summed_up(audit):
    rst = [r for r in audit.rows if r.kind == "rst"]
    assert rst and {r.rst_by for r in rst} == {"client"}
    assert all("rst (client)" in line for line in row_lines(audit) if " rst " in line)
    # the half-closed copies: the client's FIN acknowledged, no FIN from the server
    assert sorted(t.connection for t in audit.close_wait) == [7, 15]
    assert {t.side for t in audit.close_wait} == {"server"}
    assert {t.side for t in audit.fin_wait_2} == {"client"}
    doc = audit.summary_json()
    held = doc["longest_time_wait"]
    assert held is not None and held["since_s"] == max(t.since_s for t in audit.time_wait)


def test_identical_sequences_are_searched_once(audit):
    doc = audit.summary_json()
    assert doc["distinct_sequences"] == 8
    assert doc["cache_hits"] == 8
    assert {r.number for r in audit.rows if r.cached} == set(range(9, 17))


def test_summary_counts_the_rows(audit):
    doc = audit.summary_json()
    counted = Counter((r.kind, str(r.verdict)) for r in audit.rows)
    assert doc["by_kind"] == {k: {v: n for (kk, v), n in counted.items() if kk == k}
                              for k in doc["by_kind"]}
    assert sum(sum(v.values()) for v in doc["by_kind"].values()) == doc["connections"] == 16
    assert summary_lines(audit)[0].endswith("16 TCP connections in "
                                            f"{audit.frames} frames (pcap); model teardown")


def test_json_lines_parse_and_end_with_the_summary(audit):
    objects = [json.loads(line) for line in json_lines(audit)]
    assert [o["type"] for o in objects] == ["connection"] * 16 + ["summary"]
    assert all({"kind", "verdict"} <= o.keys() for o in objects[:-1])


def test_the_same_capture_gives_the_same_bytes(capture, audit):
    again = run_audit(capture[0], Auditor(MODEL, FIXED))
    assert json_lines(again) == json_lines(audit)
    assert summary_lines(again) + row_lines(again) == summary_lines(audit) + row_lines(audit)


def test_memory_follows_the_connections_open_at_once(tmp_path):
    """Connections far apart in time are decided as they close: few are held at once."""
    path = tmp_path / "apart.pcap"
    bench.write_connections(path, [CAPTURES / "passive_quickack.pcap"], 12, spacing_s=70.0)
    audit = run_audit(path, Auditor(MODEL, FIXED))
    assert len(audit.rows) == 12 and audit.peak_open == 1
    # all but the last closed more than TIME_WAIT_S before the end: only it holds TIME_WAIT
    assert [t.connection for t in audit.time_wait] == [12]


def test_a_capture_damaged_part_way_keeps_the_rows_before(tmp_path, capture):
    data = capture[0].read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:len(data) * 2 // 3])
    audit = run_audit(cut, Auditor(MODEL, FIXED))
    assert audit.error is not None and audit.error.diagnostics[0].code == "TCP601"
    assert audit.rows and Verdict.UNREADABLE in audit.verdicts


def test_a_file_without_tcp_is_bad_input(tmp_path):
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    with pytest.raises(TcpcheckError) as err:
        run_audit(empty, Auditor(MODEL, FIXED))
    assert err.value.diagnostics[0].code == "TCP602"


def test_replay_all_as_a_user_runs_it(capture, tmp_path):
    path = str(capture[0])
    done = run_tcpcheck("replay", path, "--all", *PARAM_ARGS, "--draw", str(tmp_path / "d"))
    assert done.returncode == 1, done.stderr      # connections are rejected
    lines = done.stdout.splitlines()
    assert lines[0] == f"{path}: 16 TCP connections in {lines[0].split(' in ')[1]}"
    assert lines[1].split() == ["kind", "accepted", "rejected", "total"]
    assert any(line.startswith("left in CLOSE_WAIT at the end: 2:") for line in lines)
    drawn = {p.stem for p in (tmp_path / "d").iterdir()}    # .svg, and .dot beside it
    assert drawn == {"conn-4", "conn-6", "conn-12", "conn-14"}
    refused = run_tcpcheck("replay", path, "--all", "--conn", "2")
    assert refused.returncode == 2 and "--all takes every connection" in refused.stderr


def test_replay_all_json_lines_as_a_user_gets_them(capture):
    path = str(capture[0])
    as_json = run_tcpcheck("replay", path, "--all", *PARAM_ARGS, "--json")
    assert as_json.returncode == 1
    assert as_json.stdout.splitlines() == json_lines(run_audit(path, Auditor(MODEL, FIXED)))


def test_replay_all_takes_the_limits_and_delay_of_a_single_replay(capture):
    # --max-states bounds each connection's search as it bounds `replay --conn N`'s: every
    # row with a segment to match inconclusive, named by the limit (a connection still open
    # after its handshake is the initial state alone); --delay is the network's delay for
    # every row
    path = str(capture[0])
    bounded = run_tcpcheck("replay", path, "--all", *PARAM_ARGS, "--max-states", "2",
                           "--json")
    assert bounded.returncode == 3, bounded.stderr
    rows = [json.loads(line) for line in bounded.stdout.splitlines()][:-1]
    teardowns = [r for r in rows if r["segments"]]
    assert teardowns and {r["verdict"] for r in teardowns} == {"inconclusive"}
    assert all("max-states" in r["reason"] for r in teardowns)
    tight = run_tcpcheck("replay", path, "--all", *PARAM_ARGS, "--delay", "0..0.001",
                         "--json")
    loose = run_tcpcheck("replay", path, "--all", *PARAM_ARGS, "--json")

    def verdicts(done):
        return [json.loads(line).get("verdict") for line in done.stdout.splitlines()][:-1]
    # a microsecond path cannot carry every capture's segments at their times
    assert verdicts(tight) != verdicts(loose)


@pytest.mark.parametrize("name", ["server_closes_first.pcap", "passive_quickack.pcap",
                                  "passive_sends_data_then_closes.pcap",
                                  "simultaneous_close.pcap",
                                  "invalid/late_fin_ack.pcap"])
def test_the_timing_bounds_answer_as_the_solver_does(name):
    """A run is reduced to bounds on its pinned differences (shortest paths of its difference
    constraints, or z3's Optimize): they are the optimizer's, and for pins stretched,
    squeezed and shuffled they must say what z3's solver says of each set of pins."""
    import random

    from tcpcheck.replay import _pinned
    from tcpcheck.run import Run
    from tcpcheck.timing import PinnedRun

    ts = load_open(MODEL, FIXED)
    cap = read_capture(CAPTURES / name)
    base = replay(ts, cap, check_timing=False)
    variants = Run.of(base.view, base.run).variants
    pinned = _pinned(cap, variants)
    solver, box = PinnedRun(ts, variants), PinnedRun(ts, variants)
    assert box.graph is not None       # a run's constraints are difference constraints
    solver.graph = None                 # this one asks z3 every time
    solver.BOX_AFTER, box.BOX_AFTER, box.PAIR_COST = 10 ** 9, 0, 0
    # the shortest paths of the difference graph are the bounds z3's Optimize finds
    steps = tuple(step for step, _ms, _ in pinned)
    optimized = PinnedRun(ts, variants)
    optimized.graph = None
    optimized._make_box(steps)
    box._make_box(steps)
    assert box._box == optimized._box and box._never == optimized._never
    rng = random.Random(7)
    answers = []
    for k in range(60):
        scale = (0.0, 0.5, 1.0, 2.0, 5.0, 1000.0)[k % 6] if k < 12 else rng.uniform(0, 3)
        pins = [(step, round(ms * scale + (rng.uniform(-40, 40) if k >= 30 else 0), 3), w)
                for step, ms, w in pinned]
        pins[0] = (pins[0][0], 0.0, pins[0][2])
        answers.append(solver.fits(pins))
        assert box.fits(pins) == answers[-1], pins
    assert True in answers and False in answers      # both sides of the bounds were tried


# ---------------------------------------------------------------- long captures: progress, signals

def _long_capture(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "long.pcap"
    bench.write_connections(path, [CAPTURES / n for n in (
        "server_closes_first.pcap", "passive_quickack.pcap", "so_linger_zero.pcap")], count)
    return path


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("signum,as_json", [(signal.SIGINT, False), (signal.SIGTERM, True)])
def test_a_signal_prints_the_summary_of_what_was_read_and_exits_3(tmp_path, signum, as_json):
    # far more connections than are decided before the signal (a few thousand a second)
    path = _long_capture(tmp_path, 40_000)
    proc = subprocess.Popen([sys.executable, "-m", "tcpcheck", "replay", str(path), "--all",
                             *PARAM_ARGS, *(["--json"] if as_json else [])], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        until = time.monotonic() + 60   # past imports and loading, whatever the machine's load
        while _cpu_seconds(proc.pid) < 2.5 and time.monotonic() < until and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the audit finished before it could be interrupted"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == ExitStatus.INCONCLUSIVE, err
    assert "Traceback" not in err
    assert re.search(r"replay --all stopped \(interrupted\) after [\d,]+ frames and \d+ "
                     r"connections; \d+ not decided", err), err
    if as_json:
        summary = json.loads(out.splitlines()[-1])
        assert summary["type"] == "summary" and summary["stopped"] == "interrupted"
        assert 0 < summary["connections"] < 40_000
        assert summary["connections"] == len(out.splitlines()) - 1
    else:
        first = out.splitlines()[0]
        decided = int(re.search(r": (\d+) TCP connections in", first).group(1))
        assert 0 < decided < 40_000 and "kind" in out.splitlines()[1]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_terminal_sees_a_progress_bar_and_a_pipe_does_not(tmp_path):
    path = _long_capture(tmp_path, 600)
    master, slave = os.openpty()
    shown = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            shown.extend(chunk)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    done = subprocess.run([sys.executable, "-m", "tcpcheck", "replay", str(path), "--all",
                           *PARAM_ARGS], cwd=ROOT, stdout=subprocess.PIPE, stderr=slave,
                          text=True, env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
                          timeout=120)
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    assert done.returncode == 0
    assert "replay --all" in shown.decode(errors="replace")     # the bar, on the terminal
    assert "frames" in shown.decode(errors="replace")
    assert done.stdout.startswith(f"{path}: 600 TCP connections in ")  # stdout stays plain
    piped = run_tcpcheck("replay", str(path), "--all", *PARAM_ARGS)
    assert piped.stderr == "" and piped.stdout == done.stdout


# ---------------------------------------------------------------- conform's connections at once

# FIXED with the data phase open: a request and its response are a run of the model
OPEN_DATA = [p for p in FIXED if p != "data_phase=false"]


def test_connections_of_every_kind_at_once_get_what_a_single_replay_gives(tmp_path):
    """Conform scenarios' connections of different kinds (data exchanges, an RST from each
    side, a simultaneous close, the FIN on the last data), open at the same time in one
    capture: each row has the kind and verdict that replaying that connection alone gives."""
    originals = [CAPTURES / n for n in (
        "http_server_closes.pcap", "close_with_unread_data.pcap",
        "server_closes_client_replies.pcap", "simultaneous_close.pcap",
        "shut_rdwr_late_data.pcap", "server_corks_reply_and_closes.pcap")]
    path = tmp_path / "at_once.pcap"
    truth = bench.write_connections(path, originals, len(originals), spacing_s=0.0005)
    audit = run_audit(path, Auditor(MODEL, OPEN_DATA))
    assert audit.peak_open == len(originals)            # every one open at once
    ts = load_open(MODEL, OPEN_DATA)
    for row, original in zip(audit.rows, truth):
        assert row.compact == read_capture(original).compact, row    # its own segments
        single = replay(ts, read_capture(path, conn=str(row.number)))   # replay --conn N
        assert row.verdict == single.verdict == Verdict.ACCEPTED, (row, single.verdict)
        assert row.kind == str(single.kind) and row.model_kind == str(single.kind), row
    assert {r.kind_text for r in audit.rows} == {"three-way", "four-way", "simultaneous",
                                                  "rst (server)", "rst (client)"}


def test_the_timestamps_shortcut_reads_the_options_as_the_general_walk(monkeypatch):
    """frames._options reads Linux's NOP, NOP, timestamps once (every segment has them):
    what the shortcut returns is what the walk over the options gives."""
    import random

    from tcpcheck import frames

    rng = random.Random(5)
    raws = [bytes((1, 1, 8, 10)) + bytes(rng.randrange(256) for _ in range(8))
            for _ in range(50)]
    fast = [frames._options(raw) for raw in raws]
    monkeypatch.setattr(frames, "_NOP_NOP_TIMESTAMPS", b"no shortcut")
    assert fast == [frames._options(raw) for raw in raws]
    assert fast[0] == ("NOP", "timestamps")


def test_one_sided_rows_are_decided_once_per_sequence_and_times(capture):
    """--side: identical sequences are searched once for the side judged too (the copies of
    an original have its times as well), and each row says what `replay --conn N --side`
    says."""
    from tcpcheck.oneside import replay_side

    path, _truth = capture
    audit = run_audit(path, Auditor(MODEL, FIXED, side="server"))
    assert audit.distinct_sequences == 8 and audit.cache_hits == 8
    ts = load_open(MODEL, FIXED)
    for row in audit.rows[:8]:      # the copies after them are the same connections again
        single = replay_side(ts, read_capture(path, conn=str(row.number)), "server",
                             prefix=row.prefix)
        assert row.verdict == single.verdict, row
        twin = audit.rows[row.number + 7]
        assert (twin.verdict, twin.kind, twin.cached) == (row.verdict, row.kind, True)


# ---------------------------------------------------------------- the defaults' neighbourhood first

def test_near_defaults_are_the_combinations_so_many_parameters_away():
    """teardown.tcpm declares nine parameters with a default (all false) and two without: the
    combinations at most k away are 4 times the ways to set k of the nine otherwise."""
    from tcpcheck.replay import shared_splits

    ts = load_open(MODEL, [])
    cs = shared_splits(ts).combos
    with_default = [p.name for p in ts.model.params if p.default is not None]
    assert len(with_default) == 9 and len(ts.initial) == 2048
    counts = [cs.near_defaults(k).bit_count() for k in (0, 1, 2, 9)]
    assert counts == [4 * 1, 4 * (1 + 9), 4 * (1 + 9 + 36), 2048]
    for r, env in enumerate(ts.initial_params):
        set_otherwise = sum(1 for name in with_default if env[name])
        assert (cs.near_defaults(1) >> r & 1) == (set_otherwise <= 1), env


def _audit_spied(monkeypatch, path: Path, near: int) -> tuple[list[str], list[int | None]]:
    """The audit's JSON lines with NEAR_DEFAULTS = near, and the `within` of each search."""
    from tcpcheck import audit as audit_module

    searches: list[int | None] = []
    real = audit_module.replay

    def spy(*args, within=None, **kwargs):
        searches.append(within)
        return real(*args, within=within, **kwargs)

    monkeypatch.setattr(audit_module, "NEAR_DEFAULTS", near)
    monkeypatch.setattr(audit_module, "replay", spy)
    return json_lines(run_audit(path, Auditor(MODEL, []))), searches


def test_searching_near_the_defaults_first_changes_no_row(monkeypatch, tmp_path):
    """With every parameter open, each sequence is searched first in the 40 combinations at
    most one parameter away from the defaults; only those none of them accepts (here the two
    TCP cannot produce) are searched in all 2,048. The rows, reasons and kinds are byte for
    byte those of searching all 2,048 at once; with none of the nine allowed away, the
    data exchange and the RST of SO_LINGER 0 fall through to the whole search and are
    accepted there."""
    originals = [CAPTURES / n for n in (
        "http_server_closes.pcap", "so_linger_zero.pcap", "simultaneous_close.pcap",
        "invalid/data_after_fin.pcap", "invalid/late_fin_ack.pcap", "user/http_get.pcap")]
    path = tmp_path / "open.pcap"
    bench.write_connections(path, originals, len(originals))
    whole, whole_searches = _audit_spied(monkeypatch, path, 99)
    assert whole_searches == [None] * 7      # 6 untimed, and late_fin_ack's timed search
    staged, searches = _audit_spied(monkeypatch, path, 1)
    assert staged == whole
    near = [w for w in searches if w is not None]
    # each untimed, then late_fin_ack timed (its segments are a run, its times are not)
    assert len(near) == 7 and {w.bit_count() for w in near} == {40}
    assert searches.count(None) == 2         # data_after_fin untimed, late_fin_ack timed
    strict, strict_searches = _audit_spied(monkeypatch, path, 0)
    assert strict == whole
    assert strict_searches.count(None) == 2 + 3   # and http_server_closes, linger, http_get
    verdicts = {json.loads(line)["compact"]: json.loads(line)["verdict"] for line in whole[:-1]}
    assert sorted(verdicts.values()) == ["accepted"] * 4 + ["rejected"] * 2
