"""A run's steps read as a ladder: one row per step, one arrow per segment.

Input is the step list of `trace.run_steps` (see its module docstring). `analyse_run` gives
what a ladder draws, in the drawing's terms and in no particular format (tcpcheck.ladder
draws it as DOT and as a fixed-width table):

- a `Row` per step: each endpoint's TCP state when it changes, its call or timer expiry (with
  what the call returned, lifelines.call_result), and the observations left to show as notes;
- an `Arrow` per segment, in the order sent: who sent it on which row, the row it was
  received or lost on (None: still on the wire), its sequence number in the model's units,
  whether it retransmits a FIN (and which), and, for a captured segment, its real numbers.

Sends are matched to receives per direction in FIFO order (the model's channels are FIFO):
the k-th segment A sends to B is the k-th one that B receives or the network loses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .lifelines import call_result
from .segment import Segment, field_texts, segment_text, wire_flags
from .tcp import Flags

# sequence space a segment uses (RFC 9293 3.4): SYN and FIN one unit each, data (one unit of
# payload in the model) one
_UNITS = Flags.SYN | Flags.FIN | Flags.DATA




@dataclass
class Arrow:
    """One segment of the run on the drawing: who sent it, when, and how it ended."""
    src: str
    dst: str
    segment: Segment
    seq: int
    sent_row: int
    time_ms: float | None
    end_row: int | None = None       # row it was received or lost on; None: still in flight
    lost: bool = False
    retransmits: str | None = None   # a FIN sent again: the model's name of the first one
    wire: str | None = None          # a captured segment: its real flags and numbers
    wire_ms: float | None = None     # and when the capture saw it (ms since its first)

    @property
    def length(self) -> int:
        return 1 if self.segment.flags & Flags.DATA else 0

    def label(self, with_time: bool = True) -> str:
        """`[F.] seq=0 ack=1 len=0 (FIN+ACK)`: the flags as on the wire, the numbers (the
        capture's own when it has them, else the model's units), then the model's reading
        where the wire's flags do not say it all."""
        seg = self.segment.as_dict()
        if self.wire is not None:
            parts = [self.wire]
        else:
            parts = [wire_flags(self.segment.flags), f"seq={self.seq}"]
            if "ack" in seg:
                parts.append(f"ack={_num(seg['ack'])}")
            parts.append(f"len={self.length}")
        reading = self.reading()
        text = " ".join(parts) + (f" ({reading})" if reading else "")
        if with_time and self.wire_ms is not None:
            text += f"  captured at {ms_text(self.wire_ms)} ms"
        elif with_time and self.time_ms is not None:
            text += f"  t={ms_text(self.time_ms)} ms"
        return text

    def reading(self) -> str:
        """The model's words for the segment when they add to its wire flags: FIN+ACK (a FIN
        that acknowledges the peer's FIN), a retransmission and of what, its other fields."""
        seg = self.segment.as_dict()
        words = []
        if self.retransmits is not None:
            words.append(f"retransmitted {self.retransmits}")
        elif str(self.segment.flags) not in _PLAIN:
            words.append(str(self.segment.flags))
        words += field_texts(seg, ("flags", "ack"))
        return ", ".join(words)


# the model's flags that say no more than their wire flags
_PLAIN = ("FIN", "ACK", "DATA", "DATA+FIN", "RST", "SYN", "SYN+ACK", "RST+ACK")


@dataclass
class Row:
    """What one step shows beside each lifeline."""
    step: dict
    states: dict[str, str] = field(default_factory=dict)      # endpoint -> state, when changed
    events: dict[str, str] = field(default_factory=dict)      # endpoint -> call / timer text
    notes: dict[str, list[str]] = field(default_factory=dict)  # endpoint -> observations
    network: list[str] = field(default_factory=list)          # observations of a loss


def _num(v) -> str:
    return str(int(v)) if isinstance(v, bool) else str(v)


def ms_text(t: float) -> str:
    """A time in ms, short: 41, 0.5, 60041.25."""
    if float(t).is_integer():
        return str(int(t))
    return f"{t:.3f}".rstrip("0").rstrip(".")


def _units(seg: Segment) -> int:
    return bin(seg.flags & _UNITS).count("1")


def _other(instances: tuple[str, str], name: str) -> str:
    return instances[1] if name == instances[0] else instances[0]


def _event_text(step: dict) -> str | None:
    """The call or timer expiry of a step, as written beside the lifeline (None: nothing)."""
    kind = step.get("kind")
    fired = (step.get("timers") or {}).get("fired")
    if kind == "call":
        text = step.get("event") or "call"
        if fired:
            text += f" after {fired}"
    elif kind == "expire":
        text = step.get("event") or f"{fired} expires"
    elif fired:
        text = f"{fired} expires"
    else:
        return None
    return text


# the instance names of the shipped models; their ladders keep this order
_CLASSIC = ("client", "server")


def instances_of(steps: list[dict]) -> tuple[str, str]:
    """The two endpoints a run's ladder draws, left then right.

    A run of a model whose instances are `client` and `server` keeps that order whichever
    acts first; other names are taken in the model's order (the keys of `tcp_states`), then
    in the order they act (models without `tcp_state`). An endpoint that never shows up is
    drawn as an idle `peer` lifeline, so that a ladder always has two sides."""
    found: list[str] = []
    for step in steps:
        names = list(step.get("tcp_states") or {})
        who = step.get("endpoint")
        if who is not None and who != "network":
            names.append(who)
        src, sep, dst = (step.get("channel") or "").partition("->")
        if sep:
            names += [src.strip(), dst.strip()]
        found.extend(n for n in names if isinstance(n, str) and n not in found)
    if set(found) <= set(_CLASSIC):
        return _CLASSIC
    found += [n for n in ("peer", "other peer") if n not in found]
    return found[0], found[1]


