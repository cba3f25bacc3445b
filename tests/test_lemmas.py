"""Facts mined at a small size (tcpcheck.lemmas), filtered by Houdini (tcpcheck.kinduction)
and used by k-induction at a larger one: what is mined holds, what is not inductive is
dropped, a proof agrees with the explorer, and a false invariant is never proved.

The slow tests (TCPCHECK_SLOW=1) prove the TIME_WAIT invariant at D=2 from facts mined at
D=1 (no data phase), the held-ACK invariant of bench/engines.py's "close" configuration at
bound 2 from bound 1 and with the data phase at D=3 from D=2, prove the data-phase TIME_WAIT
invariant at D=2 from the facts mined there, and try it at D=3 from facts mined at D=2 (not
inductive yet with the mined facts: an expected failure, bench/RESULTS.md)."""
from __future__ import annotations

import os
from itertools import islice
from pathlib import Path

import pytest
import z3

from conftest import run_tcpcheck
from tcpcheck import DEFAULT_MODEL, load
from tcpcheck import spec as S
from tcpcheck.bmc import ProvedBy
from tcpcheck.explore import Deadline, explore
from tcpcheck.kinduction import (Strengthening, _true_in, check_inductive, houdini,
                                 strengthen_from)
from tcpcheck.lemmas import (Candidate, Count, Layout, Lemma, Member, Term, Total, Within,
                              _both_states_lemmas, _carry, _channel_lemmas, _Columns,
                              _conditions, _count_lemmas, _range_lemmas, _scaled, holds_at,
                              mine)
from tcpcheck.tcp import FLAG_BITS, FLAG_WIDTH, TCP_STATES
from tcpcheck.symbolic import SlotState
from tcpcheck.verdicts import Verdict
from tcpcheck.verify import check_model

ROOT = Path(__file__).resolve().parent.parent
PARAMETRIC = ROOT / "models" / "parametric.tcpm"
TEARDOWN = ROOT / "specs" / "teardown.spec"
DATA_PHASE = ROOT / "specs" / "data_phase.spec"
DATA = ["data_phase=true", "delayed_ack=true", "passive_has_data=false"]
slow = pytest.mark.skipif(os.environ.get("TCPCHECK_SLOW") != "1",
                          reason="proofs at a larger size (D=3, or every bound 2 with "
                                 "losses and sharing) take minutes: set TCPCHECK_SLOW=1")


def _invariants(ts, *specs):
    return [p for path in specs for p in S.resolve(S.parse_spec_file(path), ts)
            if p.kind == "invariant"]


def _constant(ts, packed: int) -> SlotState:
    return SlotState(tuple(z3.BitVecVal((packed >> s.offset) & s.mask, s.width) if s.width
                           else None for s in ts.slots), ts.state_bits + 16)


def test_what_is_mined_holds_in_every_reachable_state():
    """Mined on the default model's 428 states and carried over to the same model: every
    candidate holds in every reachable state, read in Python and as its z3 term alike."""
    ts = load(DEFAULT_MODEL)
    ex = explore(ts, record_edges=False)
    mined = mine(ts, ex.states, ts)
    assert mined.states == len(ex.states) and len(mined.candidates) > 100
    kinds = {c.lemma.over for c in mined.candidates}
    assert {"state", "each", "adjacent", "later"} <= kinds
    for c in mined.candidates:
        assert all(holds_at(c, ts, s) for s in ex.states), c.text
    for s in list(ex.states)[::40]:          # the term says what the Python reading says
        st = _constant(ts, s)
        for c in mined.candidates[::7]:
            assert z3.is_true(z3.simplify(c.term(st))), c.text


def test_facts_carried_to_a_larger_size_are_checked_there():
    """Mined at D=1 and carried to D=2 (no data phase): a counter's top moves with the size,
    and what survives Houdini holds in every state the explorer finds at D=2."""
    small = load(PARAMETRIC, ["D=1", "delayed_ack=true", "passive_has_data=false"])
    large = load(PARAMETRIC, ["D=2", "delayed_ack=true", "passive_has_data=false"])
    mined = mine(small, explore(small, record_edges=False).states, large, "D=1")
    moved = [c for c in _unconditional(mined) if c.lemma.over == "state"]
    kept = houdini(large, moved)
    assert kept is not None and 0 < len(kept) <= len(moved)
    states = explore(large, record_edges=False).states
    for c in kept:
        assert all(holds_at(c, large, s) for s in states), c.text


