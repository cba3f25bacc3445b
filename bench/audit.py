#!/usr/bin/env python3
"""How long `tcpcheck replay --all` takes on a capture of many connections, beside tshark.

    python bench/audit.py [--connections 1000 --connections 100000 ...] [--param NAME=VALUE]
                          [--jitter SEED] [--no-rejected] [--pad-to BYTES] [--keep FILE]
    python bench/audit.py --connections 100000 --write-only FILE    (no timing: farm-bench)

For each size it writes a pcap of that many connections (`write_connections`, as a stream):
the loopback captures of the conform scenarios (tests/captures/*.pcap, each one connection)
and the hand-made ones TCP cannot produce (REJECTED), copied round-robin with a client
address of its own (10.a.b.c) and a start time of its own (gaps drawn with a seed), every
record's offset within its connection kept, interleaved by time so that many are open at
once. The ground truth is known: each copy closes as its original does, so the audit's
counts by kind must equal the originals' kinds (read from their segments alone) times their
copies, and its counts by verdict the verdicts tests/captures/expected.toml records for them
(checked; a mismatch fails the benchmark). Then it times the whole command a user runs,
`tcpcheck replay FILE --all --json`, by the wall clock and the CPU time of the process and
its peak memory (ru_maxrss: the largest of the processes run so far), and, when tshark is
installed, `tshark -q -z conv,tcp -r FILE` (the conversations Wireshark lists) on the same
file, and prints the ratio of their CPU times (the wall clock of a shared machine measures
its other users).

Prints a Markdown table; bench/RESULTS.md keeps the figures.
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "tests" / "captures"
PY = sys.executable


def _records(path: Path) -> list[tuple[int, bytes]]:
    """(time in microseconds, Ethernet frame) of each record of a little-endian microsecond
    pcap: whole microseconds, so that every copy keeps its original's gaps exactly."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack("<I", data[20:24])[0] == 1, path
    out, off = [], 24
    while off < len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, off)
        out.append((sec * 1_000_000 + usec, data[off + 16:off + 16 + incl]))
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


def _client_port(records: list[tuple[int, bytes]]) -> int:
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


# The hand-made captures TCP cannot produce (tests/captures/invalid) that a capture of many
# connections can hold as they are: each is closed, so it is decided as its single replay
# is. (fin_answered_by_nothing is left out: a lone FIN is a connection the file ends in, a
# prefix, accepted as one.)
REJECTED = ("invalid/data_after_fin.pcap", "invalid/data_after_rst.pcap",
            "invalid/rst_from_last_ack.pcap", "invalid/late_fin_ack.pcap")


def _client_ip(k: int) -> bytes:
    """Copy k's client address, 10.a.b.c, one of its own for k < 2**23."""
    if k & 0xFF == 0:
        return bytes((10, (k >> 16) & 0xFF | 0x80, (k >> 8) & 0xFF, 1))
    return bytes((10, (k >> 16) & 0xFF, (k >> 8) & 0xFF, k & 0xFF))


def write_connections(path: Path, originals: list[Path], count: int,
                      spacing_s: float = 0.002, jitter: int | None = None,
                      pad_to: int = 0) -> list[Path]:
    """Write `count` connections into the pcap `path`: copy k is originals[k % len] with
    client 10.a.b.c (c, b, a from k) and server 10.255.255.254, starting spacing_s after
    copy k-1 (with `jitter`, a seed: a gap drawn between 0 and twice spacing_s, so copies of
    one original meet different neighbours), every record's offset within its connection
    kept to the microsecond; records interleaved by time. `pad_to` pads each frame with an
    Ethernet trailer to that many bytes (the IP datagram says where it ends: what a reader
    sees is unchanged, only the file grows). Written as a stream: held in memory are the
    records of the connections still open. Returns the original of each copy, in order
    (the ground truth)."""
    read = [(_records(p), p) for p in originals]
    ports = [_client_port(records) for records, _p in read]
    rng = random.Random(jitter) if jitter is not None else None
    gap_us = round(spacing_s * 1e6)
    server_ip = bytes((10, 255, 255, 254))
    truth = []
    pending: list[tuple[int, int, int, bytes]] = []     # (time, copy, record, frame)
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

        def flush(before: int | None) -> None:
            while pending and (before is None or pending[0][0] < before):
                t, _k, _j, frame = heapq.heappop(pending)
                if len(frame) < pad_to:
                    frame += bytes(pad_to - len(frame))
                f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame),
                                    len(frame)) + frame)

        start = 1_700_000_000 * 1_000_000
        for k in range(count):
            if k:
                start += rng.randint(0, 2 * gap_us) if rng is not None else gap_us
            records, original = read[k % len(read)]
            truth.append(original)
            flush(start)            # every record still to come is at `start` or later
            client_ip, port = _client_ip(k), ports[k % len(read)]
            t0 = records[0][0]
            for j, (t, frame) in enumerate(records):
                heapq.heappush(pending, (start + t - t0, k, j,
                                         _readdress(frame, client_ip, server_ip, port)))
        flush(None)
    return truth


