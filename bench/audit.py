#!/usr/bin/env python3
"""How long `tcpcheck replay --all` takes on a capture of many connections, beside tshark.

    python bench/audit.py [--connections 1000 --connections 10000 ...] [--param NAME=VALUE]
                          [--keep FILE]

For each size it writes a pcap of that many connections (`write_connections`): the loopback
captures of the conform scenarios (tests/captures/*.pcap, each one connection), copied with a
client address of its own (10.a.b.c) and a start time of its own, interleaved by time so that
many are open at once. The ground truth is known: each copy closes as its original does, so
the audit's counts by kind must equal the originals' kinds times their copies (checked; a
mismatch fails the benchmark). Then it times the whole command a user runs,
`tcpcheck replay FILE --all --json`, by the wall clock and the CPU time of the process and
its peak memory (ru_maxrss: the largest of the processes run so far), and, when tshark is
installed, `tshark -q -z conv,tcp -r FILE` (the conversations Wireshark lists) on the same
file, and prints the ratio of their CPU times (the wall clock of a shared machine measures
its other users).

Prints a Markdown table; bench/RESULTS.md keeps the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "tests" / "captures"
PY = sys.executable


def _records(path: Path) -> list[tuple[float, bytes]]:
    """(time in seconds, Ethernet frame) of each record of a little-endian microsecond pcap."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack("<I", data[20:24])[0] == 1, path
    out, off = [], 24
    while off < len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, off)
        out.append((sec + usec / 1e6, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return out


def _readdress(frame: bytes, client_ip: bytes, server_ip: bytes, client_port: int) -> bytes:
    """The frame with the client's address (the SYN's sender, port `client_port` in the
    original) and the server's replaced: an IPv4 header after 14 bytes of Ethernet."""
    ip = 14
    ihl = (frame[ip] & 0x0F) * 4
    src_port = struct.unpack_from(">H", frame, ip + ihl)[0]
    from_client = src_port == client_port
    src, dst = (client_ip, server_ip) if from_client else (server_ip, client_ip)
    return frame[:ip + 12] + src + dst + frame[ip + 20:]


def _client_port(records: list[tuple[float, bytes]]) -> int:
    for _t, frame in records:
        ihl = (frame[14] & 0x0F) * 4
        flags = frame[14 + ihl + 13]
        if flags & 0x02 and not flags & 0x10:           # the SYN
            return struct.unpack_from(">H", frame, 14 + ihl)[0]
    return struct.unpack_from(">H", records[0][1], 14 + (records[0][1][14] & 0x0F) * 4)[0]


def sources(names: list[str] | None = None) -> list[Path]:
    """The conform scenarios' loopback captures (Ethernet link type), or those named."""
    if names:
        return [CAPTURES / n for n in names]
    return sorted(p for p in CAPTURES.glob("*.pcap")
                  if struct.unpack("<I", p.read_bytes()[20:24])[0] == 1)


def write_connections(path: Path, originals: list[Path], count: int,
                      spacing_s: float = 0.002) -> list[Path]:
    """Write `count` connections into the pcap `path`: copy k is originals[k % len] with
    client 10.a.b.c (c, b, a from k) and server 10.255.255.254, starting k * spacing_s
    seconds in, every record's offset within its connection kept; records interleaved by
    time. Returns the original of each copy, in order (the ground truth)."""
    read = [(_records(p), p) for p in originals]
    out: list[tuple[float, int, bytes]] = []
    truth = []
    server_ip = bytes((10, 255, 255, 254))
    for k in range(count):
        records, original = read[k % len(read)]
        truth.append(original)
        client_ip = bytes((10, (k >> 16) & 0xFF, (k >> 8) & 0xFF, k & 0xFF or 1))
        if k & 0xFF == 0:
            client_ip = bytes((10, (k >> 16) & 0xFF | 0x80, (k >> 8) & 0xFF, 1))
        port = _client_port(records)
        t0 = records[0][0]
        start = 1_700_000_000 + k * spacing_s
        for j, (t, frame) in enumerate(records):
            out.append((start + (t - t0), k * 1000 + j,
                        _readdress(frame, client_ip, server_ip, port)))
    out.sort(key=lambda r: (r[0], r[1]))
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for t, _order, frame in out:
            usec = round(t * 1e6)
            f.write(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame),
                                len(frame)) + frame)
    return truth


def _timed(cmd: list[str]) -> tuple[float, float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds and peak memory (MB) of a command run as a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, done


def _expected_kinds(originals: list[Path]) -> dict[Path, str]:
    """The kind of close each original connection shows (its capture alone, whatever the
    model says of it): every copy of it must be counted so."""
    sys.path.insert(0, str(ROOT))
    from tcpcheck.audit import close_kind
    from tcpcheck.capture import read_capture

    return {p: close_kind(read_capture(p))[0] for p in sorted(set(originals))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, action="append")
    ap.add_argument("--keep", type=Path, default=None, help="keep the last capture here")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="passed to tcpcheck replay (fix what the scenarios cannot need)")
    args = ap.parse_args()
    sizes = args.connections or [100, 1000, 10000]
    originals = sources()
    kinds = _expected_kinds(originals)
    tshark = shutil.which("tshark")
    print("| connections | frames | tcpcheck replay --all (wall, CPU) | peak memory | "
          "distinct sequences | most open at once | tshark -q -z conv,tcp (wall, CPU) | "
          "ratio (CPU) | counts by kind = truth |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            pcap = Path(tmp) / f"audit-{n}.pcap"
            truth = write_connections(pcap, originals, n)
            params = [a for p in args.param for a in ("--param", p)]
            wall, cpu, mem, done = _timed([PY, "-m", "tcpcheck", "replay", str(pcap), "--all",
                                           "--json", *params])
            lines = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
            summary = lines[-1]
            got = Counter(r["kind"] for r in lines[:-1])
            want = Counter(kinds[p] for p in truth)
            same = "yes" if got == want else f"NO: {dict(got)} != {dict(want)}"
            frames = summary["frames"]
            if tshark:
                t_wall, t_cpu, _m, _d = _timed([tshark, "-q", "-z", "conv,tcp", "-r", str(pcap)])
                shark = f"{t_wall:.2f} s, {t_cpu:.2f} s"
                # by CPU time: on a shared machine the wall clock measures the others' load
                ratio = f"{cpu / t_cpu:.1f}x" if t_cpu else "-"
            else:
                shark, ratio = "not installed", "-"
            print(f"| {n:,} | {frames:,} | {wall:.2f} s, {cpu:.2f} s | {mem:.0f} MB | "
                  f"{summary['distinct_sequences']} | {summary['peak_open']} | {shark} | "
                  f"{ratio} | {same} |", flush=True)
            if got != want:
                sys.exit(1)
            if args.keep is not None and n == sizes[-1]:
                shutil.copy(pcap, args.keep)
    print(f"\n(python {sys.version.split()[0]}, {os.cpu_count()} cores; times include "
          "start-up and loading the model; --param " + " ".join(args.param or ["none"]) + ")")


if __name__ == "__main__":
    main()
