"""What a ladder shows down each lifeline besides the segments: timers, call results, time.

A run's JSON steps (tcpcheck.trace) say, step by step, which timers the step armed, cancelled
and let fire, and z3's time of the step. From them:

- `timer_spans`: each stretch of time a timer ran on one endpoint, from the step that armed it
  to the step that cancelled it, let it fire or armed it again (a restart), or to the end of
  the run. A step's `cancelled` lists what its transition cancels, running or not (the model
  cancels defensively: `cancel delack` where no ACK is held back), so a cancel counts only for
  a timer the run has seen armed. A timer that fires without having been armed in the run
  was running from before its first step.
- `timer_lines`: the words beside the lifeline on each row: "arms delack [0..200 ms]",
  "cancels delack after 1 ms".
- `call_result`: what an application call returned, read from the step's observations named
  `<call>_returns_<what>` or `<call>_fails_<errno>` (`read_fails_econnreset`:
  "read() -> ECONNRESET"); the observation is then shown as the result, not as a note.
- `time_axis`: where each row goes down the page. Rows keep their order; their spacing follows
  the time between them where the run is timed (a row at least, at most `MAX_STRETCH` rows),
  and a gap longer than that is drawn compressed, marked with its length ("60 s"), so that a
  TIME_WAIT of a minute neither looks like a millisecond nor fills a page.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .model import CheckedModel

Range = tuple[float, "float | None"]      # a timer's duration range in ms (None: unbounded)

MAX_STRETCH = 2.5      # a gap up to this many typical gaps is drawn to scale (in rows)
GAP_ROWS = 1.7         # a longer gap: drawn this many rows high, marked with its length


def timer_ranges(model: CheckedModel) -> dict[str, dict[str, Range]]:
    """instance -> timer -> its declared duration range (ms), for the ladder's timer words."""
    return {inst.name: {t.name: (t.lo_ms, t.hi_ms) for t in model.endpoint(inst.endpoint).timers}
            for inst in model.instances}


# ------------------------------------------------------------------ durations as words

def duration_text(ms: float) -> str:
    """A duration, short: 0.05 ms, 41 ms, 1.5 s, 60 s (59,999 ms reads as 60 s)."""
    if ms >= 10_000:
        return f"{ms / 1000:.0f} s"
    if ms >= 1000:
        return f"{ms / 1000:.1f}".rstrip("0").rstrip(".") + " s"
    if ms >= 10:
        return f"{ms:.0f} ms"
    return f"{ms:.3g} ms" if ms else "0 ms"


def range_text(r: Range) -> str:
    """[0..200 ms], [60 s], [200 ms..120 s], [0 ms..inf]."""
    lo, hi = r
    if hi is None:
        return f"[{duration_text(lo)}..inf]"
    if lo == hi:
        return f"[{duration_text(lo)}]"
    if hi < 1000 and lo < 10:          # both in ms: the unit once
        return f"[{lo:g}..{duration_text(hi)}]"
    return f"[{duration_text(lo)}..{duration_text(hi)}]"


# ------------------------------------------------------------------ timers

@dataclass(frozen=True, slots=True)
class TimerSpan:
    """One stretch of time a timer ran on one endpoint."""
    endpoint: str
    timer: str
    start_row: int | None       # the row that armed it; None: running from before the run
    end_row: int | None         # the row that ended it; None: still running at the end
    end: str                    # "cancelled", "fired", "restarted" or "running"
    track: int = 0              # beside the lifeline, 0 nearest (spans that overlap differ)


def timer_spans(steps: list[dict], instances: tuple[str, str]) -> list[TimerSpan]:
    """Every timer span of the run on the two lifelines, in the order they end (then start),
    each on the nearest track free for its whole length."""
    running: dict[tuple[str, str], int | None] = {}     # (endpoint, timer) -> row armed
    spans: list[TimerSpan] = []
    for r, step in enumerate(steps):
        who = step.get("endpoint")
        timers = step.get("timers") or {}
        if who not in instances:
            continue
        fired = timers.get("fired")
        if fired:
            spans.append(TimerSpan(who, fired, running.pop((who, fired), None), r, "fired"))
        for name in timers.get("cancelled") or []:
            if (who, name) in running:
                spans.append(TimerSpan(who, name, running.pop((who, name)), r, "cancelled"))
        for name in timers.get("armed") or []:
            if (who, name) in running:
                spans.append(TimerSpan(who, name, running.pop((who, name)), r, "restarted"))
            running[(who, name)] = r
    spans += [TimerSpan(who, name, start, None, "running")
              for (who, name), start in running.items()]
    return _on_tracks(spans)