def test_houdini_drops_a_planted_fact_that_a_step_breaks():
    """"The client stays ESTABLISHED" holds initially but not after its close: Houdini drops
    it and keeps the mined facts that are inductive together."""
    ts = load(DEFAULT_MODEL)
    mined = mine(ts, explore(ts, record_edges=False).states, ts)
    i = next(i for i, s in enumerate(ts.slots) if s.name == "client.state")
    established = (ts.initial[0] >> ts.slots[i].offset) & ts.slots[i].mask  # as stored
    planted = Candidate(Lemma((), Member((Term("client.state"),),
                                         frozenset({(established,)}))), mined.candidates[0].layout)
    assert all(holds_at(planted, ts, i) for i in ts.initial)
    plain = _unconditional(mined)
    reports = []
    kept = houdini(ts, [planted, *plain], seconds=600,   # wall time: a loaded machine
                   progress=lambda rounds, left: reports.append((rounds, left)))
    assert kept is not None and planted not in kept
    assert len(kept) > len(plain) // 2
    # what --lemmas-from's status line shows: one report a round of the solver, the facts
    # left never growing, the last round the one that proves what is kept
    assert [r for r, _ in reports] == list(range(len(reports)))
    left = [n for _, n in reports]
    assert left == sorted(left, reverse=True) and left[0] <= len(plain) and left[-1] == len(kept)


@pytest.fixture(scope="module")
def data_d1_to_d2():
    """The data phase's facts mined at D=1 (every state), carried over to D=2."""
    small = load(PARAMETRIC, ["D=1", *DATA])
    large = load(PARAMETRIC, ["D=2", *DATA])
    return large, mine(small, explore(small, record_edges=False).states, large, "D=1")


def test_a_fact_read_on_the_slots_it_names_says_what_it_says_on_the_whole_state(data_d1_to_d2):
    """Houdini drops the facts false in reachable states of the large size by reading each
    fact on the slots it names (`reads()`) of each distinct value there: the same facts are
    dropped as reading every fact on every whole state would drop (a slot `reads()` left out
    would read as 0 and flip some answers)."""
    large, mined = data_d1_to_d2
    cands = list(mined.candidates)[::3]
    states = list(explore(large, record_edges=False, max_states=400).states)
    every = list(range(len(cands)))
    whole = [i for i in every if all(holds_at(cands[i], large, s) for s in states)]
    assert 0 < len(whole) < len(cands)        # some are false at D=2, some true
    assert _true_in(large, cands, every, states) == whole
    assert {k for c in cands for k in c.lemma.when + (c.lemma.then,) for k in
            ([*k.terms] if isinstance(k, Member) else [k.a, k.b])
            if isinstance(k, (Count, Total))}     # the counts and sums are read too


def test_the_states_the_explorer_reaches_drop_facts_houdini_would_drop(data_d1_to_d2):
    """A fact false in a reachable state is in no inductive invariant: Houdini drops it
    whether the explorer's states or the solver's made-up ones show it. Read first on
    the large size's reachable states (as --lemmas-from does), Houdini keeps the same facts
    in fewer solver rounds."""
    large, mined = data_d1_to_d2
    plain = [c for c in _unconditional(mined) if c.lemma.over == "state"]
    some = list(explore(large, record_edges=False, max_states=2_000).states)
    false = list(islice((c for c in mined.candidates if c.lemma.over == "state"
                         and not all(holds_at(c, large, s) for s in some)), 20))
    assert false                 # false at D=2: in a reachable state, or in a made-up one
    cands = plain + false
    reports, kept = {}, {}
    for reached in (1, 100_000):
        seen = reports[reached] = []
        kept[reached] = houdini(large, cands, seconds=600, reached=reached,
                                progress=lambda r, left, seen=seen: seen.append((r, left)))
    assert kept[1] is not None and set(kept[1]) == set(kept[100_000])
    # the solver starts on fewer facts (how many rounds it then needs depends on which
    # made-up states z3's models give: not asserted, CI saw 52 against 49 once)
    assert reports[100_000][0][1] < reports[1][0][1]


def _stale_ack_premise(mined) -> Member:
    """The premise "the segment at k of client->server is a stale ACK", as mined."""
    return next(m for c in mined.candidates for m in c.lemma.when
                if c.lemma.channel == "client->server"
                and [t.field for t in m.terms] == ["flags", "stale"]
                and next(iter(m.rows))[1] == 1)


