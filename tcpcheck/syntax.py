"""The model language's syntax tree: frozen dataclasses, each carrying its source span.

The parser builds these; the checker resolves them; nothing here knows about states.
"""
from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Span

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class IntLit:
    value: int
    span: Span


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    """A bare name: a variable, parameter, setting, constant or enum value."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class SegField:
    """`seg.ack`: a field of the segment being received."""

    field: str
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """A built-in function: min, max, room(), running(timer)."""

    func: str
    args: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "not" or "-"
    operand: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # or and == != < <= > >= + - * / %
    left: "Expr"
    right: "Expr"
    span: Span


Expr = IntLit | BoolLit | Name | SegField | Call | Unary | Binary

# ---------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class BoolType:
    span: Span


@dataclass(frozen=True, slots=True)
class RangeType:
    lo: Expr
    hi: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class NamedType:
    """An enum type, declared with `enum` or the built-in `tcp_state`."""

    name: str
    span: Span


TypeExpr = BoolType | RangeType | NamedType

# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Flags:
    """A set of segment flags as written, e.g. FIN+ACK."""

    names: tuple[str, ...]
    span: Span

    def __str__(self) -> str:
        return "+".join(self.names)


@dataclass(frozen=True, slots=True)
class FieldInit:
    field: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Assign:
    target: str
    value: Expr
    span: Span
    target_span: Span


@dataclass(frozen=True, slots=True)
class Send:
    flags: Flags
    fields: tuple[FieldInit, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Arm:
    timer: str
    span: Span


@dataclass(frozen=True, slots=True)
class Cancel:
    timer: str
    span: Span


@dataclass(frozen=True, slots=True)
class Observe:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    """`if c { } elif c { } else { }`: branches are (condition, block); else has condition None."""

    branches: tuple[tuple[Expr | None, tuple["Stmt", ...]], ...]
    span: Span


Stmt = Assign | Send | Arm | Cancel | Observe | If

# ---------------------------------------------------------------- events and transitions


@dataclass(frozen=True, slots=True)
class AppCall:
    """An application call: close, shutdown(SHUT_WR), write, read, exit, ..., or one the
    model declares (`call drain`)."""

    call: str
    arg: str | None
    span: Span

    def __str__(self) -> str:
        return f"{self.call}({self.arg or ''})"


@dataclass(frozen=True, slots=True)
class Recv:
    """Arrival of the segment at the head of the incoming channel, matching one of the patterns."""

    patterns: tuple[Flags, ...] | None  # None: any segment
    span: Span


@dataclass(frozen=True, slots=True)
class Expire:
    timer: str
    span: Span


@dataclass(frozen=True, slots=True)
class Internal:
    """A kernel action that no call or arrival triggers (e.g. sending an owed ACK)."""

    name: str
    span: Span


Event = AppCall | Recv | Expire | Internal


@dataclass(frozen=True, slots=True)
class Transition:
    event: Event
    after: str | None  # the timer whose expiry times this event
    after_span: Span | None
    guard: Expr | None
    body: tuple[Stmt, ...]
    span: Span


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration in milliseconds; None is infinity."""

    ms: float | None
    span: Span

    def __str__(self) -> str:
        if self.ms is None:
            return "inf"
        if self.ms >= 1000 and self.ms % 1000 == 0:
            return f"{int(self.ms // 1000)}s"
        return f"{self.ms:g}ms"


@dataclass(frozen=True, slots=True)
class ModelDecl:
    name: str
    doc: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: str
    type: TypeExpr
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class ConstDecl:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class EnumDecl:
    name: str
    values: tuple[str, ...]
    value_spans: tuple[Span, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class FieldDecl:
    name: str
    type: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True)
class SegmentDecl:
    fields: tuple[FieldDecl, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class VarDecl:
    name: str
    type: TypeExpr
    init: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class TimerDecl:
    name: str
    lo: Duration
    hi: Duration
    span: Span


@dataclass(frozen=True, slots=True)
class SettingDecl:
    name: str
    type: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True)
class EndpointDecl:
    """A behaviour written once; `instance` declarations make the client and the server."""

    name: str
    settings: tuple[SettingDecl, ...]
    vars: tuple[VarDecl, ...]
    timers: tuple[TimerDecl, ...]
    transitions: tuple[Transition, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Binding:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class InstanceDecl:
    name: str
    endpoint: str
    bindings: tuple[Binding, ...]
    span: Span
    endpoint_span: Span


@dataclass(frozen=True, slots=True)
class ChannelDecl:
    src: str
    dst: str
    capacity: Expr | None
    lossy: bool
    span: Span
    delay: tuple[Duration, Duration] | None = None  # the network's delay range
    loss_max: Expr | None = None        # at most this many segments lost on this channel
    loss_when: Expr | None = None       # losses only when this (over parameters) holds
    loss_of: tuple[Flags, ...] | None = None  # only segments with these flags are lost


@dataclass(frozen=True, slots=True)
class CallDecl:
    """`call drain` or `call half_close(SOFT, HARD)`: an application call of the user's own
    program; with arguments, each `on call` names one of them."""

    name: str
    args: tuple[str, ...]
    arg_spans: tuple[Span, ...]
    span: Span
    name_span: Span


Decl = (ModelDecl | ParamDecl | ConstDecl | EnumDecl | SegmentDecl | VarDecl
        | EndpointDecl | InstanceDecl | ChannelDecl | CallDecl)


@dataclass(frozen=True, slots=True)
class ModelFile:
    path: str
    text: str
    decls: tuple[Decl, ...]
