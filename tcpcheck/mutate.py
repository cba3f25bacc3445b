"""Near-valid inputs for fuzzing: the shipped files, each changed a little.

A model or spec is cut into tokens (names, numbers, strings, operators) and a few of them are
deleted, duplicated, swapped or replaced: by another word of the language's grammar, a huge
number, a deep nesting, digits of another script, a very long name. A packetdrill script (.pkt)
is cut into its own tokens (times, calls, packet flags, sequence ranges, options) and changed
the same way, with the words of packetdrill for replacements. A pcap or pcapng capture is
taken apart into its headers, records and TCP fields, and one of them is changed: a length, a
link type, the TCP flags or options, a truncation, thousands of connections. A JSON trace (what
`simulate --json` and `trace --json` print and `replay` reads) is parsed and a value replaced by
one of another type, a huge number, a deep nesting.

Every mutator takes a `random.Random`, so one seed gives the same inputs on every machine.
tcpcheck.fuzz runs them through the command line; tests/test_fuzz.py runs a few in the suite.
Nothing here imports the rest of the package: the mutators know file formats, not tcpcheck.
"""
from __future__ import annotations

import json
import random
import re
import struct
from pathlib import Path

# ------------------------------------------------------------------ models and specs

_TOKEN = re.compile(r'(?P<comment>#[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*")'
                    r'|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>[0-9]+)'
                    r'|(?P<op>:=|==|!=|<=|>=|->|\.\.|\S)|(?P<space>\s+)')
# digits of other scripts: str.isdigit() says yes, the grammar's [0-9] says no
_OTHER_DIGITS = ("٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९")


def grammar_words(grammar: str) -> list[str]:
    """The literal words and operators of a lark grammar (its quoted strings)."""
    words = {m.group(1) for m in re.finditer(r'"((?:[^"\\]|\\.)+)"', grammar)}
    return sorted(w for w in words if not w.startswith("(") and "\\" not in w)


def tokens(text: str) -> list[str]:
    """The text as tokens, whitespace and comments included: "".join(tokens(t)) == t."""
    return [m.group(0) for m in _TOKEN.finditer(text)]


def _is_word(tok: str) -> bool:
    return bool(tok) and not tok.isspace() and not tok.startswith(("#", "//", "/*"))


def _huge_number(rng: random.Random) -> str:
    return rng.choice(["4294967296", "9223372036854775808", "1" + "0" * 40, "9" * 4300,
                       "9" * rng.randint(4301, 6000), "0" * 500 + "1", "00", "2147483648"])


def _nested(rng: random.Random, tok: str) -> str:
    n = rng.choice([50, 140, 200, 1000, 5000])
    shape = rng.choice(["parens", "not", "minus", "plus"])
    if shape == "parens":
        return "(" * n + tok + ")" * n
    if shape == "not":
        return "not " * n + tok
    if shape == "minus":
        return "-" * n + tok
    return tok + " + 1" * n


def _other_digits(rng: random.Random, tok: str) -> str:
    digits = rng.choice(_OTHER_DIGITS)
    return "".join(digits[int(c)] if c.isdigit() and c.isascii() else c for c in tok) \
        if any(c.isdigit() for c in tok) else digits[rng.randrange(10)]


def _long_name(rng: random.Random) -> str:
    return rng.choice(["n", "x_", "_", "ñ"]) * rng.choice([64, 1000, 10_000, 100_000])


