"""A replay's report: a capture checked against the model, as text, JSON and a ladder.

What `tcpcheck replay` prints and `tcpcheck conform` quotes for a capture it rejects: the
capture in the model's words, the verdict and why (the matching run, or where no run goes
on and what the model could have sent instead), and for a directory of captures a table
and the model's transitions they exercised. The command line only prints these.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .segment import segment_text
from .tcp import Flags
from .capture import Capture
from .diagnostics import Diagnostic
from .ladder import ladder_dot, ladder_pair_dot, ladder_text
from .lifelines import timer_ranges
from .oneside import with_peer
from .explore import StopReason
from .replay import Replay
from .trace import model_error_diagnostic, run_steps
from .transitions import TransitionSystem
from .verdicts import Verdict


def _steps(r: Replay, times=None) -> list[dict]:
    """The run's JSON steps; a one-sided run with the peer's segments as given steps."""
    steps = run_steps(r.view, r.run, times)
    if r.side is None:
        return steps
    names = [inst.name for inst in r.system.model.instances]
    tested = names[0] if r.side == "client" else names[-1]
    peer = next((nm for nm in names if nm != tested), tested)
    return with_peer(steps, tested, peer, r.given)


def _show(v) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def replay_json(r: Replay) -> dict:
    """One replay as a JSON document (stable keys)."""
    ts = r.system
    doc = {"capture": r.capture.as_json(), "model": ts.model.name, "verdict": r.verdict,
           **({"side": r.side, "peer": "taken as given", "peer_unfit": r.peer_unfit,
               "calls_differ": r.calls_differ} if r.side is not None else {}),
           "segments": len(r.capture.segments), "matched": r.matched, "kind": r.kind,
           "required_params": {k: v for k, v in r.required.items()},
           "combinations": len(r.combos), "total_combinations": len(ts.initial),
           "channel_delay": None if r.channel_delay is None else {
               "lo_ms": r.channel_delay[0], "hi_ms": r.channel_delay[1],
               "round_trip_ms": r.capture.round_trip_ms,
               "from": "--delay" if r.delay_given else "capture"},
           "search_limit": r.search_limit, "stop_reason": r.stop_reason,
           "searched": r.searched}
    if r.error is not None:
        diag, lines = model_error_diagnostic(r.error, r.view, r.run)
        doc["error"] = {**diag.as_json(), "run": lines}
    elif r.accepted:
        doc["timing"] = None if r.timing is None else {
            "feasible": r.timing.feasible, "conflict": r.timing.conflict}
        times = r.timing.times_ms if r.timing is not None and r.timing.feasible else None
        doc["run"] = _steps(r, times)
        doc.update(_run_fold_json(r))
        doc["choices"] = [{"segment": c.number, "side": c.side, "calls": list(c.calls),
                           "causes": list(c.causes)} for c in r.choices]
    else:
        doc["failed_at"] = r.failed_at.as_json() if r.failed_at else None
        doc["ended_early"] = r.ended_early
        doc["could_be_in"] = r.could_be_in
        doc["instead"] = r.instead
        doc["nearest_run"] = _steps(r) if r.run else None
        doc.update(_run_fold_json(r))
    return doc


def _run_fold_json(r: Replay) -> dict:
    """A run through a folded phase (too long to list: Replay.run_fold) is listed with its
    repeated stretch once: `run_fold` says which steps and how many times round they go."""
    if r.run_fold is None:
        return {}
    first, length, times = r.run_fold
    return {"run_fold": {"first_step": first, "steps": length, "times": times,
                         "run_steps": r.run_length}}


def fold_note(r: Replay) -> list[str]:
    """The text report's word on a run shown folded."""
    if r.run_fold is None:
        return []
    first, length, times = r.run_fold
    return [f"(the repeating phase is folded: steps {first}..{first + length - 1} stand for "
            f"{times:,} times round; the whole run has {r.run_length - 1:,} steps)"]


def _data_phase_hint(ts) -> str:
    """When the model has a data phase of any length (`data_phase`) and it was fixed off."""
    if not any(p.name == "data_phase" for p in ts.model.params):
        return ""
    values = {env["data_phase"] for env in ts.initial_params}
    return " with data_phase off (--param data_phase=true writes any amount)" \
        if values == {0} else ""


