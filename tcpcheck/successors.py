"""The successor function: the first sink of the emitted steps (tcpcheck.emit).

`successors(state)` lists every (variant, successor) of one state, in step order. It is what
`simulate`, `replay` and the tests use; the explorer's hot loop is tcpcheck.searchloop, a
second sink of the same steps, and tests/test_sinks.py checks that the two agree state by
state. This module adds nothing to the steps: it decodes every slot, tests each step's
conditions in order and collects the successors.
"""
from __future__ import annotations

import re

from .transitions import ExplorationError, TransitionSystem


def zero_divisor(variant: int, what: str, span) -> None:
    """Generated code calls this where a divisor is zero: the model's error, located."""
    raise ExplorationError(variant, "TCP501", what, span)


def namespace(ts: TransitionSystem) -> dict:
    """What generated code may name besides its own locals."""
    return {"ONCE": (0,), "Bad": ExplorationError, "Zero": zero_divisor, **ts.consts}


def decode_line(ts: TransitionSystem, i: int) -> str:
    """`v<i> = ...`: slot i's value, decoded from the packed state `s`."""
    slot = ts.slots[i]
    if slot.width == 0:
        return f"v{i} = {slot.base}  # {slot.name}"
    text = f"(s >> {slot.offset}) & {slot.mask}" if slot.offset else f"s & {slot.mask}"
    return f"v{i} = {f'({text}) + {slot.base}' if slot.base else text}  # {slot.name}"


def head_line(ts: TransitionSystem, i: int) -> str:
    """`h<i> = ...`: the head segment of the channel in slot i (0 when it is empty)."""
    return f"h{i} = v{i} & {(1 << ts.seg_width) - 1}"


def successor_function(ts: TransitionSystem):
    """(successors, its source) for this transition system."""
    return _function(ts, "successors(s)", lambda text: text, range(len(ts.slots)))


def deferred_param_function(ts: TransitionSystem):
    """(successors, its source) where the parameters that vary are not read from the state
    but from `given` as the steps need them: `successors(s, given)` with `given[i]` the value
    of parameter slot i (a mapping whose lookup may raise: tcpcheck.combos decides a
    parameter only when a step reads it). The steps are the same; only where a varying
    parameter's value comes from differs."""
    kept = ts.__dict__.get(KEPT_DEFERRED)
    if kept is not None:
        source, code = kept
        return function_of(ts, code), source
    source = deferred_param_source(ts)
    return function_of(ts, compiled_source(ts, source)), source


# where tcpcheck.modelcache leaves the deferred function's (source, code object) on a system
# it read, so that a replay does not compile it again
KEPT_DEFERRED = "_deferred_param_code"


def deferred_param_source(ts: TransitionSystem) -> str:
    """The source of deferred_param_function's function."""
    deferred = {i for i, slot in enumerate(ts.slots) if slot.kind == "param" and slot.width}
    # generated code names slot i's value `v<i>` (tcpcheck.emit), nothing else
    read = re.compile(r"\bv(\d+)\b")

    def from_given(text: str) -> str:
        return read.sub(lambda m: f"given[{m[1]}]" if int(m[1]) in deferred else m[0], text)

    return _source(ts, "successors(s, given)", from_given,
                   [i for i in range(len(ts.slots)) if i not in deferred])


def _function(ts: TransitionSystem, signature: str, rewrite, decoded):
    source = _source(ts, signature, rewrite, decoded)
    return function_of(ts, compiled_source(ts, source)), source


def _source(ts: TransitionSystem, signature: str, rewrite, decoded) -> str:
    lines = [f"def {signature}:"]
    lines += ["    " + decode_line(ts, i) for i in decoded]
    lines += ["    " + head_line(ts, ch.slot) for ch in ts.channels]
    lines.append("    out = []")
    for step in ts.steps:
        lines.append("    " + step.comment)
        cond = " and ".join(f"({rewrite(c)})" for c in step.conditions) or "True"
        lines.append(f"    if {cond}:")
        lines += ["        " + rewrite(ln) for ln in step.body]
        lines.append("        " + "    " * step.record_depth + f"out.append(({step.variant}, t))")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


def compiled_source(ts: TransitionSystem, source: str):
    """The code object of a generated function's source (what tcpcheck.modelcache keeps, so
    that a model read from the cache is not compiled again)."""
    return compile(source, f"<tcpcheck successors for {ts.model.path}>", "exec")


def function_of(ts: TransitionSystem, code):
    """The function a generated source's code object defines, with the names it may use."""
    scope = namespace(ts)
    exec(code, scope)
    return scope["successors"]
