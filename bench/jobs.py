#!/usr/bin/env python3
"""`tcpcheck explore --jobs N` against one job, side by side (tcpcheck.sweep).

    python bench/jobs.py [--whole] [--core c|python] [JOBS ...]

Runs `tcpcheck explore --json --no-timing` as a user does, in a new process for each number of
jobs (default 1 and every core), on the default model with every parameter open but
lossy_network and more_calls (512 combinations, 11.5M states; `--whole`: every parameter, the
whole model), and prints a Markdown table: wall seconds, CPU seconds of the command and its
workers (os.wait4 counts reaped children), states per wall second, the speed-up over the first
row, and whether the JSON is byte-identical to the first row's. The machine's load average is
printed too: a shared machine's figures say what the cores were free to do.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ["--param", "*", "--param", "lossy_network=false", "--param", "more_calls=false"]


def run(jobs: int, whole: bool, core: str = "python") -> dict:
    args = [sys.executable, "-m", "tcpcheck", "explore", "--json", "--no-timing",
            "--no-progress", "--jobs", str(jobs), "--core", core,
            *(["--param", "*"] if whole else SUBSET)]
    start = time.perf_counter()
    with subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as proc:
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    states = int(out.split(b'"states": ', 1)[1].split(b",", 1)[0]) if out else 0
    return {"jobs": jobs, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "states": states, "exit": os.waitstatus_to_exitcode(status),
            "digest": hashlib.sha256(out).hexdigest()}


def main(argv: list[str]) -> None:
    whole = "--whole" in argv
    core = argv[argv.index("--core") + 1] if "--core" in argv else "python"
    rest = [a for a in argv if a not in ("--whole", "--core", core)]
    jobs = [int(a) for a in rest] or [1, len(os.sched_getaffinity(0))]
    print(f"core: {core}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| jobs | wall s | CPU s | states | states/s | speed-up | same JSON as row 1 |")
    print("|---|---|---|---|---|---|---|")
    first = None
    for n in jobs:
        r = run(n, whole, core)
        first = first or r
        print(f"| {n} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['states']:,} | "
              f"{r['states'] / r['wall']:,.0f} | {first['wall'] / r['wall']:.2f} | "
              f"{'yes' if r['digest'] == first['digest'] else 'NO'} (exit {r['exit']}) |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
