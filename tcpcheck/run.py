"""Runs: typed paths through the state graph.

A `Run` is the sequence of its `Step`s, from an initial state: each step the variant taken
(tcpcheck.compile), the state it reached, and what went over the wire (the segment received,
those sent, the segment the network lost), with z3's time when known. Everything shown of a
run is derived from it: the JSON trace and its text lines (tcpcheck.trace), the ladders drawn
from the JSON trace (tcpcheck.ladder), and the kind of close (tcpcheck.kinds).

What a step received is read from the state before it: the head of the channel into the
endpoint that took the step (`received_flags` reads only the flags, for searches that fold
every edge of the graph); what it sent, from the tail of its outgoing channel after it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .transitions import TransitionSystem, Variant
from .explore import Exploration
from .kinds import CloseKind, CloseRecord
from .segment import Segment
from .tcp import FLAG_WIDTH, Flags

_FLAG_MASK = (1 << FLAG_WIDTH) - 1


def received_flags(ts: TransitionSystem, state: int, v: Variant) -> Flags | None:
    """The flags of the segment variant v receives when taken from packed `state` (the head
    of the channel into its endpoint); None when v is not a receive."""
    if v.event.kind != "recv" or v.instance is None:
        return None
    ch = next(c for c in ts.channels if c.dst == v.instance)
    return Flags(ts.slot_value(state, ch.slot) & _FLAG_MASK)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a run; the first step of a run is its initial state (no variant)."""
    state_id: int                       # the state's number in the graph the run was found in
    state: int                          # the packed state reached
    variant: Variant | None = None      # the transition taken; None for the initial state
    received: Segment | None = None     # the segment a receive took off its channel
    sent: tuple[Segment, ...] = ()      # the segments put on the wire, in order
    lost: Segment | None = None         # the segment a network loss dropped
    time_ms: float | None = None        # when z3's timing of the run puts it

    @property
    def actor(self) -> str | None:
        """The endpoint that took the step; None for the start and for a network loss."""
        return self.variant.instance if self.variant is not None else None

    @property
    def kind(self) -> str:
        """"start", "loss", or the event's kind ("recv", "call", "expire", "internal")."""
        if self.variant is None:
            return "start"
        return "loss" if self.variant.instance is None else self.variant.event.kind


@dataclass(frozen=True, slots=True)
class Run:
    system: TransitionSystem
    region: int | None          # the parameter combination of the initial state (None: the
                                # run does not start at an initial state of the graph)
    steps: tuple[Step, ...]

    @classmethod
    def of(cls, ex: Exploration, path: list[tuple[int, int]],
           times: list[float] | None = None) -> Run:
        """The run along `path` of exploration `ex`: [(variant, state id)], the first variant
        -1 (the initial state); `times` z3's time of every step."""
        ts = ex.system
        steps: list[Step] = []
        prev: int | None = None
        for i, (vid, sid) in enumerate(path):
            state = ex.states[sid]
            time_ms = times[i] if times is not None else None
            if vid < 0 or prev is None:
                steps.append(Step(sid, state, time_ms=time_ms))
            else:
                steps.append(_step(ts, ex.states[prev], ts.variants[vid], sid, state, time_ms))
            prev = sid
        first = path[0][1] if path else None
        region = ex.initial.index(first) if first in ex.initial else None
        return cls(ts, region, tuple(steps))

    @property
    def variants(self) -> list[Variant]:
        """The transitions taken, in order (the initial state has none)."""
        return [s.variant for s in self.steps if s.variant is not None]

    @property
    def params(self) -> dict[str, int]:
        """The parameter values of the run's initial state (empty when it has none)."""
        return dict(self.system.initial_params[self.region]) if self.region is not None else {}

    def close_record(self) -> CloseRecord:
        """What the kind of close of the run depends on (tcpcheck.kinds)."""
        record = CloseRecord.start(inst.name for inst in self.system.model.instances)
        for s in self.steps[1:]:
            v = s.variant
            record = record.after(s.actor, s.received.flags if s.received else None,
                                  [f for _, f in v.sends],
                                  v.event.label() if v.event.kind == "call" else None)
        return record

    def kind(self, complete: bool) -> CloseKind:
        """The kind of close of the run; `complete`: it ended in the end state."""
        return self.close_record().kind(complete)


def _step(ts: TransitionSystem, before: int, v: Variant, sid: int, state: int,
          time_ms: float | None) -> Step:
    received = lost = None
    sent: tuple[Segment, ...] = ()
    if v.instance is None:
        ch = next(c for c in ts.channels if c.name == v.lost_from)
        lost = ts.segments_on(before, ch.slot)[0]
    elif v.event.kind == "recv":
        ch = next(c for c in ts.channels if c.dst == v.instance)
        received = ts.segments_on(before, ch.slot)[0]
    if v.sends:
        ch = next(c for c in ts.channels if c.src == v.instance)
        sent = ts.segments_on(state, ch.slot)[-len(v.sends):]
    return Step(sid, state, v, received, sent, lost, time_ms)
