"""Ladder (sequence) diagrams of one run: DOT for documents, a fixed-width table for terminals.

Input is the step list of `trace.run_steps` (see its module docstring). The drawing is the
one from networking textbooks: the two endpoints' lifelines side by side, time flowing down,
one slanted arrow per segment from the step that sent it to the step that received it, and
each endpoint's TCP state written beside its lifeline whenever it changes.

Layout. Every step is one row; rows are spaced by the time between them where the run is
timed, and a long gap (TIME_WAIT's minute) is drawn compressed, a break across the lifelines
and its length in the gutter (lifelines.time_axis). Every point of the
drawing is computed here and pinned (pos="x,y!" in points, `inputscale=72`, `layout=neato`,
`splines=line`), so Graphviz only draws: straight arrows go exactly where they are meant to,
and the output does not depend on a layout algorithm. Columns, left to right:

    step | time | client notes | client calls, timers | client state | client timer bars
         | client lifeline | segments | server lifeline | server timer bars | server state
         | server calls, timers | server notes

Each timer the run arms is a coloured bar beside its endpoint's lifeline, from the step that
armed it to the step that cancelled it (the bar ends in a bar) or let it fire (a dot); the
calls column says "arms delack [0..200 ms]", "cancels delack after 1 ms", and what a call
returned ("read() -> ECONNRESET", lifelines.call_result). A segment is labelled as on the
wire, `[F.] seq=0 ack=1 len=0`, in the model's units, then the model's reading where the
wire's flags do not say it all ("FIN+ACK", "retransmitted FIN+ACK", "stale"); a segment of
a capture (a step's "wire" list, replay_report) carries the capture's own numbers and time.
A column only takes room when something is in it. A segment's label sits beside its arrow,
near the middle, above it or else below it, wherever it overlaps no other label and crosses
the fewest other arrows (crossing arrows, as in a simultaneous close, keep their labels
apart); labels have a white background and are drawn over the arrows
(`outputorder=edgesfirst`). A lost segment's arrow stops half-way at a red cross on the row
of the loss, with the loss step's observations under it; a segment still on the wire when
the run ends is a dashed arrow that stops at the bottom of the drawing.

The run is read into rows and arrows by tcpcheck.ladder_run.
"""
from __future__ import annotations

import html
from pathlib import Path

import graphviz

from .ladder_run import Arrow, Row, analyse_run, instances_of, ms_text as _ms
from .lifelines import (Range, TimeAxis, TimerSpan, duration_text, fired_text, time_axis,
                        timer_lines, timer_spans)
from .params import assignments_text
from .render import Written, write_drawing

_FONT = "Helvetica"
_ROW = 62.0            # points between two steps
_GAP = 360.0           # points between the two lifelines
_STATE_W = 92.0        # state boxes, at least
_STATE_H = 20.0
_GUTTER_W = 50.0       # step numbers, and times, down the left edge
_HEAD_H = 28.0
_INK = "#222222"
_DIM = "#777777"
_COLORS = ("#1f5fa8", "#b2531b")   # arrows sent by the left / right endpoint

# ------------------------------------------------------------------ DOT

def _q(text: str) -> str:
    """Text for a DOT label: backslashes literal (escString would read them), never HTML."""
    return graphviz.nohtml(text.replace("\\", "\\\\"))


def _pos(x: float, y: float) -> str:
    return f"{x:.1f},{y:.1f}!"


def _text_width(text: str, size: float) -> float:
    """Rough width of Helvetica text in points (for placing labels clear of arrows)."""
    w = 0.0
    for ch in text:
        if ch == " " or ch in ".,:;!|il":
            w += 0.28
        elif ch.isupper() or ch in "mw":
            w += 0.72
        else:
            w += 0.60
    return w * size


def ladder_dot(steps: list[dict], title: str,
               instances: tuple[str, str] | None = None,
               timers: dict[str, dict[str, Range]] | None = None) -> str:
    """Graphviz DOT for the ladder diagram of one run (see the module docstring); `timers`
    the model's timer ranges (lifelines.timer_ranges), written where a timer is armed.

    Positions are fixed and the graph says `layout=neato`, so both `dot -Tsvg` and
    `neato -n -Tsvg` draw it as laid out here, and so does `render.write_drawing`."""
    params = steps[0].get("params") if steps else None
    label = _q(title)
    if params:
        label += "\\n" + _q(assignments_text(params))
    g = _new_graph(label)
    _draw_ladder(g, steps, instances, timers=timers)
    return g.source


