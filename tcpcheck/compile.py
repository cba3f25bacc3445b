"""Stage 3: checked model -> transition system (tcpcheck.transitions).

Lays out the packed state (one bit field per parameter, variable, timer and channel), lists
the initial states (one per parameter combination), works out the dead-variable reduction
(tcpcheck.liveness), and has the emitter (tcpcheck.emit) state every step once; the
successor function (tcpcheck.successors) is the first sink of those steps.
"""
from __future__ import annotations

from dataclasses import replace

from . import model as c
from .diagnostics import Diagnostic, TcpcheckError, unique
from .emit import StateLayout, emit_steps, n_paths
from .liveness import endpoint_liveness
from .params import ConstValues, check_constants, eval_const, param_combinations
from .successors import successor_function
from .tcp import FLAG_WIDTH
from .transitions import ChannelInfo, Slot, TransitionSystem


# ---------------------------------------------------------------- layout

# Limits on the size of a model, far above any teardown model and below where the generated
# code or the packed state would strain Python: a channel holds at most MAX_CAPACITY
# segments, a whole state packs into at most MAX_STATE_BITS bits, and a transition's body has
# at most MAX_PATHS paths through its branches (each path is a variant, stated and numbered
# one by one: fifty `if`s in a row would be 2^50 of them; the default model's most is 7).
MAX_CAPACITY = 256
MAX_STATE_BITS = 8192
MAX_PATHS = 1024


def _width(n_values: int) -> int:
    return max(0, (n_values - 1).bit_length())


class _Layout:
    def __init__(self):
        self.slots: list[Slot] = []
        self.offset = 0

    def add(self, name, kind, owner, lo, hi, typ, span) -> int:
        width = _width(hi - lo + 1)
        self.slots.append(Slot(name, kind, owner, self.offset, width, lo, typ, span))
        self.offset += width
        return len(self.slots) - 1


def bounds(dom: c.Domain, combos, settings_of=None) -> tuple[int, int]:
    """The least and greatest value of a domain over the parameter combinations `combos`
    (and the instances' settings `settings_of`): a slot holds value - least."""
    const = ConstValues()   # a bound reads few parameters, often none: once per their values
    los, his = [], []
    for env in combos:
        for settings in (settings_of or [None]):
            # the settings dict is alive for the whole call: its id tells the instances apart
            los.append(const(dom.lo, env, settings, settings))
            his.append(const(dom.hi, env, settings, settings))
    return min(los), max(his)


def _deepened(model: c.CheckedModel, least: int) -> c.CheckedModel:
    """The model with every channel's capacity at least `least` (one expression for every
    step that reads it: the emitter and the layout see the same capacity)."""
    def deeper(cap: c.RExpr) -> c.RExpr:
        if isinstance(cap, c.RConst):
            return c.RConst(max(cap.value, least))
        return c.ROp("max", (cap, c.RConst(least)))
    return replace(model, channels=tuple(replace(ch, capacity=deeper(ch.capacity))
                                         for ch in model.channels))


