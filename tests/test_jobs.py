"""Every core (--jobs): parameter combinations explored in worker processes give the bytes one
process gives -- figures, numbering of combinations, verdicts, the failing run -- and a signal
or a limit still ends the command cleanly, with no worker left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from tcpcheck import load
from tcpcheck.explore import Deadline, StopReason, explore_each
from tcpcheck.sweep import explore_sweep, representatives
from tcpcheck.verdicts import ExitStatus

# several parameters of the default model open: 32 combinations, 24 of them searched
OPEN = ["delayed_ack=*", "client_quickack=*", "linger_zero=*", "early_data=*",
        "passive_has_data=*"]

# a counter whose range only some values of its parameter outgrow: a model error in the
# last combination, after three that are fine
OVERFLOW = """\
model overflow_some "a counter that outgrows its range when its bound allows"

param bound: 0..4 = 1

endpoint counter() {
    var n: 0..2 = 0
    on internal tick when n < bound {
        n := n + 1
    }
}

endpoint idle() {
}

instance client = counter()
instance server = idle()
channel client -> server capacity 1
channel server -> client capacity 1
"""


def tcpcheck(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tcpcheck", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _params(names: list[str]) -> list[str]:
    return [a for n in names for a in ("--param", n)]


def _summary(s) -> tuple:
    return (s.n_states, s.edge_count, s.expanded, s.deadlocks, s.max_depth, s.complete,
            s.stop_reason, s.regions, s.reused,
            None if s.last is None else (s.last.n_states, s.last.stop_reason))


@pytest.fixture(scope="module")
def teardown_open():
    return load(ROOT / "models" / "teardown.tcpm", OPEN)


def test_two_jobs_print_the_bytes_one_job_prints():
    args = ["explore", "--json", "--no-timing", "--no-progress", *_params(OPEN)]
    one, two = tcpcheck(*args, "--jobs", "1"), tcpcheck(*args, "--jobs", "2")
    assert one.returncode == two.returncode == ExitStatus.OK, one.stderr + two.stderr
    assert '"combinations_reused": 8' in one.stdout   # the merge reuses as one job does
    assert one.stdout == two.stdout and one.stderr == two.stderr == ""


def test_a_state_bound_cuts_the_same_combination_whatever_the_jobs():
    # 10,000 of the 22,032 states: the bound falls inside a combination, not between two
    args = ["explore", "--json", "--no-timing", "--no-progress", "--max-states", "10000",
            *_params(OPEN)]
    one, two = tcpcheck(*args, "--jobs", "1"), tcpcheck(*args, "--jobs", "2")
    assert one.returncode == two.returncode == ExitStatus.INCONCLUSIVE
    assert '"stop_reason": "max-states"' in one.stdout
    assert one.stdout == two.stdout


@pytest.mark.parametrize("jobs", [2, 3])
@pytest.mark.parametrize("max_states", [None, 1, 2_000, 17_171, 60_000])
def test_the_sweep_merges_to_the_summary_of_one_process(teardown_open, jobs, max_states):
    one = explore_each(teardown_open, max_states=max_states)
    many = explore_sweep(teardown_open, jobs=jobs, max_states=max_states)
    assert _summary(many) == _summary(one)


def test_the_searched_combinations_are_the_first_of_each_behaviour(teardown_open):
    reps = representatives(teardown_open)
    assert reps == sorted(reps) and reps[0] == 0
    assert len(reps) == len(teardown_open.initial) - explore_each(teardown_open).reused


def test_a_model_error_in_one_combination_is_reported_as_one_job_does(tmp_path):
    model = tmp_path / "overflow_some.tcpm"
    model.write_text(OVERFLOW, encoding="utf-8")
    args = ["explore", str(model), "--param", "bound=*", "--json", "--no-timing"]
    one, two = tcpcheck(*args, "--jobs", "1"), tcpcheck(*args, "--jobs", "2")
    assert one.returncode == two.returncode == ExitStatus.VIOLATED
    assert "TCP500" in two.stderr and "Traceback" not in two.stderr
    assert (one.stdout, one.stderr) == (two.stdout, two.stderr)
    # the run starts in the failing combination (bound=3), not in the first one (bound=0)
    assert "start (bound=3)" in one.stderr and "bound=0)" not in one.stderr
    assert '"  0  start (bound=3): "' in one.stdout
    ts = load(model, ["bound=*"])
    many = explore_sweep(ts, jobs=2)
    assert many.stop_reason is StopReason.MODEL_ERROR and many.last is not None
    assert _summary(many) == _summary(explore_each(ts))


def test_an_expired_deadline_stops_the_sweep_before_any_combination(teardown_open):
    deadline = Deadline()
    deadline.interrupt("SIGINT")
    s = explore_sweep(teardown_open, jobs=2, deadline=deadline)
    assert not s.complete and s.stop_reason is StopReason.INTERRUPTED and s.regions == []


def test_a_time_limit_ends_two_jobs_cleanly():
    r = tcpcheck("explore", "--param", "*", "--jobs", "2", "--time-limit", "2", "--json",
                 "--no-progress")
    assert r.returncode == ExitStatus.INCONCLUSIVE, r.stderr
    assert '"stop_reason": "time-limit"' in r.stdout and "Traceback" not in r.stderr


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_ends_every_worker_and_prints_what_was_found():
    returncode, out, err = interrupt_once_workers_run("explore", "--param", "*", "--jobs", "2",
                                                      "--no-progress")
    assert returncode == ExitStatus.INCONCLUSIVE, err
    assert "Traceback" not in err
    assert "stopped early (interrupted): the figures cover" in out


def interrupt_once_workers_run(*args: str) -> tuple[int, str, str]:
    """Run tcpcheck in a session of its own, as a terminal's job, send ^C to the whole process
    group once two workers run, and check that none outlives the command: (exit status,
    stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "tcpcheck", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, env={**os.environ, "COLUMNS": "200"})
    try:
        until = time.monotonic() + 120
        while len(_children(proc.pid)) < 2 and time.monotonic() < until:
            time.sleep(0.05)   # the workers are running
        assert len(_children(proc.pid)) >= 2, "no workers were started"
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    until = time.monotonic() + 5
    while _group_alive(proc.pid) and time.monotonic() < until:
        time.sleep(0.05)
    assert not _group_alive(proc.pid), "a worker outlived the command"
    return proc.returncode, out, err


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(c) for c in path.read_text().split()]
    except OSError:
        return []
