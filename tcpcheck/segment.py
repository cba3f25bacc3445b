"""A segment in the model's words: its flags and the fields the model declares for segments.

One type for a segment wherever it appears: on a channel of a packed state, sent or received
by a step of a run, read from a capture, drawn on a ladder. The JSON trace format and the
ladder's input write it as a dict ({"flags": "FIN+ACK", "ack": 1, "stale": false}); `as_dict`
and `from_dict` go between the two, and `segment_text` writes it the way every report does:
FIN+ACK(ack=1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .tcp import Flags

FieldValue = Union[int, bool, str]     # an int, a bool, or the name of an enum value


@dataclass(frozen=True, slots=True)
class Segment:
    flags: Flags
    fields: tuple[tuple[str, FieldValue], ...] = ()   # (name, value) in declaration order

    def get(self, name: str, default=None):
        """The value of field `name`, `default` when the segment has no such field."""
        return next((v for n, v in self.fields if n == name), default)

    def has(self, name: str) -> bool:
        return any(n == name for n, _v in self.fields)

    def as_dict(self) -> dict:
        """The JSON trace's form: flags first, then the fields in their order."""
        return {"flags": str(self.flags), **dict(self.fields)}

    @classmethod
    def from_dict(cls, seg: dict) -> Segment:
        """A segment from its JSON trace form; KeyError when a flag is not one of TCP's."""
        return cls(Flags.parse(seg["flags"]),
                   tuple((k, v) for k, v in seg.items() if k != "flags"))

    def text(self) -> str:
        return segment_text(self.as_dict())


def segment_text(seg: dict) -> str:
    """FIN+ACK(ack=1): the flags, then the fields; a bool field shows by its name when true
    and not at all when false (ACK(ack=1,stale))."""
    fields = ",".join(field_texts(seg))
    return f"{seg.get('flags', '?')}({fields})" if fields else str(seg.get("flags", "?"))


def field_texts(seg: dict, skip: tuple[str, ...] = ("flags",)) -> list[str]:
    out = []
    for k, v in seg.items():
        if k in skip or v is False:
            continue
        out.append(k if v is True else f"{k}={v}")
    return out


def wire_flags(flags: Flags) -> str:
    """The flags as tcpdump prints them, `[F.]`: S, F, P (data), R, then `.` for ACK.

    On the wire every segment after the handshake carries ACK, so the model's FIN (its first
    FIN) and FIN+ACK (a FIN that acknowledges the peer's FIN) are both `[F.]`, its ACK `[.]`,
    DATA `[P.]`, DATA+FIN `[FP.]`. The model does not say whether its RST carries ACK (Linux
    sets it on the RST of close() and of SO_LINGER 0, not on one answering a segment for a
    closed connection): RST is `[R]`, RST+ACK `[R.]`."""
    letters = "".join(letter for bit, letter in ((Flags.SYN, "S"), (Flags.FIN, "F"),
                                                 (Flags.DATA, "P"), (Flags.RST, "R"))
                      if flags & bit)
    acks = bool(flags & Flags.ACK) or not flags & (Flags.SYN | Flags.RST)
    return f"[{letters}{'.' if acks else ''}]"
