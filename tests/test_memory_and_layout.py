"""The memory bound and the drawing's bounds: --max-memory stops every phase like a time
limit (stop reason max-memory, a partial result, exit 3); `graph` refuses a joint graph too
big for dot to lay out; `dot` itself runs under the command's deadline and is killed when it
passes, leaving no image half written."""
from __future__ import annotations

import functools
import json
import os
import re
import stat
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT, assert_search_stops_before_expanding, run_tcpcheck
from tcpcheck import spec as S
from tcpcheck.behaviour import behaviour_map
from tcpcheck.cli import main
from tcpcheck.explore import (MB, MEMORY_RESERVE, Deadline, LimitReached, StopReason, explore,
                              resident_bytes)
from tcpcheck.query import check_property
from tcpcheck.render import dot_memory_estimate, joint_dot, write_drawing
from tcpcheck.verdicts import ExitStatus, Verdict

TINY = "1"   # megabytes: below what Python itself takes, so the bound is reached at once


def tiny() -> Deadline:
    return Deadline(None, float(TINY))


# ---------------------------------------------------------------- every phase polls the bound


def test_a_memory_bound_reached_stops_the_search_and_says_why():
    assert_search_stops_before_expanding(tiny, StopReason.MAX_MEMORY)


def test_a_memory_bound_stops_the_phases_after_the_search(teardown_ex):
    with pytest.raises(LimitReached) as stop:
        behaviour_map(teardown_ex, tiny())
    assert stop.value.reason is StopReason.MAX_MEMORY
    with pytest.raises(LimitReached):
        joint_dot(teardown_ex, deadline=tiny())
    fresh = explore(teardown_ex.system)     # adjacency lists not built yet
    with pytest.raises(LimitReached):
        fresh.adjacency_until(tiny())
    sf = S.parse_spec_file(ROOT / "specs" / "teardown.spec")
    for prop in S.resolve(sf, teardown_ex.system):
        result = check_property(teardown_ex, prop, tiny())
        assert result.verdict is Verdict.INCONCLUSIVE
        assert "stopped (max-memory) before checking" in result.message


def test_a_bound_above_what_the_command_takes_changes_nothing(teardown_ex):
    roomy = Deadline(None, resident_bytes() / MB * 4 + 500)
    ex = explore(teardown_ex.system, deadline=roomy)
    assert ex.complete and (ex.n_states, ex.n_edges) == (teardown_ex.n_states, teardown_ex.n_edges)
    assert not roomy.expired() and roomy.memory_left() > 0


def test_the_bound_once_reached_stays_reached(monkeypatch):
    deadline = Deadline(None, 100)
    monkeypatch.setattr("tcpcheck.explore.resident_bytes", lambda: 100 * MB)
    assert deadline.reason is StopReason.MAX_MEMORY
    monkeypatch.setattr("tcpcheck.explore.resident_bytes", lambda: 0)   # a phase freed memory
    assert deadline.reason is StopReason.MAX_MEMORY


def test_phases_stop_short_of_the_bound_to_leave_room_for_the_report(monkeypatch):
    monkeypatch.setattr("tcpcheck.explore.resident_bytes",
                        lambda: int(1000 * MB * (1 - MEMORY_RESERVE)) - 1)
    assert Deadline(None, 1000).reason is None
    monkeypatch.setattr("tcpcheck.explore.resident_bytes",
                        lambda: int(1000 * MB * (1 - MEMORY_RESERVE)))
    assert Deadline(None, 1000).reason is StopReason.MAX_MEMORY


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize("args", [["explore"], ["explore", "--json", "--with-graph"],
                                  ["check", "specs/teardown.spec"], ["map"],
                                  ["trace", "-p", "three_way_close_is_possible"],
                                  ["simulate", "--seed", "7"]])
def test_every_model_command_stops_at_a_tiny_memory_bound(args):
    r = run_tcpcheck(*args, "--max-memory", TINY, *(["--no-progress"] if args[0] != "simulate"
                                                      else []))
    assert r.returncode == ExitStatus.INCONCLUSIVE, r.stderr
    assert "Traceback" not in r.stderr
    assert "max-memory" in r.stdout + r.stderr


def test_check_under_a_tiny_memory_bound_is_inconclusive_in_json():
    r = run_tcpcheck("check", "specs/teardown.spec", "--max-memory", TINY, "--json",
                     "--no-progress")
    assert r.returncode == ExitStatus.INCONCLUSIVE
    doc = json.loads(r.stdout)
    # the bound is reached before the first model is even loaded
    assert not doc["complete"] and doc["stop_reason"] == "max-memory"
    assert doc["not_checked"] == ["specs/teardown.spec"]
    assert "check stopped (max-memory); not checked: specs/teardown.spec" in r.stderr


