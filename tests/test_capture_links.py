"""Captures under every link type and encapsulation read like the Ethernet original, and no
frame, however malformed, makes the reader fail with anything but a TCP6xx diagnostic.

The files in tests/captures/links/ are one real loopback capture with its link header
rewritten (tests/captures/make_link_types.py says how)."""
from __future__ import annotations

import json
import struct

import pytest
from conftest import ROOT, run_tcpcheck
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpcheck.capture import read_capture
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.frames import NotTcp, TcpFrame, decode

CAPTURES = ROOT / "tests" / "captures"
LINKS = CAPTURES / "links"
SOURCE = CAPTURES / "passive_sends_data_then_closes.pcap"
IPV4 = ["vlan.pcap", "qinq.pcap", "pppoe.pcap", "pppoe_vlan.pcap", "mpls.pcap", "sll.pcap",
        "sll2.pcap", "null.pcap", "loop.pcap", "raw.pcap", "ipv4.pcap", "ppp.pcap",
        "ethernet.pcapng"]
IPV6_EXTENDED = ["ipv6_extension_headers.pcap", "ipv6_extension_headers.pcapng"]


def test_the_generator_wrote_every_file_the_tests_name():
    on_disk = {p.name for p in LINKS.iterdir()}
    assert on_disk == set(IPV4) | set(IPV6_EXTENDED) | {"ipv6.pcap", "noise.pcapng"}


def _without_file(doc: dict) -> dict:
    """A capture's JSON without what names the file: its path and its container format."""
    return {k: v for k, v in doc.items() if k not in ("source", "format")}


@pytest.mark.parametrize("name", IPV4)
def test_an_encapsulated_capture_reads_exactly_like_the_original(name):
    original = read_capture(SOURCE)
    cap = read_capture(LINKS / name)
    assert cap.compact == "C:FA S:DA C:A S:FA C:A"
    assert _without_file(cap.as_json()) == _without_file(original.as_json())


@pytest.mark.parametrize("name", IPV6_EXTENDED)
def test_ipv6_extension_headers_are_walked_to_tcp(name):
    plain = read_capture(LINKS / "ipv6.pcap")
    assert plain.connection.startswith("client [::1]:")
    cap = read_capture(LINKS / name)
    assert _without_file(cap.as_json()) == _without_file(plain.as_json())
    # the IPv6 capture is the IPv4 one in every other respect
    original = read_capture(SOURCE)
    assert [s.as_model() for s in cap.segments] == [s.as_model() for s in original.segments]


def _replay_json(path) -> dict:
    r = run_tcpcheck("replay", "--param", "lossy_network=false", "--json", str(path))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    doc["capture"] = _without_file(doc["capture"])
    return doc


def test_pppoe_and_vlan_captures_replay_byte_for_byte_like_the_original():
    want = json.dumps(_replay_json(SOURCE), sort_keys=True)
    assert json.loads(want)["verdict"] == "accepted"
    for name in ("pppoe.pcap", "qinq.pcap"):
        assert json.dumps(_replay_json(LINKS / name), sort_keys=True) == want, name


def test_frames_that_are_not_readable_tcp_are_listed_not_fatal():
    cap = read_capture(LINKS / "noise.pcapng")
    original = read_capture(SOURCE)
    assert [s.as_model() for s in cap.segments] == [s.as_model() for s in original.segments]
    assert [s.time_ms for s in cap.segments] == [s.time_ms for s in original.segments]
    set_aside = {(i.what, i.side, i.tcp) for i in cap.ignored if i.what != "handshake"}
    assert set_aside == {
        ("not IP", None, "ethertype 0x0806 (ARP)"),
        ("not TCP", None, "IPv4 protocol 17 (UDP)"),
        ("IP fragment", None, "IPv4 fragment at offset 0"),
        ("malformed TCP header", "client", "TCP data offset 8 in a segment of 40 bytes"),
        ("unknown link type", None, "link type 147, which tcpcheck does not read"),
    }
    assert [i.frame for i in cap.ignored] == sorted(i.frame for i in cap.ignored)
    assert "unknown link type" in cap.ignored_summary()


def _pcap(linktype: int, *frames: bytes) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for k, frame in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000, k, len(frame), len(frame)) + frame
    return out


def _ipv4_tcp(tcp: bytes) -> bytes:
    return (struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                        b"\x7f\0\0\1", b"\x7f\0\0\1") + tcp)


def test_the_98_byte_capture_with_a_cut_off_option_reads(tmp_path):
    # issue 12: options 01 01 01 08 (two NOPs... and a timestamps kind with no length) raised
    # TypeError; Linux stops parsing options there and processes the segment, and so do we
    tcp = struct.pack(">HHIIBBHHH", 40000, 5000, 1, 1, 6 << 4, 0x11, 512, 0, 0) + b"\x01\x01\x01\x08"
    data = _pcap(1, bytes(12) + b"\x08\x00" + _ipv4_tcp(tcp))
    assert len(data) == 98
    path = tmp_path / "options.pcap"
    path.write_bytes(data)
    cap = read_capture(path)
    assert cap.compact == "C:FA"
    assert any("frame 1: malformed TCP options" in n for n in cap.notes)


