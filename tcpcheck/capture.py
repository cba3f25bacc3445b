"""Packet captures as the model's segments: pcap, pcapng (tcpdump, tshark) or a JSON trace.

`read_capture(path, conn=None)` returns a `Capture`: one TCP connection's teardown as the list
of segments each side sent, in capture order (on loopback that is send order), translated
into the model's vocabulary:

- flags: RST -> `RST`; a FIN -> `FIN+ACK` when it acknowledges the peer's FIN (the
  three-way close's FIN+ACK), else `FIN`; payload -> `DATA` (one unit per segment, whatever
  its length); a bare ACK that acknowledges something new -> `ACK`. A FIN carrying data is
  split into DATA then FIN (the model sends them separately);
- `ack`: how many of the peer's *units* (data segments and its FIN) the segment acknowledges,
  counted from relative sequence numbers (RFC 9293 3.4: a FIN takes one sequence number).
  Data segments count up to DATA_COUNTED (more is "that many or more") and the FIN one on
  top, as the model counts them (models/teardown.tcpm, `data_phase`): an exchange of any
  length maps onto the model's bounded counts, and an ack covers the FIN exactly when it
  equals the data sent plus one. The segment's text keeps the real numbers.

What does not matter to teardown is set aside and reported in `Capture.ignored`: the
handshake (SYN, SYN+ACK and the ACK that completes it), duplicate ACKs, window updates,
keep-alives, retransmissions; PSH, URG, ECE/CWR and TCP options are noted once.

The pcap and pcapng containers are read here (both are small block formats), so that a
corrupt or truncated file gives a precise message, located by record and byte offset;
tcpcheck.frames decodes each frame's link, IP and TCP headers. A frame that is not a TCP
segment tcpcheck can read (another protocol, an unknown link type, a malformed header) is
listed in `Capture.ignored` with the reason. Every bad file raises TcpcheckError with a stable
code (TCP6xx), never a traceback. Reading is linear in the number of packets.
"""
from __future__ import annotations

import bisect
import contextlib
import gc
import io
import json
import stat
import struct
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, NamedTuple
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic, TcpcheckError
from .frames import MALFORMED_OPTIONS, NotTcp, decode_fields
from .kinds import CloseKind, CloseRecord
from .segment import Segment
from .tcp import Flags

# The model counts a side's data segments up to this many (models/teardown.tcpm: `sent`,
# `rcvd` and the segment's `ack` saturate there); acks are shown to it counted the same way.
DATA_COUNTED = 2

# TCP header flag bits (RFC 9293 3.1)
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
_MOD = 1 << 32


def _bad(code: str, message: str, *notes: str) -> TcpcheckError:
    return TcpcheckError([Diagnostic(code, message, None, tuple(notes))])


# ------------------------------------------------------------------ data

class Packet(NamedTuple):
    """One TCP segment as it appears in the file (absolute numbers). A named tuple, not a
    frozen dataclass: a capture holds one per packet, and a tuple is built in a fifth of the
    time (a dataclass's frozen __init__ sets each field through object.__setattr__)."""
    frame: int                   # 1-based position in the file (or step in a JSON trace)
    time: float                  # seconds
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    ack: int
    flags: int
    length: int                  # payload bytes
    window: int
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CapturedSegment:
    """One segment of the connection in the model's words, and where the capture shows it."""
    number: int                  # 1-based among the kept segments
    frame: int                   # where it is in the file
    side: str                    # "client" (sent the SYN) or "server"
    segment: Segment             # flags FIN, FIN+ACK, ACK, DATA or RST; the fields `ack` (the
                                 # peer's units acknowledged; none on an RST) and `stale` (a
                                 # bare ACK sent after the sender's FIN with the sequence
                                 # number from before it), present only when true
    tcp: str                     # the real segment, tcpdump style: "F. seq 1 ack 1 len 0"
    time_ms: float | None = None  # since the first kept segment

    @classmethod
    def of(cls, number: int, frame: int, side: str, flags: Flags, ack: int | None, tcp: str,
           time_ms: float | None = None, stale: bool = False) -> CapturedSegment:
        fields: tuple = () if ack is None else (("ack", ack),)
        if stale:
            fields += (("stale", True),)
        return cls(number, frame, side, Segment(flags, fields), tcp, time_ms)

    @property
    def flags(self) -> Flags:
        return self.segment.flags

    @property
    def ack(self) -> int | None:
        return self.segment.get("ack")

    @property
    def stale(self) -> bool:
        return bool(self.segment.get("stale", False))

    @property
    def short(self) -> str:
        """Compact form for tables: side letter and real TCP flags, e.g. `C:FA`, `S:DA`."""
        return f"{self.side[0].upper()}:{_letters(self.tcp)}"

    def as_model(self) -> dict:
        return self.segment.as_dict()

    def text(self) -> str:
        body = str(self.flags) if self.ack is None else f"{self.flags}(ack={self.ack})"
        if self.stale:
            body = body[:-1] + ",stale)" if body.endswith(")") else body + "(stale)"
        where = f"frame {self.frame}" if self.frame else "segment"
        return f"#{self.number} {self.side} sends {body}  [{where}: {self.tcp}]"

    def as_json(self) -> dict:
        return {"number": self.number, "frame": self.frame, "side": self.side,
                "flags": str(self.flags), "ack": self.ack, "tcp": self.tcp, "short": self.short,
                "time_ms": self.time_ms, "stale": self.stale}


@dataclass(frozen=True, slots=True)
class Ignored:
    frame: int
    side: str | None             # None: a frame of no TCP connection (not TCP, unreadable)
    what: str                    # "handshake", "duplicate ACK", "window update", "not TCP", ...
    tcp: str                     # the segment, tcpdump style; for a frame that is not a
                                 # readable TCP segment, why ("IPv4 protocol 17 (UDP)")

    def as_json(self) -> dict:
        return {"frame": self.frame, "side": self.side, "what": self.what, "tcp": self.tcp}