def test_a_stale_ack_is_told_apart_from_a_fresh_one():
    """The segments in flight are read by their flags and their `stale` field together: a
    stale ACK (built before its sender's FIN, in the delayed-ACK race) is in flight only
    beside fewer of its sender's TCP states than an ACK in general, and the mined fact says
    exactly which states those are."""
    ts = load(DEFAULT_MODEL)
    ex = explore(ts, record_edges=False)
    mined = mine(ts, ex.states, ts)
    stale = _stale_ack_premise(mined)
    (claim,) = [c.lemma.then for c in mined.candidates if c.lemma.when == (stale,)
                and isinstance(c.lemma.then, Member)
                and c.lemma.then.terms == (Term("client.state"),)]
    i = ts.slot_index("client.state")
    seen = {(ts.slot_value(x, i) - ts.slots[i].base,) for x in ex.states
            if any(seg["flags"] == "ACK" and seg["stale"] for seg in
                   (ts.decode_segment(code) for code in _codes(ts, x, "client->server")))}
    assert seen and claim.rows == frozenset(seen)
    assert ts.model.enum_values(ts.slots[i].type.enum)[min(seen)[0]] in ("CLOSED", "LAST_ACK")


def _codes(ts, packed: int, channel: str) -> list[int]:
    ch = next(ch for ch in ts.channels if ch.name == channel)
    raw = (packed >> ts.slots[ch.slot].offset) & ts.slots[ch.slot].mask
    codes = [(raw >> (k * ts.seg_width)) & ((1 << ts.seg_width) - 1) for k in range(ch.capacity)]
    return [c for c in codes if c]


def test_houdini_drops_a_made_up_fact_about_stale_segments():
    """"No stale ACK is ever in flight to the server" holds initially (the channels are
    empty) but a run of the delayed-ACK race breaks it: Houdini drops it."""
    ts = load(DEFAULT_MODEL)
    mined = mine(ts, explore(ts, record_edges=False).states, ts)
    stale = _stale_ack_premise(mined)
    never = Member((Term("client->server", "flags"),), frozenset({(0,)}))
    planted = Candidate(Lemma((stale,), never, "each", "client->server"),
                        mined.candidates[0].layout)
    assert all(holds_at(planted, ts, i) for i in ts.initial)
    kept = houdini(ts, [planted, *_unconditional(mined)], seconds=600)
    assert kept is not None and planted not in kept


def _layout_with(top: int) -> Layout:
    """A layout that knows one counter, `client.sent`, stored 0..top (no slots, no channels:
    what carrying a claim over reads)."""
    return Layout({}, {}, {}, 0, {("client.sent", None): (0, top)})


def _carried(values: set[int], small_top: int, large_top: int) -> set[frozenset]:
    claim = Member((Term("client.sent"),), frozenset((v,) for v in values))
    moved = _carry(Lemma((), claim), _layout_with(small_top), _layout_with(large_top))
    return {frozenset(v for (v,) in lm.then.rows) for lm in moved}


def test_a_count_below_its_top_is_carried_over_as_it_is_too():
    """`sent` seen 0 and 1 where it may go to 2: besides "up to the top but one" (0..4 at a
    top of 5) it is proposed as it is, {0, 1} (without a data phase a side sends one data
    segment whatever D is); where 1 was the top (mined at n = 1) there is no such reading:
    1 may be "the top" as well as "one"."""
    assert _carried({0, 1}, 2, 5) == {frozenset(range(5)), frozenset({0, 1})}
    assert frozenset({0, 1}) not in _carried({0, 1}, 1, 5)
    assert _carried({0, 2}, 2, 5) == {frozenset({0, 2, 3, 4, 5}), frozenset({0, 5})}


def _unconditional(mined) -> list[Candidate]:
    """The mined facts that have no premise and count no segments in flight: few, so
    Houdini is quick on them (the counts' facts hold with premises mostly)."""
    return [c for c in mined.candidates if not c.lemma.when
            and not (isinstance(c.lemma.then, Within) and isinstance(c.lemma.then.a, (Count, Total)))]


@slow
def test_a_proof_with_mined_facts_agrees_with_the_explorer():
    """time_wait_only_after_the_peer_closed at D=2 from facts mined at D=1: proved by
    k-induction, as the explorer finds it holds."""
    params = ["D=2", "delayed_ack=true", "passive_has_data=false"]
    small = load(PARAMETRIC, ["D=1", *params[1:]])
    large = load(PARAMETRIC, params)
    mined = mine(small, explore(small, record_edges=False).states, large, "D=1")
    strong = strengthen_from(large, mined)
    (r,) = [r for r in check_inductive(large, _invariants(large, TEARDOWN), 1, Deadline(300),
                                       strengthening=strong, spacer=False)]
    assert r.verdict is Verdict.HOLDS and "at D=1" in r.message, r.message
    sf = S.parse_spec_file(TEARDOWN)
    explicit = check_model(PARAMETRIC, [(TEARDOWN, sf)], params, None, None)
    (e,) = [v for v in explicit.verdicts if v.name == r.name]
    assert e.verdict is Verdict.HOLDS


