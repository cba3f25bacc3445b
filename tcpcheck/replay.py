"""Is a capture a run of the model? A search over the model's state graph guided by the capture.

The question: is there a run of the model, in some parameter combination, whose segments,
in the order they were sent, are exactly the captured ones? Everything else a run does is
hidden from a capture (receives, application calls, timer expiries) and is inferred.

The search is breadth-first over pairs (model state, number of captured segments matched),
every parameter combination at once: a pair is reached for a set of combinations, split
only where a step reads a parameter they do not agree on (tcpcheck.combos). A step that
sends nothing keeps the count; a step that sends must send the next captured segment(s), from the same side, with
the same flags and `ack` (an RST's ack is not compared). The model's state graph is walked
on demand through the compiled successor function, so only the states the capture leads to
are visited. A capture is accepted when, after its last segment, the model can finish
quietly (reach a state with no successor without sending anything): a capture that stops
while the model still owes a segment (a FIN answered by nothing) is rejected at its end,
unless `prefix=True`.

Accepted: the shortest matching run (in the parameter combination closest to the defaults),
every combination that allows one, and the timing check of that run (z3). Rejected: the
first captured segment no run can send, the states the model could have been in just before
it, what they could have sent instead, and the nearest run (the matched prefix plus one of
those alternatives).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .compile import compile_model
from .capture import Capture, CapturedSegment, no_cycle_collection
from .combos import Combos, DeferredSuccessors, Interned, SetSearch, SplitTree, count, members
from .fold import (Fold, Folder, FoldedPath, FoldingSearch, Unfolded, real_key, real_position,
                   unfolded)
from .transitions import ExplorationError, TransitionSystem
from .explore import NO_DEADLINE, Deadline, Exploration, LimitReached, StopReason
from .kinds import CloseKind
from .params import parse_param_overrides
from .modelcache import cached_system
from .parse import parse_file, parse_text
from .run import Run
from .segment import Segment
from .tcp import Flags
from .trace import path_view, tcp_states
from .successors import deferred_param_function
from .typecheck import check
from .verdicts import Verdict

# The (state, segments matched) pairs a search keeps when --max-states does not say: a guard,
# a capture of teardown never needs this many
MAX_NODES = 2_000_000
# steps checked with z3 before giving up on a run that fits in time: the 300 ms late FIN+ACK
# (tests/captures/invalid/late_fin_ack.pcap) with every parameter open is decided (rejected)
# after 29,816, about 11 s; at 20,000 it was inconclusive
MAX_TIMING_CHECKS = 50_000
_EVENT_ORDER = {"recv": 0, "call": 1, "internal": 2, "expire": 3}
# how many (state, position) pairs a search takes between two looks at the deadline
_POLL_EVERY = 1024


@dataclass(frozen=True, slots=True)
class SegmentChoices:
    """What may have sent one captured segment, over every run of the model that sends the
    whole capture (every parameter combination; times not compared): the wire shows the
    segment, not the call behind it, so a close() and a shutdown(SHUT_WR) are one FIN."""
    number: int                  # the captured segment's number
    side: str
    calls: tuple[str, ...]       # the steps that can send it: "close() after think", "exit()"
    causes: tuple[str, ...]      # when those steps observe different things: what each
                                 # observes beyond what all do ("none": nothing more)

    @property
    def ambiguous(self) -> bool:
        return len(self.calls) > 1 or bool(self.causes)


@dataclass
class Replay:
    capture: Capture
    system: TransitionSystem
    accepted: bool
    matched: int                              # captured segments a run can produce, in order
    view: Exploration | None = None           # the run's states, for trace.run_steps / ladders
    run: list[tuple[int, int]] | None = None  # matching (accepted) or nearest (rejected) run
    combos: list[dict] = field(default_factory=list)      # parameter combinations allowing it
    required: dict = field(default_factory=dict)          # values every such combination has
    timing: object | None = None              # timing.RunTiming of the run, when accepted
    failed_at: CapturedSegment | None = None  # the first segment no run can send
    ended_early: bool = False                 # rejected because the model still must send
    could_be_in: list[dict] = field(default_factory=list)  # states just before the failure
    instead: list[dict] = field(default_factory=list)      # what those states could send
    kind: CloseKind | None = None             # kind of close of the matching run
    calls_checked: bool = False               # the run had to give the kernel's call results
    timed_by_capture: bool = False            # z3 held the run to the capture's timestamps

    timing_limit: bool = False                # stopped after MAX_TIMING_CHECKS z3 checks
    choices: list[SegmentChoices] = field(default_factory=list)  # per segment, when accepted
    channel_delay: tuple[float, float] | None = None  # the channels' delay range (ms) taken
                                              # from the capture, when wider than the model's
    delay_given: bool = False                 # channel_delay came from `delay` (--delay)
    search_limit: bool = False                # the search stopped before its end (stop_reason)
    stop_reason: StopReason | None = None     # why: its bound of (state, position) pairs
                                              # (max-states), or the command's deadline; also
                                              # set when the deadline cut the timed search short
    searched: int = 0                         # (state, position) pairs the search kept
    error: ExplorationError | None = None     # the model failed in a state the capture reaches
    # one-sided replay (tcpcheck.oneside): the side judged, the peer taken as given
    side: str | None = None
    peer_unfit: bool = False                  # the peer's failing segment is outside the
                                              # model's field ranges (it counts further)
    calls_differ: bool = False                # every segment matched, but no run makes the
                                              # input's calls with their results
    calls_wanted: tuple = ()                  # those results, as the model's observations
    given: tuple = ()                         # where the peer's segments entered the run
                                              # (oneside._given), for the report's ladder
    fold: Fold | None = None                  # the periods the search cut out (tcpcheck.fold)
    run_fold: tuple[int, int, int] | None = None  # the run is shown folded: (first step of
                                              # the repeated stretch, its steps, times round)
    run_length: int = 0                       # the run's steps, every time round counted


    @property
    def untimely(self) -> bool:
        """The segments are a run of the model, but no run tried fits the capture's times."""
        return (self.accepted and self.timed_by_capture and self.timing is not None
                and not self.timing.feasible)

    @property
    def verdict(self) -> Verdict:
        if self.error is not None:
            return Verdict.MODEL_ERROR
        if self.search_limit:
            return Verdict.INCONCLUSIVE
        if not self.accepted:
            return Verdict.REJECTED
        if self.untimely:
            return Verdict.INCONCLUSIVE if self.timing_limit else Verdict.REJECTED
        return Verdict.ACCEPTED