# The segments a text report lists one by one: the first and the last half of these. A
# capture of a long connection (a million packets) is summed up, not printed a line a segment.
MAX_LISTED = 200


def _listed(segments: list) -> list:
    """The segments to list, with None where those not shown are."""
    if len(segments) <= MAX_LISTED:
        return segments
    half = MAX_LISTED // 2
    return [*segments[:half], None, *segments[-half:]]


def _compact(cap) -> str:
    if len(cap.segments) <= MAX_LISTED:
        return cap.compact
    return " ".join(s.short if s is not None else "..." for s in _listed(cap.segments))


def replay_lines(r: Replay, show_run: bool = True) -> list[str]:
    """The replay as text: the capture in the model's words, the verdict and why."""
    cap, ts = r.capture, r.system
    out = [f"{cap.source}: {cap.connection}, {len(cap.segments)} segments: "
           f"{_compact(cap) or '-'}"]
    for s in _listed(cap.segments):
        out.append("  " + s.text() if s is not None else
                   f"  ... {len(cap.segments) - MAX_LISTED} segments not shown (--json lists "
                   "every one)")
    ignored = cap.ignored_summary()
    if ignored:
        out.append("ignored: " + ", ".join(ignored))
    handshake = sum(1 for i in cap.ignored if i.what == "handshake")
    if handshake:
        out.append(f"note: the handshake ({handshake} segment{'s' if handshake != 1 else ''}) "
                   "is set aside: the model starts with the connection established")
    for n in cap.notes:
        out.append("note: " + n)
    if r.channel_delay is not None:
        out.append(f"note: {delay_text(r)}")
    if r.side is not None:
        peer = "server" if r.side == "client" else "client"
        out.append(f"one-sided: the {r.side} is judged against the model; the {peer} is taken "
                   "as given (any stack: its segments arrive as captured)")
    if r.error is not None:
        where = f"after segment #{r.matched}" if r.matched else "before the first segment"
        out.append(f"verdict: model-error: model {ts.model.name} fails in a state the capture "
                   f"reaches, {where} (error[{r.error.code}])")
        return out
    if r.search_limit:
        out.append(f"verdict: inconclusive: the search stopped ({r.stop_reason}) after "
                   f"{r.searched:,} (state, segment) pairs, {r.matched} of "
                   f"{len(cap.segments)} segments matched")
        if r.stop_reason is StopReason.MAX_STATES:
            out.append("hint: fix the parameters this capture cannot need to narrow the search "
                       "(a loopback capture without retransmissions, of one process a side "
                       "that makes no call after an RST: --param lossy_network=false --param "
                       "shared_socket=false --param more_calls=false), or raise --max-states")
        return out
    if r.accepted:
        kind = f" ({r.kind} close)" if r.kind else ""
        if r.untimely:
            stopped = f" (the timed search stopped: {r.stop_reason})" if r.stop_reason else ""
            out.append(f"verdict: {r.verdict}: these segments are a run of model "
                       f"{ts.model.name}{kind}, but "
                       + ("no run tried fits the times they were captured at" + stopped
                          if r.timing_limit else "not at the times they were captured at"))
        else:
            out.append(f"verdict: accepted: a run of model {ts.model.name}{kind}")
        req = ", ".join(f"{k}={_show(v)}" for k, v in r.required.items())
        out.append(f"allowed in {len(r.combos)} of {len(ts.initial)} parameter combinations"
                   + (f"; every one has {req}" if req else ""))
        if r.timing is not None:
            if r.timing.feasible:
                out.append("timing: the run fits the capture's own times within the model's "
                           "timer ranges" if r.timed_by_capture else
                           "timing: the timers' ranges allow this run")
            else:
                tried = "no run tried fits" if r.timing_limit else "no run fits"
                out.append((f"timing: {tried} the capture's own times within the model's timer "
                            "ranges: " if r.timed_by_capture else
                            f"timing: {tried} the timers' ranges: ")
                           + "; ".join(r.timing.conflict or []))
        out.extend(choices_lines(r))
        if show_run:
            times = r.timing.times_ms if r.timing is not None and r.timing.feasible else None
            out.append("the matching run (hidden steps inferred; a step the wire cannot tell "
                       "from others shows them all):" if any(c.ambiguous for c in r.choices)
                       else "the matching run (hidden steps inferred):")
            steps = with_choices(r, _steps(r, times))
            out.extend(fold_note(r))
            out.extend("  " + line for line in ladder_text(steps).rstrip("\n").split("\n"))
    else:
        if r.failed_at is not None:
            out.append(f"verdict: rejected at segment #{r.failed_at.number}: no run of model "
                       f"{ts.model.name} sends {r.failed_at.side} "
                       f"{segment_text(r.failed_at.as_model())} after the "
                       f"{r.matched} segment{'s' if r.matched != 1 else ''} before it")
            closing = [g.number for g in r.capture.segments
                       if g.flags & (Flags.FIN | Flags.RST)]
            if r.failed_at.flags == Flags.DATA and (not closing or r.failed_at.number < closing[0]):
                out.append("hint: this is data before the close, and the model writes little "
                           "before it" + _data_phase_hint(ts) + "; --from-close replays only "
                           "the teardown")
        elif r.calls_differ:
            out.append(f"verdict: rejected at the end of the capture: runs of model "
                       f"{ts.model.name} send these segments, but none makes the application's "
                       "calls in their places with their results")
            if r.calls_wanted:
                out.append("the results from the first failing call on: "
                           + ", ".join(r.calls_wanted))
        else:
            sent = "this segment" if r.matched == 1 else f"these {r.matched} segments"
            out.append(f"verdict: rejected at the end of the capture: every run of model "
                       f"{ts.model.name} that sends {sent} must send more")
        if r.peer_unfit:
            out.append("note: the peer's segment counts further than the model's segment fields "
                       "can say (the model's data bound), so it could not be delivered")
        if r.could_be_in:
            out.append("the model could have been in:")
            for c in r.could_be_in:
                st = ", ".join(f"{k} {v}" for k, v in c["tcp_states"].items())
                out.append(f"  {st}  ({c['combinations']} parameter combination"
                           f"{'s' if c['combinations'] != 1 else ''})")
        if r.instead:
            out.append("and could have sent instead:")
            for alt in r.instead:
                segs = ", ".join(segment_text(s) for s in alt["segments"])
                out.append(f"  {alt['side']} {segs}")
        elif r.could_be_in:
            out.append("and could send nothing at all from there")
        if show_run and r.run:
            out.append("the nearest run of the model (the matched part, then what it could "
                       "send instead):")
            out.extend(fold_note(r))
            out.extend("  " + line for line in
                       ladder_text(_steps(r)).rstrip("\n").split("\n"))
    return out