def test_a_false_invariant_is_not_proved():
    """With every mined fact at hand, an invariant some run breaks comes out violated, with
    a run, never proved."""
    ts = load(DEFAULT_MODEL)
    mined = mine(ts, explore(ts, record_edges=False).states, ts)
    strong = Strengthening(tuple(houdini(ts, _unconditional(mined))), len(mined.candidates),
                           mined.states)
    sf = S.parse_spec_text('model "../models/teardown.tcpm"\n'
                           "invariant client_never_closes: client.state == ESTABLISHED\n",
                           str(ROOT / "specs" / "x.spec"))
    (r,) = check_inductive(ts, S.resolve(sf, ts), 6, strengthening=strong, spacer=False)
    assert r.verdict is Verdict.VIOLATED and r.run is not None, r.message


def test_the_cli_says_what_a_time_limit_left_unproved():
    """Houdini stopped by --time-limit proves nothing: holds up to a depth at best, exit 3."""
    got = run_tcpcheck("check", str(PARAMETRIC), str(TEARDOWN), "--engine", "symbolic",
                       "--param", "D=2", "--param", "delayed_ack=true", "--param",
                       "passive_has_data=false", "--lemmas-from", "D=1", "--depth", "1",
                       "--time-limit", "3")
    assert got.returncode == 3, got.stdout + got.stderr
    assert "proved" not in got.stdout.replace("no proof", "") and "Traceback" not in got.stderr


@slow
def test_the_cli_proves_with_facts_from_a_smaller_size():
    got = run_tcpcheck("check", str(PARAMETRIC), str(TEARDOWN), "--engine", "symbolic",
                       "--param", "D=2", "--param", "delayed_ack=true", "--param",
                       "passive_has_data=false", "--lemmas-from", "D=1", "--depth", "1")
    line = next(x for x in got.stdout.splitlines() if "time_wait_only_after" in x)
    assert "holds: proved by k-induction" in line and "at D=1" in line, got.stdout


def test_lemmas_from_without_the_symbolic_engine_is_bad_input():
    got = run_tcpcheck("check", str(TEARDOWN), "--lemmas-from", "D=1")
    assert got.returncode == 2 and "--engine symbolic" in got.stderr
    assert "Traceback" not in got.stderr


@slow
def test_the_data_phase_time_wait_invariant_at_d3_by_spacer_with_facts_mined_at_d2():
    """With the data phase at D=3 the TIME_WAIT invariant is not k-inductive with the facts
    mined at D=2 that Houdini keeps (938 of 4,222; no subset of the facts proposed makes it
    so, bench/RESULTS.md), but z3's Spacer, assuming them, finds an inductive invariant that
    implies it, checked again by a plain solver (about 5 CPU minutes for Houdini, half a
    minute for Spacer)."""
    r = _proved_from_a_smaller_size(["D=2", *DATA], ["D=3", *DATA], "D=2", TEARDOWN,
                                    "time_wait_only_after_the_peer_closed", spacer=True)
    assert r.verdict is Verdict.HOLDS and r.proved_by is ProvedBy.SPACER, r.message
    assert "not inductive by k-induction up to k=1" in r.message and "at D=2" in r.message


@slow
def test_the_data_phase_held_ack_invariant_at_d3_from_facts_mined_at_d2():
    """The held-ACK invariant with the data phase, proved at D=3 from facts mined at D=2
    (about 6 CPU minutes with the QF_BV solver); bench/engines.py --config data
    --proof-vs-explicit proves it so at D=4 and D=5 too, where the explorer does not finish."""
    r = _held_ack_from_a_smaller_size(["D=2", *DATA], ["D=3", *DATA], "D=2")
    assert r.verdict is Verdict.HOLDS, r.message


def _held_ack_from_a_smaller_size(small_params: list[str], large_params: list[str], at: str):
    """The held-ACK invariant by k-induction (k <= 1) at `large_params`, strengthened by the
    facts mined from every state at `small_params` that Houdini keeps."""
    return _proved_from_a_smaller_size(small_params, large_params, at, DATA_PHASE,
                                       "a_held_ack_leaves_before_time_wait")


