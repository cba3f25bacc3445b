"""One-sided replay: one endpoint judged against the model, the peer taken as given.

Two-sided replay (tcpcheck.replay) asks for a run of the whole model, both endpoints and the
network, that sends exactly the captured segments. When the peer is not Linux (Windows, a BSD,
a load balancer) that question is the wrong one: the peer does what its own stack does. Here
only the tested endpoint (`side`: "client" or "server") is the model's instance; the peer is an
*environment* that sends exactly the capture's segments from its side, in their order, at their
times. The model's peer instance is replaced, not explored: it never takes a step, and what the
tested endpoint sends to it is consumed by the environment (its channel is emptied before the
next step, so the tested endpoint never waits on a peer that is not there).

Where the peer's segments enter: through the model's channel into the tested endpoint. The
environment's step puts the capture's next peer segment on that channel when the capture shows
it, and the tested endpoint receives it with its own `recv` transition whenever the model lets
it (emit.py's step semantics through ts.successors; nothing of TCP is restated here). Why not
"received at the capture point, at once": even a capture taken on the tested host sees a
segment before the host's TCP has processed it, and in that gap the application may act; a
simultaneous close captured on loopback shows exactly that (the server's FIN leaves after the
client's FIN was captured, without acknowledging it). The channel keeps the model's FIFO order
and capacity for the inbound side, and for timing (z3) its delay range: the environment's step
is pinned to when the capture saw the segment, each sending step to when its first segment was
captured, and the receipt comes within the channel's delay after the environment's step (a
capture on the tested host could bound it tighter; the model's range is what the model says of
its network). The channel out of the tested endpoint has no delay bound: nothing in the model
receives from it, what happens to those segments is the peer's business.

Everything else is as in two-sided replay: a tested step that sends must send the capture's
next segments from the tested side; the capture is accepted when, after its last segment, the
tested endpoint has received every peer segment and can finish quietly (no step left that it
could take on its own); the calls' results after an error must be the kernel's (`calls`). A
packetdrill script adds its write(), close() and shutdown() calls (`app_calls`): the tested
application makes exactly those, each in its place among the segments and, for timing, at its
line's time within packetdrill's tolerance (packetdrill.TOLERANCE_MS).
"""
from __future__ import annotations

import dataclasses
import math

from .capture import Capture, CapturedSegment, capture_kind, no_cycle_collection
from .explore import NO_DEADLINE, Deadline
from .fold import FoldedPath, FoldingSearch, real_key, real_position, unfolded
from .kinds import CloseKind
from .model import CEvent
from .packetdrill import TOLERANCE_MS
from .combos import Combos, DeferredSuccessors, SetSearch, members
from .replay import (
    _EVENT_ORDER,
    CALL_RESULTS,
    LONG_RUN,
    MAX_TIMING_CHECKS,
    Replay,
    _path,
    _prefer,
    _required,
    _segment_matches,
    _sent,
    _states_summary,
    first_timed_run,
    folder_for,
    network_delay,
    preferring,
    search_stop,
    shown_run,
    time_step_by_step,
    timed_starts,
)
from .tcp import Flags
from .trace import path_view, tcp_states
from .transitions import ExplorationError, TransitionSystem, Variant

SIDES = ("client", "server")
# the application calls a script pins down (reads are not: a read() that returns EOF or data
# is no step of the model); a run may not make others of these kinds
_PINNED_CALLS = ("close", "shutdown", "exit", "kill", "write")


def _step_calls(v: Variant) -> list[str]:
    """The application calls of a script that one step of the model makes, in order: its own
    call, and before a close() or shutdown() that sends data the write() whose data had not
    left yet (the FIN rides on it). [] for a step that is no pinned call."""
    if v.event.kind != "call" or v.event.name not in _PINNED_CALLS:
        return []
    wanted = [v.event.label()]
    if v.event.name != "write" and any(f & Flags.DATA for _ch, f in v.sends):
        wanted.insert(0, "write()")
    return wanted