def compile_model(model: c.CheckedModel, fixed: dict[str, int] | None = None, *,
                  keep: frozenset[str] = frozenset(), reduce: bool = True,
                  min_capacity: int = 0) -> TransitionSystem:
    """Lay out the state, emit every step, make the successor function, list the initial states.

    With `reduce` every state is stored with its dead variables cleared (tcpcheck.liveness)
    except those named in `keep` ("client.rcvd": a property reads them). `min_capacity`
    deepens every channel to hold at least that many segments (replay: as many as the
    capture had in flight; a capacity bounds the model, not TCP)."""
    combos = param_combinations(model, fixed or {})
    check_constants(model, combos)
    if min_capacity:
        model = _deepened(model, min_capacity)
    layout = _Layout()
    slot_of: dict[tuple, int] = {}
    for p in model.params:
        lo = min(env[p.name] for env in combos)
        hi = max(env[p.name] for env in combos)
        slot_of[("param", p.name)] = layout.add(p.name, "param", None, lo, hi, p.domain.type, p.span)
    for g in model.globals:
        lo, hi = bounds(g.domain, combos)
        slot_of[("global", g.name)] = layout.add(g.name, "global", None, lo, hi, g.domain.type, g.span)
    for inst in model.instances:
        ep = model.endpoint(inst.endpoint)
        settings = [dict(inst.bindings)]
        for v in ep.vars:
            lo, hi = bounds(v.domain, combos, settings)
            slot_of[("var", inst.name, v.name)] = layout.add(
                f"{inst.name}.{v.name}", "var", inst.name, lo, hi, v.domain.type, v.span)
        for t in ep.timers:
            slot_of[("timer", inst.name, t.name)] = layout.add(
                f"{inst.name}.timer.{t.name}", "timer", inst.name, 0, 1, None, t.span)
    # segment codes: flags in the low bits (never zero), then the fields
    seg_fields = []
    off = FLAG_WIDTH
    for name, dom in model.fields:
        lo, hi = bounds(dom, combos)
        width = _width(hi - lo + 1)
        seg_fields.append((name, off, width, lo, dom.type))
        off += width
    seg_width = off
    channels = []
    cap_diags = []
    for ch in model.channels:
        caps = [eval_const(ch.capacity, env) for env in combos]
        if min(caps) < 1:
            cap_diags.append(Diagnostic("TCP302", f"channel {ch.name} has capacity {min(caps)}; "
                                        "it must be at least 1", ch.span))
            continue
        if max(caps) > MAX_CAPACITY:
            cap_diags.append(Diagnostic("TCP306", f"channel {ch.name} has capacity {max(caps)}; "
                                        f"tcpcheck's limit is {MAX_CAPACITY} segments", ch.span))
            continue
        i = len(layout.slots)
        layout.slots.append(Slot(ch.name, "channel", ch.src, layout.offset, seg_width * max(caps),
                                 0, None, ch.span))
        layout.offset += seg_width * max(caps)
        counter = None
        if ch.lossy and ch.loss_max is not None:
            most = max(eval_const(ch.loss_max, env) for env in combos)
            counter = layout.add(f"{ch.name}.losses", "counter", ch.src, 0, max(0, most), None,
                                 ch.span)
            slot_of[("counter", ch.name)] = counter
        channels.append(ChannelInfo(ch.name, ch.src, ch.dst, i, max(caps), ch.lossy, ch.delay_ms,
                                    counter, ch.loss_of))
        slot_of[("channel", ch.name)] = i
    if cap_diags:
        raise TcpcheckError(cap_diags)
    _check_state_size(layout)
    _check_paths(model)

    reduction, reduced_steps = _reduction(model, combos, layout, slot_of, keep) if reduce \
        else ((), {})
    layout_info = StateLayout(model, tuple(layout.slots), tuple(channels), tuple(seg_fields),
                              seg_width, slot_of, tuple(combos))
    emitted = emit_steps(layout_info, reduction, reduced_steps)

    initial, initial_params = _initial_states(model, combos, layout, slot_of)
    ts = TransitionSystem(model, tuple(layout.slots), tuple(channels), tuple(seg_fields),
                          seg_width, emitted.variants, tuple(initial),
                          tuple(initial_params), emitted.steps, emitted.consts,
                          reduction, dict(fixed or {}), frozenset(keep), reduced_steps)
    ts.initial = tuple(ts.canonical(s) for s in initial)
    ts.successors, ts.successor_source = successor_function(ts)
    return ts


def _check_state_size(layout: _Layout) -> None:
    """TCP306 when a state would need more than MAX_STATE_BITS bits, naming the widest slot."""
    if layout.offset <= MAX_STATE_BITS:
        return
    widest = max(layout.slots, key=lambda s: s.width)
    raise TcpcheckError([Diagnostic(
        "TCP306", f"a state of this model needs {layout.offset} bits; tcpcheck's limit is "
        f"{MAX_STATE_BITS}", widest.span,
        (f"the widest part is {widest.name}: {widest.width} bits; narrow ranges or lower "
         "capacities",))])