def ladder_pair_dot(left: list[dict], right: list[dict], title: str,
                    captions: tuple[str, str], marks: tuple[set[int], set[int]],
                    instances: tuple[str, str] | None = None,
                    timers: dict[str, dict[str, Range]] | None = None) -> str:
    """Two ladders side by side in one drawing (a capture and the model's nearest run), each
    under its caption; the segments numbered in `marks` (in the order sent) drawn in red,
    where the two part."""
    g = _new_graph(_q(title))
    instances = instances or instances_of(left + right)
    top = max(_axis(left).height, _axis(right).height)
    _lo, hi = _draw_ladder(g, left, instances, prefix="a_", caption=captions[0],
                           marked=marks[0], top_rows=top, timers=timers)
    # measure the right-hand ladder where it would stand, then move it clear of the left
    lo2, _hi2 = _draw_ladder(_new_graph(""), right, instances, prefix="b_", top_rows=top,
                             timers=timers)
    _draw_ladder(g, right, instances, prefix="b_", dx=hi - lo2 + 60, caption=captions[1],
                 marked=marks[1], top_rows=top, timers=timers)
    return g.source


def _axis(steps: list[dict]) -> TimeAxis:
    """The run's time axis (lifelines.time_axis): one row per step."""
    return time_axis([step.get("time_ms") for step in steps])


def _new_graph(label: str) -> graphviz.Digraph:
    return graphviz.Digraph("ladder", graph_attr={
        "layout": "neato", "inputscale": "72", "splines": "line", "outputorder": "edgesfirst",
        "label": label + "\\n ", "labelloc": "t", "fontname": _FONT, "fontsize": "15",
        "bgcolor": "white", "pad": "0.3"},
        node_attr={"fontname": _FONT, "fontsize": "10", "fontcolor": _INK, "color": _INK},
        edge_attr={"fontname": _FONT, "fontsize": "10", "arrowsize": "0.7"})


_MARK = "#d01c1c"   # segments where a capture and the model part
# timers, by order of first appearance in the run
_TIMER_COLORS = ("#7b3fa0", "#2e7d32", "#b8860b", "#00838f", "#8d6e63", "#c2185b")
_TRACK = 6.0           # points between two timer bars beside a lifeline
_LINE_H = 12.5         # points a line of 10-point text takes in a column
# how a timer bar ends: a bar across it when cancelled (or armed again), a dot when it fires
_TIMER_END = {"cancelled": "tee", "restarted": "tee", "fired": "dot", "running": "none"}


