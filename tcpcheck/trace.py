"""A run (tcpcheck.run) as the JSON trace format and as lines of text.

`run_steps` turns a run into plain dicts (the JSON trace format, also what the ladder
diagram draws):

    {"step": 1, "state": 7, "endpoint": "client", "kind": "call", "event": "close()",
     "received": null, "sent": [{"flags": "FIN", "ack": 0}], "segment": "FIN",
     "timers": {"fired": null, "armed": [], "cancelled": []}, "observations": [],
     "time_ms": 1.0, "tcp_states": {"client": "FIN_WAIT_1", "server": "ESTABLISHED"}}

Step 0 is the initial state: it has "params" and no event. A path through an exploration
travels as [(variant, state id)], the first variant -1 (the initial state).
"""
from __future__ import annotations

from array import array

from .diagnostics import Diagnostic
from .explore import Exploration
from .params import assignments_text
from .run import Run, Step
from .segment import segment_text


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
    return trace_json(Run.of(ex, run, times))


def trace_json(run: Run) -> list[dict]:
    """The run in the JSON trace format (see the module docstring)."""
    return [_step_json(run, i, step) for i, step in enumerate(run.steps)]


def _step_json(run: Run, i: int, step: Step) -> dict:
    ts = run.system
    out: dict = {"step": i, "state": step.state_id}
    v = step.variant
    if v is None:
        params = run.params if i == 0 else {}
        # the parameters worth showing (no default, or not at it); every one in "all_params"
        notable = ts.notable_params(params) if params else []
        out["params"] = {n: ts.param_value(n, x) for n, x in params.items() if n in notable}
        out["all_params"] = {n: ts.param_value(n, x) for n, x in params.items()}
    else:
        sent = [seg.as_dict() for seg in step.sent]
        out.update({
            "endpoint": v.instance or "network",
            "kind": step.kind,
            "event": v.event.label(),
            "received": step.received.as_dict() if step.received is not None else None,
            "sent": sent,
            "segment": sent[0]["flags"] if sent else None,
            "timers": {"fired": v.fired, "armed": list(v.arms), "cancelled": list(v.cancels)},
            "observations": list(v.observations),
        })
        if step.lost is not None:
            out["lost"] = step.lost.as_dict()
            out["channel"] = v.lost_from
    out["time_ms"] = step.time_ms
    out["tcp_states"] = tcp_states(ts, step.state)
    return out


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


def model_error_diagnostic(err, view, run) -> tuple[Diagnostic, list[str]]:
    """A model error (ExplorationError) found at the end of `run` (in `view`): a located
    diagnostic whose notes are the run, and the run's lines. explore, check, simulate and
    replay all report a model error with this."""
    steps = run_lines(view, run)
    if err.variant >= 0:
        steps.append(f"then {view.system.variants[err.variant].label} fails")
    return Diagnostic(err.code, err.message, err.span,
                      ("reached by the run:",) + tuple(steps)), steps