def choices_lines(r: Replay) -> list[str]:
    """The segments more than one step of the model could have sent, each with all of them."""
    shown = [c for c in r.choices if c.ambiguous]
    if not shown:
        return []
    flags = {g.number: str(g.flags) for g in r.capture.segments}
    out = ["the wire cannot tell these apart (every run that sends the capture's segments):"]
    for c in _listed(shown):
        if c is None:
            out.append(f"  ... {len(shown) - MAX_LISTED:,} more (--json lists every one)")
            continue
        causes = f"; observing {' or '.join(c.causes)}" if c.causes else ""
        out.append(f"  #{c.number} {c.side} {flags[c.number]}: {' or '.join(c.calls)}{causes}")
    return out


def with_choices(r: Replay, steps: list[dict]) -> list[dict]:
    """The run's steps with each ambiguous sending step naming every step that could have
    sent its segment ("close() | shutdown(SHUT_WR)") and every cause ("a | b"), so that the
    drawing does not present one arbitrary pick as what happened."""
    by_segment = {c.number - 1: c for c in r.choices if c.ambiguous}   # by position sent
    out, k = [], 0
    first, length, times = r.run_fold or (-1, 0, 1)
    looped = 0                          # segments sent by the folded stretch, once round
    for i, step in enumerate(steps):
        if i == first + length:         # past the stretch shown once: it went round `times`
            k += looped * (times - 1)
        sent = step.get("sent") or []
        if first <= i < first + length:
            looped += len(sent)
        c = by_segment.get(k) if sent else None
        k += len(sent)
        if c is None:
            out.append(step)
            continue
        step = dict(step)
        step["event"] = " | ".join(c.calls)
        step["timers"] = {**step["timers"], "fired": None}
        if c.causes:    # what every alternative observes, then what they differ in
            named = {o for cause in c.causes for o in cause.split(", ")}
            kept = [o for o in step.get("observations") or [] if o not in named]
            step["observations"] = kept + [" | ".join(c.causes)]
        out.append(step)
    return out