def _draw_ladder(g: graphviz.Digraph, steps: list[dict], instances: tuple[str, str] | None,
                 prefix: str = "", dx: float = 0.0, caption: str | None = None,
                 marked: set[int] | None = None, top_rows: float | None = None,
                 timers: dict[str, dict[str, Range]] | None = None
                 ) -> tuple[float, float]:
    """Add one run's ladder to `g`, node names prefixed and moved `dx` points right; returns
    the drawing's left and right edges (points). Ladders drawn side by side pass the same
    `top_rows` (the taller run's height, in rows) so that their first rows line up."""
    instances = instances or instances_of(steps)
    rows, segments = analyse_run(steps, instances)
    left, right = instances
    n = len(rows)
    timed = any(row.step.get("time_ms") is not None for row in rows)
    axis = _axis(steps)
    spans = timer_spans(steps, instances)
    words = timer_lines(spans, steps, timers)
    palette: dict[str, str] = {}
    for span in sorted(spans, key=lambda sp: (_first_row(sp), sp.timer)):
        palette.setdefault(span.timer, _TIMER_COLORS[len(palette) % len(_TIMER_COLORS)])
    x = {left: dx, right: dx + _GAP}
    outward = {left: -1.0, right: 1.0}
    in_flight = [s for s in segments if s.end_row is None]
    P = prefix
    marked = marked or set()
    top = axis.height if top_rows is None else top_rows

    # y grows upwards in Graphviz: row 0 at the top, rows spaced by the time axis, the
    # lifelines end half a row (a row when segments are still on the wire) below the last
    def y_at(offset: float) -> float:
        return (top + 2 - offset) * _ROW

    def y(r: int) -> float:
        return y_at(axis.offsets[r])
    bottom = y_at(axis.height + (1.0 if in_flight else 0.5))

    # what each row says beside each lifeline: its call or timer expiry and the timers it
    # arms and cancels, one line each, [(text, colour)]
    column: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for r, row in enumerate(rows):
        for name in instances:
            lines = []
            if name in row.events:
                lines.append((_event_label(row, name, fired_text(spans, steps, r, name)), _INK))
            lines += [(text, palette[timer]) for text, timer in words.get((r, name), [])]
            if lines:
                column[(r, name)] = lines

    # columns beside each lifeline, going outwards: timer bars, state boxes, calls and
    # timers, notes; offsets from the lifeline in points
    tracks = {name: 1 + max((sp.track for sp in spans if sp.endpoint == name), default=-1)
              for name in instances}
    bars_w = {name: _TRACK * tracks[name] + (4 if tracks[name] else 0) for name in instances}
    state_w = max([_STATE_W] + [_text_width(t, 9) + 14 for row in rows
                                for t in row.states.values()])
    width = {key: max(_text_width(t, 10) + 6 for t, _c in lines)
             for key, lines in column.items()}
    event_w = {name: max((w for (_r, who), w in width.items() if who == name), default=0.0)
               for name in instances}
    notes_w = {name: max((_text_width(", ".join(row.notes[name]), 9) + 24 for row in rows
                          if name in row.notes), default=0.0) for name in instances}
    state_off = {name: 10 + bars_w[name] + state_w / 2 for name in instances}
    event_off = {name: 10 + bars_w[name] + state_w + 14 for name in instances}  # near edge
    note_off = {name: 10 + bars_w[name] + state_w + 14 + event_w[name]
                + (14 if event_w[name] else 0) + notes_w[name] / 2 for name in instances}
    far_left = x[left] - note_off[left] - notes_w[left] / 2

    # header boxes and lifelines
    head_y = y(0) + _ROW * 0.8
    for k, name in enumerate(instances):
        head = f"{P}head{k}"
        g.node(head, _q(name), shape="box", style="filled,bold", fillcolor="#dde6f3",
               fontsize="13", width=f"{(state_w + 14) / 72:.3f}",
               height=f"{_HEAD_H / 72:.3f}", fixedsize="true", pos=_pos(x[name], head_y))
        g.node(f"{P}foot{k}", "", shape="point", width="0.01", style="invis",
               pos=_pos(x[name], bottom))
        g.edge(head, f"{P}foot{k}", dir="none", penwidth="1.6", color="#555555",
               id=f"{P}lifeline{k}")

    if caption:
        g.node(f"{P}caption", _q(caption), shape="plaintext", fontsize="12",
               fontname=_FONT + "-Bold", pos=_pos((x[left] + x[right]) / 2, head_y + _ROW * 0.6))

    # step numbers and times down the left edge
    time_x = far_left - 20 - _GUTTER_W / 2
    step_x = time_x - _GUTTER_W if timed else far_left - 30
    g.node(f"{P}gutter_step", "step", shape="plaintext", fontcolor=_DIM, fontsize="9",
           pos=_pos(step_x, head_y))
    if timed:
        g.node(f"{P}gutter_time", "time\\r", shape="plaintext", fontcolor=_DIM, fontsize="9",
               width=f"{_GUTTER_W / 72:.3f}", height="0.2", fixedsize="true",
               pos=_pos(time_x, head_y))
    for r, row in enumerate(rows):
        g.node(f"{P}step{r}", _q(str(row.step.get("step", r))), shape="plaintext",
               fontcolor=_DIM, fontsize="9", pos=_pos(step_x, y(r)))
        if row.step.get("time_ms") is not None:
            g.node(f"{P}time{r}", _ms(row.step["time_ms"]) + " ms\\r", shape="plaintext",
                   fontcolor=_DIM, fontsize="9", width=f"{_GUTTER_W / 72:.3f}", height="0.2",
                   fixedsize="true", pos=_pos(time_x, y(r)))

    # a long gap, drawn compressed: a break across each lifeline, its length in the gutter
    blocked: list[tuple[float, float, float, float]] = []
    for r, ms in axis.gaps:
        mid = y_at((axis.offsets[r - 1] + axis.offsets[r]) / 2)
        g.node(f"{P}gap{r}", _q(duration_text(ms)) + "\\r", shape="plaintext", fontsize="10",
               fontname=_FONT + "-Bold", fontcolor=_INK, width=f"{_GUTTER_W / 72:.3f}",
               height="0.2", fixedsize="true", pos=_pos(time_x, mid))
        for k, name in enumerate(instances):
            g.node(f"{P}break{k}_{r}", "\u2248", shape="plaintext", fontsize="16", margin="0",
                   style="filled", fillcolor="white", width="0.25", height="0.25",
                   fixedsize="true", pos=_pos(x[name], mid))
            blocked.append((x[name] - 8, mid - 7, x[name] + 8, mid + 7))

    # one invisible point per row and lifeline: the ends of the arrows
    for k, name in enumerate(instances):
        for r in range(n):
            g.node(f"{P}p{k}_{r}", "", shape="point", width="0.01", style="invis",
                   pos=_pos(x[name], y(r)))

    # the timers: a bar beside the lifeline from the step that armed one to the step that
    # ended it, ending in a bar (cancelled) or a dot (fired)
    for j, sp in enumerate(spans):
        k = instances.index(sp.endpoint)
        tx = x[sp.endpoint] + outward[sp.endpoint] * (8 + _TRACK * sp.track)
        y0 = y(sp.start_row) if sp.start_row is not None else head_y - _HEAD_H / 2 - 4
        y1 = y(sp.end_row) if sp.end_row is not None else bottom
        g.node(f"{P}timer{j}a", "", shape="point", width="0.01", style="invis",
               pos=_pos(tx, y0))
        g.node(f"{P}timer{j}b", "", shape="point", width="0.01", style="invis",
               pos=_pos(tx, y1))
        g.edge(f"{P}timer{j}a", f"{P}timer{j}b", color=palette[sp.timer], penwidth="2.4",
               arrowhead=_TIMER_END[sp.end], arrowsize="0.5", id=f"{P}timer{k}_{j}",
               tooltip=_q(f"{sp.endpoint}: {sp.timer} {sp.end}"),
               **({"style": "dashed"} if sp.end == "running" else {}))

    # beside each lifeline: states, calls and timers, observations
    for r, row in enumerate(rows):
        for k, name in enumerate(instances):
            if name in row.states:
                g.node(f"{P}state{k}_{r}", _q(row.states[name]), shape="box",
                       style="rounded,filled", fillcolor="#f4f4f4", fontsize="9",
                       width=f"{state_w / 72:.3f}", height=f"{_STATE_H / 72:.3f}",
                       fixedsize="true",
                       pos=_pos(x[name] + outward[name] * state_off[name], y(r)))
            if (r, name) in column:
                lines = column[(r, name)]
                g.node(f"{P}event{k}_{r}", _column_label(lines, outward[name] < 0),
                       shape="plaintext", fontname=_FONT + "-Oblique", margin="0",
                       width=f"{width[(r, name)] / 72:.3f}",
                       height=f"{(_LINE_H * len(lines) + 5) / 72:.3f}", fixedsize="true",
                       pos=_pos(x[name] + outward[name] * (event_off[name]
                                                           + width[(r, name)] / 2), y(r)))
            if name in row.notes:
                g.node(f"{P}note{k}_{r}", _q(", ".join(row.notes[name])), shape="note",
                       style="filled", fillcolor="#fff6c8", color="#b8a040", fontsize="9",
                       height="0.25", pos=_pos(x[name] + outward[name] * note_off[name], y(r)))

    # the segments: arrows first, then their labels, placed clear of each other
    arrows: list[tuple[float, float, float, float]] = []
    texts: list[str] = []
    for j, s in enumerate(segments):
        k = instances.index(s.src)
        x0, y0 = x[s.src], y(s.sent_row)
        text = s.label()
        attrs = {"color": _COLORS[k], "penwidth": "1.3", "id": f"{P}seg{j}"}
        if j in marked:
            attrs.update(color=_MARK, penwidth="2.6")
        if s.end_row is None:                 # still on the wire when the run ends
            x1, y1 = x[s.src] + (x[s.dst] - x[s.src]) * 0.7, bottom
            end = f"{P}end{j}"
            g.node(end, "", shape="point", width="0.01", style="invis", pos=_pos(x1, y1))
            g.edge(f"{P}p{k}_{s.sent_row}", end, style="dashed", **attrs)
            text += "  (in flight)"
        elif s.lost:
            x1, y1 = (x[left] + x[right]) / 2, y(s.end_row)
            end = f"{P}lost{j}"
            g.node(end, "\u00d7", shape="plaintext", fontcolor="#c62828", fontsize="24",
                   margin="0", width="0.1", height="0.1", pos=_pos(x1, y1))
            why = ", ".join(rows[s.end_row].network) or "lost"
            g.node(f"{P}lostnote{j}", _q(why), shape="plaintext", fontcolor="#c62828",
                   fontsize="9", pos=_pos(x1, y1 - 17))
            g.edge(f"{P}p{k}_{s.sent_row}", end, arrowhead="none", **attrs)
            blocked.append((x1 - 30, y1 - 24, x1 + 30, y1 + 11))
        else:
            x1, y1 = x[s.dst], y(s.end_row)
            g.edge(f"{P}p{k}_{s.sent_row}", f"{P}p{1 - k}_{s.end_row}", **attrs)
        arrows.append((x0, y0, x1, y1))
        texts.append(text)
    where = _place_labels(arrows, [_text_width(t, 10) + 8 for t in texts],
                          x[left] + 6, x[right] - 6, blocked)
    for j, (s, text, (cx, cy)) in enumerate(zip(segments, texts, where)):
        ink = _MARK if j in marked else _COLORS[instances.index(s.src)]
        g.node(f"{P}label{j}", _q(text), shape="plaintext", fontcolor=ink,
               style="filled", fillcolor="white", height="0.18", margin="0.02,0.01",
               pos=_pos(cx, cy))
    legend = _legend(spans, segments)
    if legend:
        g.node(f"{P}legend", _q(legend), shape="plaintext", fontcolor=_DIM, fontsize="9",
               pos=_pos((x[left] + x[right]) / 2, bottom - 16))
    return step_x - _GUTTER_W / 2, x[right] + note_off[right] + notes_w[right] / 2