def expected(originals: list[Path]) -> dict[Path, tuple[str, str]]:
    """The ground truth of each original: the kind of close its capture shows (read from its
    segments alone, whatever the model says) and the verdict tests/captures/expected.toml
    records for it (what conform saw, or why a hand-made one is impossible)."""
    sys.path.insert(0, str(ROOT))
    from tcpcheck.audit import close_kind
    from tcpcheck.capture import read_capture

    table = tomllib.loads((CAPTURES / "expected.toml").read_text())
    return {p: (close_kind(read_capture(p))[0],
                table[p.relative_to(CAPTURES).as_posix()]["verdict"])
            for p in sorted(set(originals))}


def truth_counts(truth: list[Path], originals: list[Path]) -> tuple[Counter, Counter]:
    """Connections by kind and by verdict the generated capture must be audited to."""
    table = expected(originals)
    return (Counter(table[p][0] for p in truth), Counter(table[p][1] for p in truth))


def _timed(cmd: list[str]) -> tuple[float, float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds and peak memory (MB) of a command run as a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, action="append")
    ap.add_argument("--keep", type=Path, default=None, help="keep the last capture here")
    ap.add_argument("--write-only", type=Path, default=None, metavar="FILE",
                    help="write the capture of the last size to FILE and its truth to "
                    "FILE.truth.json, time nothing (for farm-bench)")
    ap.add_argument("--no-rejected", action="store_true",
                    help="copy the conform captures only, not the hand-made rejected ones")
    ap.add_argument("--jitter", type=int, default=1, metavar="SEED",
                    help="gaps between starts drawn with this seed (-1: a fixed 2 ms)")
    ap.add_argument("--pad-to", type=int, default=0, metavar="BYTES",
                    help="pad every frame with an Ethernet trailer (a bigger file, same "
                    "connections: the memory figure for a 1 GB capture)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="passed to tcpcheck replay (fix what the scenarios cannot need)")
    args = ap.parse_args()
    sizes = args.connections or [100, 1000, 10000]
    originals = sources() + ([] if args.no_rejected else [CAPTURES / n for n in REJECTED])
    jitter = None if args.jitter < 0 else args.jitter
    if args.write_only is not None:
        truth = write_connections(args.write_only, originals, sizes[-1], jitter=jitter,
                                  pad_to=args.pad_to)
        kinds, verdicts = truth_counts(truth, originals)
        doc = {"connections": len(truth), "by_kind": dict(sorted(kinds.items())),
               "by_verdict": dict(sorted(verdicts.items()))}
        Path(f"{args.write_only}.truth.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(json.dumps(doc))
        return
    tshark = shutil.which("tshark")
    print("| connections | frames | file | tcpcheck replay --all (wall, CPU) | peak memory | "
          "distinct sequences | most open at once | tshark -q -z conv,tcp (wall, CPU) | "
          "ratio (CPU) | counts = truth |")
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            pcap = Path(tmp) / f"audit-{n}.pcap"
            truth = write_connections(pcap, originals, n, jitter=jitter, pad_to=args.pad_to)
            want_kinds, want_verdicts = truth_counts(truth, originals)
            params = [a for p in args.param for a in ("--param", p)]
            wall, cpu, mem, done = _timed([PY, "-m", "tcpcheck", "replay", str(pcap), "--all",
                                           "--json", *params])
            lines = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
            summary = lines[-1]
            got_kinds = Counter(r["kind"] for r in lines[:-1])
            got_verdicts = Counter(r["verdict"] for r in lines[:-1])
            same = (got_kinds == want_kinds and got_verdicts == want_verdicts)
            check = "yes" if same else (f"NO: {dict(got_kinds)} {dict(got_verdicts)} != "
                                        f"{dict(want_kinds)} {dict(want_verdicts)}")
            frames = summary["frames"]
            size = f"{pcap.stat().st_size / 1e6:,.0f} MB"
            if tshark:
                t_wall, t_cpu, _m, _d = _timed([tshark, "-q", "-z", "conv,tcp", "-r", str(pcap)])
                shark = f"{t_wall:.2f} s, {t_cpu:.2f} s"
                # by CPU time: on a shared machine the wall clock measures the others' load
                ratio = f"{cpu / t_cpu:.1f}x" if t_cpu else "-"
            else:
                shark, ratio = "not installed", "-"
            print(f"| {n:,} | {frames:,} | {size} | {wall:.2f} s, {cpu:.2f} s | {mem:.0f} MB | "
                  f"{summary['distinct_sequences']} | {summary['peak_open']} | {shark} | "
                  f"{ratio} | {check} |", flush=True)
            if not same:
                sys.exit(1)
            if args.keep is not None and n == sizes[-1]:
                shutil.copy(pcap, args.keep)
    print(f"\n(python {sys.version.split()[0]}, {os.cpu_count()} cores; times include "
          "start-up and loading the model; --param " + " ".join(args.param or ["none"]) + ")")


if __name__ == "__main__":
    main()
