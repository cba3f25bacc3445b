"""The capture reader's fast path reads exactly what a straightforward reading does.

`read_capture` reads a pcap a record at a time, decodes the common frame (Ethernet, Linux
cooked or raw IPv4, TCP without options or with timestamps) with one precompiled unpack
(`frames.decode_fields`) and translates the chosen connection while letting go of its
packets. The straightforward reading here holds the whole file, decodes every frame with
`frames.decode` and translates the connection's list of packets (`connection_capture`): on
every shipped capture, and on structure-aware mutations of one, both give the same capture
field by field, or the same located error.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
from conftest import ROOT, run_tcpcheck
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpcheck import capture
from tcpcheck.capture import Packet, Skipped, read_capture
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.frames import ETHERNET, LINUX_SLL, LINUX_SLL2, RAW, NotTcp, decode, decode_fields

SHIPPED = sorted(p for folder in ("tests/captures", "tests/fixtures")
                 for p in (ROOT / folder).rglob("*")
                 if p.is_file() and p.suffix in (".pcap", ".pcapng"))


def _fields(linktype: int, raw: bytes):
    """What `decode` says of a frame, in decode_fields's form."""
    got = decode(linktype, raw)
    if isinstance(got, NotTcp):
        return got
    return (got.src, got.dst, got.seq, got.ack, got.flags, got.window, got.length, got.options)


def _records(data: bytes, path: Path):
    reader = capture._read_pcapng if data[:4] == capture.PCAPNG_MAGIC else capture._read_pcap
    return reader(data, path)


def _straightforward(path: Path, from_close: bool) -> capture.Capture:
    """The file read whole, every frame decoded by `decode`, the connection translated from
    its list of packets; the choice of connection and the listing as read_capture makes them."""
    data = path.read_bytes()
    packets: list[Packet] = []
    skipped: list[Skipped] = []
    for frame, t, linktype, raw in _records(data, path):
        got = decode(linktype, raw)
        if isinstance(got, NotTcp):
            skipped.append(Skipped(frame, got))
        else:
            packets.append(Packet(frame, t, got.src, got.dst, got.seq, got.ack, got.flags,
                                  got.length, got.window, got.options))
    fmt = "pcapng" if data[:4] == capture.PCAPNG_MAGIC else "pcap"
    conns = capture._split_connections(packets)
    if conns:
        chosen = list(conns[capture._choose(conns, None, str(path))])
        whole = capture.connection_capture(chosen, str(path), fmt, from_close)
    cap = capture._connection(conns, skipped, str(path), fmt, None, from_close)
    # the list-based translation (no packet let go of) agrees with the one _connection made
    assert whole.segments == cap.segments
    assert (whole.in_flight, whole.round_trip_ms) == (cap.in_flight, cap.round_trip_ms)
    return cap


def _same_reading(path: Path, from_close: bool = False) -> None:
    try:
        fast = read_capture(path, from_close=from_close)
    except TcpcheckError as err:
        with pytest.raises(TcpcheckError) as slow:
            _straightforward(path, from_close)
        assert str(slow.value) == str(err)
        return
    slow = _straightforward(path, from_close)
    for name in ("source", "format", "connection", "segments", "ignored", "notes",
                 "connections", "round_trip_ms", "in_flight"):
        assert getattr(fast, name) == getattr(slow, name), name
    assert fast.as_json() == slow.as_json()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_capture_reads_as_the_straightforward_reading(path):
    _same_reading(path)
    _same_reading(path, from_close=True)


def test_every_frame_of_the_shipped_captures_decodes_alike():
    frames = 0
    for path in SHIPPED:
        try:
            records = list(_records(path.read_bytes(), path))
        except TcpcheckError:
            continue                 # a damaged container (tests/captures/invalid)
        for _frame, _t, linktype, raw in records:
            assert decode_fields(linktype, raw) == _fields(linktype, raw), (path, _frame)
            frames += 1
    assert frames > 500          # the 700 frames of the 67 files were all looked at


# ------------------------------------------------------------------ mutated frames and files

def _frame(link: int, *, verihl=0x45, total=None, fragment=0x4000, proto=6, offset=5,
           options=b"", payload=b"x", cut=None, ethertype=0x0800, flags=0x18) -> bytes:
    """A frame of `link` carrying IPv4 and TCP, each field as given (lengths made to agree
    unless given)."""
    tcp = struct.pack(">HHIIBBHHH", 40001, 5000, 1000, 9000, offset << 4, flags, 65535, 0, 0)
    tcp += options + payload
    if total is None:
        total = 20 + len(tcp)
    ip = struct.pack(">BBHHHBBH4s4s", verihl, 0, total & 0xFFFF, 0, fragment, 64, proto, 0,
                     b"\x7f\0\0\1", b"\x0a\0\0\2") + bytes(max(0, (verihl & 0xF) * 4 - 20))
    head = {ETHERNET: bytes(12) + struct.pack(">H", ethertype),
            LINUX_SLL: bytes(14) + struct.pack(">H", ethertype),
            LINUX_SLL2: struct.pack(">H", ethertype) + bytes(18), RAW: b""}[link]
    raw = head + ip + tcp
    return raw if cut is None else raw[:cut]