class _Environment:
    """The tested endpoint's view of the model: its steps, the peer's segments put on its
    inbound channel, and its outbound channel emptied by the peer that is not explored."""

    def __init__(self, ts: TransitionSystem, tested: str):
        self.ts = ts
        self.tested = tested
        self.inbound = next(ch for ch in ts.channels if ch.dst == tested)
        self.outbound = next(ch for ch in ts.channels if ch.src == tested)
        out_slot = ts.slots[self.outbound.slot]
        self.clear_out = ~(out_slot.mask << out_slot.offset)
        in_slot = ts.slots[self.inbound.slot]
        self.in_offset, self.in_mask = in_slot.offset, in_slot.mask
        self.capacity = self.inbound.capacity
        self.channels = {ch.name: ch for ch in ts.channels}
        self.sent_cache: dict = {}
        self.combos = Combos.of(ts)
        self.successors = DeferredSuccessors(self.combos, self._tested_steps)
        # the environment's step, as a variant that only timing sees: the peer's segment shows
        # on the capture and enters the channel into the tested endpoint, whose delay bound
        # then holds for its receipt (timing.py: a segment arrives within its channel's delay)
        self.given = len(ts.variants)
        peer = self.outbound.dst
        self.variant = Variant(self.given, peer, CEvent("internal", "peer sends (taken as given)"),
                               -1, 0, ((self.inbound.name, 0),), (), (), None, (), None)

    def encode(self, seg: CapturedSegment) -> int | None:
        """The peer's segment as a code on the channel (flags, then each declared field); None
        when a field does not fit the model's segment (the peer counts further than the model)."""
        code = int(seg.flags)
        for name, off, width, base, _typ in self.ts.seg_fields:
            value = seg.segment.get(name)
            if value is None:
                continue
            raw = int(value) - base
            if not 0 <= raw < 1 << width:
                return None
            code |= raw << off
        return code

    def inject(self, state: int, code: int) -> int | None:
        """`state` with the peer's segment at the tail of the inbound channel; None when the
        channel is full (the tested endpoint must receive first)."""
        raw = (state >> self.in_offset) & self.in_mask
        w = self.ts.seg_width
        n = (raw.bit_length() + w - 1) // w
        if n >= self.capacity:
            return None
        return state | (code << (self.in_offset + w * n))

    def pending(self, state: int) -> bool:
        return bool((state >> self.in_offset) & self.in_mask)

    def _tested_steps(self, succ: list) -> list[tuple]:
        """(variant id, next state, variant, segments sent) for the tested endpoint's steps
        among the model's successors."""
        out = []
        for vid, nxt in succ:
            v = self.ts.variants[vid]
            if v.instance == self.tested:
                out.append((vid, nxt, v, _sent(self.ts, v, nxt, self.channels,
                                               self.sent_cache)))
        return out

    def steps(self, state: int, combos: int) -> list[tuple]:
        """[((variant id, next state, variant, segments sent), combinations)]: the tested
        endpoint's steps from the stripped `state` in the set `combos`; what it sent before
        has been taken by the environment. Arrivals first, timer expiries last, as in
        two-sided replay."""
        return self.successors.merged(state & self.clear_out, combos, _order)[0]


def _order(entry) -> int:
    return _EVENT_ORDER.get(entry[2].event.kind, 2)