def _segment_matches(sent: Segment, captured: CapturedSegment) -> bool:
    if sent.flags != captured.flags:
        return False
    if sent.has("stale") and bool(sent.get("stale")) != captured.stale:
        return False
    if captured.flags == Flags.RST or captured.ack is None:
        return True
    return sent.get("ack") == captured.ack


def _sent(ts: TransitionSystem, v, new_state: int, out_of: dict, cache: dict) -> list[Segment]:
    """The segments variant v put on the wire, read from the channel's tail in the new state.
    `cache` keeps decoded channel contents: the same few recur across many states."""
    if not v.sends:
        return []
    segs: list[Segment] = []
    by_channel: dict[str, int] = {}
    for name, _flags in v.sends:
        by_channel[name] = by_channel.get(name, 0) + 1
    for name, n in by_channel.items():
        ch = out_of[name]
        key = (name, ts.slot_value(new_state, ch.slot), n)
        tail = cache.get(key)
        if tail is None:
            tail = cache[key] = ts.segments_on(new_state, ch.slot)[-n:]
        if len(by_channel) == 1:
            return tail     # the cached list itself: replay remembers matches by its identity
        segs.extend(tail)
    return segs


# Observations that stand for what a system call returned after an RST: what a live run
# recorded ("read=ECONNRESET") can be asked of the model's run too (see `calls` below).
CALL_RESULTS = {"read=ECONNRESET": "read_fails_econnreset",
                "write=ECONNRESET": "write_fails_econnreset",
                "write=EPIPE": "write_fails_epipe",
                "read=0": "read_returns_eof"}


def calls_after_error(recorded: list[str]) -> tuple[str, ...] | None:
    """A side's recorded call results ("write=ok", "write=EPIPE", "read=0", ...) from its first
    failing call on, as the model's observations; None when no call failed or one of them has
    no observation in the model."""
    first = next((k for k, c in enumerate(recorded)
                  if c.endswith(("=ECONNRESET", "=EPIPE"))), None)
    if first is None:
        return None
    out = [CALL_RESULTS.get(c) for c in recorded[first:]]
    return None if None in out else tuple(out)


# The network's delay is the path's, not the endpoints': a capture made across a WAN must be
# judged on what the endpoints did, whatever the model's channels assume (a LAN). The
# capture measures its path: the handshake's round trip (SYN to the ACK completing it) is,
# from wherever the capture was taken, one crossing of the whole path each way. Replay pins
# each captured segment to its timestamp as if it were sent then; a segment and the answer
# it causes are then at most a round trip apart beyond what the endpoint itself took, so a
# channel delay of 0..RTT in each direction covers a capture taken anywhere on the path. The
# handshake is one sample of the round trip, and a path's queues vary it: half again covers
# the jitter of a path without a standing queue. Only ever widens the model's range.
DELAY_MARGIN = 1.5


def channel_delay_for(ts: TransitionSystem, capture: Capture) -> tuple[float, float] | None:
    """The delay range (ms) the capture's path needs when the model's channels allow less:
    0 to half again the handshake's round trip, rounded up to a ms; None when the model's
    ranges already cover it, or the capture shows no handshake."""
    rtt = capture.round_trip_ms
    if rtt is None:
        return None
    bound = float(math.ceil(rtt * DELAY_MARGIN))
    if all(ch.delay_ms[1] is None or ch.delay_ms[1] >= bound for ch in ts.channels):
        return None
    return (min(ch.delay_ms[0] for ch in ts.channels), bound)


def with_channel_delay(ts: TransitionSystem, delay: tuple[float, float],
                       exact: bool = False) -> TransitionSystem:
    """`ts` whose channels take up to delay[1] ms (never less than the model says, unless
    `exact`: then exactly `delay`): only the timing reads the delay, so the compiled steps
    are shared."""
    lo, hi = delay
    if exact:
        return replace(ts, channels=tuple(replace(ch, delay_ms=(lo, hi)) for ch in ts.channels))
    return replace(ts, channels=tuple(
        ch if ch.delay_ms[1] is None or ch.delay_ms[1] >= hi
        else replace(ch, delay_ms=(min(ch.delay_ms[0], lo), hi)) for ch in ts.channels))