@dataclass
class Capture:
    source: str
    format: str                  # "pcap", "pcapng" or "json"
    connection: str              # "client 127.0.0.1:34518 <-> server 127.0.0.1:40123"
    segments: list[CapturedSegment]
    ignored: list[Ignored] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)  # every connection in the file
    # the handshake's round trip (SYN to the ACK that completes it), ms; None without one.
    # Wherever the capture was taken, that span is one crossing of the whole path each way.
    round_trip_ms: float | None = None
    in_flight: int = 0           # the most segments one side had sent that the other had not
                                 # yet acknowledged (see _in_flight): how deep a queue the
                                 # model's channels need for this capture

    @property
    def compact(self) -> str:
        return " ".join(s.short for s in self.segments)

    def ignored_summary(self) -> list[str]:
        """'what: n' per kind of ignored segment, in first-seen order."""
        counts: dict[str, int] = {}
        for i in self.ignored:
            counts[i.what] = counts.get(i.what, 0) + 1
        return [f"{what} x{n}" if n > 1 else what for what, n in counts.items()]

    def as_json(self) -> dict:
        return {"source": self.source, "format": self.format, "connection": self.connection,
                "compact": self.compact, "segments": [s.as_json() for s in self.segments],
                "ignored": [i.as_json() for i in self.ignored], "notes": list(self.notes),
                "connections": list(self.connections)}


def _letters(tcp: str) -> str:
    head = tcp.split(" ", 1)[0]
    out = ""
    if "D" in head:
        out += "D"
    for ch, letter in (("F", "F"), ("R", "R"), (".", "A")):
        if ch in head:
            out += letter
    return out


# ------------------------------------------------------------------ entry point

PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",      # microseconds, either byte order
               b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")      # nanoseconds
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def read_capture(path: str | Path, conn: str | None = None, from_close: bool = False,
                 poll: Callable[[], None] | None = None) -> Capture:
    """Read a capture file (pcap, pcapng or JSON trace) and pick one TCP connection.

    `conn` chooses among several connections: a 1-based number, a port, or
    `ADDR:PORT-ADDR:PORT`. Without it the first connection that carries a FIN or an RST is
    taken (the others are listed in `Capture.connections`). With `from_close` the segments
    before the connection's first FIN or RST are set aside (a request and its response, say)
    and sequence numbers count from there. Raises TcpcheckError (TCP6xx).

    `poll` is called every POLL_RECORDS records and may raise to stop the reading (the
    command's --time-limit, --max-memory or a signal: a million-packet file takes seconds)."""
    path = Path(path)
    with _opened(path) as stream:
        try:
            # a pcap or pcapng file is read a record at a time (a million-packet file is
            # not held in memory beside its packets); a JSON trace is read whole
            magic = stream.read(4)
            found = _records(path, magic, stream)
            if found is not None:
                fmt, records = found
                if poll is not None:
                    records = _polled(records, poll)
                with no_cycle_collection():
                    conns, skipped = _split_frames(decoded(records))
                    return _connection(conns, skipped, str(path), fmt, conn, from_close, poll)
            data = magic + stream.read()
        except OSError as err:
            raise _bad("TCP600", f"cannot read {path}: {err.strerror or err}") from None
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        return _read_json(data, path)
    if not data:
        raise _bad("TCP601", f"{path} is empty: not a pcap, pcapng or JSON trace")
    raise _bad("TCP601", f"{path} is not a pcap, pcapng or JSON trace (it starts with bytes "
               f"{data[:4].hex(' ')})", "write captures with tcpdump -w FILE, or give a JSON "
               "trace as `tcpcheck trace --json` prints it")


POLL_RECORDS = 1 << 14   # about a tenth of a second of reading between two looks


def _polled(items: Iterable, poll: Callable[[], None]) -> Iterator:
    """The items (records, packets), with `poll()` called before the first and every
    POLL_RECORDS after."""
    for i, item in enumerate(items):
        if not i % POLL_RECORDS:
            poll()
        yield item


@contextlib.contextmanager
def no_cycle_collection(freeze: bool = False) -> Iterator[None]:
    """The cyclic garbage collector paused: reading makes a few objects per packet, none in
    a cycle, and the collector would walk the growing heap of them again and again (an
    eighth of the time of a million-packet read). The audit pauses it for the whole file
    too, and every replay for its whole search (as a decorator, `@no_cycle_collection()`): a
    replay's search makes millions of tuples, lists and dicts, none in a cycle either.
    Nested uses keep it paused until the outermost ends. `freeze` (the audit's): that end
    moves every object out of the collector's sight (gc.freeze), else its first collection
    would walk the millions made meanwhile at once (seconds, for nothing); only the audit
    asks for it (frozen objects are hidden from gc.get_referrers too)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            if freeze:
                gc.freeze()
            gc.enable()


def _opened(path: Path) -> BinaryIO:
    """The capture file opened for reading, or TCP600 saying why it cannot be."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
            # /dev/zero never ends: reading it would take every byte of memory (a pipe, as
            # from process substitution, is read: it ends with its writer)
            raise _bad("TCP600", f"{path} is a device or socket, not a capture file")
        return path.open("rb")
    except IsADirectoryError:
        raise _bad("TCP600", f"{path} is a directory, not a capture file") from None
    except OSError as err:
        raise _bad("TCP600", f"cannot read {path}: {err.strerror or err}") from None


@dataclass(frozen=True, slots=True)
class PacketStream:
    """A pcap or pcapng file read one frame at a time (`frames`): memory is one frame, not
    the file. `format` is "pcap" or "pcapng"."""
    source: str
    format: str
    frames: Iterator[Packet | Skipped]


def stream_packets(path: str | Path, stream: BinaryIO) -> PacketStream | None:
    """The frames of an open pcap or pcapng file, decoded one at a time; None when the file
    is neither (a JSON trace: read it whole with read_capture). Raises TcpcheckError
    (TCP601) for a file that is no capture, and, while `frames` is read, for a corrupt or
    truncated one (after the frames before the damage)."""
    path = Path(path)
    magic = stream.read(4)
    found = _records(path, magic, stream)
    if found is not None:
        return PacketStream(str(path), found[0], decoded(found[1]))
    if magic.lstrip()[:1] in (b"{", b"[") or (magic and not magic.strip()):
        return None
    if not magic:
        raise _bad("TCP601", f"{path} is empty: not a pcap, pcapng or JSON trace")
    raise _bad("TCP601", f"{path} is not a pcap, pcapng or JSON trace (it starts with bytes "
               f"{magic.hex(' ')})", "write captures with tcpdump -w FILE, or give a JSON "
               "trace as `tcpcheck trace --json` prints it")


