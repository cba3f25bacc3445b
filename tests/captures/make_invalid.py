"""Write the hand-made captures in tests/captures/invalid/: teardowns TCP cannot produce.

Run from the repository root: `python tests/captures/make_invalid.py`. Each capture is a
loopback connection (Ethernet link type, as `tcpdump -i lo` writes) with a real handshake and
then the segments below, sequence and acknowledgement numbers computed as a kernel would.
The bytes are deterministic (fixed addresses, ports, ISNs and times), so the files only
change when this script does. tests/test_replay.py names the segment each must fail at.
"""
from __future__ import annotations

import socket
from pathlib import Path

import dpkt

OUT = Path(__file__).parent / "invalid"
CLIENT, SERVER = ("127.0.0.1", 40001), ("127.0.0.1", 5000)
ISN = {"C": 1000, "S": 9000}
F, S, R, P, A = dpkt.tcp.TH_FIN, dpkt.tcp.TH_SYN, dpkt.tcp.TH_RST, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_ACK


class Conn:
    """Tracks each side's next sequence number so that segments read as a kernel's would."""

    def __init__(self):
        self.nxt = {"C": ISN["C"], "S": ISN["S"]}
        self.frames: list[tuple[float, bytes]] = []

    def send(self, side: str, flags: int, data: bytes = b"", ack_to: int | None = None,
             after_ms: float = 1.0) -> None:
        peer = "S" if side == "C" else "C"
        src, dst = (CLIENT, SERVER) if side == "C" else (SERVER, CLIENT)
        ack = self.nxt[peer] if ack_to is None else ack_to
        tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=self.nxt[side],
                           ack=ack if flags & A else 0, flags=flags, win=512, data=data)
        tcp.off = 5
        ip = dpkt.ip.IP(src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]),
                        p=dpkt.ip.IP_PROTO_TCP, ttl=64, data=tcp)
        ip.len = len(ip)
        eth = dpkt.ethernet.Ethernet(src=b"\0" * 6, dst=b"\0" * 6,
                                     type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
        last = self.frames[-1][0] if self.frames else 1_700_000_000.0
        self.frames.append((last + after_ms / 1000, bytes(eth)))
        self.nxt[side] += len(data) + (1 if flags & (S | F) else 0)

    def handshake(self) -> "Conn":
        self.send("C", S)
        self.send("S", S | A)
        self.send("C", A)
        return self

    def write(self, name: str) -> None:
        with (OUT / name).open("wb") as f:
            w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
            for ts, frame in self.frames:
                w.writepkt(frame, ts=round(ts, 6))


def main() -> None:
    OUT.mkdir(exist_ok=True)

    # A FIN answered by nothing: the server never acknowledges it nor closes.
    c = Conn().handshake()
    c.send("C", F | A)
    c.write("fin_answered_by_nothing.pcap")

    # Data after the sender's own FIN: a side that has said "no more data" sends some.
    c = Conn().handshake()
    c.send("C", F | A)
    c.send("S", F | A)
    c.send("S", P | A, b"late")
    c.send("C", A)
    c.write("data_after_fin.pcap")

    # Data after RST: the client resets the connection, then goes on sending.
    c = Conn().handshake()
    c.send("C", R | A)
    c.send("C", P | A, b"more")
    c.write("data_after_rst.pcap")

    # An order TCP cannot produce: in LAST_ACK, waiting for the last ACK, the passive side
    # resets the connection with nothing arriving to provoke it.
    c = Conn().handshake()
    c.send("C", F | A)
    c.send("S", A)
    c.send("S", F | A)
    c.send("S", R | A)
    c.write("rst_from_last_ack.pcap")

    # The right segments at an impossible time: a three-way close whose FIN+ACK comes 300 ms
    # after the FIN, when the delayed ACK would have gone out on its own within 200 ms.
    c = Conn().handshake()
    c.send("C", F | A)
    c.send("S", F | A, after_ms=300)
    c.send("C", A)
    c.write("late_fin_ack.pcap")


if __name__ == "__main__":
    main()