def network_delay(ts: TransitionSystem, capture: Capture, delay: tuple[float, float] | None,
                  check_timing: bool) -> tuple[TransitionSystem, tuple[float, float] | None, bool]:
    """The model whose channels take the network's delay (ms): `delay` exactly when given
    (--delay), else the capture's own path (channel_delay_for) when the timing is checked;
    with the delay taken and whether it was given. Two-sided and one-sided replay both start
    here."""
    given = delay is not None
    if not given:
        delay = channel_delay_for(ts, capture) if check_timing else None
    if delay is not None:
        ts = with_channel_delay(ts, delay, exact=given)
    return ts, delay, given


def search_stop(deadline: Deadline, searched: int, polled: int, max_nodes: int | None
                ) -> StopReason | None:
    """Why a replay's search must stop before taking one more (state, position) pair: its
    bound (`max_nodes`, the --max-states of replay; None: MAX_NODES) or the command's deadline
    (--time-limit, --max-memory, a signal), looked at on the first pair (a deadline already
    passed stops even a small search) and every _POLL_EVERY after. None: it goes on."""
    if searched > (MAX_NODES if max_nodes is None else max_nodes):
        return StopReason.MAX_STATES
    if polled % _POLL_EVERY == 1:
        return deadline.reason
    return None


_DELAY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_delay(text: str) -> tuple[float, float]:
    """`--delay LO..HI` (each a number with us, ms or s; a bare number is ms) as ms; raises
    ValueError with the reason."""
    lo_text, sep, hi_text = text.partition("..")
    if not sep:
        raise ValueError("write the range as LO..HI, for example 0ms..200ms")
    bounds = []
    for part in (lo_text.strip(), hi_text.strip()):
        unit = next((u for u in ("us", "ms", "s") if part.endswith(u)), "")
        number = part[: len(part) - len(unit)] if unit else part
        try:
            value = float(number) * _DELAY_UNITS_MS[unit or "ms"]
        except ValueError:
            raise ValueError(f"{part!r} is not a duration (a number with us, ms or s)") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{part!r} is not a finite duration of 0 or more")
        bounds.append(value)
    if bounds[0] > bounds[1]:
        raise ValueError(f"the lower bound {lo_text.strip()} is above the upper {hi_text.strip()}")
    return bounds[0], bounds[1]


def _order(entry) -> int:
    """The order replay tries a state's successors in: arrivals first and timer expiries
    last, so that the first run found is usually one the timers allow (a segment arrives in
    ms, TIME_WAIT lasts a minute)."""
    return _EVENT_ORDER.get(entry[2].event.kind, 2)


# where shared_splits keeps its SplitTree on a transition system
_SHARED = "_replay_splits"
# states whose decision trees a system's replays share before the trees are forgotten all at
# once (at the start of a replay, never during one: `fits` remembers segments by id)
MAX_SHARED_STATES = 200_000
# steps `decorate` remembers before it forgets them all at once: it shares one entry between
# the leaves of a state, grown together; remembering every step of every state kept 370,000
# keys (89 MB) in the larger bulk transfer's search
MAX_DECORATED = 20_000


def shared_splits(ts: TransitionSystem) -> SplitTree:
    """What the parameters do in each state the replays of `ts` meet (combos.SplitTree: which
    parts of the combinations have which successors, decorated with the segments each step
    sends), kept on the system for all of them: it depends on the model alone, not on the
    capture, and the distinct segment sequences of an audit walk many of the same states."""
    shared = ts.__dict__.get(_SHARED)
    if shared is not None and len(shared.nodes) <= MAX_SHARED_STATES:
        return shared
    channels = {ch.name: ch for ch in ts.channels}
    sent_cache: dict[tuple, list] = {}
    decorated: dict[tuple[int, int], tuple] = {}

    def entry(step: tuple[int, int]) -> tuple:
        vid, nxt = step
        v = ts.variants[vid]
        made = decorated[step] = (vid, nxt, v, _sent(ts, v, nxt, channels, sent_cache))
        return made

    def decorate(succ: list) -> list:
        if len(decorated) > MAX_DECORATED:
            decorated.clear()
        get = decorated.get     # the parts of one state's combinations share most steps
        return [get(step) or entry(step) for step in succ]

    cs = Combos.of(ts)
    shared = ts.__dict__[_SHARED] = SplitTree(cs, deferred_param_function(ts)[0], decorate)
    return shared


# a system's shared decision trees larger than this many states are forgotten when a replay
# on another system starts (`forget_large_splits`)
LARGE_SPLITS = 5_000


def forget_large_splits(ts: TransitionSystem) -> None:
    """Drop the decision trees `ts`'s replays share when they are large. An audit keeps a
    system per channel depth, and a deep one is a bulk transfer's: its tree (tens of
    thousands of states, 100 MB) serves later sequences of that depth alone, and holding it
    through another system's search is most of what the audit's peak adds. A later replay
    on `ts` grows the tree again, with the same answers (the tree is a cache)."""
    shared = ts.__dict__.get(_SHARED)
    if shared is not None and len(shared.nodes) > LARGE_SPLITS:
        del ts.__dict__[_SHARED]