def test_graph_under_a_tiny_memory_bound_writes_nothing(tmp_path):
    r = run_tcpcheck("graph", "-o", str(tmp_path / "g.svg"), "--max-memory", TINY,
                     "--no-progress")
    assert r.returncode == ExitStatus.INCONCLUSIVE, r.stderr
    assert "stopped (max-memory)" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_replay_stops_at_a_tiny_memory_bound():
    for target in ["tests/captures/", "tests/captures/passive_quickack.pcap"]:
        result = CliRunner().invoke(main, ["replay", str(ROOT / target), "--max-memory", TINY])
        assert result.exit_code == ExitStatus.INCONCLUSIVE, result.output
        assert "replay stopped (max-memory)" in result.output


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "0.5", "1e30", "lots"])
@pytest.mark.parametrize("command", ["explore", "check", "trace", "map", "graph", "simulate",
                                     "replay", "conform"])
def test_absurd_memory_bounds_are_usage_errors(command, value):
    result = CliRunner().invoke(main, [command, "--max-memory", value])
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "Invalid value for '--max-memory'" in result.output


# ---------------------------------------------------------------- graphs too big to lay out


@functools.cache
def _default_size() -> tuple[int, int]:
    """The default model's joint graph: (states, edges), as explore counts them (asked of the
    command once for the three tests that need it)."""
    whole = json.loads(run_tcpcheck("explore", "--json").stdout)
    return whole["states"], whole["edges"]


def test_a_joint_graph_above_the_layout_bound_is_summarised_with_what_to_do(tmp_path):
    # the bound one below the default model's joint graph: the whole graph is one past it
    states, edges = _default_size()
    out = tmp_path / "joint.svg"
    r = run_tcpcheck("graph", "-o", str(out), "--max-nodes", str(states - 1), "--no-progress")
    assert r.returncode == ExitStatus.INCONCLUSIVE, r.stderr
    said = " ".join(r.stderr.split())
    assert f"the joint graph has {states:,} states and {edges:,} edges" in said
    assert (f"dot lays out at most {states - 1} states and {3 * (states - 1):,} edges in "
            "reasonable time: drew a summary instead") in said
    for advice in ("--param", "--view endpoint", f"-o {tmp_path / 'joint.dot'}", "--max-nodes"):
        assert advice in said
    summary = (tmp_path / "joint.dot").read_text(encoding="utf-8")
    assert summary.startswith("digraph summary {")
    # every joint state is counted in one node of the summary
    counted = [int(n.replace(",", "")) for n in re.findall(r"\\n([0-9,]+) states?\"", summary)]
    assert sum(counted) == states


def test_the_edges_are_bounded_too(tmp_path, monkeypatch):
    monkeypatch.setattr("tcpcheck.render.EDGES_PER_STATE", 1)   # 700-odd edges > 1 x 500
    states, edges = _default_size()
    result = CliRunner().invoke(main, ["graph", "-o", str(tmp_path / "joint.svg"),
                                       "--no-progress", "--json"])
    assert result.exit_code == ExitStatus.INCONCLUSIVE, result.output
    assert (f"the joint graph has {states} states and {edges} edges"
            in " ".join(result.output.split()))
    assert '"stop_reason": "too-big-to-lay-out"' in result.output
    assert '"view": "summary"' in result.output


def test_a_graph_at_the_bound_is_drawn_and_a_dot_output_has_a_higher_bound(tmp_path):
    # a .dot file is not laid out: its bound is higher (200,000 states) than an image's, so the
    # default model's 428 states are written whole
    r = run_tcpcheck("graph", "-o", str(tmp_path / "joint.dot"), "--no-progress")
    assert r.returncode == ExitStatus.OK, r.stderr
    assert (tmp_path / "joint.dot").read_text(encoding="utf-8").startswith("digraph joint {")
    # ... but above its own bound it is summarised like an image, and says so
    r = run_tcpcheck("graph", "-o", str(tmp_path / "small.dot"), "--max-nodes", "50",
                     "--no-progress")
    assert r.returncode == ExitStatus.INCONCLUSIVE, r.stderr
    said = " ".join(r.stderr.split())
    assert "a .dot file is drawn of at most 50 states and 150 edges" in said
    assert "write the DOT source alone" not in said
    assert (tmp_path / "small.dot").read_text(encoding="utf-8").startswith("digraph summary {")
    r = run_tcpcheck("graph", "-o", str(tmp_path / "joint.svg"),
                     "--max-nodes", str(_default_size()[0]),
                     "--no-progress", env={"PATH": _fake_dot(tmp_path, "cat")})
    assert r.returncode == ExitStatus.OK, r.stderr


# ---------------------------------------------------------------- dot under the deadline