def _proved_from_a_smaller_size(small_params: list[str], large_params: list[str], at: str,
                                spec: Path, name: str, keep: frozenset[str] = frozenset(),
                                spacer: bool = False):
    """Invariant `name` of `spec` by k-induction (k <= 1) at `large_params`, strengthened by
    the facts mined from every state at `small_params` that Houdini keeps (`keep`: the
    variables the dead-variable reduction keeps, as `load` takes them), then (`spacer`) by
    z3's Spacer assuming the same facts."""
    small = load(PARAMETRIC, small_params, keep=keep)
    large = load(PARAMETRIC, large_params, keep=keep)
    mined = mine(small, explore(small, record_edges=False, core="auto").states, large, at)
    strong = strengthen_from(large, mined, Deadline(3600), seconds=3600)
    assert strong is not None
    props = [p for p in _invariants(large, spec) if p.name == name]
    (r,) = check_inductive(large, props, 1, Deadline(600), strengthening=strong, spacer=spacer)
    return r


@slow
def test_the_data_phase_time_wait_invariant_from_facts_mined_at_the_same_size():
    """With the data phase at D=2 the TIME_WAIT invariant is inductive with the facts mined
    there that Houdini keeps (13 to 17 CPU minutes): before the count facts below a
    counter's top it was not (a made-up state with one data segment both received and in
    flight, bench/RESULTS.md). At D=3 from D=2 it is not yet (the expected failure above).
    The model is reduced as bench/engines.py reduces it, keeping what both specs read
    (128,712 states): reduced for teardown.spec alone (125,045 states) the facts kept do not
    make it inductive."""
    keep = frozenset().union(*(S.variables_read(S.parse_spec_file(p))
                               for p in (TEARDOWN, DATA_PHASE)))
    r = _proved_from_a_smaller_size(["D=2", *DATA], ["D=2", *DATA], "D=2", TEARDOWN,
                                    "time_wait_only_after_the_peer_closed", keep)
    assert r.verdict is Verdict.HOLDS, r.message


CLOSE = ["delayed_ack=true", "passive_has_data=false", "early_data=true", "shared_socket=true",
         "lossy_network=true"]     # bench/engines.py's "close" configuration


@slow
def test_the_held_ack_invariant_with_losses_and_sharing_from_facts_mined_at_n1():
    """Early data, a shared socket, a lossy network, every bound 2 (919,238 states): the
    held-ACK invariant proved from facts mined at bound 1 (205,494 states), as the explorer
    finds it holds (bench/engines.py --config close: at bound 5, beyond the explorer, the
    facts kept no longer make it inductive)."""
    r = _held_ack_from_a_smaller_size(["D=1", "L=1", "P=1", *CLOSE],
                                      ["D=2", "L=2", "P=2", *CLOSE], "n=1")
    assert r.verdict is Verdict.HOLDS, r.message


def test_every_slot_is_said_to_stay_in_its_declared_range():
    """`more_refs: 0..P - 1` has no bits at P = 1, so nothing is mined about it there; at
    P = 3 its 2 bits could hold 3, a made-up state whose next step fails (the n = 3
    counterexample to induction of bench/RESULTS.md, branch proof3). The candidates say the
    range all the same, and it holds in every reachable state of the larger system."""
    small = load(PARAMETRIC, ["D=1", "L=1", "P=1", *CLOSE])
    large = load(PARAMETRIC, ["D=1", "L=1", "P=3", *CLOSE])
    mined = mine(small, explore(small, record_edges=False, core="auto").states, large, "P=1")
    ranges = [c for c in mined.candidates if not c.lemma.when and isinstance(c.lemma.then, Member)
              and c.lemma.then.terms == (Term("client.more_refs"),)]
    assert any(c.lemma.then.rows == frozenset({(0,), (1,), (2,)}) for c in ranges)
    ex = explore(large, record_edges=False, core="auto")
    for c in ranges:
        assert all(holds_at(c, large, s) for s in list(ex.states)[::97]), c.text


def test_a_loss_counter_is_said_to_stop_at_the_channels_bound():
    """`lossy max L` at L = 5 counts in 3 bits; its range is 0..5, not the bits' 0..7 (the
    n = 5 counterexample to induction had 6 losses on a channel)."""
    large = load(PARAMETRIC, ["D=1", "L=5", "P=1", *CLOSE])
    lay = Layout.of(large)
    assert lay.ranges[("client->server.losses", None)] == (0, 5)
    said = {lm.then.terms[0].slot: lm.then.rows for lm in _range_lemmas(large, lay)}
    assert said["server->client.losses"] == frozenset((v,) for v in range(6))