# the collector paused for the whole replay: its search makes millions of tuples, lists and
# dicts, none in a cycle, and the collector walked them again and again for nothing (a third
# of the larger bulk transfer's time: 17 full collections, none collecting anything)
@no_cycle_collection()
def replay(ts: TransitionSystem, capture: Capture, *, prefix: bool = False,
           check_timing: bool = True, calls: dict[str, tuple[str, ...]] | None = None,
           delay: tuple[float, float] | None = None,
           deadline: Deadline = NO_DEADLINE, max_nodes: int | None = None,
           fold: bool = True, choices: bool = True, within: int | None = None) -> Replay:
    """Decide whether `capture` is a run of the model `ts` (see the module docstring).

    `within` (a set of combinations, tcpcheck.combos) searches those combinations only: an
    acceptance is then one of the whole model's, a rejection says nothing of the others.

    `fold` (the default) lets the search cut out the periods of a repeating phase once it
    repeats itself (tcpcheck.fold): the same answer as without, at the cost of a short
    capture; `fold=False` searches every position (the reference the fold is tested against).

    `choices=False` leaves out `Replay.choices` (what else may have sent each segment): an
    untimed search then keeps no edges (SetSearch's `record_edges`), which only the choices
    and the timed search read. The audit's rows need neither.

    The search keeps at most `max_nodes` (default MAX_NODES) (state, segments matched) pairs
    and polls `deadline`
    (--time-limit, --max-memory, a signal); either stops it with the verdict inconclusive,
    `stop_reason` saying which, and the run to the furthest pair reached. The timed search
    after it polls the deadline too (an accepted run then untimely: inconclusive).

    `calls` (instance -> observations, in order) asks more of the run: on each side, the
    observations of CALL_RESULTS it records are exactly these (what the kernel's calls
    returned after the RST). `delay` (ms) sets the channels' delay range (`--delay`) instead
    of the one the capture's handshake gives."""
    model_ts = ts
    ts, delay, delay_given = network_delay(ts, capture, delay, check_timing)
    segs = capture.segments
    watched = set(CALL_RESULTS.values())
    want_calls = [tuple((calls or {}).get(inst.name, ())) for inst in ts.model.instances]
    inst_index = {inst.name: i for i, inst in enumerate(ts.model.instances)}

    def calls_step(done: tuple, v) -> tuple | None:
        """The calls matched after step v, or None when v's results differ from the kernel's."""
        if calls is None or v.instance is None:
            return done
        seen = [o for o in v.observations if o in watched]
        if not seen:
            return done
        i = inst_index[v.instance]
        k = done[i]
        if tuple(seen) != want_calls[i][k:k + len(seen)]:
            return None
        return done[:i] + (k + len(seen),) + done[i + 1:]

    all_calls = tuple(len(w) for w in want_calls) if calls is not None else ()
    n = len(segs)
    names = [inst.name for inst in ts.model.instances]
    side_to_instance = {"client": names[0], "server": names[1] if len(names) > 1 else names[0]}
    splits = shared_splits(model_ts)
    cs = splits.combos if ts is model_ts else replace(splits.combos, ts=ts)
    same = Interned()       # the search's and the successors' sets, one object per value
    successors = DeferredSuccessors(cs, tree=splits, same=same)
    order = _order
    fits: dict[tuple, bool] = {}

    def _fits(sent: list, instance: str, k: int) -> bool:
        if folder is not None:
            folder.looked(k + len(sent))
        return k + len(sent) <= n and all(
            side_to_instance[segs[k + j].side] == instance
            and _segment_matches(sent[j], segs[k + j]) for j in range(len(sent)))

    # keys: (stripped state, segments matched, calls matched), each reached for a set of
    # parameter combinations (tcpcheck.combos)
    no_calls = tuple(0 for _ in want_calls) if calls is not None else ()
    initial = [((s, 0, no_calls), combos) for s, combos in cs.initial(within)]
    record_edges = choices or check_timing
    search = (FoldingSearch(initial, record_edges, same) if fold
              else SetSearch(initial, record_edges, same))
    folder = folder_for(ts, segs) if fold else None
    folded = None                    # the Fold, once the search has cut periods out
    full_segs = segs
    # position -> the class of the positions with the same segments ahead (all `_fits`
    # reads): before the search folds, a state popped with the same set at another position
    # of the class takes the same steps (a bulk transfer's states recur at every segment)
    classes = _position_classes(segs, max((len(v.sends) for v in ts.variants), default=1))
    stepped: dict[tuple, _Fitting] = {}
    best = 0
    ends: dict[tuple, int] = {}      # key -> the combinations in which it finishes quietly
    polled = 0
    while search:
        key, combos = search.pop()
        state, k, done = key
        if folder is not None and k > folder.top and folded is None:
            folded = folder.at_pop(search, key, combos)
            if folded is not None:      # from here on, positions after the cut are compressed
                segs = folded.compress(full_segs)
                n = len(segs)
        polled += 1
        stop = search_stop(deadline, len(search), polled, max_nodes)
        if stop is not None:
            # no answer, and not a wrong one: say why and how far the search got
            view = unfolded(search, folded)
            stopped = Replay(capture, ts, False, real_position(folded, best), search_limit=True,
                             stop_reason=stop, searched=len(search), channel_delay=delay,
                             delay_given=delay_given)
            _show(stopped, cs, view, real_key(folded, key), combos)
            return stopped
        if k > best:
            best = k
        if calls is None and folded is None:
            # the steps that fit, worked out once per (state, set, segments ahead)
            memo = (state, combos, classes[k])
            known = stepped.get(memo)
            if known is None:
                try:
                    known = _fitting(successors.merged(state, combos, order), k, fits, _fits)
                except ExplorationError as err:
                    failed = Replay(capture, ts, False, best, error=err, channel_delay=delay,
                                    delay_given=delay_given)
                    _show(failed, cs, search, key, combos)
                    return failed
                if len(stepped) >= MAX_STEPPED:
                    stepped.clear()
                stepped[memo] = known
            elif known.reach and folder is not None:
                folder.looked(k + known.reach)      # as `_fits` would have been told
            if k == n and known.quiet and done == all_calls:
                ends[key] = ends.get(key, 0) | known.quiet
            for vid, nxt, length, part in known.steps:
                search.step(key, vid, (nxt, k + length, done), part)
            continue
        try:
            succ, quiet = successors.merged(state, combos, order)
        except ExplorationError as err:  # the model's own error: shown with the run to it
            failed = Replay(capture, ts, False, real_position(folded, best), error=err,
                            channel_delay=delay, delay_given=delay_given)
            _show(failed, cs, unfolded(search, folded), real_key(folded, key), combos)
            return failed
        if k == n and quiet and done == all_calls:
            ends[key] = ends.get(key, 0) | quiet
        for (vid, nxt, v, sent), part in succ:
            done2 = done if calls is None else calls_step(done, v)
            if done2 is None:
                continue
            if sent:
                if not _fit(fits, _fits, sent, v.instance, k):
                    continue
                search.step(key, vid, (nxt, k + len(sent), done2), part)
            else:
                search.step(key, vid, (nxt, k, done2), part)

    # from here on, in the unfolded search's positions
    reached_end = best == n
    segs, n, best = full_segs, len(full_segs), real_position(folded, best)
    ends = {real_key(folded, key): combos for key, combos in ends.items()}
    raw, search = search, unfolded(search, folded)
    result = Replay(capture, ts, False, best, channel_delay=delay, delay_given=delay_given,
                    searched=len(search), fold=folded)
    result.calls_checked = calls is not None
    if ends or (prefix and reached_end):
        result.accepted = True
        finals = ends or {key: search.reached[key] for key in search.reached_at(n)}
        allowing = 0
        for combos in finals.values():
            allowing |= combos
        result.combos = [dict(ts.initial_params[r]) for r in members(allowing)]
        result.required = _required(ts, members(allowing))
        useful = search.useful(finals) if record_edges else None
        if choices:
            result.choices = _choices(ts, segs, _sends(search, useful))
        chosen = _prefer(cs, finals)
        reg = cs.preferred(finals[chosen])
        _finish_accepted(result, cs, _path(search, chosen, reg), reg, check_timing, deadline)
        if check_timing and not result.timing.feasible and result.run_length > LONG_RUN:
            # a long run is timed step by step (tcpcheck.timeline); other runs to the same
            # end are not tried: no answer, rather than a wrong one
            result.timing_limit = True
        elif check_timing and not result.timing.feasible:
            _find_timed_run(result, cs, search, useful, finals, reg, check_timing, deadline)
        return result

    # rejected: at segment `best` (or at the end, when every segment matched)
    at = search.reached_at(best)
    result.ended_early = best == n
    result.failed_at = segs[best] if best < n else None
    result.could_be_in = _states_summary(ts, {key: search.reached[key] for key in at})
    alternatives: dict[tuple, tuple[tuple, int, int, int, list]] = {}
    for key in at:
        for (vid, nxt, v, sent), part in successors.merged(key[0], search.reached[key], order)[0]:
            if not sent:
                continue
            what = (v.instance, tuple(tuple(sorted(s.as_dict().items())) for s in sent))
            alternatives.setdefault(what, (key, vid, nxt, part, sent))
    ordered = sorted(alternatives.items(), key=lambda kv: str(kv[0]))
    result.instead = [{"side": inst, "segments": [s.as_dict() for s in sent],
                       "after": tcp_states(ts, key[0])}
                      for (inst, _), (key, _vid, _nxt, _part, sent) in ordered]
    if at:
        # the nearest run: the matched prefix, then (preferably) what the same side could send
        want = side_to_instance[segs[best].side] if best < n else None
        pick = None
        for (inst, _), alt in ordered:
            if pick is None or (inst == want and pick[1] != want):
                pick = (alt, inst)
        if pick is not None:
            key, vid, nxt, part, _segments = pick[0]
            _show(result, cs, search, key, part, (vid, nxt))
        else:
            key = _prefer(cs, {key: search.reached[key] for key in at})
            _show(result, cs, search, key, search.reached[key])
    del raw
    return result