def _legend(spans: list[TimerSpan], segments: list[Arrow]) -> str:
    """What the drawing's marks mean, when it has them: timer bars, the model's units."""
    parts = []
    if spans:
        ends = {sp.end for sp in spans}
        marks = [("in a bar when cancelled" + (" or rearmed" if "restarted" in ends else ""))
                 if ends & {"cancelled", "restarted"} else None,
                 "in a dot when fired" if "fired" in ends else None,
                 "dashed when still running" if "running" in ends else None]
        parts.append("coloured bars beside a lifeline: timers running, ending "
                     + ", ".join(m for m in marks if m))
    if any(s.wire is None for s in segments):
        parts.append("seq, ack and len in the model's units (a FIN is one, data one)")
    return "; ".join(parts)


def _first_row(span: TimerSpan) -> int:
    return -1 if span.start_row is None else span.start_row


def _column_label(lines: list[tuple[str, str]], flush_right: bool) -> str:
    """An HTML-like label: one line per (text, colour), flush towards the lifeline."""
    br = f'<br align="{"right" if flush_right else "left"}"/>'
    body = "".join(f'<font color="{ink}">{html.escape(text, quote=False)}</font>{br}'
                   for text, ink in lines)
    return f"<{body}>"


_LABEL_H = 15.0
# where along its arrow a label may go (0 = at the sender), best first
_ALONG = (0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8)


