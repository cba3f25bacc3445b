"""Stopping when told: one deadline for every phase of a command, SIGINT and SIGTERM taken
cleanly (a summary, exit 3, no traceback), files never half written, a full stdout reported
in one line, and limits that make no sense refused as usage errors."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT, assert_search_stops_before_expanding
from tcpcheck import spec as S
from tcpcheck.behaviour import behaviour_map
from tcpcheck.cli import main
from tcpcheck.cli_io import Interrupted, command_deadline, stop_on_signals
from tcpcheck.explore import Deadline, LimitReached, StopReason
from tcpcheck.query import check_property
from tcpcheck.render import joint_dot, write_drawing, write_whole
from tcpcheck.simulate import WalkEnd, simulate
from tcpcheck.verdicts import ExitStatus, Verdict


def interrupted() -> Deadline:
    deadline = Deadline()
    deadline.interrupt("SIGINT")
    return deadline


# ---------------------------------------------------------------- every phase polls the deadline


def test_an_interrupted_search_stops_at_once_and_says_why():
    assert_search_stops_before_expanding(interrupted, StopReason.INTERRUPTED)


def test_phases_after_the_search_stop_at_the_deadline(teardown_ex):
    with pytest.raises(LimitReached) as stop:
        behaviour_map(teardown_ex, interrupted())
    assert stop.value.reason is StopReason.INTERRUPTED
    with pytest.raises(LimitReached):
        joint_dot(teardown_ex, deadline=interrupted())
    sim = simulate(teardown_ex.system, 7, deadline=interrupted())
    assert sim.ended is WalkEnd.STOPPED


def test_a_property_checked_after_the_deadline_is_inconclusive(teardown_ex):
    sf = S.parse_spec_file(ROOT / "specs" / "teardown.spec")
    for prop in S.resolve(sf, teardown_ex.system):
        result = check_property(teardown_ex, prop, interrupted())
        assert result.verdict is Verdict.INCONCLUSIVE
        assert "interrupted before checking" in result.message


# ---------------------------------------------------------------- signals


def test_a_signal_before_the_command_has_a_deadline_stops_it_at_once():
    with stop_on_signals(), pytest.raises(Interrupted):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)   # the handler runs here, in the main thread


def test_the_first_signal_marks_the_deadline_and_the_second_stops_at_once():
    # the handler found is put back: Python's own, or SIG_IGN when the tests were started in
    # the background by a shell without job control (which ignores SIGINT for them)
    before = signal.getsignal(signal.SIGINT)
    with stop_on_signals():
        deadline = command_deadline(None)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        assert deadline.reason is StopReason.INTERRUPTED and deadline.signal == "SIGINT"
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    assert signal.getsignal(signal.SIGINT) is before   # put back


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# (SIGINT: test_ctrl_c_during_a_command_exits_3_with_a_summary_and_whole_files[explore] runs
# the same command and checks the same and more)
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_a_signal_stops_a_long_explore_with_its_summary(signum):
    proc = subprocess.Popen([sys.executable, "-m", "tcpcheck", "explore", "--param", "*",
                             "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        # started: past imports and loading (about 1 s of CPU), whatever the machine's load
        until = time.monotonic() + 60
        while _cpu_seconds(proc.pid) < 2.0 and time.monotonic() < until:
            time.sleep(0.05)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == ExitStatus.INCONCLUSIVE, err
    assert "Traceback" not in err
    assert "stopped early (interrupted): the figures cover" in out


# Ctrl-C during each command that works long enough to be interrupted, at a moment it is
# working (every parameter combination: far beyond what it finishes before the signal):
# exit 3, a line that says what was done, and in the output directory only whole files
# (no temporary, every drawing complete, a report marked partial).
SIGINT_CASES = {
    "explore": (["explore", "--param", "*", "--no-progress"],
                r"stopped early \(interrupted\): the figures cover"),
    "check": (["check", "--param", "*", "--no-progress", "--out", "{out}",
               "--report", "{out}/report.md"], r"check stopped \(interrupted\); not checked: "),
    "map": (["map", "--param", "*", "--no-progress"], r"stopped early \(interrupted\)"),
    # a .dot output: an image of this size would be refused at once (the layout bound)
    "graph": (["graph", "--param", "*", "--no-progress", "-o", "{out}/g.dot"],
              r"drawing stopped \(interrupted\); explored [\d,]+ states .*nothing written"),
    "replay": (["replay", "--param", "*", "--jobs", "1", "tests/captures"],
               r"replay stopped \(interrupted\) after \d+ of \d+ captures; not replayed: "),
}


def _whole_outputs(out: Path) -> None:
    """Only complete files: no temporary of write_whole, every drawing closed, a report of an
    interrupted check marked partial."""
    for f in (out.iterdir() if out.exists() else ()):
        assert not f.name.startswith("."), f"a temporary file was left: {f.name}"
        text = f.read_text(encoding="utf-8")
        if f.suffix == ".svg":
            assert text.rstrip().endswith("</svg>"), f
        if f.suffix == ".dot":
            assert text.rstrip().endswith("}"), f
        if f.name == "report.md":
            assert "**Partial** (interrupted)" in text


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("command", sorted(SIGINT_CASES))
def test_ctrl_c_during_a_command_exits_3_with_a_summary_and_whole_files(tmp_path, command):
    import re
    argv, summary = SIGINT_CASES[command]
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "tcpcheck",
                             *(a.replace("{out}", str(out)) for a in argv)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        until = time.monotonic() + 60   # past imports and loading, whatever the machine's load
        while _cpu_seconds(proc.pid) < 2.0 and time.monotonic() < until and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the command finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == ExitStatus.INCONCLUSIVE, stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    assert re.search(summary, stdout + stderr), (stdout + stderr)[-2000:]
    _whole_outputs(out)
    if command == "check":   # the report of what was checked is written, marked partial
        assert (out / "report.md").exists()


# ---------------------------------------------------------------- whole files, full disks


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "g.dot"

    def fail(*_args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("tcpcheck.render.os.replace", fail)
    with pytest.raises(OSError):
        write_whole(target, b"digraph {}")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "g.dot"
    target.write_text("old")

    class Interrupt(BaseException):
        pass

    def fdopen(fd, mode):   # the write fails half way: a signal, a full disk
        f = open(fd, mode)  # noqa: SIM115
        f.write(b"half")
        raise Interrupt
    monkeypatch.setattr("tcpcheck.render.os.fdopen", fdopen)
    with pytest.raises(Interrupt):
        write_drawing("digraph { a -> b }", target)
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_a_drawing_is_written_with_the_usual_permissions(tmp_path):
    written = write_drawing("digraph { a -> b }", tmp_path / "g.dot")
    mask = os.umask(0)
    os.umask(mask)
    assert written.dot_path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_full_stdout_is_one_line_and_exit_2():
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "tcpcheck", "explore", "--json",
                               "--no-progress"], cwd=ROOT, stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert proc.returncode == ExitStatus.BAD_INPUT
    assert proc.stderr.strip() == "tcpcheck: cannot write the output: No space left on device"


# ---------------------------------------------------------------- limits that make no sense


@pytest.mark.parametrize("option", [["--time-limit", "nan"], ["--time-limit", "inf"],
                                    ["--time-limit", "-1"], ["--time-limit", "0"],
                                    ["--time-limit", "1e12"], ["--max-states", "0"],
                                    ["--max-states", "-5"], ["--max-states", str(2**31)]])
@pytest.mark.parametrize("command", ["explore", "check", "map"])
def test_absurd_limits_are_usage_errors(command, option):
    result = CliRunner().invoke(main, [command, *option])
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert f"Invalid value for '{option[0]}'" in result.output


def test_a_time_limit_bounds_checking_too():
    result = CliRunner().invoke(main, ["check", "--param", "*", "--time-limit", "1",
                                       "--no-progress", "--json"])
    assert result.exit_code == ExitStatus.INCONCLUSIVE
    assert "not checked:" in result.output   # later spec files are not even loaded