# (state, set, class) -> _Fitting a replay remembers before it forgets them all at once
MAX_STEPPED = 20_000


@dataclass(frozen=True, slots=True)
class _Fitting:
    """What a state popped with a set at a position does there: the steps whose segments are
    the captured ones ahead, each (variant, successor, segments matched, combinations); the
    combinations in which it has no successor; and how far ahead the steps' segments read."""
    steps: tuple[tuple[int, int, int, int], ...]
    quiet: int
    reach: int


def _fit(fits: dict, check, sent: list, instance: str, k: int) -> bool:
    """Whether the segments `sent` by `instance` are the captured ones at position k (`check`),
    remembered in `fits`: the same few lists of segments recur at every position."""
    memo = (id(sent), instance, k)
    fit = fits.get(memo)
    if fit is None:
        fit = fits[memo] = check(sent, instance, k)
    return fit


def _fitting(merged: tuple[list, int], k: int, fits: dict, check) -> _Fitting:
    """merged()'s successors at position k filtered by whether their segments are the
    captured ones (`check`, remembered in `fits` per segments, side and position, as the
    search loop does)."""
    succ, quiet = merged
    steps = []
    reach = 0
    for (vid, nxt, v, sent), part in succ:
        if sent:
            if len(sent) > reach:
                reach = len(sent)
            if not _fit(fits, check, sent, v.instance, k):
                continue
        steps.append((vid, nxt, len(sent), part))
    return _Fitting(tuple(steps), quiet, reach)