def test_the_data_in_flight_is_counted_against_what_was_sent():
    """A receiver's `rcvd` and the data segments still in flight to it add up to what its
    peer sent (the network loses no data in this model): mined as a fact over both sides'
    counters and a count of the channel, read alike in Python and by z3 (the first test), and
    false in a made-up state where the data is both received and still in flight."""
    ts = load(DEFAULT_MODEL)
    states = explore(ts, record_edges=False).states
    mined = mine(ts, states, ts)
    data = Count("client->server", FLAG_BITS["DATA"])
    facts = [c for c in mined.candidates if not c.lemma.when
             and isinstance(c.lemma.then, Within)
             and c.lemma.then.a == Total((Term("server.rcvd"), data))
             and c.lemma.then.b == Term("client.sent")]
    assert len(facts) == 1, [c.text for c in facts]
    fact = facts[0]
    # the data and the FIN counted, the data up to D = 2 ("two or more")
    assert (fact.lemma.then.lo, fact.lemma.then.hi) == (-1, 2)
    # a reachable state with all the client's data in flight, and then the server said to
    # have received it all and more (rcvd = 3) while it is still on its way
    lay = fact.layout
    rcvd, sent = (ts.slots[lay.slot_of[n]] for n in ("server.rcvd", "client.sent"))
    with_data = [s for s in states if (s >> rcvd.offset) & rcvd.mask == 0
                 and _in_flight(ts, lay, s, data) == (s >> sent.offset) & sent.mask > 0]
    assert with_data
    s = with_data[0]
    made_up = s + (3 << rcvd.offset)
    assert holds_at(fact, ts, s) and not holds_at(fact, ts, made_up)
    assert not z3.is_true(z3.simplify(fact.term(_constant(ts, made_up))))
    # and what the client put on the wire, in flight or lost, against what it sent: stated
    wire = [c for c in mined.candidates if not c.lemma.when and isinstance(c.lemma.then, Within)
            and isinstance(c.lemma.then.a, Total)
            and Count("client->server", 31) in c.lemma.then.a.parts]
    # its data and its ACKs of what it received (its FIN's retransmissions where the
    # network may lose: not in the default model)
    assert len(wire) == 1 and set(wire[0].lemma.then.b.parts) == {
        Term("client.sent"), Term("client.rcvd")}


def _in_flight(ts, lay, packed: int, count) -> int:
    s = ts.slots[lay.slot_of[count.channel]]
    raw = (packed >> s.offset) & s.mask
    return sum((raw >> (k * lay.seg_width)) & count.bit != 0
               for k in range(lay.capacity[count.channel]))


def test_segments_are_said_to_be_packed_from_the_head():
    """"An empty position is followed by an empty one" is mined for each channel, is
    inductive with "an empty position holds zeros" (a send appends after the last segment,
    a receipt takes the head),
    and is false in a made-up state whose segments sit one position behind an empty head."""
    ts = load(DEFAULT_MODEL)
    states = explore(ts, record_edges=False).states
    mined = mine(ts, states, ts)
    lay = mined.candidates[0].layout
    empty = Member((Term("client->server", "flags"),), frozenset({(0,)}))
    packed = [c for c in mined.candidates if c.lemma.over == "adjacent"
              and c.lemma.then == Member((Term(c.lemma.channel, "flags", "j"),), frozenset({(0,)}))
              and [m.rows for m in c.lemma.when] == [empty.rows]]
    assert sorted(c.lemma.channel for c in packed) == ["client->server", "server->client"]
    # with "an empty position holds nothing but zeros" (else a send would count a made-up
    # segment of flags 0 and append behind it)
    zeros = [c for c in mined.candidates if c.lemma.over == "each"
             and [m.rows for m in c.lemma.when] == [empty.rows]
             and c.lemma.then.terms[0].field != "flags"]
    kept = houdini(ts, [*packed, *zeros], seconds=600)
    assert kept is not None and all(c in kept for c in packed)
    fact = next(c for c in packed if c.lemma.channel == "client->server")
    slot = ts.slots[lay.slot_of["client->server"]]
    width = lay.seg_width
    one = next(s for s in states                 # one segment in flight, at the head
               if 0 < (s >> slot.offset) & slot.mask < 1 << width)
    assert fact.holds(ts, one)
    behind = one + (((one >> slot.offset) & slot.mask) * ((1 << width) - 1) << slot.offset)
    assert (behind >> slot.offset) & slot.mask == ((one >> slot.offset) & slot.mask) << width
    assert not fact.holds(ts, behind)


