"""The partial-order reduction of replay's search (tcpcheck.por) answers as the full search:
the same verdict, kind, allowing combinations, choices and stop reason; only `searched` and the
run shown may differ. It must also keep fewer pairs somewhere (else it checks nothing)."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from tcpcheck.capture import read_capture
from tcpcheck.replay import load_open, replay

MODEL = ROOT / "models" / "teardown.tcpm"
CAPTURES = ROOT / "tests" / "captures"
SAMPLE = ["client_closes_while_server_sends-queue_empty.pcap", "simultaneous_close.pcap",
          "so_linger_zero.pcap", "server_closes_first.pcap", "shutdown_wr_late_data.pcap",
          "invalid/fin_answered_by_nothing.pcap", "invalid/late_fin_ack.pcap"]


def _answer(r) -> tuple:
    return (r.verdict, None if r.kind is None else str(r.kind),
            sorted(sorted(c.items()) for c in r.combos), r.stop_reason, r.matched, r.choices)


@pytest.mark.parametrize("name", SAMPLE)
def test_the_reduced_search_answers_as_the_full_one(name):
    cap = read_capture(CAPTURES / name)
    ts = load_open(Path(MODEL), [], [cap])
    full = replay(ts, cap, reduce=False)
    reduced = replay(ts, cap, reduce=True)
    assert _answer(reduced) == _answer(full)
    assert reduced.searched <= full.searched


def test_the_reduction_keeps_fewer_pairs():
    cap = read_capture(CAPTURES / SAMPLE[0])
    ts = load_open(Path(MODEL), [], [cap])
    full = replay(ts, cap, check_timing=False, choices=False, reduce=False)
    reduced = replay(ts, cap, check_timing=False, choices=False, reduce=True)
    assert reduced.accepted and reduced.searched < full.searched