def _position_classes(segs, window: int) -> list[int]:
    """Each position 0..len(segs), numbered by the signatures of the `window` segments from
    it (None past the end): two positions of one number are the same to `_fits`."""
    numbers: dict[tuple, int] = {}
    out = []
    for k in range(len(segs) + 1):
        ahead = tuple(_signature(segs[j]) if j < len(segs) else None
                      for j in range(k, k + window))
        out.append(numbers.setdefault(ahead, len(numbers)))
    return out


def _signature(g: CapturedSegment) -> tuple:
    """A captured segment as `_fits` compares it (side, then what _segment_matches reads):
    two positions with the same signature are the same to the search."""
    return (g.side, g.segment)     # finer than _fits needs (an RST's ack): never wrong


def folder_for(ts: TransitionSystem, segs: list[CapturedSegment]) -> Folder:
    """The Folder watching a replay of `segs`: positions compared by `_signature`, a period at
    least as long as the most segments one step sends. Two-sided and one-sided replay both
    fold with it."""
    return Folder([_signature(g) for g in segs],
                  max((len(v.sends) for v in ts.variants), default=1))


# A run longer than this many steps has its timing decided step by step in linear time
# (tcpcheck.timeline: the verdict, not z3's times and core), and when it does not fit, no
# other run is tried (the verdict is then inconclusive)
LONG_RUN = 2_000
# A run through a folded phase longer than this many steps is shown folded (its repeated
# stretch once, with how many times round: Replay.run_fold); a shorter one whole
SHOW_WHOLE = 20_000


def _path(search, key: tuple, reg: int):
    """The run to `key` in combination `reg`: a list of (variant, key), or a FoldedPath when
    it is long."""
    path = search.path(key, reg)
    if isinstance(path, FoldedPath) and len(path) <= SHOW_WHOLE:
        return list(path.unrolled())
    return path


def _sends(search, useful: dict):
    """(position, variants) of the sending steps towards an accepting key, by position."""
    if isinstance(search, Unfolded):
        return search.sends(useful)
    found: dict[int, dict[int, None]] = {}
    for key, out in search.edges.items():
        for (vid, to), combos in out.items():
            if to[1] != key[1] and combos & useful.get(to, 0):
                found.setdefault(key[1], {})[vid] = None
    return ((k, tuple(found[k])) for k in sorted(found))


def _show(result: Replay, cs: Combos, search, key: tuple, combos: int, extra=None) -> None:
    """The run to `key` (then `extra`, a last (variant, stripped state)) in the combination of
    `combos` closest to the defaults, as the result's small Exploration and run (_view)."""
    reg = cs.preferred(combos)
    _set_run(result, cs, _path(search, key, reg), reg, extra)


def _set_run(result: Replay, cs: Combos, path, reg: int, extra=None) -> None:
    """result.view and result.run from a path (a list, or a FoldedPath shown with its loop
    once and result.run_fold saying where the loop is and how many times it goes round)."""
    path, result.run_fold, result.run_length = shown_run(path, extra)
    result.view, result.run = _view(cs, path, reg, extra)


def shown_run(path, extra=None, steps=len) -> tuple[list, tuple[int, int, int] | None, int]:
    """A run as a report shows it: (its entries, Replay.run_fold, Replay.run_length). A
    FoldedPath is shown with its loop once, run_fold saying where the loop is (in shown steps)
    and how many times it goes round; `extra` is one last step shown after the path.
    `steps(entries)` counts the steps a stretch of entries shows (one-sided replay does not
    show the environment's)."""
    more = 1 if extra is not None else 0
    if not isinstance(path, FoldedPath):
        return path, None, steps(path) + more
    loop = steps(path.loop)
    whole = steps(path.prefix) + loop * path.count + steps(path.rest) + more
    return [*path.prefix, *path.loop, *path.rest], (steps(path.prefix), loop, path.count), whole


def step_label(v) -> str:
    """A step as the ladder names it beside the lifeline: "close() after think", "exit()"."""
    label = v.event.label()
    return f"{label} after {v.fired}" if v.event.kind == "call" and v.fired else label


def _choices(ts: TransitionSystem, segs, sends) -> list[SegmentChoices]:
    """For each captured segment, the steps of the accepting runs that send it: one run is
    shown, but any of these could have been it. `sends`: (position, variants), by position."""
    memo: dict[tuple[int, ...], tuple] = {}
    out = []
    for k, vids in sends:
        if not vids:
            continue
        told = memo.get(vids)
        if told is None:
            told = memo[vids] = _told_apart(ts, vids)
        out.append(SegmentChoices(segs[k].number, segs[k].side, *told))
    return out


