"""bench/engines.py's crossover: the first size where the symbolic engine answers and the
explorer does not, or takes longer (the README's tables are read off these lines)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from engines import Measured, proof_crossover  # noqa: E402

HELD = "a_held_ack_leaves_before_time_wait"
TIME_WAIT = "time_wait_only_after_the_peer_closed"


def _row(engine: str, size: int, finished: bool, cpu: float, verdicts: dict) -> Measured:
    return Measured(engine, "model", size, finished, verdicts, "", cpu, cpu, 100.0)


def test_the_proof_crosses_over_where_the_explorer_stops_finishing():
    rows = [_row("explicit", 3, True, 5.1, {HELD: "holds", TIME_WAIT: "holds"}),
            _row("proof", 3, False, 342.3, {HELD: "proved at k=0", TIME_WAIT: "bounded 2"}),
            _row("explicit", 4, False, 407.8, {}),
            _row("proof", 4, False, 300.0, {HELD: "proved at k=0", TIME_WAIT: "bounded 2"})]
    assert proof_crossover(rows, HELD) == 4
    # never proved: no crossover, however the explorer fares
    assert proof_crossover(rows, TIME_WAIT) is None


def test_a_faster_proof_crosses_over_where_the_explorer_still_finishes():
    rows = [_row("explicit", 2, True, 10.0, {HELD: "holds"}),
            _row("proof", 2, True, 4.0, {HELD: "proved at k=1"})]
    assert proof_crossover(rows, HELD) == 2
