"""The segment type (tcpcheck.segment) and the run type (tcpcheck.run): segments round-trip
through the JSON trace form and decode as the compiled model does; a run found by exploring
carries what each step received, sent and lost, and its kind of close."""
from __future__ import annotations

import pytest
from conftest import DEFAULT_MODEL
from hypothesis import given
from hypothesis import strategies as st

from tcpcheck import load
from tcpcheck.explore import explore
from tcpcheck.kinds import CloseKind, classify
from tcpcheck.query import end_predicate
from tcpcheck.run import Run, received_flags
from tcpcheck.segment import Segment, segment_text
from tcpcheck.tcp import Flags, flags_name
from tcpcheck.trace import run_steps

flags = st.builds(Flags, st.integers(min_value=0, max_value=31))
field_values = st.one_of(st.integers(min_value=0, max_value=9), st.booleans(),
                         st.sampled_from(["SHUT_RD", "x"]))
segments = st.builds(Segment, flags, st.dictionaries(
    st.sampled_from(["ack", "stale", "seq", "why"]), field_values).map(lambda d: tuple(d.items())))


@given(flags)
def test_flags_are_written_and_read_as_flags_name_writes_them(f):
    assert str(f) == flags_name(f)
    assert Flags.parse(str(f)) == f


@given(segments)
def test_a_segment_round_trips_through_its_json_form(seg):
    d = seg.as_dict()
    assert list(d)[0] == "flags" and Segment.from_dict(d) == seg
    assert seg.text() == segment_text(d)
    for name, value in seg.fields:
        assert seg.has(name) and seg.get(name) == value
    assert seg.get("nope", 7) == 7 and not seg.has("nope")


def test_segment_text():
    seg = Segment(Flags.ACK, (("ack", 1), ("stale", True)))
    assert seg.text() == "ACK(ack=1,stale)"
    assert Segment(Flags.FIN | Flags.ACK, (("ack", 0), ("stale", False))).text() == \
        "FIN+ACK(ack=0)"


@pytest.fixture(scope="module")
def lossy():
    return explore(load(DEFAULT_MODEL, ["delayed_ack=true", "passive_has_data=false",
                                        "lossy_network=true"]))


def test_channels_decode_as_the_compiled_model_decodes_them(lossy):
    ts = lossy.system
    for state in lossy.states[:2000]:
        for ch in ts.channels:
            assert [s.as_dict() for s in ts.segments_on(state, ch.slot)] == \
                ts.channel_segments(state, ch)


def test_a_run_knows_what_each_step_received_sent_and_lost(lossy):
    ts = lossy.system
    losses = [k for k in range(1, lossy.n_states)
              if ts.variants[lossy.parent_variant[k]].lost_from is not None]
    assert losses
    run = Run.of(lossy, lossy.path_to(losses[0]))
    assert run.steps[0].variant is None and run.steps[0].kind == "start"
    assert run.region is not None and run.params == ts.initial_params[run.region]
    last = run.steps[-1]
    assert last.kind == "loss" and last.actor is None and last.lost is not None
    # the channel of the loss is data: the segment lost is the head of that channel
    ch = next(c for c in ts.channels if c.name == last.variant.lost_from)
    assert last.lost == ts.segments_on(run.steps[-2].state, ch.slot)[0]
    for before, step in zip(run.steps, run.steps[1:]):
        got = received_flags(ts, before.state, step.variant)
        assert (got is None) == (step.received is None)
        if got is not None:
            assert step.received.flags == got
        assert [s.flags for s in step.sent] == [f for _, f in step.variant.sends]
    # the JSON trace is derived from the run
    steps = run_steps(lossy, lossy.path_to(losses[0]))
    assert steps[-1]["lost"] == last.lost.as_dict()
    assert steps[-1]["channel"] == last.variant.lost_from


def test_the_kind_of_close_of_a_run_is_the_classifier_s():
    # without the reduction: terminal states that differ only in dead variables stay apart,
    # so their shortest runs show several kinds of close
    ex = explore(load(DEFAULT_MODEL, ["delayed_ack=true", "passive_has_data=false"], reduce=False))
    ts, end = ex.system, end_predicate(ex.system)
    sides = [inst.name for inst in ts.model.instances]
    kinds = set()
    for sid in ex.deadlocks:
        path = ex.path_to(sid)
        steps = [(ts.variants[v].instance, received_flags(ts, ex.states[src], ts.variants[v]),
                  [f for _, f in ts.variants[v].sends])
                 for (_, src), (v, _) in zip(path, path[1:])]
        kind = Run.of(ex, path).kind(end(ex.states[sid]))
        assert kind == classify(sides, steps, end(ex.states[sid]))
        kinds.add(kind)
    assert CloseKind.THREE_WAY in kinds and len(kinds) >= 2
