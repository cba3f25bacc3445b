"""Runs (paths through the state graph) as data and as text.

A run is a list of (variant, state id) pairs starting at an initial state (variant -1).
`run_steps` turns it into plain dicts (the JSON trace format, also what the ladder diagram
draws):

    {"step": 1, "state": 7, "endpoint": "client", "kind": "call", "event": "close()",
     "received": null, "sent": [{"flags": "FIN", "ack": 0}], "segment": "FIN",
     "timers": {"fired": null, "armed": [], "cancelled": []}, "observations": [],
     "time_ms": 1.0, "tcp_states": {"client": "FIN_WAIT_1", "server": "ESTABLISHED"}}

Step 0 is the initial state: it has "params" and no event.
"""
from __future__ import annotations

from array import array

from .compile import segment_text
from .explore import Exploration
from .params import assignments_text


def path_view(ts, pairs: list[tuple[int, int]], region: int) -> tuple[Exploration, list]:
    """A small Exploration holding only one path's states, so that run_steps and the ladder
    renderers can show a run that was not found by exploring (a replay, a simulation); and the
    run in its numbering. `pairs` is [(variant, packed state)], the first variant -1, the
    first state the initial state of parameter combination `region`."""
    states = [s for _vid, s in pairs]
    run = [(vid, k) for k, (vid, _s) in enumerate(pairs)]
    parent = array("i", [-1] + list(range(len(states) - 1)))
    pvar = array("i", [vid for vid, _ in run])
    initial = [-1] * len(ts.initial)
    initial[region] = 0
    ex = Exploration(ts, states, parent, pvar, array("i"), array("i"), array("i"), initial,
                     len(states), 0.0, True)
    return ex, run


def tcp_states(ts, state: int) -> dict[str, str]:
    """Each endpoint's TCP state in a packed state: {"client": "FIN_WAIT_1", ...}."""
    out = {}
    names = ts.model.enum_values("tcp_state")
    for inst in ts.model.instances:
        slot = ts.tcp_state_slot(inst.name)
        if slot is not None:
            out[inst.name] = names[ts.slot_value(state, slot)]
    return out


def run_steps(ex: Exploration, run: list[tuple[int, int]],
              times: list[float] | None = None) -> list[dict]:
    """One dict per step of the run (see the module docstring)."""
    ts = ex.system
    steps = []
    prev = None
    for i, (vid, sid) in enumerate(run):
        state = ex.states[sid]
        step: dict = {"step": i, "state": sid}
        if vid < 0 or prev is None:
            region = ex.initial.index(sid) if sid in ex.initial else None
            params = ts.initial_params[region] if region is not None else {}
            # the parameters worth showing (no default, or not at it); every one in "all_params"
            notable = ts.notable_params(params) if params else []
            step["params"] = {n: ts.param_value(n, v) for n, v in params.items() if n in notable}
            step["all_params"] = {n: ts.param_value(n, v) for n, v in params.items()}
        else:
            v = ts.variants[vid]
            kind = "loss" if v.instance is None else v.event.kind
            received = None
            if kind == "recv":
                ch = next(c for c in ts.channels if c.dst == v.instance)
                received = ts.channel_segments(ex.states[prev], ch)[0]
            sent = []
            if v.sends:
                ch = next(c for c in ts.channels if c.src == v.instance)
                sent = ts.channel_segments(state, ch)[-len(v.sends):]
            step.update({
                "endpoint": v.instance or "network",
                "kind": kind,
                "event": v.event.label(),
                "received": received,
                "sent": sent,
                "segment": sent[0]["flags"] if sent else None,
                "timers": {"fired": v.fired, "armed": list(v.arms), "cancelled": list(v.cancels)},
                "observations": list(v.observations),
            })
            if kind == "loss":
                ch = next(c for c in ts.channels if c.name in v.event.name)
                step["lost"] = ts.channel_segments(ex.states[prev], ch)[0]
                step["channel"] = ch.name
        step["time_ms"] = times[i] if times is not None else None
        step["tcp_states"] = tcp_states(ts, state)
        steps.append(step)
        prev = sid
    return steps


def _seg(seg: dict) -> str:
    return segment_text(seg)


def step_line(step: dict) -> str:
    """One step as a line of text: who did what, what went on the wire, the states after."""
    states = ", ".join(f"{k} {v}" for k, v in step["tcp_states"].items())
    if "params" in step:
        params = assignments_text(step["params"])
        return f"start ({params}): {states}" if params else f"start: {states}"
    what = step["event"]
    if step["kind"] == "recv":
        what = f"receives {_seg(step['received'])}"
    elif step["kind"] == "loss":
        what = f"loses {_seg(step['lost'])}"
    sent = (" -> sends " + ", ".join(_seg(s) for s in step["sent"])) if step["sent"] else ""
    obs = ("  [" + ", ".join(step["observations"]) + "]") if step["observations"] else ""
    return f"{step['endpoint']}: {what}{sent}{obs}  => {states}"


def run_lines(ex: Exploration, run: list[tuple[int, int]],
              times: list[float] | None = None) -> list[str]:
    """The run as short lines of text, one per step, numbered, with times when known."""
    lines = []
    for step in run_steps(ex, run, times):
        t = step["time_ms"]
        when = f"{t:>9.3f} ms  " if t is not None else ""
        lines.append(f"{step['step']:>3}  {when}{step_line(step)}")
    return lines
