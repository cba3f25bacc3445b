"""One-sided replay: one endpoint judged against the model, the peer taken as given.

Two-sided replay (tcpcheck.replay) asks for a run of the whole model, both endpoints and the
network, that sends exactly the captured segments. When the peer is not Linux (Windows, a BSD,
a load balancer) that question is the wrong one: the peer does what its own stack does. Here
only the tested endpoint (`side`: "client" or "server") is the model's instance; the peer is an
*environment* that sends exactly the capture's segments from its side, in their order, at their
times. The model's peer instance is replaced, not explored: it never takes a step, and what the
tested endpoint sends to it is consumed by the environment (its channel is emptied before the
next step, so the tested endpoint never waits on a peer that is not there).

Where the peer's segments enter: at the capture point, which is taken to be the tested host.
A capture taken there sees the tested endpoint's segments leave at once and the peer's arrive at
once, so a peer segment is put on the model's channel into the tested endpoint and received by
that endpoint's own `recv` transition in the same step (the receive is the model's transition:
emit.py's step semantics through ts.successors; nothing of TCP is restated here). For the same
reason timing (z3) pins each step to the capture's time of the first segment it takes or sends
and gives the channels no delay bound: the path's delay is the peer's business.

Everything else is as in two-sided replay: a tested step that sends must send the capture's
next segments from the tested side; the capture is accepted when, after its last segment, the
tested endpoint can finish quietly (no step left that it could take on its own); the calls'
results after an error must be the kernel's (`calls`). A packetdrill script adds its close()
and shutdown() calls (`app_calls`): the tested application makes exactly those, each in its
place among the segments.
"""
from __future__ import annotations

import dataclasses
import math
from collections import deque

from .capture import Capture, CapturedSegment, capture_kind
from .replay import (CALL_RESULTS, MAX_NODES, MAX_TIMING_CHECKS, Replay, _prefer, _required,
                     _segment_matches, _sent, _states_summary)
from .trace import path_view, tcp_states
from .transitions import ExplorationError, TransitionSystem
from .verdicts import Verdict

SIDES = ("client", "server")
# the application calls a script pins down; a run may not make others of these kinds
_PINNED_CALLS = ("close", "shutdown", "exit", "kill")


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
        self.in_offset = ts.slots[self.inbound.slot].offset
        self.channels = {ch.name: ch for ch in ts.channels}
        self.sent_cache: dict = {}
        self.cache: dict[tuple[int, int], list] = {}

    def encode(self, seg: CapturedSegment) -> int | None:
        """The peer's segment as a code on the channel (flags, then each declared field); None
        when a field is outside the model's range (the peer went further than the model
        counts)."""
        code = int(seg.flags)
        for name, off, width, base, typ in self.ts.seg_fields:
            value = seg.segment.get(name)
            if value is None:
                continue
            raw = int(value) - base
            if not 0 <= raw < 1 << width:
                return None
            code |= raw << off
        return code

    def steps(self, state: int, incoming: int | None) -> list[tuple]:
        """(variant id, next state, variant, segments sent, state shown before the step) for
        the tested endpoint's own steps from `state`, or, with `incoming` (a peer segment's
        code), its receipts of that segment."""
        key = (state, -1 if incoming is None else incoming)
        out = self.cache.get(key)
        if out is not None:
            return out
        base = state & self.clear_out
        if incoming is None:
            start, shown = base, state
        else:
            # the channel into the tested endpoint is always empty here: each peer segment is
            # received in the step that brings it
            start = base | incoming << self.in_offset
            shown = state | incoming << self.in_offset
        out = []
        for vid, nxt in self.ts.successors(start):
            v = self.ts.variants[vid]
            if v.instance != self.tested or (v.event.kind == "recv") != (incoming is not None):
                continue
            out.append((vid, nxt, v, _sent(self.ts, v, nxt, self.channels, self.sent_cache),
                        shown))
        self.cache[key] = out
        return out


