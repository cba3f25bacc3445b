"""The checked model: what the type checker produces and every later stage reads.

A small resolved language (`R*` expressions, `S*` statements, `C*` declarations) in which
every name says what it refers to (parameter, variable, setting, ...) and enum values are
already numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Diagnostic, Span
from .tcp import APP_CALLS, flags_name

# ---------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class Type:
    kind: str  # "bool", "int" or "enum"
    enum: str | None = None

    def __str__(self) -> str:
        return self.enum if self.kind == "enum" else self.kind


BOOL = Type("bool")
INT = Type("int")

# ---------------------------------------------------------------- resolved expressions


@dataclass(frozen=True, slots=True)
class RConst:
    value: int


@dataclass(frozen=True, slots=True)
class RParam:
    name: str


@dataclass(frozen=True, slots=True)
class RGlobal:
    name: str


@dataclass(frozen=True, slots=True)
class RLocal:
    """A variable of the endpoint running the transition."""

    name: str


@dataclass(frozen=True, slots=True)
class RSetting:
    name: str


@dataclass(frozen=True, slots=True)
class RSeg:
    field: str


@dataclass(frozen=True, slots=True)
class RRunning:
    timer: str


@dataclass(frozen=True, slots=True)
class RRoom:
    """room(): free places in the endpoint's outgoing channel, before the step."""


@dataclass(frozen=True, slots=True)
class ROp:
    op: str  # not neg or and == != < <= > >= + - * / % min max
    args: tuple["RExpr", ...]


RExpr = RConst | RParam | RGlobal | RLocal | RSetting | RSeg | RRunning | RRoom | ROp


@dataclass(frozen=True, slots=True)
class Domain:
    """The declared values of a parameter, variable or field: bounds may depend on parameters."""

    type: Type
    lo: RExpr
    hi: RExpr
    span: Span


# ---------------------------------------------------------------- resolved statements


@dataclass(frozen=True, slots=True)
class SAssign:
    target: RLocal | RGlobal
    value: RExpr
    span: Span


@dataclass(frozen=True, slots=True)
class SSend:
    flags: int
    fields: tuple[tuple[str, RExpr], ...]  # every declared field, in declaration order
    span: Span


@dataclass(frozen=True, slots=True)
class STimer:
    op: str  # "arm" or "cancel"
    timer: str
    span: Span


@dataclass(frozen=True, slots=True)
class SObserve:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class SIf:
    branches: tuple[tuple[RExpr | None, tuple["SStmt", ...]], ...]
    span: Span


SStmt = SAssign | SSend | STimer | SObserve | SIf


@dataclass(frozen=True, slots=True)
class CEvent:
    kind: str  # "call", "recv", "expire", "internal"
    name: str  # call name, timer name, internal name; "" for recv
    arg: str | None = None  # shutdown's SHUT_* argument
    patterns: tuple[int, ...] | None = None  # recv: accepted flag sets; None = any

    def label(self) -> str:
        if self.kind == "call":
            return f"{self.name}({self.arg or ''})"
        if self.kind == "recv":
            if self.patterns is None:
                return "recv any"
            return "recv " + " | ".join(flags_name(p) for p in self.patterns)
        if self.kind == "expire":
            return f"{self.name} expires"
        return self.name


@dataclass(frozen=True, slots=True)
class CTransition:
    index: int  # position in its endpoint
    event: CEvent
    after: str | None
    guard: RExpr | None
    body: tuple[SStmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class CTimer:
    name: str
    lo_ms: float
    hi_ms: float | None  # None: unbounded
    span: Span


@dataclass(frozen=True, slots=True)
class CVar:
    name: str
    domain: Domain
    init: RExpr
    span: Span


@dataclass(frozen=True, slots=True)
class CEndpoint:
    name: str
    settings: tuple[tuple[str, Type], ...]
    vars: tuple[CVar, ...]
    timers: tuple[CTimer, ...]
    transitions: tuple[CTransition, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class CInstance:
    name: str
    endpoint: str
    bindings: tuple[tuple[str, RExpr], ...]  # in the endpoint's setting order
    span: Span


@dataclass(frozen=True, slots=True)
class CChannel:
    src: str
    dst: str
    capacity: RExpr
    lossy: bool
    span: Span
    delay_ms: tuple[float, float | None] = (0.0, None)  # how long a segment may travel
    loss_max: RExpr | None = None       # losses allowed on this channel (None: any number)
    loss_when: RExpr | None = None      # a condition over parameters
    loss_of: tuple[int, ...] | None = None  # flag sets that may be lost (None: any)

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"


@dataclass(frozen=True, slots=True)
class CParam:
    name: str
    domain: Domain
    default: RExpr | None
    span: Span


@dataclass(frozen=True, slots=True)
class CCall:
    """An application call the model declares (`call drain`, `call half_close(SOFT, HARD)`)."""

    name: str
    args: tuple[str, ...]  # the arguments one call may take; () takes none
    span: Span


@dataclass(frozen=True, slots=True)
class CheckedModel:
    name: str
    doc: str | None
    path: str
    text: str
    enums: tuple[tuple[str, tuple[str, ...]], ...]
    params: tuple[CParam, ...]
    fields: tuple[tuple[str, Domain], ...]
    globals: tuple[CVar, ...]
    endpoints: tuple[CEndpoint, ...]
    instances: tuple[CInstance, ...]
    channels: tuple[CChannel, ...]
    calls: tuple[CCall, ...] = ()  # the model's own calls, in declaration order
    warnings: tuple[Diagnostic, ...] = ()  # what the checker found odd but not wrong

    def app_calls(self) -> dict[str, tuple[str, ...]]:
        """Every call a transition or a spec may name, with its arguments: the built-in
        calls (tcp.APP_CALLS), then the model's own."""
        return {**APP_CALLS, **{c.name: c.args for c in self.calls}}

    def endpoint(self, name: str) -> CEndpoint:
        return next(e for e in self.endpoints if e.name == name)

    def enum_values(self, name: str) -> tuple[str, ...]:
        return dict(self.enums)[name]
