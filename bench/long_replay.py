#!/usr/bin/env python3
"""Replay of one long connection, folded (tcpcheck/fold.py) and not, by its number of packets.

    python bench/long_replay.py [--packets 1000 --packets 100000 ...] [--unfolded-up-to 1000]

For each size it writes bench/captures.py's connection (handshake, one-byte writes each
acknowledged, a four-way close) and measures, in a new process each, the CPU time of every
phase of `tcpcheck replay FILE` with every parameter open: reading the capture (the `reader`
helper's part, tcpcheck/capture.py), loading the model, the replay (search, fold, choices,
timing) and the text and JSON reports; and the process's peak memory. The peer beside it is
the same replay with the fold off (`replay(..., fold=False)`), run up to --unfolded-up-to
packets (it costs ~35 ms of CPU a packet). The machine's load average is printed with each
row: on a shared machine the CPU time is what the command costs.

`python bench/captures.py --command --packets N` times the whole command end to end.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from tcpcheck.capture import read_capture
from tcpcheck.replay import load_open, replay
from tcpcheck.replay_report import replay_json, replay_lines
cpu = time.process_time
out = {}
t = cpu(); cap = read_capture(sys.argv[2]); out["read"] = cpu() - t
t = cpu(); ts = load_open(Path(sys.argv[1]) / "models" / "teardown.tcpm", [], [cap])
out["load"] = cpu() - t
t = cpu(); r = replay(ts, cap, fold=sys.argv[3] == "fold"); out["replay"] = cpu() - t
t = cpu(); replay_lines(r); json.dumps(replay_json(r)); out["report"] = cpu() - t
out["verdict"] = str(r.verdict)
out["fold"] = None if r.fold is None else [r.fold.start, r.fold.period, r.fold.repeats]
out["searched"] = r.searched
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def measure(path: Path, fold: bool) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(path),
                           "fold" if fold else "unfolded"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from captures import connections

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, action="append",
                    help="connection sizes (default 1,000, 100,000 and 1,000,000)")
    ap.add_argument("--unfolded-up-to", type=int, default=1000,
                    help="replay with the fold off too, up to this many packets")
    args = ap.parse_args()
    sizes = args.packets or [1_000, 100_000, 1_000_000]
    print("| packets | fold | read s | load s | replay s | report s | peak MB | pairs kept "
          "| verdict | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, path in connections(sizes):
        for fold in ([True, False] if n <= args.unfolded_up_to else [True]):
            m = measure(path, fold)
            cut = f"{m['fold'][2]:,} x {m['fold'][1]}" if m["fold"] else "none"
            print(f"| {n:,} | {'on, cut ' + cut if fold else 'off'} | {m['read']:.2f} "
                  f"| {m['load']:.2f} | {m['replay']:.2f} | {m['report']:.2f} "
                  f"| {m['rss_mb']:.0f} | {m['searched']:,} | {m['verdict']} "
                  f"| {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
