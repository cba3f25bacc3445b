#!/usr/bin/env python3
"""How replay does against every parameter combination at once (tcpcheck.combos).

    python bench/replay_combos.py [--baseline CHECKOUT] [--runs N] [CAPTURE ...]

For each capture (by default a few shipped ones, from a three-segment close to a 1 MiB
transfer) it runs `tcpcheck replay CAPTURE --json` as a user does, every parameter open, in a
new process, and prints a Markdown table: the verdict, the (state, segment) pairs the search
kept, how many of the 2,048 combinations allow the capture, the process's CPU time and peak
memory, and that CPU time less the start-up's (`tcpcheck --help`, the median of three runs:
Python and the command's imports), which issue 13 wants under 0.3 s for a small capture.

Each capture is replayed twice: with a cold cache (an empty $XDG_CACHE_HOME: the model is
parsed, checked and compiled, then kept by tcpcheck.modelcache) and warm (the median of
`--runs` more runs, the model read from the cache). `--baseline CHECKOUT` runs the same
commands with another checkout's tcpcheck first on the path (`/work/main`, the version before
a change), and a row each. Bytecode is written and read as a user's install does (a
PYTHONDONTWRITEBYTECODE in the environment is dropped, and every version is run once first).
bench/RESULTS.md keeps the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["passive_closes_at_once.pcap", "server_closes_first.pcap",
           "read_after_rst_with_queued_data.pcap", "http_server_closes.pcap",
           "client_closes_while_server_sends.pcap", "user/http_get.pcap",
           "bulk_then_close.pcap", "user/bulk_1mb.pcap"]


def _run(args: list[str], checkout: Path, cache: Path) -> tuple[str, int, float, float]:
    """Run `python -m tcpcheck ARGS` with `checkout`'s tcpcheck (run from there: `-m` puts
    the working directory first on the path): its stdout, exit status, CPU time and peak
    memory (MB), its own (wait4)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(checkout), XDG_CACHE_HOME=str(cache))
    with subprocess.Popen([sys.executable, "-m", "tcpcheck", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, cwd=checkout, env=env) as proc:
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
    return (out, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1000)


def startup(checkout: Path, cache: Path) -> float:
    """CPU seconds of the command doing nothing: the median of three `tcpcheck --help`."""
    return statistics.median(_run(["--help"], checkout, cache)[2] for _ in range(3))


def replay(capture: Path, checkout: Path, cache: Path) -> dict:
    out, code, cpu, mb = _run(["replay", str(capture), "--json"], checkout, cache)
    doc = json.loads(out) if out.startswith("{") else {}
    return {"verdict": doc.get("verdict", f"exit {code}"), "pairs": doc.get("searched"),
            "combos": doc.get("combinations"), "cpu": cpu, "mb": mb}


def rows(label: str, checkout: Path, captures: list[Path], runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        _run(["--help"], checkout, Path(tmp))               # bytecode written, if need be
        base = startup(checkout, Path(tmp))
        for k, capture in enumerate(captures):
            cache = Path(tmp) / str(k)                      # empty: the first run compiles
            cold = replay(capture, checkout, cache)
            warm = [replay(capture, checkout, cache) for _ in range(runs)]
            cpu = statistics.median(w["cpu"] for w in warm)
            print(f"| {label} | {capture.name} | {cold['verdict']} | {cold['pairs']} "
                  f"| {cold['combos']} | {base:.2f} | {cold['cpu']:.2f} | {cold['cpu'] - base:.2f} "
                  f"| {cpu:.2f} | **{cpu - base:.2f}** | {max(w['mb'] for w in warm):.0f} |",
                  flush=True)


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", type=Path, default=None, metavar="CHECKOUT",
                    help="also run this checkout's tcpcheck (another version), first")
    ap.add_argument("--runs", type=int, default=3, help="warm runs per capture (median)")
    ap.add_argument("captures", nargs="*", type=Path)
    args = ap.parse_args(argv)
    captures = [c.resolve() for c in args.captures] or \
        [ROOT / "tests" / "captures" / n for n in DEFAULT]
    print(f"load average {os.getloadavg()[0]:.1f} at the start\n")
    print("| version | capture | verdict | pairs searched | combinations allowing it "
          "| start-up s | cold CPU s | cold after start-up s | warm CPU s "
          "| warm after start-up s | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    if args.baseline is not None:
        rows(args.baseline.name, args.baseline.resolve(), captures, args.runs)
    rows("this", ROOT, captures, args.runs)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main(sys.argv[1:])