def replay_side(ts: TransitionSystem, capture: Capture, side: str, *, prefix: bool = False,
                check_timing: bool = True, calls: tuple[str, ...] | None = None,
                app_calls: tuple = (), fixed: dict[str, int] | None = None) -> Replay:
    """Judge `side` of `capture` against the model, the peer taken as given (module docstring).

    `calls`: the tested side's call results after its first failing call, as observations
    (replay.CALL_RESULTS); `app_calls`: packetdrill.AppCall's the application makes, in order;
    `fixed`: parameter values the input itself sets (a script's SO_LINGER), raw."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    names = [inst.name for inst in ts.model.instances]
    tested = names[0] if side == "client" else names[-1]
    env = _Environment(ts, tested)
    segs = capture.segments
    n = len(segs)
    watched = set(CALL_RESULTS.values())
    want = tuple(calls or ())
    codes = [env.encode(g) if g.side != side else None for g in segs]

    def call_ok(v, k: int, j: int) -> int | None:
        """The app calls matched after step v (None: the script does not make this call)."""
        if v.event.kind != "call" or v.event.name not in _PINNED_CALLS or not app_calls:
            return j
        if j < len(app_calls) and app_calls[j].label == v.event.label() and app_calls[j].after == k:
            return j + 1
        return None

    def result_ok(v, done: int) -> int | None:
        if calls is None:
            return done
        seen = tuple(o for o in v.observations if o in watched)
        if not seen:
            return done
        return done + len(seen) if want[done:done + len(seen)] == seen else None

    # nodes: (state, segments matched, call results matched, app calls matched)
    parent: dict[tuple, tuple] = {}
    shown_before: dict[tuple, int] = {}
    region: dict[tuple, int] = {}
    queue: deque = deque()
    for r, s in enumerate(ts.initial):
        if fixed and any(ts.initial_params[r].get(p) != v for p, v in fixed.items()):
            continue
        node = (s, 0, 0, 0)
        if node not in parent:
            parent[node], region[node] = (None, -1), r
            queue.append(node)
    children: dict[tuple, list] = {}
    frontier: dict[int, list] = {0: []}
    ends: list[tuple] = []
    best = 0
    unfit: CapturedSegment | None = None
    while queue:
        node = queue.popleft()
        state, k, done, j = node
        best = max(best, k)
        frontier.setdefault(k, []).append(node)
        try:
            own = env.steps(state, None)
            takes = []
            if k < n and segs[k].side != side:
                if codes[k] is None:
                    unfit = unfit or segs[k]
                else:
                    takes = env.steps(state, codes[k])
        except ExplorationError as err:
            failed = Replay(capture, ts, False, best, error=err, side=side)
            failed.view, failed.run = _view(ts, parent, shown_before, node, region[node])
            return failed
        allowed = [(e, call_ok(e[2], k, j)) for e in own]
        allowed = [(e, j2) for e, j2 in allowed if j2 is not None]
        if k == n and not allowed and done == len(want) and j == len(app_calls):
            ends.append(node)
        moves = [(e, j2, 0) for e, j2 in allowed] + [(e, j, 1) for e in takes]
        for (vid, nxt, v, sent, shown), j2, took in moves:
            done2 = result_ok(v, done)
            if done2 is None:
                continue
            k2 = k + took
            if sent:
                if k2 + len(sent) > n or any(segs[k2 + i].side != side or
                                             not _segment_matches(sent[i], segs[k2 + i])
                                             for i in range(len(sent))):
                    continue
                k2 += len(sent)
            child = (nxt, k2, done2, j2)
            children.setdefault(node, []).append((vid, child))
            if child not in parent:
                parent[child], region[child] = (node, vid), region[node]
                shown_before[child] = shown
                queue.append(child)
                if len(parent) > MAX_NODES:
                    raise RuntimeError("one-sided replay: too many (state, position) pairs")

    result = Replay(capture, ts, False, best, side=side)
    result.calls_checked = calls is not None or bool(app_calls)
    if ends or (prefix and best == n and frontier.get(n)):
        finals = ends or frontier[n]
        result.accepted = True
        combos = sorted({region[f] for f in finals})
        result.combos = [dict(ts.initial_params[r]) for r in combos]
        result.required = _required(ts, combos)
        chosen = _prefer(ts, finals, region)
        path = _path(parent, chosen)
        result.kind = capture_kind(capture)
        _time(result, ts, path, shown_before, region[chosen], check_timing)
        if check_timing and result.timing is not None and not result.timing.feasible:
            _find_timed_run(result, ts, children, finals, region, shown_before, chosen)
        return result

    at = frontier.get(best, [])
    result.ended_early = best == n
    result.failed_at = segs[best] if best < n else None
    result.peer_unfit = unfit is not None and unfit is result.failed_at
    result.could_be_in = [{"tcp_states": {tested: c["tcp_states"].get(tested, "?")},
                           "combinations": c["combinations"]}
                          for c in _states_summary(ts, at, region)]
    result.could_be_in = _merge(result.could_be_in)
    alternatives: dict[tuple, tuple] = {}
    for node in at:
        for e in env.steps(node[0], None):
            vid, _nxt, v, sent, _shown = e
            if sent and call_ok(v, node[1], node[3]) is not None:
                key = tuple(tuple(sorted(s.as_dict().items())) for s in sent)
                alternatives.setdefault(key, (node, e))
    result.instead = [{"side": tested, "segments": [s.as_dict() for s in e[3]],
                       "after": {tested: tcp_states(ts, nd[0]).get(tested)}}
                      for _key, (nd, e) in sorted(alternatives.items(), key=lambda kv: str(kv[0]))]
    if at:
        pick = next(iter(sorted(alternatives.items(), key=lambda kv: str(kv[0]))), None)
        node = pick[1][0] if pick else _prefer(ts, at, region)
        extra = (pick[1][1][0], pick[1][1][1], pick[1][1][4]) if pick else None
        result.view, result.run = _view(ts, parent, shown_before, node, region[node], extra)
    return result


def _merge(rows: list[dict]) -> list[dict]:
    """Rows of the tested endpoint's states, those that differed only in the peer's merged."""
    out: dict[tuple, int] = {}
    for row in rows:
        key = tuple(sorted(row["tcp_states"].items()))
        out[key] = out.get(key, 0) + row["combinations"]
    return [{"tcp_states": dict(k), "combinations": c} for k, c in sorted(out.items())]


def _path(parent, node) -> list[tuple[int, tuple]]:
    out = []
    while node is not None:
        prev, vid = parent[node]
        out.append((vid, node))
        node = prev
    out.reverse()
    return out


def _pairs(path, shown_before) -> list[tuple[int, int]]:
    """The run as (variant, packed state) for trace.path_view. A step that receives a peer
    segment reads it from the state before it (run.Step): that state is shown with the segment
    on the channel, as the environment put it there."""
    pairs = [(vid, node[0]) for vid, node in path]
    for i in range(1, len(path)):
        pairs[i - 1] = (pairs[i - 1][0], shown_before[path[i][1]])
    return pairs


def _view(ts, parent, shown_before, node, reg, extra=None):
    path = _path(parent, node)
    pairs = _pairs(path, shown_before)
    if extra is not None:
        vid, nxt, shown = extra
        pairs[-1] = (pairs[-1][0], shown)
        pairs.append((vid, nxt))
    return path_view(ts, pairs, reg)


def timing_system(ts: TransitionSystem) -> TransitionSystem:
    """The model for timing a one-sided run: the channels have no delay bound, because the
    peer's segments are pinned to when the capture saw them arrive and the tested endpoint's
    segments are the peer's business once they leave."""
    return dataclasses.replace(ts, channels=tuple(dataclasses.replace(ch, delay_ms=(0.0, None))
                                                  for ch in ts.channels))