def _told_apart(ts: TransitionSystem, vids: tuple[int, ...]) -> tuple[tuple, tuple]:
    """The calls that may send a segment and, when they observe different things, what."""
    alts: dict[tuple[str, tuple[str, ...]], None] = {}
    for vid in vids:
        v = ts.variants[vid]
        alts[(step_label(v), v.observations)] = None
    calls = tuple(sorted({call for call, _ in alts}))
    every = set.intersection(*(set(obs) for _, obs in alts))
    # what the alternatives observe beyond what all of them do, one entry per alternative
    # ("none": an alternative that observes nothing more)
    differ = {", ".join(o for o in obs if o not in every) or "none" for _, obs in alts}
    causes = tuple(sorted(differ)) if len(differ) > 1 else ()
    return calls, causes


def _find_timed_run(result: Replay, cs: Combos, search: SetSearch, useful: dict,
                    finals: dict, reg: int, check_timing, deadline: Deadline = NO_DEADLINE
                    ) -> None:
    """The shortest run was ruled out by time: search the other runs to the accepting keys
    (depth first, arrivals before expiries; first in the chosen run's combination `reg`, then
    in the others), growing each with z3's incremental solver so that a prefix the timers (or
    the capture's timestamps) already rule out is dropped with all its extensions. Stops
    after MAX_TIMING_CHECKS steps checked, or at the deadline (result.timing_limit)."""
    from .timing import TimedSearch  # deferred: timing loads z3

    ts = cs.ts
    segs = result.capture.segments
    timed = result.timed_by_capture
    first = (result.view, result.run, result.kind, result.timing, result.run_fold,
             result.run_length)

    def pin(path, vid):
        """A sending step happens when its segment was captured, after the run's first send."""
        if not (timed and ts.variants[vid].sends):
            return None
        k = path[-1][1][0][1]       # segments matched before this step
        first_send = next((i for i, (v, _node) in enumerate(path) if i and ts.variants[v].sends),
                          len(path))
        return (first_send, segs[k].time_ms - segs[0].time_ms)

    # one search for every start: whether a prefix fits in time depends only on its variants
    # and pinned times, not on the parameter combination, and TimedSearch remembers it
    def take(path, _start) -> bool:
        key, combos = path[-1][1]
        _finish_accepted(result, cs, [(vid, node[0]) for vid, node in path],
                         cs.preferred(combos & finals[key]), check_timing)
        return result.timing.feasible

    timed_search = TimedSearch(ts, MAX_TIMING_CHECKS, difference=True)
    if first_timed_run(result, timed_search, timed_starts(search, useful, reg),
                       preferring(search.children(useful), reg), finals, deadline, pin, take):
        return
    # none found: keep the shortest run, and its timing says which constraints clash
    (result.view, result.run, result.kind, result.timing, result.run_fold,
     result.run_length) = first


def timed_starts(search: SetSearch, useful: dict, reg: int) -> list[tuple]:
    """The nodes (initial key, combinations) a timed search starts from: those from which an
    accepting key is reached, the one holding combination `reg` first."""
    starts = []
    for key, arrivals in search.arrivals.items():
        for combos, came_from, _vid in arrivals:
            if came_from is None and combos & useful.get(key, 0):
                starts.append((key, combos & useful[key]))
    return sorted(starts, key=lambda node: not node[1] >> reg & 1)


def preferring(children, reg: int):
    """`children` (SetSearch.children) with the steps taken in combination `reg` first, in
    their order, then the others: the run found stays in the combination closest to the
    defaults where one fits, rather than wander into calls only other combinations make."""
    def of(node):
        return sorted(children(node), key=lambda step: not step[1][1] >> reg & 1)
    return of


def first_timed_run(result: Replay, search, starts, children, finals: dict,
                    deadline: Deadline, pin, take) -> bool:
    """The runs from each start (key, combinations) in turn to an accepting key, depth first
    along `children` (SetSearch.children: only steps towards an accepting key), as `search`
    (timing.TimedSearch) finds them fitting in time; `take(path, start)` makes one the
    result's and says whether its whole timing is feasible. True at the first that is. Else
    `result.timing_limit` says whether the search was cut short: its budget of z3 checks, or
    the deadline, looked at every step (`result.stop_reason`), or a cycle of steps that arms
    a timer, left out (TimedSearch.paths, `acyclic`: a path never returns to a node it
    passed, else a cycle of steps that change nothing, such as read() on a closed socket,
    is an endless path). Two-sided and one-sided replay both search this way."""
    def skip(_node, _steps) -> bool:
        deadline.check()
        return False

    def accepts(node) -> bool:
        key, combos = node
        return bool(combos & finals.get(key, 0))

    try:
        for start in starts:
            for path in search.paths(start, children, accepts, skip=skip, pin=pin,
                                     acyclic=True):
                if take(path, start):
                    return True
            if search.exhausted:
                result.timing_limit = True
                return False
        result.timing_limit = search.cut_timed_cycle
    except LimitReached as stop:
        result.timing_limit, result.stop_reason = True, stop.reason
    return False