def _check_paths(model: c.CheckedModel) -> None:
    """TCP306 at each transition whose body has more than MAX_PATHS paths through its
    branches (counted, not listed: the count multiplies along the body)."""
    diags = []
    for ep in model.endpoints:
        for tr in ep.transitions:
            n = n_paths(tr.body)
            if n > MAX_PATHS:
                diags.append(Diagnostic(
                    "TCP306", f"this transition has {n:,} paths through its branches; "
                    f"tcpcheck's limit is {MAX_PATHS:,}", tr.span,
                    ("each path is a variant of the step; merge conditions, or move the "
                     "choices into separate transitions",)))
    if diags:
        raise TcpcheckError(diags)


def _reduction(model, combos, layout, slot_of, keep) -> tuple:
    """Per instance with a tcp_state variable: (its slot, mode value -> AND mask clearing the
    variables dead in that mode). Instances with nothing ever dead are left out."""


    out = []
    skip: dict[str, frozenset[int]] = {}
    for inst in model.instances:
        info = endpoint_liveness(model, inst, combos)
        if info is None:
            continue
        mode_slot = slot_of[("var", inst.name, info.mode_var)]
        ms = layout.slots[mode_slot]
        table = []
        for raw in range(1 << ms.width):
            dead_bits = 0
            for name in info.dead.get(raw + ms.base, ()):
                if f"{inst.name}.{name}" in keep:
                    continue
                s = layout.slots[slot_of[("var", inst.name, name)]]
                dead_bits |= s.mask << s.offset
            table.append(~dead_bits)
        if any(m != -1 for m in table):
            out.append((mode_slot, tuple(table)))
            skip[inst.name] = _steps_keeping_reduced(model, inst, info, table, ms, layout,
                                                     slot_of)
    return tuple(out), skip


def _steps_keeping_reduced(model, inst, info, table, ms, layout, slot_of) -> frozenset[int]:
    """Transitions after which a reduced state needs no clearing: they never assign the TCP
    state, and no variable they write is dead in a TCP state they can fire in."""
    out = set()
    for tr in model.endpoint(inst.endpoint).transitions:
        written = _assigned_names(tr.body)
        if info.mode_var in written:
            continue
        dead_bits = 0
        for m in info.fires_in.get(tr.index, ()):
            dead_bits |= ~table[m - ms.base]
        if not any(dead_bits & (layout.slots[slot_of[("var", inst.name, n)]].mask
                                << layout.slots[slot_of[("var", inst.name, n)]].offset)
                   for n in written if ("var", inst.name, n) in slot_of):
            out.add(tr.index)
    return frozenset(out)


def _assigned_names(stmts) -> set[str]:
    out: set[str] = set()
    for s in stmts:
        if isinstance(s, c.SAssign) and isinstance(s.target, c.RLocal):
            out.add(s.target.name)
        elif isinstance(s, c.SIf):
            for _, body in s.branches:
                out |= _assigned_names(body)
    return out


def _initial_states(model, combos, layout, slot_of):
    states, params = [], []
    diags = []
    const = ConstValues()   # each initial value once per value of the parameters it reads
    settings_of = {inst.name: dict(inst.bindings) for inst in model.instances}
    for env in combos:
        values: dict[int, int] = {}
        for p in model.params:
            values[slot_of[("param", p.name)]] = env[p.name]
        for g in model.globals:
            values[slot_of[("global", g.name)]] = _init_value(g, env, None, diags, const)
        for inst in model.instances:
            settings = settings_of[inst.name]
            for v in model.endpoint(inst.endpoint).vars:
                values[slot_of[("var", inst.name, v.name)]] = _init_value(
                    v, env, settings, diags, const, inst.bindings)
        state = 0
        for i, v in values.items():
            slot = layout.slots[i]
            state |= (v - slot.base) << slot.offset
        states.append(state)
        params.append(dict(env))
    if diags:
        raise TcpcheckError(unique(diags))
    return states, params


def _init_value(v: c.CVar, env, settings, diags, const: ConstValues, scope=None) -> int:
    value = const(v.init, env, settings, scope)
    lo, hi = const(v.domain.lo, env, settings, scope), const(v.domain.hi, env, settings, scope)
    if not lo <= value <= hi:
        diags.append(Diagnostic("TCP303", f"initial value {value} of '{v.name}' is outside its "
                                f"range {lo}..{hi}", v.span))
        return lo
    return value