def _pins(capture: Capture, path) -> list[tuple[int, float, str]]:
    """(step, ms after the first pinned step, which segment) for each step that takes or sends
    a captured segment with a known time (a script's `*` has none)."""
    segs = capture.segments
    out = []
    for i in range(1, len(path)):
        k_before, k_after = path[i - 1][1][1], path[i][1][1]
        if k_after > k_before:
            t = segs[k_before].time_ms
            if t is not None and not math.isnan(t):
                out.append((i, t, f"segment #{segs[k_before].number}"))
    if not out:
        return []
    first = out[0][1]
    return [(i, t - first, what) for i, t, what in out]


def _time(result: Replay, ts, path, shown_before, reg, check_timing: bool) -> None:
    result.view, result.run = path_view(ts, _pairs(path, shown_before), reg)
    if not check_timing:
        return
    from .timing import check_run  # deferred: timing loads z3

    pinned = _pins(result.capture, path)
    result.timed_by_capture = bool(pinned)
    variants = [ts.variants[vid] for vid, _node in path[1:]]
    result.timing = check_run(timing_system(ts), variants, pinned or None)


def _find_timed_run(result: Replay, ts, children, finals, region, shown_before, chosen) -> None:
    """The shortest run does not fit the capture's times: search the others (depth first, with
    z3's incremental solver; see replay._find_timed_run, whose search this shares)."""
    from .timing import TimedSearch  # deferred: timing loads z3

    finals_set = set(finals)
    reverse: dict = {}
    for node, outs in children.items():
        for _vid, child in outs:
            reverse.setdefault(child, []).append(node)
    useful, stack = set(finals_set), list(finals_set)
    while stack:
        for prev in reverse.get(stack.pop(), []):
            if prev not in useful:
                useful.add(prev)
                stack.append(prev)
    starts = sorted({nd for nd in useful if nd[1:] == (0, 0, 0) and nd[0] in ts.initial
                     and nd in region},
                    key=lambda nd: (region[nd] != region[chosen], region[nd]))
    segs = result.capture.segments
    first = (result.view, result.run, result.timing)

    def pin(path, vid):
        if not result.timed_by_capture:
            return None
        k = path[-1][1][1]
        # whether the step takes or sends a segment is known from its variant: a receive in
        # one-sided replay always takes the peer's next segment
        v = ts.variants[vid]
        if not (v.sends or v.event.kind == "recv") or k >= len(segs):
            return None
        t = segs[k].time_ms
        if t is None or math.isnan(t):
            return None
        firsts = [idx for idx in range(1, len(path)) if path[idx][1][1] > path[idx - 1][1][1]]
        anchor = firsts[0] if firsts else len(path)
        t0 = next((g.time_ms for g in segs if g.time_ms is not None and not math.isnan(g.time_ms)),
                  0.0)
        return (anchor, t - t0)

    search = TimedSearch(timing_system(ts), MAX_TIMING_CHECKS)
    for start in starts:
        for path in search.paths(start, lambda nd: children.get(nd, []), finals_set.__contains__,
                                 skip=lambda nd, _steps: nd not in useful, pin=pin):
            _time(result, ts, path, shown_before, region[start], True)
            if result.timing.feasible:
                return
        if search.exhausted:
            result.timing_limit = True
            break
    result.view, result.run, result.timing = first



