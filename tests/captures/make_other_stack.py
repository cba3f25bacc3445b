"""Write tests/captures/oneside/: captures where only one endpoint is Linux.

Run from the repository root: `python tests/captures/make_other_stack.py`. Each starts from a
capture `tcpcheck conform` made on Linux 6.18 over loopback and changes only the *peer's*
frames, the way another stack behaves; the Linux endpoint's frames are kept byte for byte. The
Linux model cannot produce the peer's side, so two-sided replay rejects these captures, and
`replay --side` of the Linux endpoint must accept them (tests/test_oneside.py).

- linux_server_peer_resets.pcap: from passive_closes_at_once.pcap (client closes, the Linux
  server answers with FIN+ACK). The client answers that FIN+ACK with RST+ACK instead of the
  last ACK, as stacks and load balancers that abort instead of lingering do (Windows
  applications that close with SO_LINGER 0 after the peer's FIN, for one). Linux in FIN_WAIT_1
  acknowledges a FIN+ACK and enters TIME_WAIT (tcp_rcv_state_process): never an RST.
"""
from __future__ import annotations

from pathlib import Path

import dpkt

HERE = Path(__file__).parent
OUT = HERE / "oneside"


def frames(path: Path) -> tuple[int, list[tuple[float, dpkt.ethernet.Ethernet]]]:
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        return reader.datalink(), [(ts, dpkt.ethernet.Ethernet(buf)) for ts, buf in reader]


def write(path: Path, linktype: int, packets) -> None:
    with path.open("wb") as f:
        w = dpkt.pcap.Writer(f, linktype=linktype)
        for ts, eth in packets:
            w.writepkt(bytes(eth), ts=ts)


def reset_instead_of_last_ack() -> None:
    linktype, packets = frames(HERE / "passive_closes_at_once.pcap")
    client_port = packets[0][1].data.data.sport       # the SYN's sender is the client
    last = max(k for k, (_ts, eth) in enumerate(packets) if eth.data.data.sport == client_port)
    tcp = packets[last][1].data.data
    assert tcp.flags == dpkt.tcp.TH_ACK, "the client's last segment is the ACK of the FIN+ACK"
    tcp.flags = dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK
    tcp.sum = 0                                        # dpkt recomputes both checksums
    packets[last][1].data.sum = 0
    write(OUT / "linux_server_peer_resets.pcap", linktype, packets)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    reset_instead_of_last_ack()


if __name__ == "__main__":
    main()