def analyse_run(steps: list[dict], instances: tuple[str, str] | None = None
                ) -> tuple[list[Row], list[Arrow]]:
    """Rows (one per step) and arrows (one per segment, in the order sent), sends matched to
    receives.

    Raises ValueError when the steps do not fit together: a step by an endpoint that is not
    one of `instances`, or a receive or loss with nothing on the wire, or a different segment
    at the head of the channel than the one received."""
    instances = instances or instances_of(steps)
    if len(instances) != 2 or instances[0] == instances[1]:
        raise ValueError(f"a ladder has two different endpoints, not {instances!r}")
    rows: list[Row] = []
    segments: list[Arrow] = []
    wire: dict[tuple[str, str], list[Arrow]] = {}
    units = {name: 0 for name in instances}
    fin_seq: dict[str, int] = {}  # the seq of each side's first FIN
    fin_flags: dict[str, str] = {}  # and the model's name of its flags
    prev_states: dict[str, str] = {}
    for i, step in enumerate(steps):
        row = Row(step)
        states = step.get("tcp_states") or {}
        for name in instances:
            if name in states and (i == 0 or states[name] != prev_states.get(name)):
                row.states[name] = states[name]
        prev_states = dict(states)
        who = step.get("endpoint")
        if i > 0 or "params" not in step:
            kind = step.get("kind")
            if kind == "loss":
                src, dst = _channel_ends(step, instances)
                got = _take(wire, src, dst, step.get("lost"), f"step {step.get('step', i)}: "
                            "the network loses")
                got.end_row, got.lost = i, True
            elif who not in instances:
                raise ValueError(f"step {step.get('step', i)}: endpoint {who!r} is not one of "
                                 f"{instances[0]!r}, {instances[1]!r}")
            if kind == "recv" and step.get("received") is not None:
                got = _take(wire, _other(instances, who), who, step["received"],
                            f"step {step.get('step', i)}: {who} receives")
                got.end_row = i
            if who in instances:
                text = _event_text(step)
                result, obs = call_result(step)
                if text:
                    row.events[who] = text + (f" {result}" if result else "")
                wires, wire_ms = step.get("wire") or [], step.get("wire_ms") or []
                for m, sent in enumerate(step.get("sent") or []):
                    seg = Segment.from_dict(sent)
                    fin = bool(seg.flags & Flags.FIN)
                    # a FIN sent again is a retransmission: it has the first one's seq
                    again = fin and who in fin_seq
                    seq = fin_seq[who] if again else units[who]
                    if seg.get("stale") and who in fin_seq:
                        seq = fin_seq[who]  # built before the FIN went out: the FIN's seq
                    s = Arrow(who, _other(instances, who), seg, seq, i, step.get("time_ms"),
                              retransmits=fin_flags[who] if again else None,
                              wire=_wire_text(wires[m]) if m < len(wires) else None,
                              wire_ms=wire_ms[m] if m < len(wire_ms) else None)
                    if fin and not again:
                        fin_seq[who], fin_flags[who] = units[who], str(seg.flags)
                    if not again:
                        units[who] += _units(seg)
                    segments.append(s)
                    wire.setdefault((s.src, s.dst), []).append(s)
            else:
                obs = list(step.get("observations") or [])
            if obs and who in instances:
                row.notes.setdefault(who, []).extend(obs)
            elif obs:
                row.network.extend(obs)
        rows.append(row)
    return rows, segments


def _wire_text(tcp: str) -> str:
    """A captured segment tcpdump style, as the ladder labels it: "F. seq 1 ack 1 win 512 len 0"
    becomes "[F.] seq 1 ack 1 len 0" (the window says nothing about the close)."""
    flags, _sep, rest = tcp.partition(" ")
    return f"[{flags}] " + re.sub(r"\bwin \d+ ", "", rest) if rest else f"[{flags}]"


def _channel_ends(step: dict, instances: tuple[str, str]) -> tuple[str, str]:
    channel = step.get("channel") or ""
    src, sep, dst = channel.partition("->")
    src, dst = src.strip(), dst.strip()
    if not sep or {src, dst} != set(instances):
        raise ValueError(f"step {step.get('step')}: cannot tell the direction of channel "
                         f"{channel!r} between {instances[0]!r} and {instances[1]!r}")
    return src, dst


def _take(wire, src: str, dst: str, seg: dict | None, what: str) -> Arrow:
    """The oldest segment on the wire from src to dst, which `what` (receives or loses)."""
    queue = wire.get((src, dst)) or []
    if not queue:
        raise ValueError(f"{what} a segment from {src} to {dst}, but none is on the wire")
    head = queue.pop(0)
    # the same flags and fields, in whatever order the step lists the fields
    if seg is not None and dict(seg) != head.segment.as_dict():
        raise ValueError(f"{what} {segment_text(seg)}, but the oldest segment from {src} to "
                         f"{dst} on the wire is {head.segment.text()}")
    return head