def mutate_text(text: str, vocabulary: list[str], rng: random.Random,
                tokenize=None) -> str:
    """A few token-level changes to a model or spec (1 to 4 of them); `tokenize` cuts another
    language into tokens (default: tokens, the model and spec languages')."""
    toks = (tokenize or tokens)(text)
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        words = [k for k, t in enumerate(toks) if _is_word(t)]
        if not words:
            break
        k = rng.choice(words)
        op = rng.randrange(13)
        if op == 0:                                   # delete a token
            toks[k] = ""
        elif op == 1:                                 # duplicate a token or a run of tokens
            j = min(len(toks), k + rng.choice([1, 1, 3, 10, 40]))
            toks[k:k] = toks[k:j]
        elif op == 2:                                 # swap two tokens
            j = rng.choice(words)
            toks[k], toks[j] = toks[j], toks[k]
        elif op in (3, 4):                            # another word of the language
            toks[k] = rng.choice(vocabulary)
        elif op == 5:                                 # a name used elsewhere in the file
            toks[k] = toks[rng.choice(words)]
        elif op == 6:                                 # a huge number, where a number is
            numbers = [j for j in words if toks[j].isdigit()] or [k]
            toks[rng.choice(numbers)] = _huge_number(rng)
        elif op == 7:                                 # deep nesting around a token
            toks[k] = _nested(rng, toks[k])
        elif op == 8:                                 # digits of another script
            numbers = [j for j in words if toks[j].isdigit()] or [k]
            j = rng.choice(numbers)
            toks[j] = _other_digits(rng, toks[j])
        elif op == 9:                                 # a very long name
            names = [j for j in words if toks[j][0].isalpha()] or [k]
            toks[rng.choice(names)] = _long_name(rng)
        elif op == 10:                                # a line deleted or repeated
            line_starts = [j for j, t in enumerate(toks) if "\n" in t]
            a = rng.choice(line_starts) if line_starts else 0
            b = next((j for j in line_starts if j > a), len(toks))
            toks[a:b] = toks[a:b] * rng.choice([0, 2, 2, 50])
        elif op == 11:                                # cut off at a token
            toks = toks[:k]
        else:                                         # a stray character or byte sequence
            toks[k] = rng.choice(["\x00", "\ufeff", "\u200b", "é", "\t", "\r", "{", "}", ";",
                                  "\\", '"', "'", "\x1b[31m", "\udcff"]) + toks[k]
    return "".join(toks)


# ------------------------------------------------------------------ packetdrill scripts

_PKT_TOKEN = re.compile(r'(?P<comment>//[^\n]*|/\*(?:.|\n)*?\*/)|(?P<string>"[^"\n]*")'
                        r'|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>[0-9]+(?:\.[0-9]*)?)'
                        r'|(?P<op>\.\.\.|\S)|(?P<space>\s+)')
# what a script says, for replacements: calls, their arguments and results, packet flags,
# directions, the words of a packet line, times
PKT_WORDS = ("socket", "bind", "listen", "accept", "connect", "write", "send", "read", "recv",
             "shutdown", "close", "setsockopt", "getsockopt", "fcntl", "SOL_SOCKET",
             "SO_LINGER", "TCP_QUICKACK", "IPPROTO_TCP", "SHUT_WR", "SHUT_RD", "SHUT_RDWR",
             "ECONNRESET", "EPIPE", "EAGAIN", "S", "S.", "F", "F.", "R", "R.", "P.", ".", "FP.",
             "SFRPUEW.", "<", ">", "ack", "win", "+", "*", "...", "=", "-1", "-", "0", "1:1(0)",
             "1:1001(1000)", "<mss 1460>", "<nop,nop,TS val 1 ecr 0>", "{", "}", "[", "]",
             "(", ")", ",", "|", "\n", "//", "/*", '"x"')


def pkt_tokens(text: str) -> list[str]:
    """A packetdrill script as tokens, whitespace and comments included (joined, the text)."""
    return [m.group(0) for m in _PKT_TOKEN.finditer(text)]


def mutate_pkt(text: str, rng: random.Random) -> str:
    """A few token-level changes to a packetdrill script: mutate_text's changes over the
    script's tokens, sometimes a packet line's times or sequence numbers pushed to extremes."""
    out = mutate_text(text, list(PKT_WORDS), rng, tokenize=pkt_tokens)
    if rng.random() < 0.3:
        toks = pkt_tokens(out)
        numbers = [k for k, t in enumerate(toks) if t[:1].isdigit()]
        if numbers:
            k = rng.choice(numbers)
            toks[k] = rng.choice(["4294967295", "4294967296", "0.000001", "1e9", "nan",
                                  "99999999999", "1." + "0" * 400, "-5", _huge_number(rng)])
        out = "".join(toks)
    return out


def encode_text(text: str) -> bytes:
    """The mutated text as a file's bytes (a lone surrogate becomes an invalid UTF-8 byte)."""
    return text.encode("utf-8", "surrogateescape")