def _fake_dot(tmp_path: Path, body: str) -> str:
    """A `dot` on PATH that runs `body` (its pid written to dot.pid), then the real PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "dot"
    script.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'dot.pid'}\nexec {body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def slow_dot(tmp_path, monkeypatch):
    """A `dot` that never finishes (it sleeps a minute)."""
    monkeypatch.setenv("PATH", _fake_dot(tmp_path, "sleep 60"))
    return tmp_path


def test_dot_is_killed_when_the_time_limit_passes(slow_dot):
    out = slow_dot / "drawn" / "g.svg"
    start = time.monotonic()
    with pytest.raises(LimitReached) as stop:
        write_drawing("digraph { a -> b }", out, Deadline(0.5))
    assert stop.value.reason is StopReason.TIME_LIMIT
    assert time.monotonic() - start < 10
    assert _gone(int((slow_dot / "dot.pid").read_text()))
    # the DOT source is whole; no image, no temporary file
    assert sorted(p.name for p in out.parent.iterdir()) == ["g.dot"]


def test_dot_is_killed_on_a_signal(slow_dot):
    deadline = Deadline()
    threading.Timer(0.3, deadline.interrupt, ("SIGINT",)).start()
    with pytest.raises(LimitReached) as stop:
        write_drawing("digraph { a -> b }", slow_dot / "g.png", deadline)
    assert stop.value.reason is StopReason.INTERRUPTED
    assert _gone(int((slow_dot / "dot.pid").read_text()))
    assert not (slow_dot / "g.png").exists()


def test_dot_is_not_started_when_it_would_pass_the_memory_bound(slow_dot):
    # room for the command as it is, not for dot's estimated 20 MB and more
    near = Deadline(None, (resident_bytes() + 2 * MB) / MB / (1 - MEMORY_RESERVE))
    source = "digraph { a -> b }"
    assert dot_memory_estimate(source.encode()) > (near.memory_left() or 0)
    with pytest.raises(LimitReached) as stop:
        write_drawing(source, slow_dot / "g.svg", near)
    assert stop.value.reason is StopReason.MAX_MEMORY
    assert not (slow_dot / "dot.pid").exists()
    assert not (slow_dot / "g.svg").exists()


def test_graph_stops_a_slow_dot_at_the_time_limit(tmp_path):
    out = tmp_path / "g.svg"
    start = time.monotonic()
    r = run_tcpcheck("graph", "-o", str(out), "--time-limit", "4", "--no-progress",
                     env={"PATH": _fake_dot(tmp_path, "sleep 60")})
    assert r.returncode == ExitStatus.INCONCLUSIVE, r.stderr
    assert time.monotonic() - start < 30
    assert "drawing stopped (time-limit)" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    if "the DOT source is in" in r.stderr:   # stopped in dot (not before it, on a slow day)
        assert (tmp_path / "g.dot").read_text(encoding="utf-8").startswith("digraph joint {")
    pid_file = tmp_path / "dot.pid"
    assert not pid_file.exists() or _gone(int(pid_file.read_text()))


def test_the_whole_model_is_summarised_at_once_without_exploring_it(tmp_path):
    # every parameter open: millions of states; the search stops at the summary's bound
    r = run_tcpcheck("graph", "--param", "*", "-o", str(tmp_path / "all.svg"), "--no-progress")
    assert r.returncode == ExitStatus.INCONCLUSIVE, r.stderr
    said = " ".join(r.stderr.split())
    assert "the joint graph has more than 50,000 states (the search stopped there)" in said
    assert "drew a summary instead" in said
    assert "partial (max-states)" in (tmp_path / "all.dot").read_text(encoding="utf-8")


def test_the_whole_models_endpoint_view_is_drawn_in_part_with_a_message(tmp_path):
    # every parameter open: 1,024 combinations that behave apart, about 2 minutes to project
    # each; without --max-states the search stops at ENDPOINT_EACH_MAX_STATES and says so
    r = run_tcpcheck("graph", "--view", "endpoint", "--param", "*", "-o",
                     str(tmp_path / "all.dot"), "--no-progress")
    assert r.returncode == ExitStatus.INCONCLUSIVE, r.stderr
    said = " ".join(r.stderr.split())
    assert "needs more than 100,000 states of search (the search stopped there)" in said
    assert "fix parameters with --param NAME=VALUE" in said and "Traceback" not in said
    dot = (tmp_path / "all.dot").read_text(encoding="utf-8")
    assert "(partial, max-states: " in dot and "ESTABLISHED" in dot and "TIME_WAIT" in dot


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_not_read_as_a_capture():
    # /dev/zero never ends: reading it took every byte of memory before it was refused
    result = CliRunner().invoke(main, ["replay", "/dev/zero"])
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "error[TCP600]: /dev/zero is a device or socket, not a capture file" in result.output