@no_cycle_collection()     # as replay.replay: its search makes no cycle either
def replay_side(ts: TransitionSystem, capture: Capture, side: str, *, prefix: bool = False,
                check_timing: bool = True, calls: tuple[str, ...] | None = None,
                app_calls: tuple | None = None, fixed: dict[str, int] | None = None,
                delay: tuple[float, float] | None = None, deadline: Deadline = NO_DEADLINE,
                max_nodes: int | None = None, fold: bool = True,
                within: int | None = None) -> Replay:
    """Judge `side` of `capture` against the model, the peer taken as given (module docstring).

    `calls`: the tested side's call results after its first failing call, as observations
    (replay.CALL_RESULTS); `app_calls`: packetdrill.AppCall's the application makes, in order
    (None: not known, as in a capture; a script that makes no call gives ());
    `fixed`: parameter values the input itself settles (a script's socket options), raw.
    `delay`, `deadline` and `max_nodes` as in two-sided replay (replay.replay): the network's
    delay (--delay, else the capture's own path), and the limits that make the verdict
    inconclusive. `within` (a set of combinations) searches those alone, as in two-sided
    replay.

    `fold` (the default) lets the search cut out the periods of a repeating phase once it
    repeats itself, as two-sided replay does (tcpcheck.fold): the same answer as without.
    The search reads the capture only at positions it tells the Folder of, through what
    replay._signature keeps of a segment (its side, and the segment the peer's code and
    _segment_matches are made from). Not with `app_calls`: a script's calls are pinned to
    absolute positions (`c.after == k`), which the fold would shift; `calls` are counted in
    the key (`done`), not by position, so they fold."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    ts, delay, delay_given = network_delay(ts, capture, delay, check_timing)
    names = [inst.name for inst in ts.model.instances]
    tested = names[0] if side == "client" else names[-1]
    env = _Environment(ts, tested)
    segs = capture.segments
    n = len(segs)
    watched = set(CALL_RESULTS.values())
    want = tuple(calls or ())
    codes = [env.encode(g) if g.side != side else None for g in segs]

    def call_ok(v, k: int, j: int) -> int | None:
        """The app calls matched after step v (None: the script does not make this call here).
        A close() step that sends data is the script's write() and close() in one step (the
        FIN rides on the last data, which had not left yet)."""
        wanted = _step_calls(v)
        if app_calls is None or not wanted:
            return j
        got = app_calls[j:j + len(wanted)]
        if [c.label for c in got] == wanted and all(c.after == k for c in got):
            return j + len(wanted)
        return None

    def result_ok(v, done: int) -> int | None:
        if calls is None:
            return done
        seen = tuple(o for o in v.observations if o in watched)
        if not seen:
            return done
        return done + len(seen) if want[done:done + len(seen)] == seen else None

    # keys: (stripped state, segments matched, call results matched, app calls matched),
    # each reached for a set of parameter combinations (tcpcheck.combos)
    cs = env.combos
    keep = cs.matching(fixed) if fixed else None
    if within is not None:
        keep = within & (cs.every if keep is None else keep)
    initial = [((s, 0, 0, 0), combos) for s, combos in cs.initial(keep)]
    folding = fold and app_calls is None
    search = FoldingSearch(initial) if folding else SetSearch(initial)
    folder = folder_for(ts, segs) if folding else None
    folded = None                    # the Fold, once the search has cut periods out
    full_segs, full_codes = segs, codes

    def looked(end: int) -> None:
        """The search reads the capture's positions before `end` (the fold must know)."""
        if folder is not None:
            folder.looked(end)

    ends: dict[tuple, int] = {}      # key -> the combinations in which it finishes
    best = 0
    unfit = calls_short = False
    polled = 0
    while search:
        key, combos = search.pop()
        state, k, done, j = key
        if folder is not None and folded is None and k > folder.top:
            folded = folder.at_pop(search, key, combos)
            if folded is not None:      # from here on, positions after the cut are compressed
                segs, codes = folded.compress(full_segs), folded.compress(full_codes)
                n = len(segs)
        polled += 1
        stop = search_stop(deadline, len(search), polled, max_nodes)
        if stop is not None:
            # no answer, and not a wrong one: why, and the run to where the search got
            stopped = Replay(capture, ts, False, real_position(folded, best), side=side,
                             search_limit=True, stop_reason=stop, searched=len(search),
                             channel_delay=delay, delay_given=delay_given)
            _show(stopped, env, unfolded(search, folded), real_key(folded, key), combos)
            return stopped
        best = max(best, k)
        try:
            own = env.steps(state, combos)
        except ExplorationError as err:
            failed = Replay(capture, ts, False, real_position(folded, best), error=err,
                            side=side, channel_delay=delay, delay_given=delay_given)
            _show(failed, env, unfolded(search, folded), real_key(folded, key), combos)
            return failed
        moves = []
        moving = 0                  # the combinations with a step they may take
        for (vid, nxt, v, sent), part in own:
            j2 = call_ok(v, k, j)
            done2 = None if j2 is None else result_ok(v, done)
            if done2 is None:
                continue
            moves.append((vid, nxt, sent, done2, j2, part))
            moving |= part
        if k == n and not env.pending(state):
            if combos & ~moving and done == len(want) and j == len(app_calls or ()):
                ends[key] = ends.get(key, 0) | (combos & ~moving)
            elif not any(move[2] for move in moves) and (
                    done != len(want) or j != len(app_calls or ())):
                calls_short = True   # every segment matched; the calls are what is missing
        if k < n:
            looked(k + 1)           # its side, and the peer's segment when it is the peer's
        if k < n and segs[k].side != side:
            if codes[k] is None:
                unfit = True
            else:
                given = env.inject(state, codes[k])
                if given is not None:
                    moves.append((env.given, given, (), done, j, combos))
        for vid, nxt, sent, done2, j2, part in moves:
            k2 = k + 1 if vid == env.given else k
            if sent:
                looked(k2 + len(sent))
                if k2 + len(sent) > n or any(segs[k2 + i].side != side or
                                             not _segment_matches(sent[i], segs[k2 + i])
                                             for i in range(len(sent))):
                    continue
                k2 += len(sent)
            search.step(key, vid, (nxt, k2, done2, j2), part)

    # from here on, in the capture's own positions
    reached_end = best == n
    segs, codes, n, best = full_segs, full_codes, len(full_segs), real_position(folded, best)
    ends = {real_key(folded, key): combos for key, combos in ends.items()}
    search = unfolded(search, folded)
    result = Replay(capture, ts, False, best, side=side, channel_delay=delay,
                    delay_given=delay_given, searched=len(search), fold=folded)
    result.calls_checked = calls is not None or app_calls is not None
    if ends or (prefix and reached_end):
        finals = ends or {key: search.reached[key] for key in search.reached_at(n)}
        result.accepted = True
        allowing = 0
        for combos in finals.values():
            allowing |= combos
        result.combos = [dict(ts.initial_params[r]) for r in members(allowing)]
        result.required = _required(ts, members(allowing))
        chosen = _prefer(cs, finals)
        reg = cs.preferred(finals[chosen])
        result.kind = _kind(ts, capture, tested, chosen[0])
        stepwise = _time(result, ts, env, _path(search, chosen, reg), reg, check_timing,
                         app_calls, deadline)
        if check_timing and result.timing is not None and not result.timing.feasible:
            if stepwise:
                # as in two-sided replay: a long run is timed step by step, and other runs
                # to the same end are not tried (no answer, rather than a wrong one)
                result.timing_limit = True
            else:
                _find_timed_run(result, ts, env, search, finals, reg, app_calls, deadline)
        return result

    at = {key: search.reached[key] for key in search.reached_at(best)}
    result.ended_early = best == n
    result.failed_at = segs[best] if best < n else None
    result.peer_unfit = unfit and result.failed_at is not None and result.failed_at.side != side
    result.calls_differ = result.ended_early and calls_short
    result.calls_wanted = want
    result.could_be_in = _merge([{"tcp_states": {tested: c["tcp_states"].get(tested, "?")},
                                  "combinations": c["combinations"]}
                                 for c in _states_summary(ts, at)])
    alternatives: dict[tuple, tuple] = {}
    for key, combos in at.items():
        for (vid, nxt, v, sent), part in env.steps(key[0], combos):
            if sent and call_ok(v, key[1], key[3]) is not None:
                what = tuple(tuple(sorted(s.as_dict().items())) for s in sent)
                alternatives.setdefault(what, (key, vid, nxt, sent, part))
    ordered = sorted(alternatives.items(), key=lambda kv: str(kv[0]))
    result.instead = [{"side": tested, "segments": [s.as_dict() for s in sent],
                       "after": {tested: tcp_states(ts, nd[0]).get(tested)}}
                      for _what, (nd, _vid, _nxt, sent, _part) in ordered]
    if at:
        if ordered:
            # the nearest run: preferably one in which the peer's segments have all arrived,
            # and the application makes its next call
            key, vid, nxt, _, part = min(
                (alt for _what, alt in ordered),
                key=lambda alt: (env.pending(alt[0][0]),
                                 call_ok(ts.variants[alt[1]], alt[0][1], alt[0][3]) == alt[0][3]))
            _show(result, env, search, key, part, (vid, nxt))
        else:
            key = _prefer(cs, at)
            _show(result, env, search, key, at[key])
    return result


