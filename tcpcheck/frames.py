"""Captured frames to TCP headers: the link types tcpdump writes on Linux, every length checked.

A frame is peeled one layer at a time: the link header its link type names (Ethernet, Linux
cooked SLL and SLL2, BSD loopback, raw IP, PPP), the encapsulations an access network adds
(802.1Q and 802.1ad VLAN tags, PPPoE sessions, MPLS labels), the IP header (IPv4, or IPv6 and
its chain of extension headers) and the TCP header. `decode` returns a `TcpFrame`, or a
`NotTcp` that says why the frame is not a TCP segment tcpcheck can read; the capture lists
those among what it set aside. No exception escapes `decode`, whatever the bytes.

Lengths come from the headers, not from the frame: Ethernet pads a short frame to 60 bytes,
and `tcpdump -s N` cuts a long one; the IP header says how long the TCP segment was, so a
capture that kept only the headers still counts the payload right.
"""
from __future__ import annotations

import functools
import socket
import struct
from dataclasses import dataclass

Endpoint = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TcpFrame:
    """A TCP header as the frame carried it (absolute sequence numbers)."""
    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int
    flags: int                   # the eight flag bits, CWR..FIN (RFC 9293 3.1)
    window: int
    length: int                  # payload bytes, as the IP header counts them
    options: tuple[str, ...]     # the options' names, "malformed options" when they do not parse


@dataclass(frozen=True, slots=True)
class NotTcp:
    """A frame that is not a TCP segment tcpcheck can read, and why."""
    what: str                    # the class, counted in the capture's summary: "not TCP", ...
    detail: str                  # this frame: "IPv4 protocol 17", "ethertype 0x0806", ...
    ends: tuple[Endpoint, Endpoint] | None = None   # the TCP endpoints, when they were readable


class _Skip(Exception):
    """Raised inside the decoder when a frame turns out not to be a readable TCP segment."""

    def __init__(self, what: str, detail: str, ends: tuple[Endpoint, Endpoint] | None = None):
        super().__init__(detail)
        self.result = NotTcp(what, detail, ends)


def _malformed(layer: str, detail: str) -> _Skip:
    return _Skip(f"malformed {layer}", detail)


def _need(buf: bytes, off: int, n: int, layer: str) -> None:
    """The frame must hold n bytes of this layer from off (else it was cut short)."""
    if off + n > len(buf):
        raise _Skip("truncated frame", f"{layer} cut off after {max(0, len(buf) - off)} of "
                    f"{n} bytes")


# ------------------------------------------------------------------ link types

# LINKTYPE_* numbers (tcpdump.org/linktypes.html) and how each one's header ends
ETHERNET, RAW_BSD, RAW_OPENBSD, PPP, PPP_HDLC, RAW = 1, 12, 14, 9, 50, 101
NULL, LOOP, LINUX_SLL, LINUX_SLL2, IPV4, IPV6 = 0, 108, 113, 276, 228, 229

# EtherTypes (IEEE 802): IP, the tags that stack in front of it, and what else a LAN carries
ETH_IPV4, ETH_IPV6, ETH_PPPOE_SESSION = 0x0800, 0x86DD, 0x8864
ETH_VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100})     # 802.1Q, 802.1ad (QinQ), pre-standard QinQ
ETH_MPLS = frozenset({0x8847, 0x8848})
_ETH_NAMES = {0x0806: "ARP", 0x8035: "RARP", 0x8863: "PPPoE discovery", 0x88CC: "LLDP",
              0x888E: "EAPOL", 0x88F7: "PTP", 0x8809: "slow protocols (LACP)"}

# PPP protocol numbers (RFC 1661, RFC 5072)
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
# BSD loopback's address family: AF_INET everywhere, AF_INET6 differs by system
AF_INET, AF_INET6_ANY = 2, frozenset({10, 24, 28, 30})


