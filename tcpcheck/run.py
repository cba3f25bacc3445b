"""Runs: paths through the state graph, step by step.

What a step of a run received is read from the state before it: the head of the channel into
the endpoint that took the step.
"""
from __future__ import annotations

from .compile import TransitionSystem, Variant
from .tcp import FLAG_WIDTH, Flags

_FLAG_MASK = (1 << FLAG_WIDTH) - 1


def received_flags(ts: TransitionSystem, state: int, v: Variant) -> Flags | None:
    """The flags of the segment variant v receives when taken from packed `state` (the head
    of the channel into its endpoint); None when v is not a receive."""
    if v.event.kind != "recv" or v.instance is None:
        return None
    ch = next(c for c in ts.channels if c.dst == v.instance)
    return Flags(ts.slot_value(state, ch.slot) & _FLAG_MASK)
