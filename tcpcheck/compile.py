"""Stage 3: checked model -> transition system.

A joint state is one Python int: every parameter, variable, timer and channel has a bit field
(a `Slot`). A channel's field holds its segments as consecutive non-zero codes, head first, so
equal contents give equal ints. The successor function is generated as Python source, one
block per transition, so the explorer runs straight-line code instead of walking a tree.

Every transition becomes one or more *variants*: one per path through its if/else branches.
A variant's effects (event, segments sent, timers armed or cancelled, observations) are fixed,
so an edge of the state graph only has to remember its variant number.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import model as c
from .diagnostics import Diagnostic, Span, TcpcheckError, unique
from .liveness import endpoint_liveness
from .params import eval_const, param_combinations
from .segment import field_texts, segment_text  # noqa: F401  (moved to tcpcheck.segment)
from .tcp import FLAG_WIDTH, flags_name


class ExplorationError(Exception):
    """A model error that only shows in some reachable state (a value out of its range)."""

    def __init__(self, variant: int, code: str, message: str, span: Span | None):
        super().__init__(message)
        self.variant = variant
        self.code = code
        self.message = message
        self.span = span


@dataclass(frozen=True, slots=True)
class Slot:
    """One bit field of the packed state."""

    name: str           # "delayed_ack", "client.state", "client.timer.delack", "client->server"
    kind: str           # "param", "global", "var", "timer", "channel"
    owner: str | None   # instance name for var/timer, source instance for channels
    offset: int
    width: int
    base: int           # stored value = value - base
    type: c.Type | None
    span: Span | None

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    name: str
    src: str
    dst: str
    slot: int
    capacity: int       # the largest over all parameter combinations
    lossy: bool
    delay_ms: tuple[float, float | None] = (0.0, None)
    loss_counter: int | None = None     # the slot counting losses, when they are bounded
    loss_of: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Variant:
    """A transition taken along one path of its branches: the unit an edge refers to."""

    index: int
    instance: str | None     # None for network events (segment loss)
    event: c.CEvent
    transition: int          # index in the endpoint, -1 for network events
    path: int
    sends: tuple[tuple[str, int], ...]   # (channel, flags) in order
    arms: tuple[str, ...]
    cancels: tuple[str, ...]
    fired: str | None        # the timer whose expiry this event is
    observations: tuple[str, ...]
    span: Span | None
    timer_ops: tuple[tuple[str, str], ...] = ()  # ("arm" | "cancel", timer) in program order
    lost_from: str | None = None   # a network loss: the channel whose head segment it loses

    @property
    def label(self) -> str:
        who = self.instance or "network"
        return f"{who}: {self.event.label()}"

    def segments(self) -> list[str]:
        return [flags_name(f) for _, f in self.sends]


@dataclass
class TransitionSystem:
    model: c.CheckedModel
    slots: tuple[Slot, ...]
    channels: tuple[ChannelInfo, ...]
    seg_fields: tuple[tuple[str, int, int, int, c.Type], ...]  # name, offset, width, base, type
    seg_width: int
    variants: tuple[Variant, ...]
    initial: tuple[int, ...]
    initial_params: tuple[dict, ...]
    source: str
    successors: object = field(repr=False)  # generated: state -> list[(variant, state)]
    # dead-variable reduction (tcpcheck.liveness): per instance with a tcp_state variable,
    # (its slot, a table from the slot's raw value to the mask that clears the dead variables)
    reduction: tuple[tuple[int, tuple[int, ...]], ...] = ()
    fixed: dict = field(default_factory=dict)       # the parameter values it was compiled with
    keep: frozenset = frozenset()                   # variables kept live (read by properties)
    reduced_steps: dict = field(default_factory=dict)  # instance -> transitions needing no clearing

    @property
    def state_bits(self) -> int:
        return sum(s.width for s in self.slots)

    def slot_value(self, state: int, i: int) -> int:
        s = self.slots[i]
        return ((state >> s.offset) & s.mask) + s.base

    def channel_segments(self, state: int, ch: ChannelInfo) -> list[dict]:
        raw = self.slot_value(state, ch.slot)
        mask = (1 << self.seg_width) - 1
        out = []
        while raw:
            out.append(self.decode_segment(raw & mask))
            raw >>= self.seg_width
        return out

    def decode_segment(self, code: int) -> dict:
        seg = {"flags": flags_name(code & ((1 << FLAG_WIDTH) - 1))}
        for name, off, width, base, typ in self.seg_fields:
            seg[name] = self._show(((code >> off) & ((1 << width) - 1)) + base, typ)
        return seg

    def _show(self, value: int, typ: c.Type | None):
        if typ is None:
            return value
        if typ.kind == "bool":
            return bool(value)
        if typ.kind == "enum":
            names = self.model.enum_values(typ.enum)
            return names[value] if 0 <= value < len(names) else value
        return value

    def behaviour_key(self, k: int) -> tuple:
        """What the k-th parameter combination's behaviour depends on: its initial state
        without the parameters' own bits, the value of every parameter the model's code reads
        directly, and every instance's settings. Two combinations with the same key explore
        graphs that differ only in the parameter bits (tcpcheck.explore.explore_each explores
        such a group once): delayed_ack=false makes client_quickack irrelevant, for one."""
        env = self.initial_params[k]
        params = 0
        for s in self.slots:
            if s.kind == "param":
                params |= s.mask << s.offset
        read = _params_read(self.model)
        settings = tuple(tuple(eval_const(e, env) for _name, e in inst.bindings)
                         for inst in self.model.instances)
        return (self.initial[k] & ~params, tuple(env[n] for n in sorted(read)), settings)

    def dead_slots(self, state: int) -> set[int]:
        """The variable slots the dead-variable reduction has cleared in this state."""
        dead = 0
        for slot, table in self.reduction:
            dead |= ~table[(state >> self.slots[slot].offset) & self.slots[slot].mask]
        return {i for i, s in enumerate(self.slots)
                if s.kind == "var" and s.width and dead >> s.offset & s.mask}

    def canonical(self, state: int) -> int:
        """The state with its dead variables cleared (what the explorer stores)."""
        for slot, table in self.reduction:
            state &= table[(state >> self.slots[slot].offset) & self.slots[slot].mask]
        return state

    def decode(self, state: int) -> dict:
        """The state as a dict of readable values, keyed by slot name (stable order); a
        variable no transition can read any more (tcpcheck.liveness) is None."""
        out: dict = {}
        dead = self.dead_slots(state) if self.reduction else ()
        for i, s in enumerate(self.slots):
            if i in dead:
                out[s.name] = None
            elif s.kind == "channel":
                ch = next(ch for ch in self.channels if ch.slot == i)
                out[s.name] = [segment_text(seg) for seg in self.channel_segments(state, ch)]
            elif s.kind == "timer":
                out[s.name] = "running" if self.slot_value(state, i) else "off"
            else:
                out[s.name] = self._show(self.slot_value(state, i), s.type)
        return out

    def param_value(self, name: str, value: int):
        """A parameter's value as users write it: true/false, an enum name, or the number."""
        return self._show(value, self.slots[self.slot_index(name)].type)

    def varying_params(self) -> list[str]:
        """Parameters that take more than one value over the initial states (the others are
        fixed: by a default, --param or a spec's `with`)."""
        return [p.name for p in self.model.params
                if len({env[p.name] for env in self.initial_params}) > 1]

    def notable_params(self, env: dict[str, int]) -> list[str]:
        """The parameters worth showing beside a run: those declared without a default, and
        those set to something other than their default."""
        out = []
        for p in self.model.params:
            if p.default is None or eval_const(p.default, env) != env[p.name]:
                out.append(p.name)
        return out

    def fixed_params_text(self) -> str:
        varying = set(self.varying_params())
        if not self.initial_params:
            return ""
        env = self.initial_params[0]
        return ", ".join(f"{p.name}={self.param_text(p.name, env[p.name])}"
                         for p in self.model.params if p.name not in varying)

    def param_text(self, name: str, value: int) -> str:
        v = self.param_value(name, value)
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    def slot_index(self, name: str) -> int:
        return next(i for i, s in enumerate(self.slots) if s.name == name)

    def tcp_state_slot(self, instance: str) -> int | None:
        """The slot of an instance's first variable of type tcp_state (the projection view)."""
        for i, s in enumerate(self.slots):
            if s.kind == "var" and s.owner == instance and s.type == c.Type("enum", "tcp_state"):
                return i
        return None