def test_below_its_top_a_counter_is_exact_accounting():
    """`client.sent` counts up to D = 2, "two or more": at the top the data received and
    still in flight may add up to more than it says, so the fact mined over every state of a
    TCP state is loose; below the top (0 or 1) they add up to it exactly. That fact is mined
    under the premise "below its top", holds in every reachable state, is false in a made-up
    state where one data segment is both received and in flight (the counterexample to
    induction the TIME_WAIT invariant's proof met at D = 2), and is carried over to a larger D
    as "below the top" there. (The count facts alone, under TCP states: all of mine() on
    these 128,712 states takes half a minute.)"""
    ts = load(PARAMETRIC, ["D=2", *DATA])
    states = list(explore(ts, record_edges=False, core="auto").states)
    lay = Layout.of(ts)
    cols = _Columns(ts, states, lay)
    scaled = _scaled(ts, cols, lay)
    conds = [c for c in _conditions(cols, scaled, ts, lay) if c.terms[0].slot.endswith(".state")]
    lemmas = _count_lemmas(cols, "client->server", conds, scaled)
    data = Count("client->server", FLAG_BITS["DATA"])
    below = Member((Term("client.sent"),), frozenset({(0,), (1,)}))

    def accounting(lm) -> bool:
        return (isinstance(lm.then, Within) and lm.then.a == Total((Term("server.rcvd"), data))
                and lm.then.b == Term("client.sent"))

    exact = {lm.when[0]: lm for lm in lemmas
             if accounting(lm) and len(lm.when) == 2 and lm.when[1] == below}
    loose = {lm.when[0]: lm for lm in lemmas if accounting(lm) and len(lm.when) == 1}
    tighter = [state for state, lm in exact.items() if state in loose
               and lm.then.hi < loose[state].then.hi]
    assert tighter, [lm.text for lm in exact.values()]
    fact = plain = None
    for state in tighter:
        fact, plain = Candidate(exact[state], lay), Candidate(loose[state], lay)
        assert all(fact.holds(ts, s) for s in states), fact.text
        rcvd, sent, tcp_state = (ts.slots[lay.slot_of[n]] for n in (
            "server.rcvd", "client.sent", state.terms[0].slot))
        (want,), = state.rows
        hit = [s for s in states if (s >> tcp_state.offset) & tcp_state.mask == want
               and (s >> sent.offset) & sent.mask == 1 and _in_flight(ts, lay, s, data) == 1
               and (s >> rcvd.offset) & rcvd.mask < rcvd.mask]
        if hit:
            break
    assert hit, [lm.text for lm in exact.values()]
    made_up = hit[0] + (1 << rcvd.offset)     # the data in flight said received as well
    assert fact.holds(ts, hit[0]) and not fact.holds(ts, made_up), fact.text
    assert not z3.is_true(z3.simplify(fact.term(_constant(ts, made_up))))
    assert plain.holds(ts, made_up), plain.text    # which the fact over every state allows
    (moved,) = _carry(fact.lemma, _layout_with(2), _layout_with(5))
    assert moved.when[1] == Member((Term("client.sent"),), frozenset((v,) for v in range(5)))
    assert moved.then == fact.lemma.then


def _data_phase_columns():
    ts = load(PARAMETRIC, ["D=2", *DATA])
    states = list(explore(ts, record_edges=False, core="auto").states)
    lay = Layout.of(ts)
    return ts, states, lay, _Columns(ts, states, lay)


def _appended(ts, lay, packed: int, channel: str, code: int) -> int:
    """`packed` with one more segment (`code`) behind the last one in `channel`."""
    slot = ts.slots[lay.slot_of[channel]]
    n = len(_codes(ts, packed, channel))
    assert n < lay.capacity[channel]
    return packed + (code << (slot.offset + n * lay.seg_width))


def test_acks_in_flight_are_counted_beside_both_tcp_states():
    """Beside both sides' TCP states the segments in flight of each kind are counted: a
    client in TIME_WAIT facing a server already CLOSED has at most one ACK on its way (what
    the server's close left), which neither state alone says. The first state D = 3's
    TIME_WAIT proof met that no fact excluded had two ACKs of the server's FIN in flight to
    a CLOSED server; here the made-up state is a reachable one with its ACK sent twice."""
    ts, states, lay, cols = _data_phase_columns()
    pair = Member((Term("client.state"), Term("server.state")),
                  frozenset({(TCP_STATES.index("TIME_WAIT"), TCP_STATES.index("CLOSED"))}))
    acks = Count("client->server", FLAG_BITS["ACK"])
    (lemma,) = [lm for lm in _both_states_lemmas(cols)
                if lm.when == (pair,) and lm.then.terms == (acks,)]
    fact = Candidate(lemma, lay)
    assert all(fact.holds(ts, s) for s in states), fact.text
    most = max(v for (v,) in lemma.then.rows)
    st = next(s for s in states if holds_at(Candidate(Lemma((), pair), lay), ts, s)
              and _in_flight(ts, lay, s, acks) == most > 0)
    ack = next(c for c in _codes(ts, st, "client->server") if c & FLAG_BITS["ACK"])
    made_up = _appended(ts, lay, st, "client->server", ack)
    assert not fact.holds(ts, made_up)
    assert not z3.is_true(z3.simplify(fact.term(_constant(ts, made_up))))


