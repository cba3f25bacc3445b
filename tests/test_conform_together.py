"""conform --together: the conform scenarios run at once into one capture, audited by `replay
--all`, every row what replaying that connection alone says.

tests/fixtures/conform_together.pcap was made here (root, tcpdump) by
`tcpcheck conform --together FILE` with eight scenarios: eight connections open at the same
time on loopback, closing three-way, four-way, by an RST from each side. The live test makes a
new one where this machine can capture and is skipped with the reason elsewhere.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcpcheck.audit import HALF_CLOSED, OPEN, Auditor, run_audit
from tcpcheck.capture import read_capture
from tcpcheck.conform import capture_problem
from tcpcheck.kinds import CloseKind
from tcpcheck.replay import load_open, replay
from tcpcheck.verdicts import Verdict

from conftest import ROOT, run_tcpcheck

MODEL = ROOT / "models" / "teardown.tcpm"
TOGETHER = ROOT / "tests" / "fixtures" / "conform_together.pcap"
SCENARIOS = ["passive_closes_at_once", "passive_quickack", "close_with_unread_data",
             "so_linger_zero", "simultaneous_close", "http_server_closes",
             "server_closes_client_replies", "process_killed"]
# the parameters these scenarios cannot need fixed, the data phase open (an HTTP exchange):
# each search is small; single replay gets the same ones, so the comparison is like for like
PARAMS = ["lossy_network=false", "shared_socket=false", "more_calls=false", "early_data=false",
          "passive_never_closes=false"]
CANNOT_CAPTURE = capture_problem()
CUT_OFF = {OPEN, HALF_CLOSED, str(CloseKind.INCOMPLETE)}


def _agrees_with_single_replays(path: Path) -> list:
    """Audit `path`; assert each row has the kind and verdict of `replay --conn N` alone."""
    audit = run_audit(path, Auditor(MODEL, PARAMS))
    ts = load_open(MODEL, PARAMS)
    assert audit.rows, "no connection audited"
    for row in audit.rows:
        alone = read_capture(path, conn=str(row.number))
        assert row.compact == alone.compact, row
        single = replay(ts, alone, prefix=row.prefix)
        assert row.verdict == single.verdict, (row, single.verdict)
        assert row.model_kind == (None if single.kind is None else str(single.kind)), row
        if single.accepted:
            # the audit says more of a connection the capture cut off (still open, or half
            # closed) than replay's "incomplete": a loopback capture can catch another
            # program's connection mid-way (seen once: a handshake alone)
            want = CUT_OFF if single.kind is CloseKind.INCOMPLETE else {str(single.kind)}
            assert row.kind in want, (row, single.kind)
    return audit.rows


def test_the_committed_capture_of_scenarios_at_once_lists_what_single_replays_give():
    audit = run_audit(TOGETHER, Auditor(MODEL, PARAMS))
    assert audit.peak_open >= 2                  # connections open at the same time
    rows = _agrees_with_single_replays(TOGETHER)
    assert len(rows) == len(SCENARIOS)
    assert all(r.verdict == Verdict.ACCEPTED for r in rows)
    assert {r.kind_text for r in rows} >= {"three-way", "four-way", "rst (server)",
                                            "rst (client)"}


def test_replay_all_of_it_as_a_user_runs_it():
    out = run_tcpcheck("replay", str(TOGETHER), "--all", "--json",
                       *[a for p in PARAMS for a in ("--param", p)])
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    conns = [d for d in lines if "kind" in d and "verdict" in d]
    assert len(conns) == len(SCENARIOS)
    assert {d["verdict"] for d in conns} == {"accepted"}


@pytest.mark.skipif(CANNOT_CAPTURE is not None, reason=f"cannot capture: {CANNOT_CAPTURE}")
def test_conform_together_captures_the_scenarios_at_once_live(tmp_path):
    path = tmp_path / "together.pcap"
    out = run_tcpcheck("conform", "--together", str(path), "--json",
                       *[a for n in SCENARIOS for a in ("--scenario", n)])
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["connections"]
    assert sorted(c["scenario"] for c in listed) == sorted(SCENARIOS)
    assert not path.with_name(path.name + ".part").exists()
    rows = _agrees_with_single_replays(path)
    assert len(rows) == len(SCENARIOS)
    # the server port names the scenario: each row's server is one of the ports listed
    assert {int(r.server.rsplit(":", 1)[1]) for r in rows} == {c["server_port"] for c in listed}


def test_together_into_a_directory_that_does_not_exist_is_bad_input(tmp_path):
    out = run_tcpcheck("conform", "--together", str(tmp_path / "no" / "x.pcap"),
                       "--scenario", "so_linger_zero")
    assert out.returncode == 2, out
    assert "cannot write a capture" in out.stderr and "Traceback" not in out.stderr
