"""Write tests/captures/links/: one real connection under every link type and encapsulation.

Run from the repository root: `python tests/captures/make_link_types.py`. Foreign link types
cannot be captured on this machine, so each file is the real loopback capture
passive_sends_data_then_closes.pcap (tcpdump -i lo, Ethernet) with its link header rewritten:
the IP packets, their times and their order are the captured ones. tests/test_capture_links.py
checks that every file reads and replays exactly like the original.

- IPv4 under: 802.1Q and QinQ (802.1ad) VLAN tags, PPPoE sessions (with and without a VLAN
  tag), MPLS, Linux cooked SLL and SLL2, BSD loopback NULL (little-endian) and LOOP, raw IP
  (101 and 228), PPP; and in pcapng;
- the same connection as IPv6 (::1; TCP checksums recomputed), plain and with a chain of
  extension headers (hop-by-hop, routing, atomic fragment, destination options);
- noise.pcapng: the Ethernet original with frames tcpcheck must set aside between its
  segments (ARP, UDP, an IPv4 fragment, the connection's SYN with a bad TCP data offset, a
  frame on a second interface of a link type tcpcheck does not read).

The bytes are deterministic, so the files change only when this script does.
"""
from __future__ import annotations

import struct
from pathlib import Path

import dpkt

HERE = Path(__file__).parent
SOURCE = HERE / "passive_sends_data_then_closes.pcap"
OUT = HERE / "links"
LOCAL6 = bytes(15) + b"\x01"        # ::1
MAC = bytes(6)


def read_source() -> list[tuple[float, dpkt.ip.IP]]:
    with SOURCE.open("rb") as f:
        return [(ts, dpkt.ethernet.Ethernet(buf).data) for ts, buf in dpkt.pcap.Reader(f)]


def ethernet(ethertype: int, payload: bytes) -> bytes:
    return MAC + MAC + struct.pack(">H", ethertype) + payload


def vlan(tpid: int, vid: int, inner_type: int) -> bytes:
    """A tag: its protocol identifier, then priority 0 and the VLAN id, then the inner type."""
    return struct.pack(">HHH", tpid, vid, inner_type)


def pppoe(ip: bytes) -> bytes:
    """A PPPoE session frame (RFC 2516): version/type 0x11, code 0, session 0x1234, then PPP
    protocol 0x0021 (IPv4) and the packet."""
    ppp = struct.pack(">H", 0x0021) + ip
    return struct.pack(">BBHH", 0x11, 0, 0x1234, len(ppp)) + ppp


# each IPv4 encapsulation: (file name, link type, frame from the IP packet's bytes)
IPV4_LINKS = [
    ("vlan.pcap", 1, lambda ip: ethernet(0x8100, struct.pack(">HH", 100, 0x0800) + ip)),
    ("qinq.pcap", 1, lambda ip: MAC + MAC + vlan(0x88A8, 200, 0x8100)
     + struct.pack(">HH", 100, 0x0800) + ip),
    ("pppoe.pcap", 1, lambda ip: ethernet(0x8864, pppoe(ip))),
    ("pppoe_vlan.pcap", 1, lambda ip: ethernet(0x8100, struct.pack(">HH", 7, 0x8864) + pppoe(ip))),
    ("mpls.pcap", 1, lambda ip: ethernet(0x8847, struct.pack(">I", (16 << 12) | 0x100 | 64) + ip)),
    # Linux cooked: packet type (0 to us, 4 outgoing), ARPHRD_LOOPBACK 772, address, protocol
    ("sll.pcap", 113, lambda ip: struct.pack(">HHH8sH", 0, 772, 6, MAC, 0x0800) + ip),
    ("sll2.pcap", 276, lambda ip: struct.pack(">HHIHBB8s", 0x0800, 0, 1, 772, 0, 6, MAC) + ip),
    ("null.pcap", 0, lambda ip: struct.pack("<I", 2) + ip),       # AF_INET, writer's order
    ("loop.pcap", 108, lambda ip: struct.pack(">I", 2) + ip),     # AF_INET, network order
    ("raw.pcap", 101, lambda ip: ip),
    ("ipv4.pcap", 228, lambda ip: ip),
    ("ppp.pcap", 9, lambda ip: b"\xff\x03" + struct.pack(">H", 0x0021) + ip),
]


def write_pcap(name: str, linktype: int, frames: list[tuple[float, bytes]]) -> None:
    with (OUT / name).open("wb") as f:
        w = dpkt.pcap.Writer(f, linktype=linktype)
        for ts, frame in frames:
            w.writepkt(frame, ts=ts)