def _place_labels(arrows, widths, xmin, xmax, blocked):
    """A centre for each arrow's label: beside its own arrow (above it, or below), between
    the lifelines, on no other label, crossing as few other arrows as can be. Greedy, in the
    order given, so deterministic."""
    placed = list(blocked)
    out = []
    for j, ((x0, y0, x1, y1), w) in enumerate(zip(arrows, widths)):
        slope = abs(y1 - y0) / max(abs(x1 - x0), 1.0)
        lift = slope * w / 2 + _LABEL_H / 2 + 2
        best = None
        for rank, t in enumerate(_ALONG):
            for side, sign in enumerate((1.0, -1.0)):
                cx, cy = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t + sign * lift
                box = (cx - w / 2, cy - _LABEL_H / 2, cx + w / 2, cy + _LABEL_H / 2)
                cost = rank + 6 * side
                if box[0] < xmin or box[2] > xmax:
                    cost += 1000
                cost += 1000 * sum(_boxes_meet(box, other) for other in placed)
                cost += 40 * sum(_crosses(a, box) for i, a in enumerate(arrows) if i != j)
                if best is None or cost < best[0]:
                    best = (cost, (round(cx, 1), round(cy, 1)), box)
        out.append(best[1])
        placed.append(best[2])
    return out


def _boxes_meet(a, b, pad: float = 2.0) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def _crosses(seg, box) -> bool:
    """Whether the line segment seg = (x0, y0, x1, y1) passes through box (Liang-Barsky)."""
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]), (dy, box[3] - y0)):
        if p == 0:
            if q < 0:
                return False
        else:
            r = q / p
            if p < 0:
                lo = max(lo, r)
            else:
                hi = min(hi, r)
            if lo > hi:
                return False
    return True


