#!/usr/bin/env python3
"""How replay does against every parameter combination at once (tcpcheck.combos).

    python bench/replay_combos.py [CAPTURE ...]

For each capture (by default a few shipped ones, from a three-segment close to a 1 MiB
transfer) it runs `tcpcheck replay CAPTURE` as a user does, every parameter open, in a new
process, and prints a Markdown table: the verdict, the (state, segment) pairs the search kept,
how many of the 2,048 combinations allow the capture, the process's CPU time and peak memory,
and that CPU time less the start-up's (`tcpcheck --help`, the median of three runs: Python
and the command's imports), which issue 13 wants under 0.3 s for a small capture.
bench/RESULTS.md keeps the figures beside those of the search one combination at a time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["passive_closes_at_once.pcap", "server_closes_first.pcap",
           "read_after_rst_with_queued_data.pcap", "http_server_closes.pcap",
           "client_closes_while_server_sends.pcap", "user/http_get.pcap",
           "bulk_then_close.pcap", "user/bulk_1mb.pcap"]


def _cpu(args: list[str]) -> tuple[str, int, float]:
    """Run `python -m tcpcheck ARGS`: its stdout, exit status and CPU time (its own, wait4)."""
    with subprocess.Popen([sys.executable, "-m", "tcpcheck", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          cwd=ROOT) as proc:
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
    return out, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def startup() -> float:
    """CPU seconds of the command doing nothing: the median of three `tcpcheck --help`."""
    return sorted(_cpu(["--help"])[2] for _ in range(3))[1]


def run(capture: Path) -> dict:
    """The command's verdict and figures, its CPU time and peak memory its own (os.wait4)."""
    with subprocess.Popen([sys.executable, "-m", "tcpcheck", "replay", str(capture), "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          cwd=ROOT) as proc:
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    doc = json.loads(out) if out.startswith("{") else {}
    return {"verdict": doc.get("verdict", f"exit {proc.returncode}"),
            "pairs": doc.get("searched"), "combos": doc.get("combinations"),
            "cpu": usage.ru_utime + usage.ru_stime, "mb": usage.ru_maxrss / 1000}


def main(argv: list[str]) -> None:
    captures = [Path(a) for a in argv] or [ROOT / "tests" / "captures" / n for n in DEFAULT]
    base = startup()
    print(f"start-up (tcpcheck --help): {base:.2f} s CPU\n")
    print("| capture | verdict | pairs searched | combinations allowing it | CPU s "
          "| after start-up s | peak MB |")
    print("|---|---|---|---|---|---|---|")
    for capture in captures:
        r = run(capture)
        print(f"| {capture.name} | {r['verdict']} | {r['pairs']} | {r['combos']} "
              f"| {r['cpu']:.2f} | {r['cpu'] - base:.2f} | {r['mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
