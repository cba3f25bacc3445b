"""Runs (paths through the state graph) as data and as text.

A run is a list of (variant, state id) pairs starting at an initial state (variant -1).
"""
from __future__ import annotations

from .explore import Exploration
from .graph import edge_attributes


def run_steps(ex: Exploration, run: list[tuple[int, int]]) -> list[dict]:
    """One dict per step: the event, who took it, segments sent and the TCP states after it."""
    ts = ex.system
    out = []
    prev = None
    for vid, sid in run:
        state = ts.decode(ex.states[sid])
        tcp = {}
        for inst in ts.model.instances:
            slot = ts.tcp_state_slot(inst.name)
            if slot is not None:
                tcp[inst.name] = state[ts.slots[slot].name]
        step = {"state": sid, "tcp_states": tcp}
        if vid >= 0 and prev is not None:
            step.update(edge_attributes(ex, prev, ts.variants[vid]))
        out.append(step)
        prev = sid
    return out


def run_lines(ex: Exploration, run: list[tuple[int, int]]) -> list[str]:
    """The run as short lines of text, one per step."""
    lines = []
    for step in run_steps(ex, run):
        states = ", ".join(f"{k} {v}" for k, v in step["tcp_states"].items())
        if "event" not in step:
            lines.append(f"#{step['state']} start: {states}")
            continue
        sent = (" / sends " + ", ".join(step["segments"])) if step["segments"] else ""
        lines.append(f"#{step['state']} {step['endpoint']}: {step['event']}{sent} -> {states}")
    return lines
