"""The transition system: the packed state's layout, the variants an edge names, and the
compiled model that every engine explores (built by tcpcheck.compile).

A joint state is one Python int: every parameter, variable, timer and channel has a bit field
(a `Slot`). A channel's field holds its segments as consecutive non-zero codes, head first, so
equal contents give equal ints. Every transition becomes one or more *variants*: one per path
through its if/else branches. A variant's effects (event, segments sent, timers armed or
cancelled, observations) are fixed, so an edge of the state graph only has to remember its
variant number.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import model as c
from .diagnostics import Span
from .params import assignments_text, eval_const
from .segment import Segment, segment_text
from .tcp import FLAG_WIDTH, Flags, flags_name


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
    # every step as code (tcpcheck.emit.StepCode), in the order successors are listed, and
    # the constants that code names: the one statement of the semantics every sink wraps
    steps: tuple = ()
    consts: dict = field(default_factory=dict, repr=False)
    # dead-variable reduction (tcpcheck.liveness): per instance with a tcp_state variable,
    # (its slot, a table from the slot's raw value to the mask that clears the dead variables)
    reduction: tuple[tuple[int, tuple[int, ...]], ...] = ()
    fixed: dict = field(default_factory=dict)       # the parameter values it was compiled with
    keep: frozenset = frozenset()                   # variables kept live (read by properties)
    reduced_steps: dict = field(default_factory=dict)  # instance -> transitions needing no clearing
    # state -> [(variant, successor)]: the successor function (tcpcheck.successors), set by
    # tcpcheck.compile; its Python source is `successor_source`
    successors: object = field(default=None, repr=False)
    successor_source: str = field(default="", repr=False)

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

    def segments_on(self, state: int, slot: int) -> tuple[Segment, ...]:
        """The segments on the channel held in `slot` of packed `state`, head first."""
        raw = self.slot_value(state, slot)
        mask = (1 << self.seg_width) - 1
        out = []
        while raw:
            code = raw & mask
            fields = self.decode_segment(code)        # the fields as users write them
            del fields["flags"]
            out.append(Segment(Flags(code & ((1 << FLAG_WIDTH) - 1)), tuple(fields.items())))
            raw >>= self.seg_width
        return tuple(out)

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
        """`delayed_ack=true, ...`: the parameters every initial state gives the same value."""
        varying = set(self.varying_params())
        if not self.initial_params:
            return ""
        return self.params_text(self.initial_params[0],
                                [p.name for p in self.model.params if p.name not in varying])

    def params_text(self, env: dict[str, int], names) -> str:
        """`delayed_ack=true, N=2`: these parameters' values in `env`, as users write them."""
        return assignments_text({n: self.param_value(n, env[n]) for n in names})

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
