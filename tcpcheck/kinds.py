"""The kinds of close, and the one classifier that tells them apart.

A close is classified from what each side sends and receives, in order:

  rst           an RST was sent
  incomplete    the run stopped without both sides CLOSED (only a run of the model can say)
  simultaneous  both sides sent their FIN before receiving the other's
  three-way     the passive side's first segment sent on or after receiving the peer's FIN
                is its own FIN (the ACK rode on it)
  four-way      the passive side acknowledged first (a bare ACK, or data carrying the ACK)

The classifier is a fold: `CloseRecord` keeps the little a kind depends on and takes one step
at a time (`after`). `tcpcheck map` folds every complete run of the graph, `conform` folds
along the edges of the product of the graph with the record (the record is small and
hashable, so it can be a search monitor), replay folds the run it matched, and a capture is
folded from its segments (tcpcheck.capture says when each side received what).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Iterable

from .tcp import Flags


class CloseKind(StrEnum):
    """A kind of close, written as `tcpcheck map` and the reports write it."""
    FOUR_WAY = "four-way"
    THREE_WAY = "three-way"
    SIMULTANEOUS = "simultaneous"
    RST = "rst"
    INCOMPLETE = "incomplete"


# What each side did first with FINs (CloseRecord.fin_order).
_NONE, _SENT_FIRST, _RECEIVED_FIRST = 0, 1, 2


@dataclass(frozen=True, slots=True)
class CloseRecord:
    """What the kind of close of a sequence of steps depends on, kept step by step."""
    sides: tuple[str, ...]                  # the endpoints, in the model's order
    rst: bool = False                       # an RST was sent
    opener: tuple[str, str | None] | None = None   # (side, call) of the first FIN or RST
    fin_order: tuple[int, ...] = ()         # per side: _SENT_FIRST, _RECEIVED_FIRST or _NONE
    answer: tuple[Flags | None, ...] = ()   # per side: its first segment sent on or after
                                            # receiving the peer's FIN

    @classmethod
    def start(cls, sides: Iterable[str]) -> CloseRecord:
        sides = tuple(sides)
        return cls(sides, fin_order=(_NONE,) * len(sides), answer=(None,) * len(sides))

    def after(self, actor: str | None, received: Flags | None = None,
              sent: Iterable[Flags] = (), call: str | None = None) -> CloseRecord:
        """The record after one step: `actor` received `received` (or nothing), then sent
        `sent` in order; `call` is the application call the step made (it names the opener).
        A step of nobody's (the network losing a segment) changes nothing."""
        if actor is None:
            return self
        me = self.sides.index(actor)
        rst, opener = self.rst, self.opener
        order, answer = list(self.fin_order), list(self.answer)
        if received is not None and received & Flags.FIN and order[me] == _NONE:
            order[me] = _RECEIVED_FIRST
        for flags in sent:
            if flags & Flags.RST:
                rst = True
            if opener is None and flags & (Flags.FIN | Flags.RST):
                opener = (actor, call)
            if flags & Flags.FIN and order[me] == _NONE:
                order[me] = _SENT_FIRST
            if order[me] == _RECEIVED_FIRST and answer[me] is None:
                answer[me] = Flags(flags)
        return replace(self, rst=rst, opener=opener, fin_order=tuple(order),
                       answer=tuple(answer))

    def settled(self) -> CloseKind | None:
        """The kind the steps show so far, None while they do not show one yet (no FIN
        sent, or the passive side has not answered the FIN)."""
        if self.rst:
            return CloseKind.RST
        active = [k for k, o in enumerate(self.fin_order) if o == _SENT_FIRST]
        if len(active) == 2:
            return CloseKind.SIMULTANEOUS
        if not active:
            return None
        passive = next((k for k in range(len(self.sides)) if k not in active), None)
        if passive is None or self.answer[passive] is None:
            return None
        return CloseKind.THREE_WAY if self.answer[passive] & Flags.FIN else CloseKind.FOUR_WAY

    def kind(self, complete: bool) -> CloseKind:
        """The kind of a run of the model that ended; `complete`: in the end state (both
        sides CLOSED). A complete run whose passive side never answered a FIN counts as
        four-way, as the behaviour map always has."""
        if self.rst:
            return CloseKind.RST
        if not complete:
            return CloseKind.INCOMPLETE
        return self.settled() or CloseKind.FOUR_WAY


def classify(sides: Iterable[str], steps: Iterable[tuple[str | None, Flags | None,
                                                         Iterable[Flags]]],
             complete: bool) -> CloseKind:
    """The kind of close of a run of the model: `steps` are (actor, flags received or None,
    flags sent in order), `complete` whether it ended in the end state."""
    record = CloseRecord.start(sides)
    for actor, received, sent in steps:
        record = record.after(actor, received, sent)
    return record.kind(complete)