TIMESTAMPS = bytes((1, 1, 8, 10)) + bytes(8)
frame_fields = st.fixed_dictionaries({
    "link": st.sampled_from([ETHERNET, LINUX_SLL, LINUX_SLL2, RAW]),
    "verihl": st.sampled_from([0x45, 0x46, 0x44, 0x65, 0x40, 0x4F]),
    "total": st.one_of(st.none(), st.integers(0, 120)),
    "fragment": st.sampled_from([0, 0x4000, 0x2000, 0x0001, 0x8000, 0x1FFF]),
    "proto": st.sampled_from([6, 17, 1]),
    "offset": st.integers(0, 15),
    "options": st.sampled_from([b"", TIMESTAMPS, bytes((1, 1, 8, 9)) + bytes(8),
                                bytes((2, 4, 5, 180)), bytes((5, 3, 0, 0)), b"\x00" * 4]),
    "payload": st.binary(max_size=8),
    "cut": st.one_of(st.none(), st.integers(0, 100)),
    "ethertype": st.sampled_from([0x0800, 0x86DD, 0x8100, 0x0806]),
    "flags": st.integers(0, 255),
})


@settings(max_examples=400, deadline=None)
@given(fields=frame_fields)
def test_a_mutated_frame_decodes_alike(fields):
    link = fields.pop("link")
    raw = _frame(link, **fields)
    assert decode_fields(link, raw) == _fields(link, raw)


def _pcap(*frames: bytes, version: int = 2, record_length: int | None = None) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, version, 4, 0, 0, 262144, ETHERNET)]
    for k, raw in enumerate(frames):
        incl = len(raw) if record_length is None or k != 1 else record_length
        out.append(struct.pack("<IIII", 1_700_000_000, 50 * k, incl, len(raw)) + raw)
    return b"".join(out)


def _connection_frames(at: int | None = None, fields: dict | None = None) -> list[bytes]:
    """A short connection (handshake, data, a four-way close); with `fields`, its frame `at`
    replaced by one built from them (see `_frame`)."""
    def seg(src, dst, seq, ack, flags, data=b""):
        tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(data), 0, 0x4000, 64, 6, 0,
                         src[0], dst[0])
        return bytes(12) + b"\x08\x00" + ip + tcp + data
    c, s = (b"\x7f\0\0\1", 40001), (b"\x0a\0\0\2", 5000)
    frames = [seg(c, s, 999, 0, 0x02), seg(s, c, 8999, 1000, 0x12), seg(c, s, 1000, 9000, 0x10),
              seg(c, s, 1000, 9000, 0x18, b"x"), seg(s, c, 9000, 1001, 0x10),
              seg(c, s, 1001, 9000, 0x11), seg(s, c, 9000, 1002, 0x10),
              seg(s, c, 9000, 1002, 0x11), seg(c, s, 1002, 9001, 0x10)]
    if fields is not None:
        frames[at % len(frames)] = _frame(ETHERNET, **fields)
    return frames


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=frame_fields.map(lambda f: {**f, "link": ETHERNET}), at=st.integers(0, 8),
       version=st.sampled_from([2, 2, 2, 1]), cut=st.integers(0, 400),
       record_length=st.one_of(st.none(), st.integers(0, 0x5000000)))
def test_a_mutated_pcap_reads_alike_or_gives_a_located_error(tmp_path, fields, at, version,
                                                            cut, record_length):
    fields.pop("link")
    data = _pcap(*_connection_frames(at, fields), version=version,
                 record_length=record_length)
    path = tmp_path / "mutated.pcap"
    path.write_bytes(data[:len(data) - cut] if cut < 200 else data)
    try:
        read_capture(path)
    except TcpcheckError as err:
        assert err.diagnostics and all(d.code.startswith("TCP6") for d in err.diagnostics)
        assert str(path) in str(err)
    _same_reading(path)


def test_a_damaged_long_capture_is_bad_input_naming_the_record(tmp_path):
    frames = _connection_frames()
    data = _pcap(*frames)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-7])
    r = run_tcpcheck("replay", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"record {len(frames)} (byte" in r.stderr and str(path) in r.stderr