# ------------------------------------------------------------------ pcap

_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", False), b"\xa1\xb2\xc3\xd4": (">", False),
                b"\x4d\x3c\xb2\xa1": ("<", True), b"\xa1\xb2\x3c\x4d": (">", True)}
_LINK_TYPES = (0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276, 147, 105, 127, 0x0FFFFFFF,
               0x10000001, 0xFFFFFFFF)
_TCP_FLAGS = (0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80)


def _ip_offset(linktype: int, frame: bytes) -> int | None:
    """Where the IP header starts in a frame of the common link types (None: not found)."""
    linktype &= 0x0FFFFFFF
    if linktype == 1:                                        # Ethernet and its VLAN tags
        off, etype = 14, frame[12:14]
        while etype in (b"\x81\x00", b"\x88\xa8") and len(frame) >= off + 4:
            etype, off = frame[off + 2:off + 4], off + 4
        return off if etype in (b"\x08\x00", b"\x86\xdd") else None
    return {0: 4, 108: 4, 12: 0, 14: 0, 101: 0, 228: 0, 229: 0, 113: 16, 276: 20}.get(linktype)


def _tcp_offset(frame: bytes, ip: int) -> int | None:
    if len(frame) < ip + 20:
        return None
    version = frame[ip] >> 4
    if version == 4 and frame[ip + 9] == 6:
        return ip + (frame[ip] & 0x0F) * 4
    if version == 6 and len(frame) >= ip + 40 and frame[ip + 6] == 6:
        return ip + 40
    return None


def _tcp_options(rng: random.Random) -> bytes:
    """A run of TCP options, well-formed or not (lengths 0, 1, too long, cut off)."""
    out = b""
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice([0, 1, 2, 3, 4, 5, 8, 28, 29, 30, 34, 253, 254, rng.randrange(256)])
        if kind in (0, 1):
            out += bytes([kind])
            continue
        length = rng.choice([0, 1, 2, 3, 4, 10, 40, 255, rng.randrange(256)])
        out += bytes([kind, length]) + bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
    return out


def _set(frame: bytearray, off: int, fmt: str, value: int) -> None:
    size = struct.calcsize(fmt)
    if off + size <= len(frame):
        struct.pack_into(fmt, frame, off, value & ((1 << (8 * size)) - 1))