def _show(result: Replay, env: _Environment, search: SetSearch, key: tuple, combos: int,
          extra=None) -> None:
    """The run to `key` (then `extra`, a last (variant, stripped state)) in the combination of
    `combos` closest to the defaults, as the result's view, run and the peer's segments."""
    reg = env.combos.preferred(combos)
    _set_run(result, env, _path(search, key, reg), reg, extra)


def _set_run(result: Replay, env: _Environment, path, reg: int, extra=None) -> None:
    """result.view, run and given from a path (a list, or a FoldedPath shown with its loop
    once: replay.shown_run), then `extra`, a last (variant, stripped state)."""
    path, result.run_fold, result.run_length = shown_run(
        path, extra, lambda entries: sum(vid != env.given for vid, _key in entries))
    pairs = _pairs(env, path, reg)
    if extra is not None:
        pairs.append((extra[0], env.combos.concrete(extra[1], reg)))
    result.view, result.run = path_view(env.ts, pairs, reg)
    result.given = _given(result.capture, env, path)


def _kind(ts: TransitionSystem, capture: Capture, tested: str, end: int) -> CloseKind | None:
    """The kind of close, read from the capture's segments (the peer's part of the run is not
    the model's); incomplete when, without an RST, the tested endpoint does not end CLOSED (a
    socket left in CLOSE_WAIT, or a script that stops before the close is over)."""
    kind = capture_kind(capture)
    if kind == CloseKind.RST:
        return kind
    if tcp_states(ts, end).get(tested, "CLOSED") != "CLOSED":
        return CloseKind.INCOMPLETE
    return kind


