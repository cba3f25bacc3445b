#!/usr/bin/env python3
"""How long reading (and replaying) one long TCP connection takes, by its number of packets.

    python bench/captures.py [--packets 10000 --packets 80000 ...] [--replay] [--command]
                             [--isolated]

For each size it writes a pcap of one loopback connection (handshake, then one-byte writes
each acknowledged, then a four-way close; Ethernet link type, as tcpdump -i lo writes) into a
temporary directory, and times `tcpcheck.capture.read_capture` on it in this process (the
best of three). With --replay it also times `tcpcheck.replay.replay` of the capture with
--from-close against the default model (the close is what is replayed; the data before it is
read and set aside). Prints a Markdown table; bench/RESULTS.md keeps the figures.

With --command it times the whole command a user runs instead, `tcpcheck replay FILE` (a new
process: reading, loading the model, the search over every parameter combination, the
report), by the wall clock and by the CPU time the process used (on a machine others share,
the CPU time is what the command costs; issue 12 asks for one million packets in under a
minute).

With --isolated each size is read once in a new process, which reports the CPU time of the
read and its peak resident memory (the process's high-water mark, interpreter and imports
included): the figures issue 12 sets a target for (1,000,000 packets in under 10 s of CPU and
500 MB). The load average is printed beside them.

Reading must be linear in the packets: the time per packet stays flat.
"""
from __future__ import annotations

import argparse
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIENT, SERVER = (b"\x7f\0\0\1", 40001), (b"\x7f\0\0\1", 5000)
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10


def frame(src, dst, seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    """An Ethernet frame with an IPv4 header and a 20-byte TCP header (checksums left 0: the
    reader does not check them)."""
    tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(data), 0, 0x4000, 64, 6, 0,
                     src[0], dst[0])
    return bytes(12) + b"\x08\x00" + ip + tcp + data


def write_connection(path: Path, packets: int, *, odd: int | None = None,
                     fin: int | None = None,
                     late: int | None = None, late_us: int = 0) -> None:
    """The connection of `packets` packets (see the module docstring). For tests of replay
    on captures it must reject: `odd` makes the server send a byte of data instead of the
    bare ACK of write number `odd` (counted from 0; a write past the last means none), and
    `fin` makes the client send a FIN with write number `fin` (then goes on writing), and
    `late` holds the server's ACK of write number `late` back by `late_us` microseconds."""
    nxt = {CLIENT: 1000, SERVER: 9000}
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    t = [0]

    def send(src, flags, data=b"", wait_us=50):
        dst = SERVER if src == CLIENT else CLIENT
        buf = frame(src, dst, nxt[src], nxt[dst] if flags & ACK else 0, flags, data)
        t[0] += wait_us
        out.append(struct.pack("<IIII", 1_700_000_000 + t[0] // 1_000_000, t[0] % 1_000_000,
                               len(buf), len(buf)) + buf)
        nxt[src] = (nxt[src] + len(data) + (1 if flags & (SYN | FIN) else 0)) % (1 << 32)

    send(CLIENT, SYN)
    send(SERVER, SYN | ACK)
    send(CLIENT, ACK)
    for write in range((packets - 7) // 2):
        send(CLIENT, PSH | ACK | (FIN if write == fin else 0), b"x")
        if write == fin:
            nxt[CLIENT] -= 1        # the FIN's sequence number, taken again by the next write
        if write == odd:
            send(SERVER, PSH | ACK, b"y")
        else:
            send(SERVER, ACK, wait_us=50 + (late_us if write == late else 0))
    send(CLIENT, FIN | ACK)
    send(SERVER, ACK)
    send(SERVER, FIN | ACK)
    send(CLIENT, ACK)
    path.write_bytes(b"".join(out))


def connections(sizes: list[int]) -> Iterator[tuple[int, Path]]:
    """For each size, a capture of one connection of that many packets (written into a
    temporary directory, removed at the end)."""
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"conn{n}.pcap"
            write_connection(path, n)
            yield n, path


def best_of(n: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(n):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def time_command(sizes: list[int]) -> None:
    """`tcpcheck replay FILE` on a connection of each size: wall clock, CPU, exit status."""
    print("| packets | wall s | CPU s | exit | verdict |")
    print("|---|---|---|---|---|")
    for n, path in connections(sizes):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "tcpcheck", "replay", str(path)],
                              cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        verdict = next((line.split(":")[1].strip() for line in done.stdout.splitlines()
                        if line.startswith("verdict:")), "-")
        print(f"| {n:,} | {wall:.1f} | {cpu:.1f} | {done.returncode} | {verdict} |",
              flush=True)


# the child of --isolated: read one capture, print "CPU seconds, peak RSS in KiB, segments"
_READ_ONCE = """
import resource, sys, time
from tcpcheck.capture import read_capture
start = time.process_time()
cap = read_capture(sys.argv[1])
cpu = time.process_time() - start
print(cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(cap.segments))
"""


def time_isolated(sizes: list[int]) -> None:
    """read_capture of a connection of each size, once, in a new process: CPU, peak RSS."""
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| packets | read CPU s | µs per packet | peak RSS MB | segments |")
    print("|---|---|---|---|---|")
    for n, path in connections(sizes):
        done = subprocess.run([sys.executable, "-c", _READ_ONCE, str(path)], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        cpu, rss_kib, segments = done.stdout.split()
        print(f"| {n:,} | {float(cpu):.2f} | {float(cpu) / n * 1e6:.1f} | "
              f"{int(rss_kib) / 1024:.0f} | {int(segments):,} |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, action="append",
                    help="connection sizes (default 10k, 20k, 40k, 80k, 1M)")
    ap.add_argument("--replay", action="store_true", help="also time the replay")
    ap.add_argument("--command", action="store_true",
                    help="time the command `tcpcheck replay FILE` end to end instead")
    ap.add_argument("--isolated", action="store_true",
                    help="read each size once in a new process: CPU time and peak memory")
    args = ap.parse_args()
    sizes = args.packets or [10_000, 20_000, 40_000, 80_000, 1_000_000]
    if args.isolated:
        time_isolated(sizes)
        return
    if args.command:
        time_command(sizes)
        return
    from tcpcheck.capture import read_capture

    ts = None
    if args.replay:
        from tcpcheck.replay import load_open, replay
        ts = load_open(ROOT / "models" / "teardown.tcpm", ["lossy_network=false"])
    print("| packets | read s | µs per packet | replay --from-close s | verdict |")
    print("|---|---|---|---|---|")
    for n, path in connections(sizes):
        read_s, cap = best_of(1 if n >= 500_000 else 3, lambda: read_capture(path))
        replay_s, verdict = "-", "-"
        if ts is not None:
            closing = read_capture(path, from_close=True)
            replay_s, r = best_of(1, lambda: replay(ts, closing))
            replay_s, verdict = f"{replay_s:.2f}", r.verdict
        print(f"| {n:,} | {read_s:.2f} | {read_s / n * 1e6:.1f} | {replay_s} | {verdict} |",
              flush=True)


if __name__ == "__main__":
    main()