def decode(linktype: int, frame: bytes) -> TcpFrame | NotTcp:
    """The TCP header a captured frame of this link type carries, or why there is none."""
    try:
        return _link(linktype, frame)
    except _Skip as skip:
        return skip.result


# a TcpFrame's fields in its order: (src, dst, seq, ack, flags, window, length, options)
TcpFields = tuple[Endpoint, Endpoint, int, int, int, int, int, tuple[str, ...]]


def decode_fields(linktype: int, frame: bytes) -> TcpFields | NotTcp:
    """What `decode` says of the frame, a TCP segment as the tuple of its TcpFrame's fields.

    A capture of a million packets decodes a million frames: the frame every loopback or LAN
    capture is made of (IPv4 without options, TCP without options or with Linux's timestamps,
    behind an Ethernet or Linux cooked header) is read by one precompiled unpack, and its
    endpoints are shared tuples. Any other frame, or one whose lengths need a closer look,
    goes to `decode`, so both give the same answer on every frame (tests/test_capture_fast.py)."""
    where = _IPV4_AFTER.get(linktype)
    if where is not None and len(frame) >= where[1] + 40:
        etype_at, off = where
        if etype_at is None or frame[etype_at:etype_at + 2] == b"\x08\x00":
            (verihl, total, fragment, proto, src, dst, sport, dport, seq, ack, offset, flags,
             window) = _IPV4_TCP.unpack_from(frame, off)
            header = (offset >> 4) * 4
            # IPv4 with a 20-byte header, whole (no fragment), carrying TCP, a datagram long
            # enough for the TCP header its data offset claims, and the frame holding it all
            if (verihl == 0x45 and not fragment & 0x3FFF and proto == TCP_PROTO
                    and 20 <= header <= total - 20 and off + 20 + header <= len(frame)):
                if header == 20:
                    options: tuple[str, ...] = ()
                elif header == 32 and frame[off + 40:off + 44] == _NOP_NOP_TIMESTAMPS:
                    options = _NOP_AND_TIMESTAMPS
                else:
                    options = _options(frame[off + 40:off + 20 + header])
                return (_ENDPOINTS.get((src, sport)) or _endpoint(src, sport),
                        _ENDPOINTS.get((dst, dport)) or _endpoint(dst, dport), seq, ack, flags,
                        window, total - 20 - header, options)
    found = decode(linktype, frame)
    if isinstance(found, NotTcp):
        return found
    return (found.src, found.dst, found.seq, found.ack, found.flags, found.window,
            found.length, found.options)


# from the IPv4 header's first byte to the TCP window: version and header length, total
# length, fragment field, protocol, addresses, then ports, numbers, data offset, flags, window
_IPV4_TCP = struct.Struct(">BxHxxHxBxx4s4sHHIIBBH")
# link types whose frames carry IPv4 at a fixed offset: (where the EtherType is, or None when
# the link type alone says IP, where the IP header starts). RAW is read when it holds IPv4
# (a version 6 header fails the 0x45 test and goes to `decode`).
_IPV4_AFTER = {ETHERNET: (12, 14), LINUX_SLL: (14, 16), LINUX_SLL2: (0, 20), RAW: (None, 0),
               IPV4: (None, 0)}
_ENDPOINTS: dict[tuple[bytes, int], Endpoint] = {}


def _endpoint(raw: bytes, port: int) -> Endpoint:
    """(address text, port), one shared tuple per endpoint: a connection's packets name the
    same two endpoints each time (a bounded cache: a scan of many addresses may fill it)."""
    key = (raw, port)
    found = _ENDPOINTS.get(key)
    if found is None:
        found = (_ipv4_text(raw), port)
        if len(_ENDPOINTS) < 65536:
            _ENDPOINTS[key] = found
    return found


