"""Bounded model checking time per depth, one invariant of the default model.

    python bench/bench_symbolic.py [MAX_DEPTH] [LIMIT_S]

Prints, for depth 1.., the wall time of check_bounded on the first invariant of the
default model's shipped spec; stops after a depth that takes longer than LIMIT_S (60)."""
from __future__ import annotations

import sys
import time

from pathlib import Path

from tcpcheck import DEFAULT_MODEL, load
from tcpcheck import spec as S
from tcpcheck.bmc import check_bounded

SPEC = Path(__file__).resolve().parent.parent / "specs" / "teardown.spec"


def main() -> None:
    max_depth = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    limit = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    ts = load(DEFAULT_MODEL)
    spec = S.parse_spec_file(SPEC)
    props = [p for p in S.resolve(spec, ts) if p.kind == "invariant"][:1]
    for d in range(1, max_depth + 1):
        t0 = time.perf_counter()
        r = check_bounded(ts, props, d)[0]
        dt = time.perf_counter() - t0
        print(f"depth {d}: {dt:8.2f} s  {r.name}: {r.verdict.name}", flush=True)
        if dt > limit:
            break


if __name__ == "__main__":
    main()