def with_peer(steps: list[dict], tested: str, peer: str) -> list[dict]:
    """A one-sided run's JSON steps as a ladder draws them: before each receipt of the tested
    endpoint a step of the peer sending that segment, after each send of the tested endpoint a
    step of the peer receiving it (kind "given": the environment, not the model), and the
    peer's TCP state left out everywhere (the model does not know it)."""
    out = []
    for step in steps:
        step = dict(step)
        if "tcp_states" in step:
            step["tcp_states"] = {k: v for k, v in step["tcp_states"].items() if k != peer}
        if step.get("endpoint") == tested and step.get("kind") == "recv" and step.get("received"):
            out.append({"step": "", "endpoint": peer, "kind": "given",
                        "event": "sends (taken as given)", "received": None,
                        "sent": [step["received"]], "segment": step["received"]["flags"],
                        "timers": {"fired": None, "armed": [], "cancelled": []},
                        "observations": [], "time_ms": step.get("time_ms"),
                        "tcp_states": step.get("tcp_states", {})})
        out.append(step)
        if step.get("endpoint") == tested and step.get("sent"):
            for seg in step["sent"]:
                out.append({"step": "", "endpoint": peer, "kind": "recv",
                            "event": "receives (taken as given)", "received": seg, "sent": [],
                            "segment": None,
                            "timers": {"fired": None, "armed": [], "cancelled": []},
                            "observations": [], "time_ms": step.get("time_ms"),
                            "tcp_states": step.get("tcp_states", {})})
    return out