def _event_label(row: Row, name: str, ran: str | None = None) -> str:
    """The row's call or timer expiry, with how long the timer that fired had run (the time
    of the step is in the gutter)."""
    text = row.events[name]
    if ran and row.step.get("kind") == "expire":
        return f"{text} after {ran}"
    return text + (f" ({ran})" if ran else "")


def write_ladder(steps: list[dict], title: str, out: Path,
                 instances: tuple[str, str] | None = None,
                 timers: dict[str, dict[str, Range]] | None = None) -> Written:
    """Draw the ladder to `out` (.dot, .svg, .png or .pdf) with `render.write_drawing`."""
    return write_drawing(ladder_dot(steps, title, instances, timers), Path(out))


# ------------------------------------------------------------------ text

def ladder_text(steps: list[dict], instances: tuple[str, str] | None = None) -> str:
    """The run as a fixed-width table in the style of RFC 9293's figures 12 and 13.

    Columns: step, time (when known), the left endpoint's call or timer and new state, the
    wire, the right endpoint's new state and call or timer, then [observations]. One line
    per step, more when a step both receives and sends. A segment appears twice: on the
    sender's row with `-->` (or `<--`) at the sender's end and `...` at the other (it is on
    the wire), and on the receiver's row the other way round. A lost segment ends in `X`; a
    segment still on the wire when the run ends is listed last, on a line marked `end`."""
    instances = instances or instances_of(steps)
    rows, segments = analyse_run(steps, instances)
    left, right = instances
    timed = any(row.step.get("time_ms") is not None for row in rows)
    # how each segment ends: received, lost, or still on the wire
    texts = [s.label(with_time=False)
             + ("  lost" if s.lost else "  in flight" if s.end_row is None else "")
             for s in segments]
    wire = max([34] + [len(t) + 10 for t in texts])
    # per row: (0, line) for what arrived, (1, line) for what left; a step reacts to what it
    # received, so arrivals come first
    by_row: dict[int, list[tuple[int, str]]] = {}
    for s, text in zip(segments, texts):
        to_right = s.src == left
        by_row.setdefault(s.sent_row, []).append(
            (1, _wire(s.label(with_time=False), "-->" if to_right else "...",
                      "..." if to_right else "<--", wire)))
        if s.end_row is not None:
            if s.lost:
                line = _wire(text, "..." if to_right else "X", "X" if to_right else "...", wire)
            else:
                line = _wire(text, "..." if to_right else "<--", "-->" if to_right else "...",
                             wire)
            by_row.setdefault(s.end_row, []).append((0, line))
    lsides = ["  ".join(p for p in (row.events.get(left), row.states.get(left)) if p)
              for row in rows]
    side = max([len(left)] + [len(t) for t in lsides])

    first_w = 6 + (11 if timed else 0)
    head = f"{'step':>4}  " + (f"{'t ms':>9}  " if timed else "")
    lines = [head + f"{left:>{side}}  {'':{wire}}  {right}"]
    for r, row in enumerate(rows):
        step = row.step
        first = f"{step.get('step', r):>4}  "
        if timed:
            t = step.get("time_ms")
            first += (f"{t:>9.3f}" if t is not None else " " * 9) + "  "
        rside = "  ".join(p for p in (row.states.get(right), row.events.get(right)) if p)
        notes = [n for name in instances for n in row.notes.get(name, [])] + row.network
        if step.get("params"):
            notes.insert(0, assignments_text(step["params"]))
        wires = [w for _, w in sorted(by_row.get(r, []), key=lambda e: e[0])] or [""]
        for m, w in enumerate(wires):
            if m == 0:
                extra = ("  [" + "; ".join(notes) + "]") if notes else ""
                lines.append((first + f"{lsides[r]:>{side}}  {w:{wire}}  {rside}{extra}")
                             .rstrip())
            else:
                lines.append((" " * first_w + f"{'':>{side}}  {w}").rstrip())
    # what is still on the wire when the run ends
    for s, text in zip(segments, texts):
        if s.end_row is None:
            w = _wire(text, "...", "...", wire)
            lines.append((f"{'end':>4}  " + " " * (first_w - 6) + f"{'':>{side}}  {w}").rstrip())
    return "\n".join(lines) + "\n"


def _wire(text: str, start: str, end: str, width: int) -> str:
    """`start  text  end` over `width` characters, the text centred."""
    inner = width - len(start) - len(end) - 2
    return f"{start} {text:^{inner}} {end}"
