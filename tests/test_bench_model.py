"""SPIN's teardown benchmark in our language (models/bench/teardown_n.tcpm) against SPIN.

The figures are SPIN 6.5.2's on bench/teardown.pml ("states, stored" and "transitions"):
SPIN's transitions are our edges plus one per terminal state (its watchdog's timeout
self-loop) plus one. N = 1..3 here (fast); `python bench/run.py` checks up to N = 8.
"""
from __future__ import annotations

import json

import pytest

import tcpcheck
from tcpcheck.explore import explore

from conftest import ROOT, run_tcpcheck

MODEL = ROOT / "models" / "bench" / "teardown_n.tcpm"

# N: (SPIN states stored, SPIN transitions)
SPIN = {1: (1_311, 2_139), 2: (6_847, 12_658), 3: (26_565, 54_423)}


@pytest.mark.parametrize("n", sorted(SPIN))
def test_state_and_transition_counts_are_spins(n):
    ex = explore(tcpcheck.load(MODEL, [f"N={n}"], reduce=False))
    states, transitions = SPIN[n]
    assert ex.complete
    assert ex.n_states == states
    assert ex.n_edges + len(ex.deadlocks) + 1 == transitions


def test_every_end_state_passes_the_promela_watchdog():
    """Where nothing can move, both sides are CLOSED with nothing in flight or owed, and a
    three-way close only happened with delayed ACK and no response data."""
    ex = explore(tcpcheck.load(MODEL, ["N=2"], reduce=False))
    three_way_ends = 0
    for sid in ex.deadlocks:
        d = ex.system.decode(ex.states[sid])
        assert (d["a.state"], d["b.state"]) == ("CLOSED", "CLOSED"), d
        assert d["a->b"] == [] and d["b->a"] == [] and d["a.owe"] == d["b.owe"] == "NOTHING", d
        if d["three_way"]:
            three_way_ends += 1
            assert d["b.delayed_ack"] and d["b.data"] == 0, d
    assert three_way_ends > 0  # and the three-way close does happen


def test_the_default_is_n_2_and_the_command_line_picks_another():
    r = run_tcpcheck("explore", str(MODEL), "--json", "--no-timing", "--no-reduction")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["states"] == SPIN[2][0]
    r = run_tcpcheck("explore", str(MODEL), "--param", "N=1", "--json", "--no-timing",
                     "--no-reduction")
    doc = json.loads(r.stdout)
    assert (doc["states"], doc["edges"] + doc["terminal_states"] + 1) == SPIN[1]


def test_the_benchmark_command_prints_the_table_without_spin():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--max-n", "2", "--no-spin"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "| N | states | transitions | SPIN e2e s |" in r.stdout
    assert "| 2 | 6,847 | 12,658 | - |" in r.stdout
    assert "agree with SPIN's" in r.stdout