def _merge(rows: list[dict]) -> list[dict]:
    """Rows of the tested endpoint's states, those that differed only in the peer's merged."""
    out: dict[tuple, int] = {}
    for row in rows:
        key = tuple(sorted(row["tcp_states"].items()))
        out[key] = out.get(key, 0) + row["combinations"]
    return [{"tcp_states": dict(k), "combinations": c} for k, c in sorted(out.items())]


def _pairs(env: _Environment, path, reg: int) -> list[tuple[int, int]]:
    """The run in combination `reg` as (variant, packed state) for trace.path_view, without
    the environment's steps: the state a peer segment was put on the channel in stands in for
    the state before it, so that the tested endpoint's receipt reads it there (run.Step)."""
    pairs: list[tuple[int, int]] = []
    for vid, node in path:
        state = env.combos.concrete(node[0], reg)
        if vid == env.given:
            pairs[-1] = (pairs[-1][0], state)
        else:
            pairs.append((vid, state))
    return pairs


def _given(capture: Capture, env: _Environment, path, times=None) -> tuple:
    """Where the environment's steps go among the shown steps: (index of the shown step they
    come before, the peer's segment, its time in the run or None)."""
    out, shown = [], 1
    for i in range(1, len(path)):
        if path[i][0] == env.given:
            # the segment as the model's channel holds it (every field, as run steps show it)
            seg = env.ts.decode_segment(env.encode(capture.segments[path[i - 1][1][1]]))
            out.append((shown, seg, times[i] if times is not None else None))
        else:
            shown += 1
    return tuple(out)


def timing_system(ts: TransitionSystem, env: _Environment) -> TransitionSystem:
    """The model for timing a one-sided run: the environment's step is one more variant, and
    the channel out of the tested endpoint has no delay bound (nobody in the model receives
    from it); the channel into it keeps the model's (see the module docstring)."""
    return dataclasses.replace(ts, variants=ts.variants + (env.variant,),
                               channels=tuple(ch if ch.name == env.inbound.name else
                                              dataclasses.replace(ch, delay_ms=(0.0, None))
                                              for ch in ts.channels))


def _segment_time(capture: Capture, k: int) -> float | None:
    segs = capture.segments
    if k >= len(segs):
        return None
    t = segs[k].time_ms
    return None if t is None or math.isnan(t) else t


