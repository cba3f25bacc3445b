"""The TCP vocabulary: segment flags, RFC 9293's state names, the application calls.

Everything that speaks of TCP by name (the type checker, the spec language, the explorer's
segment codes, captures, ladders) takes its words from here.
"""
from __future__ import annotations

from enum import IntFlag

# Segment flags and their bits. DATA is not a TCP header flag: it marks a segment that carries
# one unit of payload.
FLAG_BITS = {"FIN": 1, "SYN": 2, "RST": 4, "ACK": 8, "DATA": 16}
# The order flags are written in: SYN+ACK, DATA+ACK, FIN+ACK, RST+ACK.
FLAG_ORDER = ("SYN", "DATA", "FIN", "RST", "ACK")

# RFC 9293 section 3.3.2 state names, in the RFC's order; tcp_state is a built-in enum.
TCP_STATES = ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
              "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT")

# The built-in application calls an endpoint can react to, with the arguments each accepts.
# A model may declare calls of its own program beside them (`call drain(ONE, ALL)`):
# model.CheckedModel.app_calls gives both.
APP_CALLS: dict[str, tuple[str, ...]] = {
    "close": (), "shutdown": ("SHUT_RD", "SHUT_WR", "SHUT_RDWR"), "write": (), "read": (),
    "exit": (), "kill": (), "fork": (), "listen": (), "connect": (), "accept": (),
}

class Flags(IntFlag):
    """A segment's flags as a typed value: `Flags.FIN | Flags.ACK` prints as FIN+ACK."""
    FIN = FLAG_BITS["FIN"]
    SYN = FLAG_BITS["SYN"]
    RST = FLAG_BITS["RST"]
    ACK = FLAG_BITS["ACK"]
    DATA = FLAG_BITS["DATA"]

    def __str__(self) -> str:
        return flags_name(self)

    @classmethod
    def parse(cls, text: str) -> Flags:
        """The flags written FIN+ACK style (as flags_name writes them); KeyError on a name
        that is not a flag."""
        out = cls(0)
        for name in text.split("+"):
            if name != "none":
                out |= cls[name]
        return out


def flags_name(bits: int) -> str:
    """FIN+ACK style name of a flag bit set."""
    return _FLAG_NAMES[int(bits) & _ALL_FLAGS]


# Every name worked out once: a capture of a million segments names their flags a million
# times, and an IntFlag's `&` costs microseconds each.
_ALL_FLAGS = sum(FLAG_BITS.values())
_FLAG_NAMES = tuple("+".join(f for f in FLAG_ORDER if bits & FLAG_BITS[f]) or "none"
                    for bits in range(_ALL_FLAGS + 1))


# Bits a segment's flags take in a packed segment code (FIN SYN RST ACK DATA).
FLAG_WIDTH = 5