def _link(linktype: int, buf: bytes) -> TcpFrame:
    if linktype == ETHERNET:
        _need(buf, 0, 14, "Ethernet header")
        return _ethertype(buf, 14, _u16(buf, 12))
    if linktype == LINUX_SLL:        # tcpdump -i any (libpcap before 1.10)
        _need(buf, 0, 16, "Linux cooked header")
        return _ethertype(buf, 16, _u16(buf, 14))
    if linktype == LINUX_SLL2:       # tcpdump -i any (libpcap 1.10 and later)
        _need(buf, 0, 20, "Linux cooked v2 header")
        return _ethertype(buf, 20, _u16(buf, 0))
    if linktype in (NULL, LOOP):
        _need(buf, 0, 4, "loopback header")
        # LOOP: network byte order; NULL: the writer's own (a small number read either way)
        family = struct.unpack_from(">I", buf, 0)[0]
        if linktype == NULL and family > 0xFFFF:
            family = struct.unpack_from("<I", buf, 0)[0]
        if family == AF_INET:
            return _ipv4(buf, 4)
        if family in AF_INET6_ANY:
            return _ipv6(buf, 4)
        raise _Skip("not IP", f"loopback address family {family}")
    if linktype in (RAW, RAW_BSD, RAW_OPENBSD):
        return _ip_by_version(buf, 0)
    if linktype == IPV4:
        return _ipv4(buf, 0)
    if linktype == IPV6:
        return _ipv6(buf, 0)
    if linktype in (PPP, PPP_HDLC):
        off = 2 if buf[:2] == b"\xff\x03" else 0     # HDLC address and control, if present
        return _ppp(buf, off)
    raise _Skip("unknown link type", f"link type {linktype}, which tcpcheck does not read")


def _ethertype(buf: bytes, off: int, etype: int) -> TcpFrame:
    """What follows an EtherType: IP, or tags and sessions in front of it (any number)."""
    while True:
        if etype == ETH_IPV4:
            return _ipv4(buf, off)
        if etype == ETH_IPV6:
            return _ipv6(buf, off)
        if etype in ETH_VLAN_TAGS:               # tag control (2 bytes), then the next type
            _need(buf, off, 4, "VLAN tag")
            etype, off = _u16(buf, off + 2), off + 4
            continue
        if etype == ETH_PPPOE_SESSION:
            return _pppoe(buf, off)
        if etype in ETH_MPLS:
            return _mpls(buf, off)
        if etype < 0x0600:
            raise _Skip("not IP", "an 802.3 frame (length field, LLC)")
        name = _ETH_NAMES.get(etype)
        raise _Skip("not IP", f"ethertype 0x{etype:04x}" + (f" ({name})" if name else ""))


def _pppoe(buf: bytes, off: int) -> TcpFrame:
    """A PPPoE session frame (RFC 2516 4): version/type 0x11, code 0, session, length, PPP."""
    _need(buf, off, 6, "PPPoE header")
    if buf[off] != 0x11 or buf[off + 1] != 0:
        raise _malformed("PPPoE header", f"PPPoE version/type 0x{buf[off]:02x} code "
                         f"0x{buf[off + 1]:02x} in a session frame")
    if _u16(buf, off + 4) < 2:
        raise _malformed("PPPoE header", f"PPPoE length {_u16(buf, off + 4)} cannot hold a "
                         "PPP protocol")
    return _ppp(buf, off + 6)


def _ppp(buf: bytes, off: int) -> TcpFrame:
    """A PPP protocol field (RFC 1661 2; one byte when compressed: an odd first byte)."""
    _need(buf, off, 1, "PPP protocol")
    if buf[off] & 1:
        proto, off = buf[off], off + 1
    else:
        _need(buf, off, 2, "PPP protocol")
        proto, off = _u16(buf, off), off + 2
    if proto == PPP_IPV4:
        return _ipv4(buf, off)
    if proto == PPP_IPV6:
        return _ipv6(buf, off)
    raise _Skip("not IP", f"PPP protocol 0x{proto:04x}")


def _mpls(buf: bytes, off: int) -> TcpFrame:
    """MPLS labels (RFC 3032), 4 bytes each up to the bottom of the stack, then IP."""
    while True:
        _need(buf, off, 4, "MPLS label")
        bottom = buf[off + 2] & 1
        off += 4
        if bottom:
            return _ip_by_version(buf, off)