def test_a_capture_with_no_tcp_at_all_says_what_it_holds(tmp_path):
    path = tmp_path / "arp.pcap"
    path.write_bytes(_pcap(1, bytes(12) + b"\x08\x06" + bytes(28), bytes(10)))
    with pytest.raises(TcpcheckError) as err:
        read_capture(path)
    diag = err.value.diagnostics[0]
    assert diag.code == "TCP602"
    assert "its 2 frames: not IP, truncated frame" in diag.notes
    assert "frame 1: not IP: ethertype 0x0806 (ARP)" in diag.notes


@pytest.mark.parametrize("linktype, frame, what", [
    (229, bytes.fromhex("6000000000082c40") + bytes(32) + bytes.fromhex("0600000900000001"),
     "IP fragment"),                                      # IPv6 fragment at offset 8
    (229, bytes.fromhex("6000000000083240") + bytes(32) + bytes(8), "not TCP"),   # ESP
    (229, bytes.fromhex("6000000000080040") + bytes(32) + bytes.fromhex("06ff") + bytes(6),
     "malformed IPv6 header"),                            # hop-by-hop longer than the payload
    (228, bytes.fromhex("4f00001400004000400600007f0000017f000001"), "malformed IPv4 header"),
    (1, bytes(12) + b"\x88\x64\x11\x00\x00\x01\x00\x00", "malformed PPPoE header"),
    (1, bytes(12) + b"\x88\x64\x11\x00\x00\x01\x00\x02\xc0\x21", "not IP"),     # LCP
    (0, struct.pack("<I", 7) + bytes(20), "not IP"),     # a loopback family that is not IP
])
def test_each_layer_says_why_a_frame_is_not_tcp(linktype, frame, what):
    got = decode(linktype, frame)
    assert isinstance(got, NotTcp) and got.what == what, got


@pytest.mark.parametrize("name", IPV4 + IPV6_EXTENDED[:1])
def test_every_cut_of_a_frame_decodes_or_says_why(name):
    # a frame cut anywhere (tcpdump -s, a damaged file) never raises: it is truncated, or
    # still a TCP header when only payload was cut
    from tcpcheck import capture
    data = (LINKS / name).read_bytes()
    reader = capture._read_pcapng if name.endswith(".pcapng") else capture._read_pcap
    _frame, _t, linktype, raw = next(iter(reader(data, LINKS / name)))
    for cut in range(len(raw) + 1):
        got = decode(linktype, raw[:cut])
        assert isinstance(got, (TcpFrame, NotTcp))
    assert isinstance(decode(linktype, raw), TcpFrame)


# ------------------------------------------------------------------ structure-aware fuzzing

_FRAMES = {}


def _frames_of(name: str) -> tuple[int, list[bytes]]:
    """A link file's link type and frames, read with the reader's own pcap walker."""
    if name not in _FRAMES:
        from tcpcheck import capture
        records = list(capture._read_pcap((LINKS / name).read_bytes(), LINKS / name))
        _FRAMES[name] = (records[0][2], [r[3] for r in records])
    return _FRAMES[name]


PCAP_LINKS = [n for n in IPV4 + IPV6_EXTENDED + ["ipv6.pcap"] if n.endswith(".pcap")]
mutation = st.tuples(st.integers(0, 7), st.integers(0, 200), st.integers(0, 255))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(PCAP_LINKS), mutations=st.lists(mutation, max_size=6),
       record_length=st.one_of(st.none(), st.integers(0, 0x5000000)))
def test_mutated_captures_read_or_fail_with_a_diagnostic(tmp_path, name, mutations,
                                                         record_length):
    """Mutations that keep the containers' structure (so that the frames' headers are what
    gets exercised): a byte of a frame changed, a frame cut or extended, a frame dropped or
    repeated; and a record's length made to lie."""
    linktype, frames = _frames_of(name)
    frames = list(frames)
    for op, where, value in mutations:
        k = where % len(frames)
        raw = frames[k]
        if op <= 2 and raw:
            i = (where * 7 + value) % len(raw)
            frames[k] = raw[:i] + bytes([value]) + raw[i + 1:]
        elif op == 3:
            frames[k] = raw[:where % (len(raw) + 1)]
        elif op == 4:
            frames[k] = raw + bytes([value]) * (where % 9)
        elif op == 5 and len(frames) > 1:
            del frames[k]
        elif op == 6:
            frames.insert(k, raw)
        elif op == 7 and raw:           # a header length field: IP's or TCP's, by value
            i = where % min(len(raw), 80)
            frames[k] = raw[:i] + bytes([value & 0xF0 | (value >> 4)]) + raw[i + 1:]
    data = bytearray(_pcap(linktype, *frames))
    if record_length is not None:
        struct.pack_into("<I", data, 24 + 8, record_length)
    path = tmp_path / "mutated.pcap"
    path.write_bytes(bytes(data))
    try:
        cap = read_capture(path)
    except TcpcheckError as err:
        assert err.diagnostics and all(d.code.startswith("TCP6") for d in err.diagnostics)
    else:
        assert isinstance(cap.compact, str) and cap.segments is not None
