"""The TCP vocabulary: segment flags, RFC 9293's state names, the application calls.

Everything that speaks of TCP by name (the type checker, the spec language, the explorer's
segment codes, captures, ladders) takes its words from here.
"""
from __future__ import annotations

# Segment flags and their bits. DATA is not a TCP header flag: it marks a segment that carries
# one unit of payload.
FLAG_BITS = {"FIN": 1, "SYN": 2, "RST": 4, "ACK": 8, "DATA": 16}
# The order flags are written in: SYN+ACK, DATA+ACK, FIN+ACK, RST+ACK.
FLAG_ORDER = ("SYN", "DATA", "FIN", "RST", "ACK")

# RFC 9293 section 3.3.2 state names, in the RFC's order; tcp_state is a built-in enum.
TCP_STATES = ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
              "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT")

# Application calls an endpoint can react to, with the arguments each accepts.
APP_CALLS: dict[str, tuple[str, ...]] = {
    "close": (), "shutdown": ("SHUT_RD", "SHUT_WR", "SHUT_RDWR"), "write": (), "read": (),
    "exit": (), "kill": (), "fork": (), "listen": (), "connect": (), "accept": (),
}

def flags_name(bits: int) -> str:
    """FIN+ACK style name of a flag bit set."""
    return "+".join(f for f in FLAG_ORDER if bits & FLAG_BITS[f]) or "none"


# Bits a segment's flags take in a packed segment code (FIN SYN RST ACK DATA).
FLAG_WIDTH = 5