def _ip_by_version(buf: bytes, off: int) -> TcpFrame:
    _need(buf, off, 1, "IP header")
    version = buf[off] >> 4
    if version == 4:
        return _ipv4(buf, off)
    if version == 6:
        return _ipv6(buf, off)
    raise _Skip("not IP", f"IP version {version}")


# ------------------------------------------------------------------ IP

TCP_PROTO = 6
# IPv6 extension headers that TCP may follow (RFC 8200 4; RFC 4302 AH; RFC 6275, 7401, 5533)
HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTIONS, AH, ESP, NO_NEXT = 0, 43, 44, 60, 51, 50, 59
_EXTENSIONS = frozenset({HOP_BY_HOP, ROUTING, DEST_OPTIONS, 135, 139, 140})
_PROTO_NAMES = {1: "ICMP", 17: "UDP", 58: "ICMPv6", 132: "SCTP", 47: "GRE", 50: "ESP"}


def _not_tcp(family: str, proto: int) -> _Skip:
    name = _PROTO_NAMES.get(proto)
    return _Skip("not TCP", f"{family} protocol {proto}" + (f" ({name})" if name else ""))


def _ipv4(buf: bytes, off: int) -> TcpFrame:
    """An IPv4 header (RFC 791 3.1): its own length, the datagram's, fragments, protocol."""
    _need(buf, off, 20, "IPv4 header")
    if buf[off] >> 4 != 4:
        raise _malformed("IPv4 header", f"IP version {buf[off] >> 4} in an IPv4 header")
    header = (buf[off] & 0x0F) * 4
    total = _u16(buf, off + 2)
    if total == 0:          # a segmentation offload that left the length for the NIC to fill
        total = len(buf) - off
    if header < 20 or header > total:
        raise _malformed("IPv4 header", f"IPv4 header length {header} with total length {total}")
    _need(buf, off, header, "IPv4 header")
    fragment = _u16(buf, off + 6)
    if fragment & 0x1FFF or fragment & 0x2000:      # an offset, or more fragments to come
        raise _Skip("IP fragment", f"IPv4 fragment at offset {(fragment & 0x1FFF) * 8}")
    if buf[off + 9] != TCP_PROTO:
        raise _not_tcp("IPv4", buf[off + 9])
    addrs = (_ipv4_text(buf[off + 12:off + 16]), _ipv4_text(buf[off + 16:off + 20]))
    return _tcp(buf, off + header, total - header, addrs)


# a connection repeats its two addresses in every packet: each is written out once
@functools.lru_cache(maxsize=4096)
def _ipv4_text(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, raw)


def _ipv6(buf: bytes, off: int) -> TcpFrame:
    """An IPv6 header (RFC 8200 3) and its extension headers, walked to TCP."""
    _need(buf, off, 40, "IPv6 header")
    if buf[off] >> 4 != 6:
        raise _malformed("IPv6 header", f"IP version {buf[off] >> 4} in an IPv6 header")
    remaining = _u16(buf, off + 4)
    if remaining == 0:      # a jumbogram or an offloaded segment: the frame says how long
        remaining = len(buf) - off - 40
    nxt = buf[off + 6]
    addrs = (socket.inet_ntop(socket.AF_INET6, buf[off + 8:off + 24]),
             socket.inet_ntop(socket.AF_INET6, buf[off + 24:off + 40]))
    off += 40
    while nxt != TCP_PROTO:       # each extension header is at least 8 bytes: this ends
        if nxt in _EXTENSIONS or nxt == AH:
            _need(buf, off, 2, "IPv6 extension header")
            size = (buf[off + 1] + 2) * 4 if nxt == AH else (buf[off + 1] + 1) * 8
        elif nxt == FRAGMENT:
            _need(buf, off, 8, "IPv6 fragment header")
            fragment = _u16(buf, off + 2)
            if fragment & 0xFFF9:                   # an offset, or more fragments to come
                raise _Skip("IP fragment", f"IPv6 fragment at offset {fragment & 0xFFF8}")
            size = 8                                # an atomic fragment (RFC 6946): whole
        elif nxt == NO_NEXT:
            raise _Skip("not TCP", "IPv6 with no next header")
        else:
            raise _not_tcp("IPv6", nxt)
        if size > remaining:
            raise _malformed("IPv6 header", f"extension header {nxt} of {size} bytes in a "
                             f"payload of {remaining}")
        _need(buf, off, size, "IPv6 extension header")
        nxt, off, remaining = buf[off], off + size, remaining - size
    return _tcp(buf, off, remaining, addrs)