# ------------------------------------------------------------------ pcapng, by hand


def _block(btype: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def write_pcapng(name: str, linktypes: list[int], frames: list[tuple[float, int, bytes]]) -> None:
    """A section header, an interface per link type, then (time, interface, frame) packets."""
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for linktype in linktypes:
        out += _block(1, struct.pack("<HHI", linktype, 0, 262144))
    for ts, iface, frame in frames:
        micros = round(ts * 1e6)
        out += _block(6, struct.pack("<IIIII", iface, micros >> 32, micros & 0xFFFFFFFF,
                                     len(frame), len(frame)) + frame)
    (OUT / name).write_bytes(out)


# ------------------------------------------------------------------ IPv6


def as_ipv6(ip: dpkt.ip.IP) -> bytes:
    tcp = dpkt.tcp.TCP(bytes(ip.data))
    tcp.sum = 0
    return bytes(dpkt.ip6.IP6(src=LOCAL6, dst=LOCAL6, nxt=6, hlim=64, plen=len(tcp), data=tcp))


def with_extension_headers(ip6: bytes) -> bytes:
    """The same packet with hop-by-hop, routing, atomic fragment and destination options
    headers between the IPv6 header and TCP (RFC 8200 4.1's order), 8 bytes each."""
    pad_n = b"\x01\x04" + bytes(4)                    # a PadN option filling the header
    chain = (bytes([43, 0]) + pad_n                   # hop-by-hop, then routing
             + bytes([44, 0, 253, 0, 0, 0, 0, 0])     # routing type 253 (RFC 4727), 0 left
             + bytes([60, 0, 0, 0]) + struct.pack(">I", 0x5EED)   # fragment: offset 0, last
             + bytes([6, 0]) + pad_n)                 # destination options, then TCP
    plen = struct.unpack(">H", ip6[4:6])[0] + len(chain)
    return ip6[:4] + struct.pack(">HB", plen, 0) + ip6[7:40] + chain + ip6[40:]


# ------------------------------------------------------------------ frames to set aside


def noise(syn: bytes) -> list[tuple[int, bytes]]:
    """(interface, frame) of frames that are not readable TCP: each is listed as ignored. The
    connection's own SYN with a TCP data offset of 8 bytes is listed as the client's."""
    arp = ethernet(0x0806, struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + bytes(20))
    udp = bytes(dpkt.ip.IP(src=b"\x7f\0\0\1", dst=b"\x7f\0\0\1", p=17, ttl=64,
                           data=dpkt.udp.UDP(sport=5353, dport=5353, data=b"mdns")))
    fragment = bytearray(bytes(dpkt.ip.IP(src=b"\x7f\0\0\1", dst=b"\x7f\0\0\1", p=6, ttl=64,
                                          data=bytes(24))))
    fragment[6:8] = struct.pack(">H", 0x2000)         # more fragments follow
    bad_offset = bytearray(syn)
    bad_offset[20 + 12] = 0x20                        # a TCP data offset of 8 bytes
    return [(0, arp), (0, ethernet(0x0800, udp)), (0, ethernet(0x0800, bytes(fragment))),
            (0, ethernet(0x0800, bytes(bad_offset))), (1, b"\x00" * 32)]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    packets = read_source()
    for name, linktype, frame in IPV4_LINKS:
        write_pcap(name, linktype, [(ts, frame(bytes(ip))) for ts, ip in packets])
    write_pcapng("ethernet.pcapng", [1],
                 [(ts, 0, ethernet(0x0800, bytes(ip))) for ts, ip in packets])
    write_pcap("ipv6.pcap", 229, [(ts, as_ipv6(ip)) for ts, ip in packets])
    write_pcap("ipv6_extension_headers.pcap", 229,
               [(ts, with_extension_headers(as_ipv6(ip))) for ts, ip in packets])
    write_pcapng("ipv6_extension_headers.pcapng", [1],
                 [(ts, 0, ethernet(0x86DD, with_extension_headers(as_ipv6(ip))))
                  for ts, ip in packets])
    mixed: list[tuple[float, int, bytes]] = []
    extra = noise(bytes(packets[0][1]))
    for k, (ts, ip) in enumerate(packets):
        if k < len(extra):
            mixed.append((ts - 0.0001, *extra[k]))
        mixed.append((ts, 0, ethernet(0x0800, bytes(ip))))
    write_pcapng("noise.pcapng", [1, 147], mixed)    # 147: LINKTYPE_USER0


if __name__ == "__main__":
    main()
