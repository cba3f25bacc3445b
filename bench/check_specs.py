#!/usr/bin/env python3
"""`tcpcheck check` of every shipped spec, end to end, as a user runs it (issue 17's target:
under 1 s).

    python -P bench/check_specs.py [--before REV] [--repeat N] [JOBS ...]

Runs `tcpcheck check --json --no-timing --no-progress --jobs N` in a new process for each
number of jobs (default 1 and every core), `--repeat` times each (default 3), and prints a
Markdown table: the best wall and CPU seconds (the command and its workers: os.wait4 counts
reaped children), the exit status, and whether the JSON is byte-identical to the first row's.
`--before REV` runs the same with tcpcheck's package as it was at REV (a git revision,
extracted into a temporary directory and put first on the module path) beside the working
tree's, so one command shows the figures before and after a change; `-P` keeps the current
directory off the module path, so that the package `--before` names is the one imported.
The machine's load average is printed too: a shared machine's figures say what the cores
were free to do.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(jobs: int, package_root: Path) -> dict:
    """One `tcpcheck check` of specs/ in the checkout, with the package under package_root."""
    args = [sys.executable, "-P", "-m", "tcpcheck", "check", "--json", "--no-timing",
            "--no-progress", "--jobs", str(jobs)]
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    start = time.perf_counter()
    with subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as proc:
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
    return {"wall": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime,
            "exit": os.waitstatus_to_exitcode(status),
            "digest": hashlib.sha256(out).hexdigest()}


def best(jobs: int, package_root: Path, repeat: int) -> dict:
    """The fastest of `repeat` runs (a loaded machine only ever adds time)."""
    runs = [run(jobs, package_root) for _ in range(repeat)]
    digests = {r["digest"] for r in runs}
    return {"jobs": jobs, "wall": min(r["wall"] for r in runs),
            "cpu": min(r["cpu"] for r in runs), "exit": runs[0]["exit"],
            "digest": runs[0]["digest"] if len(digests) == 1 else "differs between runs"}


def extract(rev: str, into: Path) -> Path:
    """tcpcheck's package as it was at `rev`, written under `into`."""
    blob = subprocess.run(["git", "archive", rev, "tcpcheck"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jobs", nargs="*", type=int)
    ap.add_argument("--before", metavar="REV", help="also time the package as it was at REV")
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    jobs = opts.jobs or sorted({1, len(os.sched_getaffinity(0))})
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"best of {opts.repeat}\n")
    print("| code | jobs | wall s | CPU s | exit | output |")
    print("|---|---|---|---|---|---|")
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        versions = [("working tree", ROOT)]
        if opts.before:
            versions.insert(0, (opts.before, extract(opts.before, Path(tmp))))
        for name, root in versions:
            for n in jobs:
                r = best(n, root, opts.repeat)
                first = first or r["digest"]
                same = "identical" if r["digest"] == first else "DIFFERS"
                print(f"| {name} | {n} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['exit']} "
                      f"| {same} |", flush=True)


if __name__ == "__main__":
    main()