def _finish_accepted(result: Replay, cs: Combos, run_nodes, reg: int, check_timing: bool,
                     deadline: Deadline = NO_DEADLINE) -> None:
    """The accepted run as the result's, in combination `reg`, with its kind and timing."""
    ts = cs.ts
    _set_run(result, cs, run_nodes, reg)
    run = Run.of(result.view, result.run)
    result.kind = run.kind(complete=not ts.successors(run.steps[-1].state))
    variants = run.variants if result.run_fold is None else \
        [ts.variants[vid] for vid, _key in run_nodes.unrolled()][1:]
    if check_timing:
        from .timing import check_run  # deferred: timing loads z3
        pinned = _pinned(result.capture, variants)
        result.timed_by_capture = bool(pinned)
        if len(variants) <= LONG_RUN:
            result.timing = check_run(ts, variants, pinned)
            return
        time_step_by_step(result, ts, variants, pinned, deadline)


def time_step_by_step(result: Replay, ts: TransitionSystem, variants, pinned,
                      deadline: Deadline) -> None:
    """A long run's timing verdict in linear time (tcpcheck.timeline), polling the deadline:
    `pinned` as check_run's (step, ms, what). Two-sided and one-sided replay both time a run
    longer than LONG_RUN so."""
    from .timing import RunTiming  # deferred: timing loads z3
    from .timeline import fits     # deferred: it loads z3 too
    try:
        result.timing = fits(ts, variants, pinned, deadline.check)
    except LimitReached as stop:    # no answer, and not a wrong one
        result.timing_limit, result.stop_reason = True, stop.reason
        result.timing = RunTiming(False, None, [
            f"the timing check was stopped ({stop.reason}) before the run's end"])


def _pinned(capture: Capture, variants) -> list[tuple[int, float, str]] | None:
    """The capture's timestamps as (step, ms after the first segment, which segment): the run
    must fit the times the kernel really took, not just some times."""
    segs = capture.segments
    if not segs or any(g.time_ms is None for g in segs):
        return None
    out, k = [], 0
    for i, v in enumerate(variants, start=1):
        if v.sends and k < len(segs):
            out.append((i, segs[k].time_ms - segs[0].time_ms, f"segment #{segs[k].number}"))
            k += len(v.sends)
    return out


def _view(cs: Combos, run_nodes, reg: int, extra=None) -> tuple[Exploration, list]:
    """The run's states in combination `reg` as a small Exploration (trace.path_view),
    `extra` a last (variant, stripped state)."""
    pairs = [(vid, cs.concrete(node[0], reg)) for vid, node in run_nodes]
    if extra is not None:
        pairs.append((extra[0], cs.concrete(extra[1], reg)))
    return path_view(cs.ts, pairs, reg)


def _required(ts: TransitionSystem, regions: list[int]) -> dict:
    """Parameter values shared by every allowing combination (those the capture pins down)."""
    if not regions:
        return {}
    out = {}
    varying = set(ts.varying_params())
    for p in ts.model.params:
        values = {ts.initial_params[r][p.name] for r in regions}
        if len(values) == 1 and p.name in varying:
            out[p.name] = ts.param_value(p.name, values.pop())
    return out


def _prefer(cs: Combos, nodes: dict) -> tuple:
    """Of `nodes` (node -> combinations), the one with the combination closest to the
    defaults (then found first)."""
    return min(nodes, key=lambda node: cs.closeness(nodes[node]))


def _states_summary(ts: TransitionSystem, nodes: dict) -> list[dict]:
    """The distinct TCP state pairs among `nodes` (key -> combinations), with how many
    parameter combinations."""
    seen: dict[tuple, int] = {}
    for node, combos in nodes.items():
        key = tuple(sorted(tcp_states(ts, node[0]).items()))
        seen[key] = seen.get(key, 0) | combos
    return [{"tcp_states": dict(k), "combinations": count(v)} for k, v in sorted(seen.items())]


def open_params(model_path, fixed: list[str], model=None) -> list[str]:
    """--param arguments that open every parameter declared with a default (NAME=*), except
    those fixed by the user: replay tries every combination. `model`: the checked model, when
    it has been read already."""
    model = model if model is not None else check(parse_file(model_path))
    given = {p.split("=", 1)[0].strip() for p in fixed}
    return list(fixed) + [f"{p.name}=*" for p in model.params
                          if p.default is not None and p.name not in given]


def load_open(model_path, fixed: list[str] | None = None,
              captures: list[Capture] = ()) -> TransitionSystem:
    """The model compiled with every parameter open, save those in `fixed`, and channels deep
    enough for every segment the `captures` had in flight at once (Capture.in_flight: a
    bulk transfer queues more than the model's capacity of 3; the capacity bounds the model's
    exploration, not TCP, so a capture may widen it). The file is read once; the compiled
    system is kept in the user's cache (tcpcheck.modelcache) for the next replay."""
    fixed = list(fixed or [])
    depth = channel_depth(captures)

    def build(text: str) -> TransitionSystem:
        model = check(parse_text(text, str(model_path)))
        params = open_params(model_path, fixed, model)
        return compile_model(model, parse_param_overrides(model, params), min_capacity=depth)

    return cached_system(model_path, {"open_all_but": fixed, "min_capacity": depth}, build)


def channel_depth(captures) -> int:
    """How deep replay makes the model's channels for these captures (0: as declared). A
    data-phase write leaves room for a FIN and an answer (`room() >= 3` in the model), so the
    last of the `in_flight` segments a capture queued needs two more places than it takes."""
    deepest = max((c.in_flight for c in captures), default=0)
    return deepest + 2 if deepest + 2 > 3 else 0