# ------------------------------------------------------------------ TCP

# option kinds (IANA), with the length each must have where it is fixed (RFC 9293 3.2,
# RFC 7323, RFC 2018)
_OPTION_NAMES = {0: "end", 1: "NOP", 2: "MSS", 3: "window scale", 4: "SACK permitted",
                 5: "SACK", 8: "timestamps", 30: "MPTCP", 34: "TCP fast open"}
_OPTION_LENGTHS = {2: 4, 3: 3, 4: 2, 8: 10}
MALFORMED_OPTIONS = "malformed options"


def _tcp(buf: bytes, off: int, length: int, addrs: tuple[str, str]) -> TcpFrame:
    """A TCP header (RFC 9293 3.1) of a segment `length` bytes long (header and payload)."""
    if length < 20:
        raise _malformed("TCP header", f"a TCP segment of {length} bytes (the header alone "
                         "is 20)")
    _need(buf, off, 20, "TCP header")
    sport, dport, seq, ack, offset, flags, window = struct.unpack_from(">HHIIBBH", buf, off)
    ends = ((addrs[0], sport), (addrs[1], dport))
    header = (offset >> 4) * 4
    if header < 20 or header > length:
        raise _Skip("malformed TCP header", f"TCP data offset {header} in a segment of "
                    f"{length} bytes", ends)
    if off + header > len(buf):
        raise _Skip("truncated frame", f"TCP options cut off after {len(buf) - off - 20} of "
                    f"{header - 20} bytes", ends)
    options = _options(buf[off + 20:off + header])
    return TcpFrame(ends[0], ends[1], seq, ack, flags, window, length - header, options)


def _options(raw: bytes) -> tuple[str, ...]:
    """The options' names, sorted; "malformed options" among them when one's length is wrong.

    A segment with a malformed option is still a segment: Linux's tcp_parse_options stops at
    such an option and processes the segment (RFC 9293 3.1, MUST-7: do not crash on it)."""
    if not raw:
        return ()
    if len(raw) == 12 and raw[:4] == _NOP_NOP_TIMESTAMPS:
        return _NOP_AND_TIMESTAMPS      # Linux's every segment after the SYN: read once
    names: set[str] = set()
    off = 0
    while off < len(raw):
        kind = raw[off]
        names.add(_OPTION_NAMES.get(kind, f"option {kind}"))
        if kind == 0:                     # end of the option list: the rest is padding
            break
        if kind == 1:
            off += 1
            continue
        size = raw[off + 1] if off + 1 < len(raw) else 0
        fixed = _OPTION_LENGTHS.get(kind)
        if (size < 2 or off + size > len(raw) or (fixed is not None and size != fixed)
                or (kind == 5 and (size - 2) % 8)):
            names.add(MALFORMED_OPTIONS)
            break
        off += size
    return tuple(sorted(names))


# NOP, NOP, then the timestamps option (kind 8, length 10): what Linux puts on every segment
# of a connection that agreed on timestamps, whose values differ in every segment
_NOP_NOP_TIMESTAMPS = bytes((1, 1, 8, 10))
_NOP_AND_TIMESTAMPS = ("NOP", "timestamps")


def _u16(buf: bytes, off: int) -> int:
    return (buf[off] << 8) | buf[off + 1]