def delay_text(r: Replay) -> str:
    """What replay took from the capture for the network's delay, and why."""
    lo, hi = r.channel_delay
    model = sorted({f"{ch.delay_ms[0]:g}..{'inf' if ch.delay_ms[1] is None else f'{ch.delay_ms[1]:g}'} ms"
                    for ch in r.system.model.channels})
    if r.delay_given:
        return (f"channel delay set by --delay: {lo:g}..{hi:g} ms (the model's channels say "
                f"{' and '.join(model)})")
    return (f"channel delay taken from the capture: {lo:g}..{hi:g} ms (the handshake's round "
            f"trip, {r.capture.round_trip_ms:g} ms, and half again; the model's channels say "
            f"{' and '.join(model)})")


def capture_steps(cap: Capture) -> list[dict]:
    """A capture as ladder steps: each segment sent, then received at once (on loopback the
    capture's order is the order sent, and arrival follows within microseconds)."""
    steps: list[dict] = []
    for seg in cap.segments:
        peer = "server" if seg.side == "client" else "client"
        steps.append({"step": f"#{seg.number}", "endpoint": seg.side, "kind": "send",
                      "sent": [seg.as_model()], "wire": [seg.tcp], "wire_ms": [seg.time_ms],
                      "time_ms": seg.time_ms})
        steps.append({"step": "", "endpoint": peer, "kind": "recv",
                      "received": seg.as_model(), "time_ms": seg.time_ms})
    return steps


def with_wire(steps: list[dict], cap: Capture) -> list[dict]:
    """The matching run's steps with each segment's real numbers from the capture (a "wire"
    list beside "sent"): the run sends the capture's segments in the capture's order, each
    side's k-th send its k-th captured segment, with the capture's time of it ("wire_ms"); a
    send the capture does not show (flags that differ) keeps the model's numbers."""
    queue = {side: [seg for seg in cap.segments if seg.side == side]
             for side in {seg.side for seg in cap.segments}}
    out = []
    for step in steps:
        mine = queue.get(step.get("endpoint"), [])
        wire, wire_ms = [], []
        for sent in step.get("sent") or []:
            if mine and str(mine[0].flags) == sent.get("flags"):
                seg = mine.pop(0)
                wire.append(seg.tcp)
                wire_ms.append(seg.time_ms)
            else:
                break
        out.append({**step, "wire": wire, "wire_ms": wire_ms} if wire else step)
    return out


def replay_dot(r: Replay) -> str | None:
    """The matching run as a ladder (DOT), or, for a rejected capture, the capture beside the
    nearest run of the model with the segments where they part in red; None without a run."""
    if r.run is None:
        return None
    if r.accepted:
        times = r.timing.times_ms if r.timing is not None and r.timing.feasible else None
        title = f"{Path(r.capture.source).name}: accepted ({r.kind or 'run'})"
        return ladder_dot(with_wire(with_choices(r, _steps(r, times)), r.capture), title,
                          timers=timer_ranges(r.system.model))
    at = f"#{r.failed_at.number} {r.failed_at.side} {segment_text(r.failed_at.as_model())}" \
        if r.failed_at else "the end of the capture"
    title = f"{Path(r.capture.source).name}: rejected at {at}"
    model = _steps(r)
    # where they part: the capture's first bad segment, the model's alternative to it
    n_model = sum(len(step.get("sent") or []) for step in model)
    n_alt = len(model[-1].get("sent") or []) if len(model) > r.matched else 0
    marks = ({r.failed_at.number - 1} if r.failed_at else set(),
             set(range(n_model - n_alt, n_model)))
    return ladder_pair_dot(capture_steps(r.capture), model, title,
                           ("the capture", "the nearest run of the model"), marks,
                           timers=timer_ranges(r.system.model))


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A capture of a directory that could not be read: its row says why, and the others are
    replayed all the same."""
    source: str
    diagnostics: tuple[Diagnostic, ...]
    verdict: Verdict = Verdict.UNREADABLE

    @property
    def reason(self) -> str:
        """The first diagnostic, without the file's name (the row names it)."""
        d = self.diagnostics[0]
        message = d.message
        if message.startswith(self.source):
            message = message[len(self.source):].lstrip(": ")
        return f"error[{d.code}]: {message}"