def _on_tracks(spans: list[TimerSpan]) -> list[TimerSpan]:
    """Each span on the lowest track of its endpoint that no overlapping span uses (a span
    that ends on a row and one that starts on it overlap: both are drawn on that row)."""
    placed: list[TimerSpan] = []
    order = sorted(spans, key=lambda s: (_lo(s), _hi(s), s.endpoint, s.timer))
    for s in order:
        taken = {p.track for p in placed if p.endpoint == s.endpoint
                 and _lo(p) <= _hi(s) and _lo(s) <= _hi(p)}
        track = next(k for k in range(len(placed) + 1) if k not in taken)
        placed.append(TimerSpan(s.endpoint, s.timer, s.start_row, s.end_row, s.end, track))
    return placed


def _lo(s: TimerSpan) -> float:
    return -1 if s.start_row is None else s.start_row


def _hi(s: TimerSpan) -> float:
    return float("inf") if s.end_row is None else s.end_row


def timer_lines(spans: list[TimerSpan], steps: list[dict],
                ranges: dict[str, dict[str, Range]] | None
                ) -> dict[tuple[int, str], list[tuple[str, str]]]:
    """(row, endpoint) -> [(words, timer)] beside the lifeline: what the row armed (with the
    timer's range) and cancelled (with how long it had run, where the run is timed). A timer
    that fires is named by the row's event ("time_wait expires", "close() after think"),
    which `fired_text` completes with how long it ran."""
    out: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for s in sorted(spans, key=lambda s: (_lo(s), s.timer)):
        if s.start_row is not None:
            verb = "rearms" if any(p.end == "restarted" and p.end_row == s.start_row
                                   and p.endpoint == s.endpoint and p.timer == s.timer
                                   for p in spans) else "arms"
            r = (ranges or {}).get(s.endpoint, {}).get(s.timer)
            words = f"{verb} {s.timer}" + (f" {range_text(r)}" if r else "")
            out.setdefault((s.start_row, s.endpoint), []).append((words, s.timer))
        if s.end == "cancelled":
            ran = ran_ms(s, steps)
            words = f"cancels {s.timer}" + (f" after {duration_text(ran)}" if ran is not None
                                            else "")
            out.setdefault((s.end_row, s.endpoint), []).append((words, s.timer))
    return out


def ran_ms(s: TimerSpan, steps: list[dict]) -> float | None:
    """How long the span ran, from z3's times; None when the run is not timed there."""
    if s.start_row is None or s.end_row is None:
        return None
    t0, t1 = steps[s.start_row].get("time_ms"), steps[s.end_row].get("time_ms")
    return None if t0 is None or t1 is None else t1 - t0


def fired_text(spans: list[TimerSpan], steps: list[dict], row: int, who: str) -> str | None:
    """ "60 s": how long the timer that fired on this row had run, when known."""
    for s in spans:
        if s.end == "fired" and s.end_row == row and s.endpoint == who:
            ran = ran_ms(s, steps)
            return None if ran is None else duration_text(ran)
    return None


# ------------------------------------------------------------------ call results

_RESULT = re.compile(r"^(?P<call>[a-z_]+?)_(?P<how>returns|fails)_(?P<what>[a-z0-9_]+)$")


def call_result(step: dict) -> tuple[str | None, list[str]]:
    """What the step's call returned ("-> ECONNRESET", "-> 0 (EOF)"), and the observations
    left to show as notes."""
    event = step.get("event") or ""
    if step.get("kind") != "call":
        return None, list(step.get("observations") or [])
    call = event.split("(")[0].strip()
    result, rest = None, []
    for obs in step.get("observations") or []:
        m = _RESULT.match(obs)
        if result is None and m and m["call"] == call:
            what = m["what"]
            if m["how"] == "fails":
                result = f"-> {what.upper()}"
            elif what == "eof":
                result = "-> 0 (EOF)"
            else:
                result = "-> " + what.replace("_", " ")
        else:
            rest.append(obs)
    return result, rest


# ------------------------------------------------------------------ the time axis

@dataclass(frozen=True, slots=True)
class TimeAxis:
    """Where each row goes: its distance below row 0, in rows; and the compressed gaps."""
    offsets: tuple[float, ...]               # per row
    gaps: tuple[tuple[int, float], ...]      # (row, ms): a compressed gap just above row

    @property
    def height(self) -> float:
        return self.offsets[-1] if self.offsets else 0.0


def time_axis(times: list[float | None]) -> TimeAxis:
    """Rows one apart when untimed; when timed, spaced by the time between them over the
    typical (median) gap between steps, from one row up to MAX_STRETCH rows, and a longer
    gap compressed to GAP_ROWS rows with its length written beside it."""
    deltas = [None if a is None or b is None else b - a for a, b in zip(times, times[1:])]
    positive = sorted(d for d in deltas if d is not None and d > 0)
    typical = positive[len(positive) // 2] if positive else None
    offsets, gaps, at = [0.0], [], 0.0
    for r, d in enumerate(deltas, start=1):
        if typical is None or d is None or d <= typical:
            at += 1.0
        elif d <= MAX_STRETCH * typical:
            at += d / typical
        else:
            at += GAP_ROWS
            gaps.append((r, d))
        offsets.append(round(at, 3))
    return TimeAxis(tuple(offsets) if times else (), tuple(gaps))