def _call_pin(variants, path, i: int, app_calls) -> tuple[float, str] | None:
    """(ms on the capture's clock, what) of the script's call that step i makes, None when it
    makes none or the script gives it no time (`*`). A step that makes two calls (write() and
    the close() that puts the FIN on its data) is the moment of the last: the data left then."""
    if not app_calls:
        return None
    made = _step_calls(variants[path[i][0]])
    if not made:
        return None
    j = path[i - 1][1][3]       # the script's calls matched before this step
    if j + len(made) > len(app_calls):
        return None
    call = app_calls[j + len(made) - 1]
    if call.time_ms is None:
        return None
    return call.time_ms, f"{call.label} on line {call.line}"


def _pins(capture: Capture, env: _Environment, variants, path, app_calls=None
          ) -> list[tuple[int, float, str, float]]:
    """(step, ms after the first pinned segment, what, tolerance in ms): the environment's
    steps at the capture's time of their segment, sending steps at the time of their first
    segment (both exactly), and a script's calls at their lines' times within packetdrill's
    tolerance; a script's `*` pins nothing."""
    out = []
    for i in range(1, len(path)):
        vid = path[i][0]
        if vid == env.given or variants[vid].sends:
            k = path[i - 1][1][1]
            t = _segment_time(capture, k)
            if t is not None:
                out.append((i, t, f"segment #{capture.segments[k].number}", 0.0))
        call = _call_pin(variants, path, i, app_calls)
        if call is not None:
            out.append((i, call[0], call[1], TOLERANCE_MS))
    if not out:
        return []
    first = next((t for _i, t, _what, tol in out if tol == 0), out[0][1])
    return [(i, t - first, what, tol) for i, t, what, tol in out]


def _time(result: Replay, ts, env, path, reg, check_timing: bool, app_calls=None,
          deadline: Deadline = NO_DEADLINE) -> bool:
    """The run (a list, or a FoldedPath) as the result's, with its timing when asked. A run
    of more than replay.LONG_RUN steps is timed step by step (tcpcheck.timeline: the verdict,
    not the times), as in two-sided replay, unless a script's call pins it within a
    tolerance (z3 then); True when it was."""
    _set_run(result, env, path, reg)
    if not check_timing:
        return False
    from .timing import check_run  # deferred: timing loads z3

    whole = list(path.unrolled()) if isinstance(path, FoldedPath) else path
    timed = timing_system(ts, env)
    pinned = _pins(result.capture, env, timed.variants, whole, app_calls)
    result.timed_by_capture = bool(pinned)
    variants = [timed.variants[vid] for vid, _node in whole[1:]]
    if len(variants) > LONG_RUN and not any(tol for _i, _t, _what, tol in pinned):
        time_step_by_step(result, timed, variants, [pin[:3] for pin in pinned] or None,
                          deadline)
        return True
    result.timing = check_run(timed, variants, pinned or None)
    if result.timing.feasible and result.timing.times_ms is not None:
        if not isinstance(path, FoldedPath):   # (a run shown folded gives no step's time)
            result.given = _given(result.capture, env, path, result.timing.times_ms)
        # the times of the steps the view shows (the environment's are folded away)
        kept = [0] + [i for i in range(1, len(whole)) if whole[i][0] != env.given]
        result.timing = dataclasses.replace(result.timing,
                                            times_ms=[result.timing.times_ms[i] for i in kept])
    return False