def coverage(ts: TransitionSystem, results: list[Replay | Unreadable]
             ) -> tuple[list[str], list[str]]:
    """Transitions (instance: event at line) the accepted runs used, and those none did."""
    used: set[tuple[str, int]] = set()
    for r in results:
        if isinstance(r, Replay) and r.accepted and r.run:
            for vid, _sid in r.run[1:]:
                v = ts.variants[vid]
                if v.instance is not None:
                    used.add((v.instance, v.transition))
    hit, missed = [], []
    for inst in ts.model.instances:
        ep = ts.model.endpoint(inst.endpoint)
        for k, tr in enumerate(ep.transitions):
            line = tr.span.line if getattr(tr, "span", None) else "?"
            label = f"{inst.name}: {tr.event.label()} (line {line})"
            (hit if (inst.name, k) in used else missed).append(label)
    return hit, missed


def _directory_row_json(r: Replay | Unreadable) -> dict:
    if isinstance(r, Unreadable):
        return {"file": r.source, "verdict": r.verdict, "kind": None, "segments": None,
                "matched": 0, "required_params": {}, "combinations": 0, "failed_at": None,
                "errors": [d.as_json() for d in r.diagnostics]}
    return {"file": r.capture.source, "verdict": r.verdict, "kind": r.kind,
            "segments": r.capture.compact, "matched": r.matched,
            "required_params": r.required, "combinations": len(r.combos),
            "failed_at": r.failed_at.as_json() if r.failed_at else None,
            "stop_reason": r.stop_reason,
            **({"side": r.side} if r.side is not None else {})}


def directory_json(ts: TransitionSystem, results: list[Replay | Unreadable]) -> dict:
    """Replays of a directory of captures as one JSON document; an unreadable capture's row
    has the verdict "unreadable" and its diagnostics under "errors"."""
    hit, missed = coverage(ts, results)
    return {"model": ts.model.name,
            "captures": [_directory_row_json(r) for r in results],
            "transitions_exercised": hit, "transitions_not_exercised": missed}


def directory_lines(ts: TransitionSystem, results: list[Replay | Unreadable]) -> list[str]:
    """Replays of a directory of captures as text: one row each (an unreadable capture's
    says why), then the model's transitions the accepted captures exercised and those they
    never did."""
    hit, missed = coverage(ts, results)
    rows = [("capture", "segments", "verdict", "kind", "parameters it needs")]
    for r in results:
        if isinstance(r, Unreadable):
            rows.append((Path(r.source).name, "-", str(r.verdict), "-", r.reason))
            continue
        verdict = _row_verdict(r)
        req = ", ".join(f"{k}={_show(v)}" for k, v in r.required.items()) if r.accepted else ""
        rows.append((Path(r.capture.source).name, r.capture.compact or "-", verdict,
                     r.kind or "-", req))
    out = _table(rows)
    out.append("")
    out.append(f"transitions exercised by the accepted captures: {len(hit)} of "
               f"{len(hit) + len(missed)}")
    out.append("never exercised:")
    out.extend("  " + m for m in missed)
    return out


def _row_verdict(r: Replay) -> str:
    """A directory row's verdict: where a capture was rejected, what stopped a search that
    could not answer (its limit, or the command's deadline), a timing that did not fit."""
    if r.search_limit:
        return f"{r.verdict} ({r.stop_reason})"
    if r.error is not None:
        return f"{r.verdict} (error[{r.error.code}])"
    if r.accepted:
        if not r.untimely:
            return str(r.verdict)
        return f"{r.verdict} (timing" + (f", {r.stop_reason})" if r.stop_reason else ")")
    return f"rejected at #{r.failed_at.number}" if r.failed_at else "rejected at end"


def _table(rows) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(f"{str(c):<{w}}" for c, w in zip(r, widths)).rstrip() for r in rows]