def test_an_ack_is_not_repeated_below_the_saturating_counts():
    """A receiver acknowledges each unit once: a pure ACK after a pure ACK (of fewer than D
    data segments, where the count is exact) acknowledges more while its sender is
    ESTABLISHED, and a side holding back an ACK (`delack` running) has acknowledged less
    than it received in what it sent (its data segments here). Both facts are mined at D = 2, hold in every reachable state, are
    false in made-up states with the last ACK sent again (what D = 3's step met), and the
    premise "below the saturating values" is carried to D = 3 as {0, 1, 2}."""
    ts, states, lay, cols = _data_phase_columns()
    scaled = _scaled(ts, cols, lay)
    conds = _conditions(cols, scaled, ts, lay)
    lemmas = _channel_lemmas(cols, "client->server", conds, scaled, lay)
    ack, est = FLAG_BITS["ACK"], TCP_STATES.index("ESTABLISHED")
    below = Member((Term("client->server", "ack"),), frozenset({(0,), (1,)}))
    pairs = Member((Term("client->server", "flags"), Term("client->server", "flags", "j")),
                   frozenset({(ack, ack)}))
    (twice,) = [lm for lm in lemmas if lm.over == "adjacent" and lm.when == (
        pairs, below, Member((Term("client.state"),), frozenset({(est,)})))
        and lm.then.a == Term("client->server", "ack", "j")]
    held = Member((Term("client.timer.delack"),), frozenset({(1,)}))
    is_data = Member((Term("client->server", "flags"),), frozenset({(FLAG_BITS["DATA"],)}))
    (owed,) = [lm for lm in lemmas if lm.when == (held, is_data, below)
               and lm.then.b == Term("client.rcvd")]
    assert (twice.then.lo, owed.then.hi) == (1, -1), (twice.text, owed.text)
    facts = [Candidate(twice, lay), Candidate(owed, lay)]
    assert all(f.holds(ts, s) for f in facts for s in states)
    twice_fact, owed_fact = facts
    # the last ACK sent again by a client ESTABLISHED
    st = _last_is(ts, lay, states, ack, "client.state", est)
    repeated = _appended(ts, lay, st, "client->server", _codes(ts, st, "client->server")[-1])
    assert twice_fact.holds(ts, st) and not twice_fact.holds(ts, repeated)
    # a data segment already acknowledging all the client received while it holds an ACK
    st = _last_is(ts, lay, states, FLAG_BITS["DATA"], "client.timer.delack", 1, most_rcvd=1)
    rcvd = _slot_value(ts, lay, st, "client.rcvd")
    n = len(_codes(ts, st, "client->server")) - 1
    off = ts.slots[lay.slot_of["client->server"]].offset + n * lay.seg_width + lay.fields["ack"][0]
    acked_all = st + ((rcvd - ((st >> off) & ((1 << lay.fields["ack"][1]) - 1))) << off)
    assert owed_fact.holds(ts, st) and not owed_fact.holds(ts, acked_all)
    large = Layout.of(load(PARAMETRIC, ["D=3", *DATA]))
    (carried,) = _carry(twice, lay, large)
    assert carried.when[1].rows == {(0,), (1,), (2,)}


def _slot_value(ts, lay, packed: int, name: str) -> int:
    slot = ts.slots[lay.slot_of[name]]
    return (packed >> slot.offset) & slot.mask


def _last_is(ts, lay, states, flags: int, slot: str, value: int, most_rcvd: int = 3) -> int:
    """A reachable state with `slot` at `value`, room in client->server and a segment of
    `flags` last in it acknowledging fewer than D units (below the saturating values), less
    than the client received (at most `most_rcvd`)."""
    off, width = lay.fields["ack"]
    for s in states:
        codes = _codes(ts, s, "client->server")
        if (_slot_value(ts, lay, s, slot) == value and codes
                and len(codes) < lay.capacity["client->server"]
                and codes[-1] & ((1 << FLAG_WIDTH) - 1) == flags
                and (codes[-1] >> off) & ((1 << width) - 1)
                < min(2, _slot_value(ts, lay, s, "client.rcvd"))
                and _slot_value(ts, lay, s, "client.rcvd") <= most_rcvd):
            return s
    raise AssertionError(f"no reachable state with {slot} = {value} and {flags} last")