def _records(path: Path, magic: bytes, stream: BinaryIO) -> tuple[str, Iterator[Record]] | None:
    """("pcap" or "pcapng", its records read from `stream`) for a file that starts with
    `magic` (its first 4 bytes, already read), None for any other file."""
    if magic in PCAP_MAGICS:
        return "pcap", _pcap_records(io.BufferedReader(_Prefixed(magic, stream)), path)
    if magic == PCAPNG_MAGIC:
        return "pcapng", _pcapng_records(io.BufferedReader(_Prefixed(magic, stream)), path)
    return None


class _Prefixed(io.RawIOBase):
    """`stream` with `head` (bytes already read from it) put back in front: a pipe cannot
    seek back to its start."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head, self._stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        chunk = self._stream.read(len(buf))
        buf[:len(chunk)] = chunk
        return len(chunk)


def open_capture(path: str | Path) -> BinaryIO:
    """The capture file at `path` opened for stream_packets, or TCP600 saying why not."""
    return _opened(Path(path))


# ------------------------------------------------------------------ containers

# (frame number, time in seconds, link type, the frame's bytes) per packet of the file
Record = tuple[int, float, int, bytes]

# the largest record a reader accepts: libpcap's own limit for any link type (256 KiB) is
# far below it; a larger one is a corrupt length, not a frame
MAX_RECORD = 0x4000000


def _read_pcap(data: bytes, path: Path) -> Iterator[Record]:
    """Each record of a classic pcap file held in memory, in order."""
    return _pcap_records(io.BytesIO(data), path)


def _pcap_records(stream: BinaryIO, path: Path) -> Iterator[Record]:
    """Each record of a classic pcap file, in order, read from `stream` one record at a time
    (one pass: a generator; memory is one record, whatever the file's size)."""
    head = stream.read(24)
    if len(head) < 24:
        raise _bad("TCP601", f"{path}: truncated pcap file: the 24-byte file header is cut "
                   f"off after {len(head)} bytes")
    magic = head[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    major, _min, _tz, _sig, _snap, linktype = struct.unpack(endian + "HHiIII", head[4:24])
    if major != 2:
        raise _bad("TCP605", f"{path}: pcap version {major}.{_min}: tcpcheck reads version 2.4 "
                   "(what tcpdump and tshark write)")
    linktype &= 0x0FFFFFFF     # the top bits say whether frames carry an FCS, not the type
    header = struct.Struct(endian + "IIII")
    off, frame = 24, 0
    while True:
        rec = stream.read(16)
        if not rec:
            return
        frame += 1
        where = f"record {frame} (byte {off})"
        if len(rec) < 16:
            raise _bad("TCP601", f"{path}: truncated pcap file: {where} is cut off in its "
                       f"header ({len(rec)} of 16 bytes)",
                       f"{frame - 1} complete records precede it")
        sec, frac, incl, _orig = header.unpack(rec)
        if incl > MAX_RECORD:
            raise _bad("TCP601", f"{path}: corrupt pcap file: {where} claims {incl} bytes")
        body = stream.read(incl)
        if len(body) < incl:
            raise _bad("TCP601", f"{path}: truncated pcap file: {where} is cut off "
                       f"({len(body)} of {incl} bytes)",
                       f"{frame - 1} complete records precede it")
        time_s = sec + frac / (1e9 if nano else 1e6)
        yield frame, time_s, linktype, body
        off += 16 + incl


def _read_pcapng(data: bytes, path: Path) -> Iterator[Record]:
    """Each packet of a pcapng file held in memory, in order."""
    return _pcapng_records(io.BytesIO(data), path)


def _pcapng_records(stream: BinaryIO, path: Path) -> Iterator[Record]:
    """Each packet of a pcapng file, in order, read from `stream` one block at a time (one
    pass: a generator; memory is one block, whatever the file's size)."""
    endian = "<"
    interfaces: list[tuple[int, float]] = []   # (linktype, seconds per tick)
    off, frame, block = 0, 0, 0
    while True:
        head = stream.read(12)
        if not head:
            return
        block += 1
        where = f"block {block} (byte {off})"
        if len(head) < 12:
            raise _bad("TCP601", f"{path}: truncated pcapng file: {where} is cut off in its "
                       "header")
        btype = struct.unpack_from(endian + "I", head, 0)[0]
        if btype == 0x0A0D0D0A:       # a section header: it sets the byte order from here
            bom = head[8:12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">" if bom == b"\x1a\x2b\x3c\x4d" else ""
            if not endian:
                raise _bad("TCP601", f"{path}: corrupt pcapng file: bad byte-order mark in "
                           f"the section header, {where}")
            interfaces = []
        blen = struct.unpack_from(endian + "I", head, 4)[0]
        if blen < 12 or blen % 4:
            raise _bad("TCP601", f"{path}: corrupt pcapng file: {where} has length {blen}")
        rest = _read_up_to(stream, blen - 12)
        if len(rest) < blen - 12:
            raise _bad("TCP601", f"{path}: truncated pcapng file: {where} is cut off "
                       f"({12 + len(rest)} of {blen} bytes)")
        data = head + rest
        body = data[8:blen - 4]
        if struct.unpack_from(endian + "I", data, blen - 4)[0] != blen:
            raise _bad("TCP601", f"{path}: corrupt pcapng file: {where}'s trailing length "
                       "does not match its header")
        if btype == 0x0A0D0D0A and len(body) >= 6:
            major = struct.unpack_from(endian + "H", body, 4)[0]
            if major != 1:
                raise _bad("TCP605", f"{path}: pcapng version {major} in {where}: tcpcheck "
                           "reads version 1 (what tcpdump and tshark write)")
        elif btype == 1:  # interface description
            if len(body) < 8:
                raise _bad("TCP601", f"{path}: corrupt pcapng file: short interface "
                           f"description, {where}")
            linktype = struct.unpack_from(endian + "H", body, 0)[0]
            interfaces.append((linktype, _tsresol(body[8:], endian)))
        elif btype in (6, 3):  # enhanced / simple packet
            frame += 1
            if btype == 6:
                if len(body) < 20:
                    raise _bad("TCP601", f"{path}: corrupt pcapng file: short packet block, "
                               f"{where}")
                iface, hi, lo, caplen, _orig = struct.unpack_from(endian + "IIIII", body, 0)
                pkt = body[20:20 + caplen]
                if len(pkt) < caplen:
                    raise _bad("TCP601", f"{path}: corrupt pcapng file: packet {frame} is "
                               f"longer than its block, {where}")
            else:
                if len(body) < 4:
                    raise _bad("TCP601", f"{path}: corrupt pcapng file: short simple packet "
                               f"block, {where}")
                iface, hi, lo = 0, 0, 0
                orig = struct.unpack_from(endian + "I", body, 0)[0]
                pkt = body[4:4 + orig]      # the rest is padding to 32 bits
            if iface >= len(interfaces):
                raise _bad("TCP601", f"{path}: corrupt pcapng file: packet {frame} names "
                           f"interface {iface}, which is not described, {where}")
            linktype, unit = interfaces[iface]
            yield frame, ((hi << 32) | lo) * unit, linktype, pkt
        off += blen


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    """Up to `n` bytes of `stream` (fewer at its end). A corrupt length claims up to 4 GiB:
    read in chunks, so that memory follows the bytes there are, not the bytes claimed."""
    if n <= MAX_RECORD:
        return stream.read(n)
    chunks, left = [], n
    while left:
        chunk = stream.read(min(left, MAX_RECORD))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _tsresol(options: bytes, endian: str) -> float:
    """Seconds per timestamp tick: the interface's if_tsresol option, microseconds without."""
    off = 0
    while off + 4 <= len(options):
        code, length = struct.unpack_from(endian + "HH", options, off)
        if code == 0:
            break
        if code == 9 and length >= 1 and off + 4 < len(options):
            v = options[off + 4]
            # a power of two or of ten; beyond 2**-127 or 10**-127 it is corrupt: microseconds
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -min(v, 127)
        off += 4 + ((length + 3) & ~3)
    return 1e-6


@dataclass(frozen=True, slots=True)
class Skipped:
    """A frame that is not a TCP segment tcpcheck can read, where the file has it."""
    frame: int
    why: NotTcp


def decoded(records: Iterator[Record]) -> Iterator[Packet | Skipped]:
    """Each frame decoded (tcpcheck.frames), in file order: a TCP segment as a `Packet`, any
    other frame as `Skipped` (one pass: a generator)."""
    for frame, t, linktype, raw in records:
        seg = decode_fields(linktype, raw)
        if type(seg) is tuple:
            src, dst, seq, ack, flags, window, length, options = seg
            yield Packet(frame, t, src, dst, seq, ack, flags, length, window, options)
        else:
            yield Skipped(frame, seg)


def _split_frames(frames: Iterator[Packet | Skipped]) -> tuple[list[list[Packet]],
                                                                list[Skipped]]:
    """The TCP segments per connection (see `_split_connections`), and the frames set
    aside, from one pass over the decoded frames (no list of every packet is made)."""
    skipped: list[Skipped] = []

    def segments() -> Iterator[Packet]:
        for item in frames:
            if type(item) is Packet:
                yield item
            else:
                skipped.append(item)

    return _split_connections(segments()), skipped

# ------------------------------------------------------------------ connection

def _ep(a: tuple[str, int]) -> str:
    return f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}"


def _split_connections(packets: Iterable[Packet]) -> list[list[Packet]]:
    """Packets per connection: same 4-tuple, and a new SYN after a FIN or RST starts anew."""
    conns: list[list[Packet]] = []
    current: dict[frozenset, int] = {}
    ended: dict[int, bool] = {}
    for p in packets:
        key = frozenset((p.src, p.dst))
        k = current.get(key)
        if k is None or starts_anew(p, ended.get(k, False)):
            current[key] = k = len(conns)
            conns.append([])
        conns[k].append(p)
        if p.flags & (FIN | RST):
            ended[k] = True
    return conns


def _describe(conn: list[Packet]) -> tuple[tuple[str, int], tuple[str, int], bool]:
    """(client, server, saw the handshake): the client sent the SYN, else the first packet."""
    for p in conn:
        if p.flags & SYN and not p.flags & ACK:
            return p.src, p.dst, True
    for p in conn:
        if p.flags & SYN and p.flags & ACK:
            return p.dst, p.src, True
    return conn[0].src, conn[0].dst, False


def _handshake_round_trip(conn: list[Packet], client: tuple[str, int]) -> float | None:
    """Milliseconds from the client's SYN to the ACK that completes the handshake; None when
    the capture lacks either. Seen from any point of the path this is one round trip: the
    SYN+ACK and that ACK leave their senders at once (the kernel answers, no application)."""
    syn = next((p for p in conn if p.flags & SYN and not p.flags & ACK and p.src == client),
               None)
    synack = next((p for p in conn if p.flags & SYN and p.flags & ACK and p.dst == client),
                  None)
    if syn is None or synack is None:
        return None
    done = next((p for p in conn if p.src == client and p.flags & ACK and not p.flags & SYN
                 and p.time >= synack.time), None)
    return None if done is None else round((done.time - syn.time) * 1000, 3)


def _choose(conns: list[list[Packet]], conn: str | None, source: str) -> int:
    if conn is None:
        for k, c in enumerate(conns):
            if any(p.flags & (FIN | RST) for p in c):
                return k
        return 0
    text = conn.strip()
    if text.isdigit():
        n = int(text)
        if 1 <= n <= len(conns) and (n < 1024 or not any(
                n in (p.src[1], p.dst[1]) for c in conns for p in c)):
            return n - 1
        hits = [k for k, c in enumerate(conns) if n in (c[0].src[1], c[0].dst[1])]
        if hits:
            return hits[0]
    else:
        for k, c in enumerate(conns):
            cl, sv, _ = _describe(c)
            if text in (f"{_ep(cl)}-{_ep(sv)}", f"{_ep(sv)}-{_ep(cl)}"):
                return k
    listing = [f"{k + 1}: {_conn_text(c)}" for k, c in enumerate(conns)]
    raise _bad("TCP603", f"--conn {conn}: no such connection in {source}",
               "give a number, a port, or ADDR:PORT-ADDR:PORT; the capture has:", *listing)


def _skipped_summary(skipped: list[Skipped]) -> list[str]:
    """What the frames that are not TCP were, for a capture that holds no TCP at all."""
    if not skipped:
        return ["the file holds no packet"]
    counts: dict[str, int] = {}
    for s in skipped:
        counts[s.why.what] = counts.get(s.why.what, 0) + 1
    first = skipped[0]
    return [f"its {len(skipped)} frame{'s' if len(skipped) != 1 else ''}: " + ", ".join(
        f"{what} x{n}" if n > 1 else what for what, n in counts.items()),
        f"frame {first.frame}: {first.why.what}: {first.why.detail}"]


def _with_skipped(ignored: list[Ignored], skipped: list[Skipped], client: tuple[str, int],
                  server: tuple[str, int]) -> list[Ignored]:
    """The connection's ignored segments and, in frame order, the frames that are no TCP
    connection's (or this one's, unreadable): another connection's frames are its own."""
    if not skipped:
        return ignored
    side_of = {(client, server): "client", (server, client): "server"}
    extra = [Ignored(s.frame, side_of.get(s.why.ends) if s.why.ends else None, s.why.what,
                     s.why.detail)
             for s in skipped if s.why.ends is None or s.why.ends in side_of]
    return sorted(ignored + extra, key=lambda i: i.frame)


def _conn_text(c: list[Packet]) -> str:
    cl, sv, _ = _describe(c)
    return f"client {_ep(cl)} <-> server {_ep(sv)} ({len(c)} packets)"


def _connection(conns: list[list[Packet]], skipped: list[Skipped], source: str, fmt: str,
                conn: str | None, from_close: bool = False,
                poll: Callable[[], None] | None = None) -> Capture:
    """The chosen connection of `conns` as a Capture. Its packets are translated as they are
    let go (`_drained`): `conns` is this reader's own, and a long connection's packets and
    segments are not both held whole. `poll` as for read_capture (translating is slower
    than decoding)."""
    if not conns:
        raise _bad("TCP602", f"{source}: the capture holds no TCP segment",
                   *_skipped_summary(skipped),
                   "capture with a filter such as: tcpdump -i lo -w FILE 'tcp port PORT'")
    k = _choose(conns, conn, source)
    listing = [_conn_text(c) for c in conns]
    chosen = conns[k]
    conns.clear()
    client, server, _ = _describe(chosen)
    translated: Iterable[Packet] = _drained(chosen)
    if poll is not None:
        translated = _polled(translated, poll)
    cap = _capture_of(chosen, source, fmt, from_close, translated)
    cap.ignored = _with_skipped(cap.ignored, skipped, client, server)
    cap.connections = listing
    if len(listing) > 1:
        cap.notes.append(f"the capture has {len(listing)} TCP connections; replaying number "
                         f"{k + 1} (choose with --conn)")
    return cap


def _drained(packets: list[Packet]) -> Iterator[Packet]:
    """Each packet of the list in order, let go of as it is read (the list ends empty)."""
    packets.reverse()
    while packets:
        yield packets.pop()


def connection_capture(packets: list[Packet], source: str, fmt: str,
                       from_close: bool = False) -> Capture:
    """One connection's packets (as `_split_connections` and `starts_anew` split them) in the
    model's words: the client is the side that sent the SYN."""
    return _capture_of(packets, source, fmt, from_close, packets)


def _capture_of(packets: list[Packet], source: str, fmt: str, from_close: bool,
                translated: Iterable[Packet]) -> Capture:
    """connection_capture, reading the packets for the translation from `translated` (the
    same packets, in order; it may let go of `packets` as it goes)."""
    client, server, handshake = _describe(packets)
    round_trip = _handshake_round_trip(packets, client) if handshake else None
    fold = _first_close(packets) if from_close else None
    cap = _translate(translated, client, server, handshake, fold)
    cap.source, cap.format = source, fmt
    cap.round_trip_ms = round_trip
    return cap


def endpoints(packets: list[Packet]) -> tuple[tuple[str, int], tuple[str, int]]:
    """(client, server) of one connection's packets: the client sent the SYN."""
    client, server, _ = _describe(packets)
    return client, server


def endpoint_text(a: tuple[str, int]) -> str:
    """ADDR:PORT, or [ADDR]:PORT for IPv6."""
    return _ep(a)


def starts_anew(p: Packet, ended: bool) -> bool:
    """Whether packet `p` of a 4-tuple whose connection has `ended` (sent a FIN or an RST)
    starts a new connection: a fresh SYN (the rule `_split_connections` splits by)."""
    return bool(ended and p.flags & SYN and not p.flags & ACK)


class _Side:
    """What one side has sent, in relative sequence numbers (ISN + 1 = 1... the first byte)."""

    def __init__(self):
        self.isn: int | None = None
        # relative end sequence number of each unit sent (8 bytes each, not an int object)
        self.units = array("q")
        self.high = 1                  # next relative sequence number (the SYN took 0)
        self.fin_end: int | None = None
        self.last_ack_units = 0
        self.last_window: int | None = None
        self.acked_peer = False        # sent an ACK at all (after the handshake)
        self.stale_unanswered = False  # sent a stale ACK the peer has not answered yet

    def rel(self, seq: int) -> int:
        return (seq - self.isn) % _MOD


# flag sets of the model's segments, made once (an IntFlag's `|` costs a microsecond a packet)
_DATA_FIN, _FIN_ACK = Flags.DATA | Flags.FIN, Flags.FIN | Flags.ACK

# the flags noted once and otherwise ignored, and the names each combination of them adds
_NOTED_FLAGS = PSH | URG | ECE | CWR
_NOTED_FLAG_NAMES = {bits: tuple(name for bit, name in ((PSH, "PSH"), (URG, "URG"), (ECE, "ECE"),
                                                         (CWR, "CWR")) if bits & bit)
                     for bits in range(_NOTED_FLAGS + 1) if not bits & ~_NOTED_FLAGS}

# the model's segments a capture's are translated into: a few dozen distinct ones (flags,
# an ack counted up to DATA_COUNTED, stale), each made once and shared by every captured
# segment that is it (a million-packet connection repeats the same two)
_MODEL_SEGMENTS: dict[tuple[Flags, int | None, bool], Segment] = {}


def _model_segment(flags: Flags, ack: int | None, stale: bool) -> Segment:
    key = (flags, ack, stale)
    found = _MODEL_SEGMENTS.get(key)
    if found is None:
        found = CapturedSegment.of(0, 0, "", flags, ack, "", stale=stale).segment
        _MODEL_SEGMENTS[key] = found
    return found


def segments_from_packets(packets: list[Packet], client: tuple[str, int],
                          server: tuple[str, int], handshake: bool = True,
                          from_close: bool = False) -> Capture:
    """Translate one connection's packets into model segments (see the module docstring)."""
    return _translate(packets, client, server, handshake,
                      _first_close(packets) if from_close else None)


def _first_close(packets: list[Packet]) -> int | None:
    """Where --from-close starts the close: the index of the first FIN or RST."""
    return next((k for k, p in enumerate(packets)
                 if p.flags & (FIN | RST) and not p.flags & SYN), None)


def _translate(packets: Iterable[Packet], client: tuple[str, int], server: tuple[str, int],
               handshake: bool, fold: int | None) -> Capture:
    """segments_from_packets, with the packets read once, in order, and with --from-close's
    start (`fold`, None without it) already found."""
    sides = {"client": _Side(), "server": _Side()}
    name_of = {client: "client", server: "server"}
    segments: list[CapturedSegment] = []
    ignored: list[Ignored] = []
    notes: list[str] = []
    seen_opts: set[str] = set()
    seen_flags: set[str] = set()
    t0: float | None = None
    depth = _Depth()
    options_seen: set[tuple[str, ...]] = set()   # each set of options is looked at once
    if not handshake:
        notes.append("the capture does not show the handshake: sequence numbers are counted "
                     "from each side's first segment")
    established = {"client": False, "server": False}
    before_close = 0     # with from_close: how much went before the close

    def keep(p: Packet, who: str, tcp: str, flags: Flags, ack, stale: bool = False) -> None:
        # `me` and `peer` are the sides of the packet being read (the loop below)
        nonlocal t0
        if t0 is None:
            t0 = p.time
        shown = None if ack is None else _counted(peer, ack)
        depth.sent(who, len(me.units), ack)
        segments.append(CapturedSegment(len(segments) + 1, p.frame, who,
                                        _model_segment(flags, shown, stale), tcp,
                                        round((p.time - t0) * 1000, 3)))

    for k, p in enumerate(packets):
        who = name_of.get(p.src)
        if who is None:
            continue
        me, peer = sides[who], sides["server" if who == "client" else "client"]
        if k == fold and before_close:
            # count each side's sequence numbers from what it had sent before the close
            for side in sides.values():
                if side.isn is not None:
                    side.isn = (side.isn + side.high - 1) % _MOD
                side.units, side.high, side.last_ack_units = array("q"), 1, 0
            notes.append(f"{before_close} segments before the first FIN or RST set aside "
                         "(--from-close); sequence numbers count from there")
        if fold is not None and k < fold and not p.flags & SYN:
            if me.isn is None:
                me.isn = (p.seq - 1) % _MOD
            if peer.isn is None and p.flags & ACK:
                peer.isn = (p.ack - 1) % _MOD
            if p.length:
                me.high = max(me.high, (me.rel(p.seq) + p.length) % _MOD)
            if handshake and who == "client" and not p.length and not me.acked_peer:
                what = "handshake"           # the ACK that completes it
            else:
                what = "before the close"
                before_close += 1
            ignored.append(Ignored(p.frame, who, what, _tcp_text(p, me, peer)))
            established[who] = True
            me.acked_peer = True
            continue
        if p.flags & SYN:
            if me.isn is None:
                me.isn = p.seq
            ignored.append(Ignored(p.frame, who, "handshake", _tcp_text(p, me, peer)))
            continue
        if me.isn is None:
            me.isn = (p.seq - 1) % _MOD
        if peer.isn is None and p.flags & ACK:
            peer.isn = (p.ack - 1) % _MOD
        tcp = _tcp_text(p, me, peer)
        if p.options:
            if p.options not in options_seen:
                options_seen.add(p.options)
                seen_opts.update(o for o in p.options if o not in ("NOP", "end"))
            if MALFORMED_OPTIONS in p.options:
                notes.append(f"frame {p.frame}: malformed TCP options, read as a segment "
                             "without them (as Linux does)")
        if p.flags & _NOTED_FLAGS:
            seen_flags.update(_NOTED_FLAG_NAMES[p.flags & _NOTED_FLAGS])
        start = (p.seq - me.isn) % _MOD
        end = start + p.length + (1 if p.flags & FIN else 0)
        ack_units = _units_acked(peer, p) if p.flags & ACK else None

        if p.flags & RST:
            keep(p, who, tcp, Flags.RST, None)
            continue
        # the ACK that completes the handshake
        if (not established[who] and handshake and p.length == 0 and not p.flags & FIN
                and who == "client" and start == 1 and ack_units == 0 and not segments
                and not me.acked_peer):
            established[who] = True
            me.acked_peer = True
            me.last_window = p.window
            ignored.append(Ignored(p.frame, who, "handshake", tcp))
            continue
        established[who] = True
        # a bare ACK after our FIN with the sequence number of the FIN itself: built before
        # the FIN went out (the delayed-ACK timer racing close()), not a keep-alive
        if (me.fin_end is not None and not p.flags & FIN and not p.length and p.flags & ACK
                and start == me.fin_end - 1):
            keep(p, who, tcp, Flags.ACK, ack_units, stale=True)
            me.stale_unanswered = True
            continue
        if not p.flags & FIN and p.length <= 1 and start == (me.high - 1) % _MOD:
            ignored.append(Ignored(p.frame, who, "keep-alive", tcp))
            continue
        if (p.length or p.flags & FIN) and end <= me.high:
            ignored.append(Ignored(p.frame, who, "retransmission", tcp))
            continue
        if p.length and p.flags & FIN:
            # the FIN on the last data segment (`[FP.]`): one segment of the model, DATA+FIN,
            # two units (the data, then the FIN)
            me.units.extend((start + p.length, end))
            me.fin_end = end
            me.high = max(me.high, end)
            keep(p, who, tcp, _DATA_FIN, ack_units)
            if ack_units is not None:
                me.last_ack_units = ack_units
            me.last_window = p.window
            continue
        if p.length:
            me.units.append(start + p.length)
            me.high = max(me.high, start + p.length)
            keep(p, who, tcp, Flags.DATA, ack_units)
            me.last_ack_units = ack_units or me.last_ack_units
        if p.flags & FIN:
            me.units.append(end)
            me.fin_end = end
            me.high = max(me.high, end)
            # FIN+ACK in the model: this FIN is also the first acknowledgement of the
            # peer's FIN (the three-way close); after a bare ACK of it, a FIN is plain
            acks_fin = (ack_units is not None and peer.fin_end is not None
                        and p.flags & ACK and peer.rel(p.ack) >= peer.fin_end
                        and ack_units > me.last_ack_units)
            keep(p, who, tcp, _FIN_ACK if acks_fin else Flags.FIN, ack_units)
            if ack_units is not None:
                me.last_ack_units = ack_units
            me.last_window = p.window
            continue
        if p.length:
            me.last_window = p.window
            continue
        # a bare ACK: it counts only if it acknowledges something new, or if it answers a
        # stale ACK (an unacceptable segment is answered with an ACK)
        if ack_units is not None and ack_units > me.last_ack_units:
            keep(p, who, tcp, Flags.ACK, ack_units)
            me.last_ack_units = ack_units
        elif peer.stale_unanswered and ack_units is not None:
            keep(p, who, tcp, Flags.ACK, ack_units)
            peer.stale_unanswered = False
        elif me.last_window is not None and p.window != me.last_window:
            ignored.append(Ignored(p.frame, who, "window update", tcp))
        else:
            ignored.append(Ignored(p.frame, who, "duplicate ACK", tcp))
        me.last_window = p.window
    if seen_opts:
        notes.append("TCP options ignored: " + ", ".join(sorted(seen_opts)))
    if seen_flags:
        notes.append("flags ignored: " + ", ".join(sorted(seen_flags)))
    conn = f"client {_ep(client)} <-> server {_ep(server)}"
    return Capture("", "", conn, segments, ignored, notes, in_flight=depth.deepest)


class _Depth:
    """The deepest queue the capture shows (`Capture.in_flight`): after each kept segment,
    for each side, how many of its segments come after its first unit the peer has not
    acknowledged yet (a bare ACK sent behind such a unit waits behind it too). On loopback a
    receiver that holds its socket (in recv()) lets segments wait in the backlog and
    acknowledges them all later (tcp_v4_rcv -> sk_add_backlog): a bulk transfer shows four
    or five in a row.

    A side's units so far only grow and what the peer acknowledged only grows, so the
    segments still waiting are a queue: a segment joins at the back and leaves from the front
    once the peer acknowledges its units. Each segment joins and leaves once (linear in the
    capture), and memory is the deepest queue, not the connection."""

    def __init__(self):
        self.deepest = 0
        self.acked = {"client": 0, "server": 0}    # each side's units the peer acknowledged
        # per side, the units it had sent at each of its segments still waiting
        self.waiting: dict[str, deque[int]] = {"client": deque(), "server": deque()}

    def sent(self, who: str, units: int, ack: int | None) -> None:
        """`who` sent a segment after `units` of its units, acknowledging `ack` of the peer's.
        Its own queue grows by it (unless the peer acknowledged all of that already); the
        peer's only shrinks, by what `ack` acknowledges that is new."""
        mine, acked = self.waiting[who], self.acked[who]
        mine.append(units)
        while mine and mine[0] <= acked:
            mine.popleft()
        if len(mine) > self.deepest:
            self.deepest = len(mine)
        if ack is not None:
            peer = "server" if who == "client" else "client"
            if ack > self.acked[peer]:
                self.acked[peer] = ack
                theirs = self.waiting[peer]
                while theirs and theirs[0] <= ack:
                    theirs.popleft()


def _units_acked(peer: _Side, p: Packet) -> int:
    """How many of the peer's units (data segments, FIN) the ack number covers.

    A unit is recorded only when it ends past everything its side sent before (a
    retransmission is set aside), so `units` is sorted and a binary search counts them: a
    connection is read in linear time, not in time quadratic in its length."""
    if peer.isn is None:
        return 0
    units, acked = peer.units, (p.ack - peer.isn) % _MOD
    if not units or acked >= units[-1]:
        return len(units)            # all of them, as most acks are: no search
    return bisect.bisect_right(units, acked)


def _counted(peer: _Side, acked: int) -> int:
    """`acked` of the peer's units as the model counts them: data up to DATA_COUNTED, then
    the FIN (always the peer's last unit) on top."""
    fin = 1 if peer.fin_end is not None and acked == len(peer.units) else 0
    return min(acked - fin, DATA_COUNTED) + fin


def _flag_letters(flags: int, payload: bool) -> str:
    letters = "".join(ch for bit, ch in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"))
                      if flags & bit)
    if flags & ACK:
        letters += "."
    if payload:
        letters = "D" + letters   # only for the compact form; tcpdump shows length instead
    return letters or "none"


# the letters of every combination of the flags shown, with and without payload, worked out
# once (a long connection formats a segment per packet)
_SHOWN_FLAGS = SYN | FIN | RST | PSH | ACK
_LETTERS = {(bits, payload): _flag_letters(bits, payload)
            for bits in range(_SHOWN_FLAGS + 1) if not bits & ~_SHOWN_FLAGS
            for payload in (False, True)}


def _tcp_text(p: Packet, me: _Side, peer: _Side) -> str:
    letters = _LETTERS[p.flags & _SHOWN_FLAGS, p.length > 0]
    seq = me.rel(p.seq) if me.isn is not None else p.seq
    if p.flags & ACK:
        ack = peer.rel(p.ack) if peer.isn is not None else p.ack
        return f"{letters} seq {seq} ack {ack} win {p.window} len {p.length}"
    return f"{letters} seq {seq} win {p.window} len {p.length}"


# ------------------------------------------------------------------ JSON traces

def _read_json(data: bytes, path: Path) -> Capture:
    """A JSON trace: the step list of `tcpcheck trace --json` (or a document holding it under
    "trace"), or a hand-written {"segments": [{"side": "client", "flags": "FIN", "ack": 0}]}."""
    doc = _json_document(data, path)
    segs: list[CapturedSegment] = []
    if isinstance(doc, dict) and "segments" in doc:
        items = doc["segments"]
        if not isinstance(items, list):
            raise _bad("TCP604", f"{path}: \"segments\" must be a list")
        for k, item in enumerate(items, start=1):
            segs.append(_json_segment(item, k, k, path))
    else:
        steps = doc.get("trace") if isinstance(doc, dict) else doc
        if not isinstance(steps, list):
            raise _bad("TCP604", f"{path}: a JSON trace is a list of steps (as `tcpcheck trace "
                       "--json` prints under \"trace\") or {\"segments\": [...]}")
        for k, step in enumerate(steps):
            if not isinstance(step, dict):
                raise _bad("TCP604", f"{path}: step {k}: every step must be an object, "
                           f"not {_json_kind(step)}")
            sent = step.get("sent") or []
            if not isinstance(sent, list):
                raise _bad("TCP604", f"{path}: step {k}: \"sent\" must be a list of "
                           f"segments, not {_json_kind(sent)}")
            for seg in sent:
                item = {**seg, "side": step.get("endpoint")} if isinstance(seg, dict) else seg
                segs.append(_json_segment(item, len(segs) + 1, step.get("step", 0), path))
    return Capture(str(path), "json", "client <-> server (JSON trace)", segs)


def _json_document(data: bytes, path: Path):
    """The parsed JSON, or TCP604 saying where it is not JSON, or why it cannot be read:
    a number of thousands of digits (Python refuses to convert it), nesting deeper than
    Python's recursion allows."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if hasattr(err, "lineno") else ""
        raise _bad("TCP604", f"{path}: not valid JSON{where}: "
                   f"{getattr(err, 'msg', None) or err}") from None
    except ValueError:  # the int conversion limit
        raise _bad("TCP604", f"{path}: a number in it is too large (thousands of digits)") \
            from None
    except RecursionError:
        raise _bad("TCP604", f"{path}: nested too deeply to be a trace") from None


def _json_kind(value) -> str:
    """How a message names a JSON value of the wrong kind."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}[type(value)]


def _json_shown(value) -> str:
    """A wrong value as a message shows it: as written when short, else by its kind."""
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else ""
    return text if text and len(text) <= 40 else _json_kind(value)


# an ack counts the peer's units (segments of data and a FIN); a run is never this long
_MAX_ACK = 1 << 32


def _json_segment(item, number: int, frame, path: Path) -> CapturedSegment:
    where = f"{path}: segment {number}"
    if not isinstance(item, dict):
        raise _bad("TCP604", f"{where}: must be an object with side, flags and ack")
    side = item.get("side", item.get("from"))
    if side not in ("client", "server"):
        raise _bad("TCP604", f"{where}: side must be \"client\" or \"server\", not "
                   f"{_json_shown(side)}")
    flags = item.get("flags")
    allowed = ("FIN", "FIN+ACK", "ACK", "DATA", "DATA+FIN", "RST")
    if flags not in allowed:
        raise _bad("TCP604", f"{where}: flags must be one of {', '.join(allowed)}, not "
                   f"{_json_shown(flags)}")
    ack = item.get("ack")
    if flags == "RST":
        ack = None
    elif not isinstance(ack, int) or isinstance(ack, bool) or not 0 <= ack < _MAX_ACK:
        raise _bad("TCP604", f"{where}: ack must be a count of the peer's units (0, 1, ...), "
                   f"not {_json_shown(ack)}")
    real = {"FIN": "F.", "FIN+ACK": "F.", "ACK": ".", "DATA": "D.", "DATA+FIN": "FD.",
            "RST": "R."}[flags]
    return CapturedSegment.of(number, frame if isinstance(frame, int) else 0, side,
                              Flags.parse(flags), ack, f"{real} (model segment)", None)


def capture_kind(cap: Capture) -> CloseKind | None:
    """The kind of close a capture shows, read from its segments alone (tcpcheck.kinds); None
    when they stop before it shows. On loopback a segment arrives as soon as it is sent, so
    each side receives a segment right after the capture shows it: except the first FIN,
    which its peer received just before the first segment of its that acknowledges it (a
    peer that sent its own FIN before then crossed it: a simultaneous close; one that went on
    acknowledging data first had the FIN waiting behind that data in its backlog)."""
    segs = cap.segments
    flags = [s.flags for s in segs]
    fins = [k for k, f in enumerate(flags) if f & Flags.FIN]
    first, received, late = None, None, False   # the first FIN, the segment its peer
                                                 # received it before, or never
    if fins:
        first = fins[0]
        opener = segs[first].side
        # the FIN's unit: its sender's data segments up to it (counted as the model counts
        # them, see DATA_COUNTED), plus one
        data = sum(1 for k in range(first + 1) if segs[k].side == opener and flags[k] & Flags.DATA)
        units = min(data, DATA_COUNTED) + 1
        answers = [k for k in range(first + 1, len(segs))
                   if segs[k].side != opener and segs[k].ack is not None]
        received = next((k for k in answers if segs[k].ack >= units), None)
        # every segment the peer sent after it leaves the FIN unacknowledged: it has not
        # received it within the capture (its own FIN crossed it)
        late = received is None and bool(answers)
    record = CloseRecord.start(("client", "server"))
    for k, seg in enumerate(segs):
        peer = "server" if seg.side == "client" else "client"
        if k == received:
            record = record.after(seg.side, flags[first])
        record = record.after(seg.side, None, (flags[k],))
        if k != first or (received is None and not late):
            record = record.after(peer, flags[k])
    return record.settled()