def _find_timed_run(result: Replay, ts, env, search: SetSearch, finals: dict, reg: int,
                    app_calls=None, deadline: Deadline = NO_DEADLINE) -> None:
    """The shortest run does not fit the capture's times: search the others, depth first with
    z3's incremental solver (timing.TimedSearch, as two-sided replay does), until a run fits,
    MAX_TIMING_CHECKS steps are checked or the deadline passes (result.timing_limit)."""
    from .timing import TimedSearch  # deferred: timing loads z3

    useful = search.useful(finals)
    timed = timing_system(ts, env)
    first = (result.view, result.run, result.timing, result.given, result.run_fold,
             result.run_length)
    t0 = _segment_time(result.capture, 0)

    def pin(path, vid):
        # the step about to be taken is len(path); it is pinned after the first step that
        # was pinned to a segment (the capture's segment #1, at t0), or is that step itself
        if not result.timed_by_capture or t0 is None:
            return None
        anchor = next((i for i in range(1, len(path))
                       if path[i][0] == env.given or timed.variants[path[i][0]].sends), len(path))
        pins = []
        if vid == env.given or timed.variants[vid].sends:
            t = _segment_time(result.capture, path[-1][1][0][1])
            if t is not None:
                pins.append((anchor, t - t0, 0.0))
        if app_calls:
            # _call_pin reads the matched count before the step
            step = _keys(path) + [(vid, path[-1][1][0])]
            call = _call_pin(timed.variants, step, len(path), app_calls)
            if call is not None and (anchor < len(path) or pins):
                pins.append((anchor, call[0] - t0, TOLERANCE_MS))
        return tuple(pins) or None

    def take(path, _start) -> bool:
        key, combos = path[-1][1]
        _time(result, ts, env, _keys(path), env.combos.preferred(combos & finals[key]), True,
              app_calls, deadline)
        return result.timing.feasible

    timed_search = TimedSearch(timed, MAX_TIMING_CHECKS)
    if first_timed_run(result, timed_search, timed_starts(search, useful, reg),
                       preferring(search.children(useful), reg), finals, deadline, pin, take):
        return
    (result.view, result.run, result.timing, result.given, result.run_fold,
     result.run_length) = first


def _keys(path) -> list[tuple]:
    """A timed search's path [(variant, (key, combinations))] as [(variant, key)]."""
    return [(vid, node[0]) for vid, node in path]


def with_peer(steps: list[dict], tested: str, peer: str, given=()) -> list[dict]:
    """A one-sided run's JSON steps as a ladder draws them: the peer's segments sent where the
    environment put them on the wire (`given`: see _given), after each send of the tested
    endpoint a step of the peer receiving it (both of kind "given": the environment, not the
    model), and the peer's TCP state left out everywhere (the model does not know it)."""
    quiet = {"fired": None, "armed": [], "cancelled": []}
    before: dict[int, list] = {}
    for at, seg, time_ms in given:
        before.setdefault(at, []).append((seg, time_ms))
    out: list[dict] = []

    def states(step):
        return {k: v for k, v in (step.get("tcp_states") or {}).items() if k != peer}

    def put_given(at: int, near: dict) -> None:
        for seg, time_ms in before.get(at, []):
            out.append({"step": "", "endpoint": peer, "kind": "given",
                        "event": "sends (taken as given)", "received": None, "sent": [seg],
                        "segment": seg["flags"], "timers": quiet, "observations": [],
                        "time_ms": time_ms, "tcp_states": states(near)})

    for idx, step in enumerate(steps):
        # the peer's send changes nothing of the tested endpoint: it keeps the state before
        put_given(idx, steps[max(idx - 1, 0)])
        step = dict(step)
        if "tcp_states" in step:
            step["tcp_states"] = states(step)
        out.append(step)
        if step.get("endpoint") == tested and step.get("sent"):
            for seg in step["sent"]:
                out.append({"step": "", "endpoint": peer, "kind": "recv",
                            "event": "receives (taken as given)", "received": seg, "sent": [],
                            "segment": None, "timers": quiet, "observations": [],
                            "time_ms": step.get("time_ms"), "tcp_states": step["tcp_states"]})
    if steps:
        put_given(len(steps), steps[-1])
    return out


def script_params(ts: TransitionSystem, settings, side: str) -> dict[str, int]:
    """Parameter values a script's socket options settle, for the models that declare them
    (raw values, as in ts.initial_params). A script states everything its application does, so
    what it does not set is off: SO_LINGER with a zero timeout is `linger_zero`, and without
    it linger_zero=false; TCP_QUICKACK on the tested side is `<side>_quickack`, and without it
    the tested side delays its ACKs (delayed_ack=true, the Linux default); one process holds
    the socket (shared_socket=false)."""
    declared = {p.name for p in ts.model.params}
    given = dict(settings)
    wanted = {"linger_zero": int(given.get("SO_LINGER") == "0"),
              "shared_socket": 0,
              f"{side}_quickack": int("TCP_QUICKACK" in given)}
    if "TCP_QUICKACK" not in given:
        wanted["delayed_ack"] = 1
    return {name: value for name, value in wanted.items() if name in declared}