def mutate_frame(linktype: int, frame: bytes, rng: random.Random) -> bytes:
    """One structure-aware change to a frame: an IP or TCP field, the options, the payload;
    bytes at random when the frame's layers are not found."""
    buf = bytearray(frame)
    ip = _ip_offset(linktype, frame)
    tcp = _tcp_offset(frame, ip) if ip is not None else None
    if ip is None or tcp is None or rng.random() < 0.1:
        for _ in range(rng.randint(1, 4)):
            if buf:
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        return bytes(buf)
    v4 = frame[ip] >> 4 == 4
    op = rng.randrange(14)
    if op == 0:                                   # the IP length
        _set(buf, ip + (2 if v4 else 4), ">H",
             rng.choice([0, 1, 19, 20, 39, 40, 41, 1500, 65535, rng.randrange(65536)]))
    elif op == 1:                                 # header length or version nibble
        buf[ip] = (buf[ip] & 0xF0 | rng.randrange(16)) if rng.random() < 0.6 \
            else (rng.randrange(16) << 4 | buf[ip] & 0x0F)
    elif op == 2:                                 # the protocol / next header
        buf[ip + (9 if v4 else 6)] = rng.choice([0, 6, 17, 43, 44, 50, 58, 59, 60, 255])
    elif op == 3 and v4:                          # fragments
        _set(buf, ip + 6, ">H", rng.choice([0x2000, 0x2001, 0x0001, 0x1FFF, 0xFFFF]))
    elif op == 4:                                 # the TCP data offset
        buf[tcp + 12] = rng.randrange(16) << 4 | buf[tcp + 12] & 0x0F
    elif op in (5, 6):                            # the flags
        if tcp + 13 < len(buf):
            buf[tcp + 13] = rng.randrange(256) if op == 5 else buf[tcp + 13] ^ rng.choice(_TCP_FLAGS)
    elif op == 7:                                 # sequence or acknowledgement number
        _set(buf, tcp + rng.choice([4, 8]), ">I",
             rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, rng.randrange(1 << 32)]))
    elif op == 8:                                 # ports
        _set(buf, tcp + rng.choice([0, 2]), ">H", rng.choice([0, 1, 65535, rng.randrange(65536)]))
    elif op == 9:                                 # the window
        _set(buf, tcp + 14, ">H", rng.choice([0, 1, 65535, rng.randrange(65536)]))
    elif op == 10:                                # TCP options (data offset and IP length kept
        opts = _tcp_options(rng)                  # consistent, or not)
        opts += b"\x00" * (-len(opts) % 4) if rng.random() < 0.7 else b""
        buf[tcp + 20:tcp + 20] = opts
        if rng.random() < 0.8:
            buf[tcp + 12] = min(15, 5 + len(opts) // 4) << 4 | buf[tcp + 12] & 0x0F
            grow = len(opts)
            if v4:
                _set(buf, ip + 2, ">H", struct.unpack_from(">H", buf, ip + 2)[0] + grow)
            else:
                _set(buf, ip + 4, ">H", struct.unpack_from(">H", buf, ip + 4)[0] + grow)
    elif op == 11:                                # payload added or removed
        if rng.random() < 0.5:
            buf += bytes(rng.choice([1, 7, 1000, 70_000]))
        else:
            del buf[tcp + 20:]
    elif op == 12:                                # cut inside a header
        del buf[rng.randrange(max(1, tcp + 21)):]
    else:                                         # IPv4 options or a v6 extension header
        if v4:
            buf[ip] = buf[ip] & 0xF0 | rng.choice([6, 15])
        else:
            buf[ip + 6] = rng.choice([0, 43, 44, 60])
    return bytes(buf)


def _pcap_records(data: bytes) -> tuple[str, bool, bytes, list[list]] | None:
    """(endian, nanoseconds, file header, [[sec, frac, incl, orig, frame], ...])."""
    if data[:4] not in _PCAP_MAGICS or len(data) < 24:
        return None
    endian, nano = _PCAP_MAGICS[data[:4]]
    records, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from(endian + "IIII", data, off)
        records.append([sec, frac, incl, orig, data[off + 16:off + 16 + incl]])
        off += 16 + incl
    return endian, nano, data[:24], records


def _pcap_bytes(endian: str, header: bytes, records: list[list]) -> bytes:
    out = [header]
    for sec, frac, incl, orig, frame in records:
        out.append(struct.pack(endian + "IIII", sec & 0xFFFFFFFF, frac & 0xFFFFFFFF,
                               incl & 0xFFFFFFFF, orig & 0xFFFFFFFF) + frame)
    return b"".join(out)


MAX_RECORDS = 30_000    # many connections, but a capture the fuzzer can write in a moment


def _many_connections(linktype: int, records: list[list], rng: random.Random) -> list[list]:
    """The capture's records repeated as many connections (another client port each)."""
    copies = min(rng.choice([2, 20, 300, 2000]), MAX_RECORDS // max(1, len(records)))
    out = []
    for c in range(copies):
        for rec in records:
            frame = bytearray(rec[4])
            ip = _ip_offset(linktype, rec[4])
            tcp = _tcp_offset(rec[4], ip) if ip is not None else None
            if tcp is not None and tcp + 4 <= len(frame):
                src, dst = struct.unpack_from(">HH", frame, tcp)
                client = 0 if src > dst else 2          # the client's port is the higher one
                struct.pack_into(">H", frame, tcp + client, (max(src, dst) + c) & 0xFFFF)
            out.append([rec[0], rec[1], len(frame), len(frame), bytes(frame)])
    if rng.random() < 0.5:            # interleaved, as a busy server's capture is
        rng.shuffle(out)
    return out


def _drop_repeat_or_swap(items: list[list], rng: random.Random, may_reverse: bool) -> None:
    """One record (or block) of a capture file dropped, repeated or swapped with another, or
    with `may_reverse` all of them in reverse order: what a cut, merged or badly written file
    does to its frames. (The draws are in a fixed order: a seed gives the same input.)"""
    k = rng.randrange(len(items))
    choice = rng.randrange(4 if may_reverse else 3)
    if choice == 0:
        del items[k]
    elif choice == 1:
        items.insert(k, list(items[k]))
    elif choice == 2:
        j = rng.randrange(len(items))
        items[k], items[j] = items[j], items[k]
    else:
        items.reverse()


def mutate_pcap(data: bytes, rng: random.Random) -> bytes:
    """One or two structure-aware changes to a classic pcap file."""
    parsed = _pcap_records(data)
    if parsed is None:
        return data
    endian, _nano, header, records = parsed
    linktype = struct.unpack_from(endian + "I", header, 20)[0]
    for _ in range(rng.choice([1, 1, 2])):
        op = rng.randrange(12)
        if op in (0, 1, 2, 3) and records:            # a frame's fields
            rec = rng.choice(records)
            rec[4] = mutate_frame(linktype, rec[4], rng)
            if rng.random() < 0.9:
                rec[2] = rec[3] = len(rec[4])
        elif op == 4 and records:                      # a record's lengths
            rec = rng.choice(records)
            rec[rng.choice([2, 3])] = rng.choice([0, 1, len(rec[4]) + 1, 0x4000000, 0x4000001,
                                                  0xFFFFFFFF, rng.randrange(1 << 32)])
        elif op == 5 and records:                      # timestamps
            rec = rng.choice(records)
            rec[rng.choice([0, 1])] = rng.choice([0, 999_999_999, 1_000_000, 0xFFFFFFFF,
                                                  rng.randrange(1 << 32)])
        elif op == 6 and records:                      # records dropped, repeated, reordered
            _drop_repeat_or_swap(records, rng, may_reverse=True)
        elif op == 7:                                  # the link type
            linktype = rng.choice(_LINK_TYPES)
            header = header[:20] + struct.pack(endian + "I", linktype)
        elif op == 8:                                  # version, snaplen, magic
            field = rng.randrange(3)
            if field == 0:
                header = header[:4] + struct.pack(endian + "HH", rng.choice([1, 2, 3, 0xFFFF]),
                                                  rng.choice([0, 4, 0xFFFF])) + header[8:]
            elif field == 1:
                header = header[:16] + struct.pack(endian + "I", rng.choice([0, 1, 0xFFFFFFFF])) \
                    + header[20:]
            else:                                      # nanosecond magic: times read anew
                header = (b"\x4d\x3c\xb2\xa1" if endian == "<" else b"\xa1\xb2\x3c\x4d") \
                    + header[4:]
        elif op == 9 and records:                      # many connections
            records = _many_connections(linktype, records, rng)
        elif op == 10:                                 # cut off anywhere
            raw = _pcap_bytes(endian, header, records)
            return raw[:rng.randrange(len(raw) + 1)]
        else:                                          # garbage after the last record
            return _pcap_bytes(endian, header, records) + bytes(
                rng.randrange(256) for _ in range(rng.choice([1, 15, 16, 17, 100])))
    return _pcap_bytes(endian, header, records)


# ------------------------------------------------------------------ pcapng

_PCAPNG_SHB, _PCAPNG_IDB, _PCAPNG_EPB, _PCAPNG_SPB = 0x0A0D0D0A, 1, 6, 3


def _pcapng_blocks(data: bytes) -> list[list] | None:
    """[[type, body], ...] of a little-endian pcapng file (None: not one)."""
    blocks, off = [], 0
    while off + 12 <= len(data):
        btype, length = struct.unpack_from("<II", data, off)
        if length < 12 or off + length > len(data) or length % 4:
            return None
        blocks.append([btype, data[off + 8:off + length - 4]])
        off += length
    return blocks if blocks and blocks[0][0] == _PCAPNG_SHB else None


def _pcapng_bytes(blocks: list[list]) -> bytes:
    out = []
    for btype, body in blocks:
        body += b"\x00" * (-len(body) % 4)
        length = len(body) + 12
        out.append(struct.pack("<II", btype, length) + body + struct.pack("<I", length))
    return b"".join(out)


def _block_length_lie(raw: bytes, rng: random.Random) -> bytes:
    """A block whose length fields disagree with each other or with the file."""
    buf = bytearray(raw)
    starts, off = [], 0
    while off + 12 <= len(buf):
        starts.append(off)
        off += struct.unpack_from("<I", buf, off + 4)[0]
    at = rng.choice(starts)
    struct.pack_into("<I", buf, at + 4, rng.choice([0, 4, 12, 13, 0xFFFFFFFC, 0x7FFFFFFF,
                                                     rng.randrange(1 << 32)]))
    return bytes(buf)


def mutate_pcapng(data: bytes, rng: random.Random) -> bytes:
    """One or two structure-aware changes to a pcapng file: blocks, interfaces, packets."""
    blocks = _pcapng_blocks(data)
    if blocks is None:
        return data
    links = [struct.unpack_from("<H", body)[0] for t, body in blocks if t == _PCAPNG_IDB]
    for _ in range(rng.choice([1, 1, 2])):
        epbs = [b for b in blocks if b[0] == _PCAPNG_EPB and len(b[1]) >= 20]
        idbs = [b for b in blocks if b[0] == _PCAPNG_IDB and len(b[1]) >= 8]
        op = rng.randrange(10)
        if op in (0, 1, 2) and epbs:                   # a packet's frame
            blk = rng.choice(epbs)
            iface, _th, _tl, incl, orig = struct.unpack_from("<IIIII", blk[1])
            frame = blk[1][20:20 + incl]
            link = links[iface] if iface < len(links) else 1
            frame = mutate_frame(link, frame, rng)
            blk[1] = struct.pack("<IIIII", iface, _th, _tl, len(frame), len(frame)) + frame
        elif op == 3 and epbs:                         # a packet's header fields
            blk = rng.choice(epbs)
            field = rng.choice([0, 12, 16, 4, 8])
            body = bytearray(blk[1])
            struct.pack_into("<I", body, field, rng.choice([0, 1, 7, 0xFFFF, 0xFFFFFFFF,
                                                            len(body), rng.randrange(1 << 32)]))
            blk[1] = bytes(body)
        elif op == 4 and idbs:                         # an interface: link type, options
            blk = rng.choice(idbs)
            body = bytearray(blk[1][:8])
            if rng.random() < 0.5:
                struct.pack_into("<H", body, 0, rng.choice(_LINK_TYPES) & 0xFFFF)
            else:                                      # if_tsresol and other options
                code = rng.choice([9, 9, 9, 2, 0, 14, 0xFFFF])
                value = bytes([rng.choice([0, 3, 6, 9, 63, 64, 0x80, 0x80 | 63, 0xFF])]) \
                    if code == 9 else bytes(rng.randrange(256) for _ in range(rng.randint(0, 9)))
                length = len(value) if rng.random() < 0.8 else rng.choice([0, 200, 0xFFFF])
                body += struct.pack("<HH", code, length) + value + b"\x00" * (-len(value) % 4)
                body += b"\x00\x00\x00\x00"
            blk[1] = bytes(body)
        elif op == 5 and blocks:                       # blocks dropped, repeated, reordered
            _drop_repeat_or_swap(blocks, rng, may_reverse=False)
        elif op == 6 and blocks:                       # a block of another (or no) type
            rng.choice(blocks)[0] = rng.choice([0, 2, 3, 5, 0x0A0D0D0A, 0x80000001,
                                                rng.randrange(1 << 32)])
        elif op == 7:                                  # the section header: byte order,
            body = bytearray(blocks[0][1])             # version, section length
            if len(body) >= 16:
                field = rng.choice([0, 4, 6, 8])
                fmt = "<I" if field == 0 else ("<Q" if field == 8 else "<H")
                value = rng.choice([0, 1, 2, 0x1A2B3C4D, 0x4D3C2B1A, 0xFFFF, 0xFFFFFFFF,
                                    (1 << 64) - 1])
                struct.pack_into(fmt, body, field, value & ((1 << 8 * struct.calcsize(fmt)) - 1))
            blocks[0][1] = bytes(body)
        elif op == 8:                                  # a length that lies
            return _block_length_lie(_pcapng_bytes(blocks), rng)
        else:                                          # cut off anywhere
            raw = _pcapng_bytes(blocks)
            return raw[:rng.randrange(len(raw) + 1)]
    return _pcapng_bytes(blocks)


MAX_CAPTURE = 4_000_000   # bytes: mutations compound; past this a capture is cut off


def mutate_capture(data: bytes, rng: random.Random) -> bytes:
    """A pcap or pcapng file changed in its structure."""
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return mutate_pcapng(data, rng)[:MAX_CAPTURE]
    return mutate_pcap(data, rng)[:MAX_CAPTURE]


# ------------------------------------------------------------------ JSON traces

_NEST = "\x00nest\x00"   # stands for the value a deep nesting wraps, until the text is built
_BIG = "\x00big\x00"     # stands for a number too long for Python's int-to-text conversion


def _paths(doc, prefix=()) -> list[tuple]:
    """Every place a value sits in the document (dict keys and list indices)."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for k, value in enumerate(doc):
            found += _paths(value, prefix + (k,))
    return found


def _other_value(rng: random.Random, old):
    return rng.choice([
        None, True, False, 0, -1, 1, 2**31, 2**63, 10**rng.choice([20, 400]), _BIG,
        -(10**30), 0.5, 1e308, float("nan"), float("inf"), "", "FIN", "ACK|FIN", "RST",
        "٣", "x" * rng.choice([10, 100_000]), [], {}, [old], {"value": old},
        [old] * 50 if not isinstance(old, (list, dict)) else [old, old],
        str(old), "ESTABLISHED", "close()", "client", "server"])


def _put(doc, path: tuple, value):
    """The document with the value at path replaced (the root when path is empty)."""
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


MAX_JSON = 2_000_000    # characters


def mutate_json(text: str, rng: random.Random) -> str:
    """One to three changes to a JSON trace; the result is text (perhaps not JSON at all)."""
    doc = json.loads(text)
    nest: tuple[int, str] | None = None
    for _ in range(rng.choice([1, 1, 2, 3])):
        paths = _paths(doc)
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        old = parent[path[-1]] if path else doc
        op = rng.randrange(9)
        if op in (0, 1, 2):                           # a value of another type or size
            doc = _put(doc, path, _other_value(rng, old))
        elif op == 3 and path:                        # a key or element gone
            del parent[path[-1]]
        elif op == 4 and isinstance(old, list) and old:   # a list made long
            old.extend([old[-1]] * rng.choice([1, 10, 1000, 5000]))
        elif op == 5 and isinstance(old, list) and old:   # elements reordered or dropped
            rng.shuffle(old) if rng.random() < 0.5 else old.pop(rng.randrange(len(old)))
        elif op == 6 and isinstance(old, dict):       # an unknown key
            old[rng.choice(["extra", "", "ack", "flags", "x" * 1000])] = _other_value(rng, None)
        elif op == 7 and nest is None:                # deep nesting in place of a value
            nest = (rng.choice([100, 1000, 990, 5000, 100_000]), rng.choice(["[", "{\"a\":"]))
            doc = _put(doc, path, _NEST)
        else:                                         # the step numbers and frames renumbered
            if isinstance(old, dict) and "step" in old:
                old["step"] = _other_value(rng, old.get("step"))
    out = json.dumps(doc, indent=1)
    if nest is not None:
        depth, opener = nest
        closer = "]" if opener == "[" else "}"
        out = out.replace(json.dumps(_NEST), opener * depth + "1" + closer * depth, 1)
    out = out.replace(json.dumps(_BIG), "9" * rng.choice([4301, 5000, 20_000]))
    if len(out) > MAX_JSON:                           # mutations compound: keep inputs of a
        out = out[:MAX_JSON]                          # size a trace could have
    if rng.random() < 0.08:                           # cut off: not JSON any more
        out = out[:rng.randrange(len(out) + 1)]
    return out


def shipped_files(root: Path) -> dict[str, list[Path]]:
    """The files the mutators start from, per kind, sorted (the same on every machine)."""
    return {"models": sorted(root.glob("models/*.tcpm")) + sorted(root.glob("models/bench/*.tcpm")),
            "specs": sorted(root.glob("specs/*.spec")),
            "pkt": sorted(root.glob("tests/pkt/*.pkt")),
            "captures": sorted(p for p in root.glob("tests/captures/**/*")
                               if p.suffix in (".pcap", ".pcapng"))}