def _params_read(model: c.CheckedModel) -> frozenset[str]:
    """Parameters the model reads outside instance settings and parameter declarations."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, c.RParam):
            found.add(node.name)
        elif isinstance(node, (tuple, list)):
            for x in node:
                walk(x)
        elif hasattr(node, "__dataclass_fields__") and not isinstance(node, Span):
            for f in node.__dataclass_fields__:
                walk(getattr(node, f))

    for part in (model.fields, model.globals, model.endpoints, model.channels):
        walk(part)
    return frozenset(found)


# ---------------------------------------------------------------- layout


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


def _bounds(dom: c.Domain, combos, settings_of=None) -> tuple[int, int]:
    los, his = [], []
    for env in combos:
        for settings in (settings_of or [None]):
            los.append(eval_const(dom.lo, env, settings))
            his.append(eval_const(dom.hi, env, settings))
    return min(los), max(his)


# ---------------------------------------------------------------- code generation


class _Gen:
    """Writes the successor function for one model as Python source."""

    def __init__(self, ts_parts):
        (self.model, self.layout, self.channels, self.seg_fields, self.seg_width,
         self.slot_of, self.combos) = ts_parts
        self.lines: list[str] = []
        self.variants: list[Variant] = []
        self.consts: dict[str, object] = {}
        self.errors: list[tuple[str, str, Span | None]] = []

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    # names of locals: v<i> is the slot's value in the source state, w<i> the working copy
    def read(self, i: int, written: set[int]) -> str:
        return f"w{i}" if i in written else f"v{i}"

    def expr(self, r: c.RExpr, ctx) -> str:
        inst, settings, written = ctx
        if isinstance(r, c.RConst):
            return str(r.value)
        if isinstance(r, c.RParam):
            return f"v{self.slot_of[('param', r.name)]}"
        if isinstance(r, c.RGlobal):
            return self.read(self.slot_of[("global", r.name)], written)
        if isinstance(r, c.RLocal):
            return self.read(self.slot_of[("var", inst, r.name)], written)
        if isinstance(r, c.RSetting):
            return self.expr(settings[r.name], (None, None, written))
        if isinstance(r, c.RSeg):
            return f"seg_{r.field}"
        if isinstance(r, c.RRunning):
            return self.read(self.slot_of[("timer", inst, r.timer)], written)
        a = [self.expr(x, ctx) for x in r.args]
        match r.op:
            case "not": return f"(not {a[0]})"
            case "neg": return f"(-{a[0]})"
            # Python's min(x) wants an iterable: min/max of one argument is the argument
            case "min" | "max" if len(a) == 1: return a[0]
            case "min" | "max": return f"{r.op}({', '.join(a)})"
            case "/": return f"({a[0]} // {a[1]})"
            case op: return f"({a[0]} {op} {a[1]})"

    def range_expr(self, dom: c.Domain, ctx) -> tuple[str, str]:
        return self.expr(dom.lo, ctx), self.expr(dom.hi, ctx)

    # -------------------------------------------------------- paths through branches

    @staticmethod
    def n_paths(stmts) -> int:
        n = 1
        for s in stmts:
            if isinstance(s, c.SIf):
                k = sum(_Gen.n_paths(b) for _, b in s.branches)
                if s.branches[-1][0] is not None:
                    k += 1  # no else: the path that takes no branch
                n *= k
        return n

    @staticmethod
    def paths(stmts) -> list[list[c.SStmt]]:
        """The straight-line effects of every path, in the order the code numbers them."""
        result: list[list[c.SStmt]] = [[]]
        for s in stmts:
            if isinstance(s, c.SIf):
                alts = [p for _, b in s.branches for p in _Gen.paths(b)]
                if s.branches[-1][0] is not None:
                    alts.append([])
                result = [r + a for r in result for a in alts]
            else:
                result = [r + [s] for r in result]
        return result

    # -------------------------------------------------------- statements

    def written_slots(self, stmts, inst: str) -> set[int]:
        out: set[int] = set()
        for s in stmts:
            if isinstance(s, c.SAssign):
                key = ("var", inst, s.target.name) if isinstance(s.target, c.RLocal) \
                    else ("global", s.target.name)
                out.add(self.slot_of[key])
            elif isinstance(s, c.SSend):
                out.add(self.out_channel(inst).slot)
            elif isinstance(s, c.STimer):
                out.add(self.slot_of[("timer", inst, s.timer)])
            elif isinstance(s, c.SIf):
                for _, b in s.branches:
                    out |= self.written_slots(b, inst)
        return out

    def out_channel(self, inst: str) -> ChannelInfo:
        return next(ch for ch in self.channels if ch.src == inst)

    def in_channel(self, inst: str) -> ChannelInfo:
        return next(ch for ch in self.channels if ch.dst == inst)

    def block(self, stmts, depth: int, stride: int, ctx, var_domains) -> None:
        counts = [self.n_paths([s]) for s in stmts]
        for i, s in enumerate(stmts):
            stride_i = stride
            for k in counts[i + 1:]:
                stride_i *= k
            self.stmt(s, depth, stride_i, ctx, var_domains)

    def stmt(self, s, depth, stride, ctx, var_domains) -> None:
        inst, settings, written = ctx
        if isinstance(s, c.SAssign):
            key = ("var", inst, s.target.name) if isinstance(s.target, c.RLocal) \
                else ("global", s.target.name)
            self.emit(depth, f"w{self.slot_of[key]} = {self.expr(s.value, ctx)}")
        elif isinstance(s, c.STimer):
            self.emit(depth, f"w{self.slot_of[('timer', inst, s.timer)]} = "
                      f"{1 if s.op == 'arm' else 0}")
        elif isinstance(s, c.SObserve):
            pass  # static: recorded on the variant
        elif isinstance(s, c.SSend):
            ch = self.out_channel(inst)
            w = f"w{ch.slot}"
            self.emit(depth, f"n = ({w}.bit_length() + {self.seg_width - 1}) // {self.seg_width}")
            cap = next(m.capacity for m in self.model.channels if m.name == ch.name)
            self.emit(depth, f"if n >= {self.expr(cap, ctx)}: break  # {ch.name} is full: wait")
            code = [str(s.flags)]
            for k, ((fname, fr), (_, off, width, base, _t)) in enumerate(zip(s.fields, self.seg_fields)):
                dom = dict(self.model.fields)[fname]
                lo, hi = self.range_expr(dom, (inst, settings, written))
                f = f"f{k}"  # one local per field: the code below reads them all at the end
                self.emit(depth, f"{f} = {self.expr(fr, ctx)}")
                msg = self.const(f"field '{fname}' of a {flags_name(s.flags)} segment is "
                                 "{value}, outside its range {lo}..{hi}")
                self.emit(depth, f"if not {lo} <= {f} <= {hi}: raise Bad(vid, 'TCP500', "
                          f"{msg}.format(value={f}, lo={lo}, hi={hi}), {self.const(s.span)})")
                code.append(f"(({f} - {base}) << {off})")
            self.emit(depth, f"{w} |= ({' | '.join(code)}) << ({self.seg_width} * n)")
        else:
            assert isinstance(s, c.SIf)
            offset = 0
            for k, (cond, body) in enumerate(s.branches):
                kw = "if" if k == 0 else ("elif" if cond is not None else "else")
                head = f"{kw} {self.expr(cond, ctx)}:" if cond is not None else "else:"
                self.emit(depth, head)
                if offset:
                    self.emit(depth + 1, f"vid += {offset * stride}")
                self.emit(depth + 1, "pass")
                self.block(body, depth + 1, stride, ctx, var_domains)
                offset += self.n_paths(body)
            if s.branches[-1][0] is not None and offset:
                self.emit(depth, "else:")
                self.emit(depth + 1, f"vid += {offset * stride}")

    reduction: tuple = ()
    reduced_steps: dict = {}

    def reduce_successor(self, d: int, inst: str, written: set[int], tr_index: int) -> None:
        """Clear the dead variables of `inst` in the successor `t`; not after a step that
        keeps a reduced state reduced (no variable written, or, per the liveness analysis,
        none that can be dead where the step fires, and the TCP state unchanged)."""
        if tr_index in self.reduced_steps.get(inst, ()):
            return
        for slot, table in self.reduction:
            s = self.layout.slots[slot]
            if s.owner == inst and any(self.layout.slots[i].kind == "var"
                                       and self.layout.slots[i].owner == inst for i in written):
                self.emit(d, f"t &= {self.const(table)}[(t >> {s.offset}) & {s.mask}]")

    def const(self, value) -> str:
        name = f"K{len(self.consts)}"
        self.consts[name] = value
        return name

    # -------------------------------------------------------- transitions

    def transition_slots(self, inst: c.CInstance, tr: c.CTransition):
        """What a transition touches: (settings, slots it may write, incoming channel, the
        slot of the timer whose expiry is its event or None). Shared with tcpcheck.searchgen."""
        settings = dict(inst.bindings)
        written = self.written_slots(tr.body, inst.name)
        incoming = self.in_channel(inst.name)
        if tr.event.kind == "recv":
            written.add(incoming.slot)
        timer_slot = None
        if tr.after is not None:
            timer_slot = self.slot_of[("timer", inst.name, tr.after)]
            written.add(timer_slot)
        return settings, written, incoming, timer_slot

    def transition(self, inst: c.CInstance, ep: c.CEndpoint, tr: c.CTransition) -> None:
        settings, written, incoming, timer_slot = self.transition_slots(inst, tr)
        ctx_pre = (inst.name, settings, set())
        ctx = (inst.name, settings, written)
        base = len(self.variants)
        loc = f"{tr.span.line}:{tr.span.column}"
        self.emit(1, f"# {inst.name}: on {tr.event.label()} ({loc})")
        self.emit(1, "for _ in ONCE:")
        d = 2
        if tr.event.kind == "recv":
            segmask = (1 << self.seg_width) - 1
            self.emit(d, f"h = v{incoming.slot} & {segmask}")
            if tr.event.patterns is None:
                self.emit(d, "if not h: break")
            else:
                pats = sorted(set(tr.event.patterns))
                self.emit(d, f"if not h or (h & {(1 << FLAG_WIDTH) - 1}) not in {set(pats)!r}: break")
            for name, off, width, base_, _t in self.seg_fields:
                self.emit(d, f"seg_{name} = ((h >> {off}) & {(1 << width) - 1}) + {base_}")
        if timer_slot is not None:
            self.emit(d, f"if not v{timer_slot}: break")
        if tr.guard is not None:
            self.emit(d, f"if not {self.expr(tr.guard, ctx_pre)}: break")
        for i in sorted(written):
            self.emit(d, f"w{i} = v{i}")
        if tr.event.kind == "recv":
            self.emit(d, f"w{incoming.slot} = v{incoming.slot} >> {self.seg_width}")
        if timer_slot is not None:
            self.emit(d, f"w{timer_slot} = 0")
        self.emit(d, f"vid = {base}")
        self.block(tr.body, d, 1, ctx, None)
        # range checks of every variable this transition may write
        for i in sorted(written):
            slot = self.layout.slots[i]
            if slot.kind not in ("var", "global"):
                continue
            key_name = slot.name.split(".", 1)[-1]
            cvar = next(v for v in (ep.vars if slot.kind == "var" else self.model.globals)
                        if v.name == key_name)
            lo, hi = self.range_expr(cvar.domain, ctx_pre)
            msg = self.const(f"{slot.name} would become {{value}}, outside its range {{lo}}..{{hi}}")
            self.emit(d, f"if not {lo} <= w{i} <= {hi}: raise Bad(vid, 'TCP500', "
                      f"{msg}.format(value=w{i}, lo={lo}, hi={hi}), {self.const(cvar.span)})")
        delta = " + ".join(f"((w{i} - v{i}) << {self.layout.slots[i].offset})"
                           for i in sorted(written)) or "0"
        self.emit(d, f"t = s + {delta}")
        self.reduce_successor(d, inst.name, written, tr.index)
        self.emit(d, "out.append((vid, t))")
        for p, effects in enumerate(self.paths(tr.body)):
            sends = tuple((self.out_channel(inst.name).name, e.flags)
                          for e in effects if isinstance(e, c.SSend))
            arms = tuple(e.timer for e in effects if isinstance(e, c.STimer) and e.op == "arm")
            cancels = tuple(e.timer for e in effects if isinstance(e, c.STimer) and e.op == "cancel")
            obs = tuple(e.name for e in effects if isinstance(e, c.SObserve))
            ops = tuple((e.op, e.timer) for e in effects if isinstance(e, c.STimer))
            self.variants.append(Variant(base + p, inst.name, tr.event, tr.index, p, sends,
                                         arms, cancels, tr.after, obs, tr.span, ops))

    def loss_guard(self, ch: ChannelInfo) -> list[str]:
        """The conditions under which the head segment of a lossy channel may be lost."""
        conds = [f"v{ch.slot}"]
        if ch.loss_of is not None:
            conds.append(f"(v{ch.slot} & {(1 << FLAG_WIDTH) - 1}) in {set(sorted(ch.loss_of))!r}")
        decl = next(m for m in self.model.channels if m.name == ch.name)
        if ch.loss_counter is not None:
            most = self.expr(decl.loss_max, (None, None, set()))
            conds.append(f"v{ch.loss_counter} < {most}")
        if decl.loss_when is not None:
            conds.append(f"({self.expr(decl.loss_when, (None, None, set()))})")
        return conds

    def loss_delta(self, ch: ChannelInfo) -> str:
        off = self.layout.slots[ch.slot].offset
        delta = f"s + (((v{ch.slot} >> {self.seg_width}) - v{ch.slot}) << {off})"
        if ch.loss_counter is not None:
            delta += f" + (1 << {self.layout.slots[ch.loss_counter].offset})"
        return delta

    def loss(self, ch: ChannelInfo) -> None:
        vid = len(self.variants)
        self.emit(1, f"# network: the head segment of {ch.name} is lost")
        self.emit(1, f"if {' and '.join(self.loss_guard(ch))}:")
        self.emit(2, f"out.append(({vid}, {self.loss_delta(ch)}))")
        self.variants.append(Variant(vid, None, c.CEvent("internal", f"loss on {ch.name}"), -1, 0,
                                     (), (), (), None, ("segment_lost",), None, lost_from=ch.name))


def compile_model(model: c.CheckedModel, fixed: dict[str, int] | None = None, *,
                  keep: frozenset[str] = frozenset(), reduce: bool = True) -> TransitionSystem:
    """Lay out the state, generate the successor function and list the initial states.

    With `reduce` every state is stored with its dead variables cleared (tcpcheck.liveness)
    except those named in `keep` ("client.rcvd": a property reads them)."""
    combos = param_combinations(model, fixed or {})
    layout = _Layout()
    slot_of: dict[tuple, int] = {}
    for p in model.params:
        lo = min(env[p.name] for env in combos)
        hi = max(env[p.name] for env in combos)
        slot_of[("param", p.name)] = layout.add(p.name, "param", None, lo, hi, p.domain.type, p.span)
    for g in model.globals:
        lo, hi = _bounds(g.domain, combos)
        slot_of[("global", g.name)] = layout.add(g.name, "global", None, lo, hi, g.domain.type, g.span)
    for inst in model.instances:
        ep = model.endpoint(inst.endpoint)
        settings = [dict(inst.bindings)]
        for v in ep.vars:
            lo, hi = _bounds(v.domain, combos, settings)
            slot_of[("var", inst.name, v.name)] = layout.add(
                f"{inst.name}.{v.name}", "var", inst.name, lo, hi, v.domain.type, v.span)
        for t in ep.timers:
            slot_of[("timer", inst.name, t.name)] = layout.add(
                f"{inst.name}.timer.{t.name}", "timer", inst.name, 0, 1, None, t.span)
    # segment codes: flags in the low bits (never zero), then the fields
    seg_fields = []
    off = FLAG_WIDTH
    for name, dom in model.fields:
        lo, hi = _bounds(dom, combos)
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

    reduction, reduced_steps = _reduction(model, combos, layout, slot_of, keep) if reduce \
        else ((), {})
    gen = _Gen((model, layout, channels, seg_fields, seg_width, slot_of, combos))
    gen.reduction = reduction
    gen.reduced_steps = reduced_steps
    gen.emit(0, "def successors(s):")
    for i, slot in enumerate(layout.slots):
        if slot.width == 0:
            gen.emit(1, f"v{i} = {slot.base}  # {slot.name}")
        else:
            gen.emit(1, f"v{i} = ((s >> {slot.offset}) & {slot.mask}) + {slot.base}  # {slot.name}")
    gen.emit(1, "out = []")
    for inst in model.instances:
        ep = model.endpoint(inst.endpoint)
        for tr in ep.transitions:
            gen.transition(inst, ep, tr)
    for ch in channels:
        if ch.lossy:
            gen.loss(ch)
    gen.emit(1, "return out")
    source = "\n".join(gen.lines) + "\n"

    namespace: dict = {"ONCE": (0,), "Bad": ExplorationError, **gen.consts}
    exec(compile(source, f"<tcpcheck generated code for {model.path}>", "exec"), namespace)

    initial, initial_params = _initial_states(model, combos, layout, slot_of)
    ts = TransitionSystem(model, tuple(layout.slots), tuple(channels), tuple(seg_fields),
                          seg_width, tuple(gen.variants), tuple(initial),
                          tuple(initial_params), source, namespace["successors"],
                          reduction, dict(fixed or {}), frozenset(keep), reduced_steps)
    ts.initial = tuple(ts.canonical(s) for s in initial)
    return ts


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
    for env in combos:
        values: dict[int, int] = {}
        for p in model.params:
            values[slot_of[("param", p.name)]] = env[p.name]
        for g in model.globals:
            values[slot_of[("global", g.name)]] = _init_value(g, env, None, diags)
        for inst in model.instances:
            settings = dict(inst.bindings)
            for v in model.endpoint(inst.endpoint).vars:
                values[slot_of[("var", inst.name, v.name)]] = _init_value(v, env, settings, diags)
        state = 0
        for i, v in values.items():
            slot = layout.slots[i]
            state |= (v - slot.base) << slot.offset
        states.append(state)
        params.append(dict(env))
    if diags:
        raise TcpcheckError(unique(diags))
    return states, params


def _init_value(v: c.CVar, env, settings, diags) -> int:
    value = eval_const(v.init, env, settings)
    lo, hi = eval_const(v.domain.lo, env, settings), eval_const(v.domain.hi, env, settings)
    if not lo <= value <= hi:
        diags.append(Diagnostic("TCP303", f"initial value {value} of '{v.name}' is outside its "
                                f"range {lo}..{hi}", v.span))
        return lo
    return value
