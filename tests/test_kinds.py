"""The one classifier of the kinds of close, on small hand-written runs and captures."""
from __future__ import annotations

import pytest

from tcpcheck.capture import Capture, CapturedSegment, capture_kind
from tcpcheck.kinds import CloseKind, CloseRecord, classify
from tcpcheck.tcp import Flags

FIN, ACK, RST, DATA = Flags.FIN, Flags.ACK, Flags.RST, Flags.DATA
SIDES = ("client", "server")


def test_the_kinds_are_written_as_the_map_writes_them():
    assert list(CloseKind) == ["four-way", "three-way", "simultaneous", "rst", "incomplete"]
    assert f"{CloseKind.THREE_WAY} close" == "three-way close"


# (actor, received, sent) steps of small runs
THREE_WAY = [("client", None, [FIN]), ("server", FIN, []), ("server", None, [FIN | ACK]),
             ("client", FIN | ACK, [ACK]), ("server", ACK, [])]
FOUR_WAY = [("client", None, [FIN]), ("server", FIN, [ACK]), ("client", ACK, []),
            ("server", None, [FIN]), ("client", FIN, [ACK]), ("server", ACK, [])]
SIMULTANEOUS = [("client", None, [FIN]), ("server", None, [FIN]), ("client", FIN, [ACK]),
                ("server", FIN, [ACK]), ("client", ACK, []), ("server", ACK, [])]
DATA_THEN_FIN = [("client", None, [FIN]), ("server", FIN, [DATA]), ("client", DATA, [ACK]),
                 ("server", None, [FIN]), ("client", FIN, [ACK])]
RESET = [("client", None, [FIN]), ("server", FIN, [DATA]), ("client", DATA, [RST])]


@pytest.mark.parametrize("steps, kind", [
    (THREE_WAY, CloseKind.THREE_WAY), (FOUR_WAY, CloseKind.FOUR_WAY),
    (SIMULTANEOUS, CloseKind.SIMULTANEOUS), (DATA_THEN_FIN, CloseKind.FOUR_WAY),
    (RESET, CloseKind.RST),
])
def test_classify_small_runs(steps, kind):
    assert classify(SIDES, steps, complete=True) == kind


def test_a_run_that_stops_early_is_incomplete_unless_it_reset():
    assert classify(SIDES, THREE_WAY[:2], complete=False) == CloseKind.INCOMPLETE
    assert classify(SIDES, RESET, complete=False) == CloseKind.RST


def test_a_loss_changes_nothing_and_the_record_is_a_value():
    start = CloseRecord.start(SIDES)
    assert start.after(None, None, [FIN]) == start
    # equal steps give equal (hashable) records: the record can be a search monitor
    a = start.after("client", None, [FIN], "close()")
    b = start.after("client", None, [FIN], "close()")
    assert a == b and hash(a) == hash(b) and a.opener == ("client", "close()")


def test_settled_waits_for_the_answer():
    record = CloseRecord.start(SIDES)
    assert record.settled() is None
    for actor, got, sent in THREE_WAY[:2]:
        record = record.after(actor, got, sent)
    assert record.settled() is None          # the server has not answered the FIN yet
    record = record.after(*THREE_WAY[2])
    assert record.settled() == CloseKind.THREE_WAY


def _capture(*segs: tuple[str, str, int | None]) -> Capture:
    return Capture("test", "json", "client <-> server", [
        CapturedSegment.of(k, k, side, Flags.parse(flags), ack, "")
        for k, (side, flags, ack) in enumerate(segs, start=1)])


@pytest.mark.parametrize("cap, kind", [
    (_capture(("client", "FIN", 0), ("server", "FIN+ACK", 1), ("client", "ACK", 1)),
     CloseKind.THREE_WAY),
    (_capture(("client", "FIN", 0), ("server", "ACK", 1), ("server", "FIN", 1),
              ("client", "ACK", 1)), CloseKind.FOUR_WAY),
    # the server's FIN does not acknowledge the client's: the two crossed
    (_capture(("client", "FIN", 0), ("server", "FIN", 0), ("client", "ACK", 1),
              ("server", "ACK", 1)), CloseKind.SIMULTANEOUS),
    # after data, the FIN is the second unit: ack=1 does not cover it
    (_capture(("client", "DATA", 0), ("client", "FIN", 0), ("server", "FIN", 1)),
     CloseKind.SIMULTANEOUS),
    (_capture(("client", "FIN", 0), ("server", "RST", None)), CloseKind.RST),
    (_capture(("client", "FIN", 0)), None),                    # not answered yet
    (_capture(("client", "DATA", 0), ("server", "ACK", 1)), None),   # no FIN at all
])
def test_capture_kind(cap, kind):
    assert capture_kind(cap) == kind
