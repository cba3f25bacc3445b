"""Every core for check, map and directory replay (--jobs N): the work after the one search --
properties, map rows, captures -- done by forked workers gives the bytes one process gives,
limits cut the same, and ^C leaves no worker behind."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from test_jobs import interrupt_once_workers_run, tcpcheck
from tcpcheck.verdicts import ExitStatus

SPECS = ["specs/teardown.spec", "specs/linger.spec", "specs/shutdown.spec", "specs/leak.spec"]
# quick captures (a fraction of a second each) and one that is no capture at all
CAPTURES = ["so_linger_zero.pcap", "server_closes_first.pcap", "simultaneous_close.pcap",
            "process_killed-four_way.pcap"]


def _both(*args: str) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    return tcpcheck(*args, "--jobs", "1"), tcpcheck(*args, "--jobs", "2")


def _same(one: subprocess.CompletedProcess, two: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in one.stderr + two.stderr
    assert one.returncode == two.returncode
    assert (one.stdout, one.stderr) == (two.stdout, two.stderr)


def test_check_prints_the_bytes_one_job_prints():
    one, two = _both("check", *SPECS, "--json", "--no-timing", "--no-progress")
    assert one.returncode == ExitStatus.OK, one.stderr
    assert one.stdout.count('"verdict": "holds"') >= 10   # the properties were checked
    _same(one, two)


def test_check_on_the_compiled_core_prints_the_same_verdicts():
    args = ("check", *SPECS, "--json", "--no-timing", "--no-progress")
    python = tcpcheck(*args, "--jobs", "1", "--core", "python")
    compiled = tcpcheck(*args, "--jobs", "2", "--core", "auto")
    _same(python, compiled)


def test_check_writes_the_same_drawings(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is not installed: the drawings would be .dot only")
    out = {}
    for jobs in ("1", "2"):
        d = tmp_path / f"out{jobs}"
        r = tcpcheck("check", "specs/linger.spec", "--out", str(d), "--json", "--no-timing",
                     "--no-progress", "--jobs", jobs)
        assert r.returncode == ExitStatus.OK, r.stderr
        out[jobs] = (r.stdout.replace(str(d), "OUT"),
                     {p.name: p.read_bytes() for p in sorted(d.iterdir())})
    assert out["1"][1], "no drawing written"
    assert out["1"] == out["2"]


def test_a_state_bound_cuts_check_as_one_job_does():
    one, two = _both("check", *SPECS, "--max-states", "300", "--json", "--no-timing",
                     "--no-progress")
    assert one.returncode == ExitStatus.INCONCLUSIVE, one.stderr
    assert '"stop_reason": "max-states"' in one.stdout
    _same(one, two)


def test_map_prints_the_bytes_one_job_prints():
    params = ["--param", "delayed_ack=*", "--param", "linger_zero=*", "--no-progress"]
    one, two = _both("map", *params, "--json")
    assert one.returncode == ExitStatus.OK and one.stdout.count('"params"') >= 4
    _same(one, two)
    _same(*_both("map", *params, "--core", "auto"))


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("captures")
    for name in CAPTURES:
        shutil.copy(ROOT / "tests" / "captures" / name, d / name)
    (d / "not_a_capture.pcap").write_bytes(b"not a pcap\n")
    return d


def test_directory_replay_prints_the_bytes_one_job_prints(capture_dir):
    one, two = _both("replay", str(capture_dir), "--json")
    assert one.returncode == ExitStatus.BAD_INPUT   # one unreadable, none rejected
    assert one.stdout.count('"verdict": "accepted"') == len(CAPTURES)
    _same(one, two)
    _same(*_both("replay", str(capture_dir)))


def test_a_search_bound_cuts_directory_replay_as_one_job_does(capture_dir):
    one, two = _both("replay", str(capture_dir), "--max-states", "20", "--json")
    assert '"stop_reason": "max-states"' in one.stdout
    _same(one, two)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_ends_every_check_worker():
    # data_phase.spec with passive_has_data open (168k states): eleven properties, seconds
    # of work in all, still running when ^C comes (the spec's own configuration is checked
    # in about a second now: too soon over to be interrupted for sure)
    returncode, out, err = interrupt_once_workers_run(
        "check", "specs/data_phase.spec", "--param", "passive_has_data=*", "--jobs", "2",
        "--no-progress", "--json", "--no-timing")
    assert returncode == ExitStatus.INCONCLUSIVE, err
    assert "Traceback" not in err
    assert '"verdict": "inconclusive"' in out and "interrupted before checking" in out
