"""Parameters: constant expressions over them, `--param` values, and their combinations.

A model's parameters never change while it runs: the explorer starts once from every
combination. This module reads `--param name=value` and a spec's `with name = value` (each a
`ParamSetting` that remembers where it was written, so that a message names it), evaluates
constant expressions in one combination, and enumerates the combinations in a fixed order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import model as c
from .diagnostics import MAX_CONSTANT, Diagnostic, Span, TcpcheckError, did_you_mean, unique


def assignments_text(values: dict) -> str:
    """Parameter values as the model language writes them: `delayed_ack=true, mss=2`."""
    return ", ".join(f"{name}={str(v).lower() if isinstance(v, bool) else v}"
                     for name, v in values.items())


# ---------------------------------------------------------------- evaluation of constants

# Every constant (a literal, a bound, a capacity, an initial value, and each step of working
# one out) lies within -MAX_CONSTANT..MAX_CONSTANT (diagnostics.py): far beyond any TCP
# model, yet small enough that a value always fits the packed state and prints in a few digits.


class ConstantError(Exception):
    """A constant expression without a value: a division by zero (TCP304) or a value beyond
    MAX_CONSTANT (TCP305). The caller knows the declaration, so it makes the diagnostic."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def eval_const(r: c.RExpr, env: dict[str, int], settings: dict[str, c.RExpr] | None = None) -> int:
    """Evaluate a resolved expression that only uses parameters, settings and literals;
    ConstantError when it divides by zero or leaves -MAX_CONSTANT..MAX_CONSTANT."""
    if isinstance(r, c.RConst):
        return r.value
    if isinstance(r, c.RParam):
        return env[r.name]
    if isinstance(r, c.RSetting):
        assert settings is not None
        return eval_const(settings[r.name], env)
    assert isinstance(r, c.ROp), r
    a = [eval_const(x, env, settings) for x in r.args]
    if r.op in ("/", "%") and a[1] == 0:
        raise ConstantError("TCP304", f"division by zero ('{r.op}' by 0) in a constant")
    value = _apply(r.op, a)
    if abs(value) > MAX_CONSTANT:
        raise ConstantError("TCP305", f"a constant leaves the range of values tcpcheck "
                            f"computes with ('{r.op}' gives more than 10^18 in magnitude)")
    return value


def params_read(r: c.RExpr, settings: dict[str, c.RExpr] | None = None) -> tuple[str, ...]:
    """The parameters a constant expression reads (through its instance's settings), sorted."""
    if isinstance(r, c.RParam):
        return (r.name,)
    if isinstance(r, c.RSetting):
        assert settings is not None
        return params_read(settings[r.name])
    if isinstance(r, c.ROp):
        return tuple(sorted({n for x in r.args for n in params_read(x, settings)}))
    return ()


class ConstValues:
    """eval_const over many parameter combinations, worked out once per distinct value of the
    parameters the expression reads: a bound that reads one parameter of eleven has two
    values, not 2,048 (the all-open model's start-up spent most of its time re-evaluating
    them). A ConstantError is remembered and raised again, so callers see what eval_const
    gives. Live only while the model is: keys are the expressions' ids."""

    def __init__(self) -> None:
        self._reads: dict[tuple[int, int], tuple[str, ...]] = {}
        self._values: dict[tuple, int | ConstantError] = {}

    def __call__(self, r: c.RExpr, env: dict[str, int],
                 settings: dict[str, c.RExpr] | None = None, scope: object = None) -> int:
        """`scope`: what `settings` belong to (the instance's bindings), alive with the model."""
        if type(r) is c.RConst:      # most bounds and initial values: nothing to remember
            return r.value
        where = (id(r), id(scope))
        names = self._reads.get(where)
        if names is None:
            names = self._reads[where] = params_read(r, settings)
        key = (where, tuple(env[n] for n in names))
        value = self._values.get(key)
        if value is None:
            try:
                value = eval_const(r, env, settings)
            except ConstantError as err:
                value = err
            self._values[key] = value
        if isinstance(value, ConstantError):
            raise value
        return value


def _apply(op: str, a: list[int]) -> int:
    match op:
        case "not": return int(not a[0])
        case "neg": return -a[0]
        case "and": return int(bool(a[0] and a[1]))
        case "or": return int(bool(a[0] or a[1]))
        case "==": return int(a[0] == a[1])
        case "!=": return int(a[0] != a[1])
        case "<": return int(a[0] < a[1])
        case "<=": return int(a[0] <= a[1])
        case ">": return int(a[0] > a[1])
        case ">=": return int(a[0] >= a[1])
        case "+": return a[0] + a[1]
        case "-": return a[0] - a[1]
        case "*": return a[0] * a[1]
        case "/": return a[0] // a[1]
        case "%": return a[0] % a[1]
        case "min": return min(a)
        case "max": return max(a)
    raise AssertionError(op)


# ---------------------------------------------------------------- parameter combinations


# --param name=* : every value of the parameter, even one declared with a default
ALL_VALUES = -(1 << 62)


@dataclass(frozen=True, slots=True)
class ParamSetting:
    """One parameter value chosen from outside the model: `--param name=value` on the command
    line (no span) or `with name = value` in a spec's model line (its span). `value` is the
    text as written; `*` means every value. Two settings are equal when they choose the
    same value, wherever they were written (specs are grouped by what they choose)."""

    name: str
    value: str
    span: Span | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        return f"{self.name}={self.value}"

    @property
    def origin(self) -> str:
        """How a message names where the value came from."""
        return "--param" if self.span is None else "with"


def parse_param_overrides(model: c.CheckedModel, pairs: list[str | ParamSetting]
                          ) -> dict[str, int]:
    """Turn parameter settings into values (ALL_VALUES for `*`): `--param name=value` strings
    or ParamSettings. Errors are TCP400, named after where the value came from (`--param`,
    or `with` at the spec's setting). A lone `*` opens every parameter not given a value by
    another pair (the whole model)."""
    diags = []
    out: dict[str, int] = {}
    params = {p.name: p for p in model.params}
    everything = False
    for pair in pairs:
        if isinstance(pair, str) and pair.strip() == "*":
            everything = True
            continue
        if isinstance(pair, str) and "=" not in pair:
            diags.append(Diagnostic("TCP400", f"--param '{pair}' must be name=value"))
            continue
        s = pair if isinstance(pair, ParamSetting) else \
            ParamSetting(*(x.strip() for x in pair.split("=", 1)))
        if s.name not in params:
            known = ", ".join(params) or "none"
            diags.append(Diagnostic("TCP400", f"{s.origin}: the model has no parameter "
                                    f"'{s.name}'" + did_you_mean(s.name, params)
                                    + f" (parameters: {known})", s.span))
            continue
        if s.name in out:
            diags.append(Diagnostic("TCP400", f"{s.origin} {s.name} is given twice; give each "
                                    "parameter once", s.span))
            continue
        typ = params[s.name].domain.type
        value = ALL_VALUES if s.value == "*" else _parse_value(s.value, typ, model)
        if value is None:
            diags.append(Diagnostic("TCP400", f"{s.origin} {s.name}: '{s.value}' is not "
                                    f"{_kind(typ, model)} (or * for every value)", s.span))
            continue
        outside = _outside_constant_range(params[s.name], value)
        if outside:
            diags.append(Diagnostic("TCP400", f"{s.origin} {s.name}: {outside}", s.span))
            continue
        out[s.name] = value
    if diags:
        raise TcpcheckError(diags)
    if everything:
        out = {**{name: ALL_VALUES for name in params}, **out}
    return out


def _outside_constant_range(p: c.CParam, value: int) -> str | None:
    """Why a value is outside a parameter's range, when the range does not depend on other
    parameters (param_combinations checks the others, combination by combination)."""
    if value == ALL_VALUES:
        return None
    try:
        lo, hi = eval_const(p.domain.lo, {}), eval_const(p.domain.hi, {})
    except (KeyError, ConstantError):  # the bounds read other parameters, or have no value
        return None  # (param_combinations reports the latter where it is declared)
    return None if lo <= value <= hi else f"{value} is outside its range {lo}..{hi}"


def _parse_value(text: str, typ: c.Type, model: c.CheckedModel) -> int | None:
    if typ.kind == "bool":
        return {"true": 1, "false": 0, "1": 1, "0": 0}.get(text.lower())
    if typ.kind == "enum":
        names = model.enum_values(typ.enum)
        return names.index(text) if text in names else None
    # ASCII digits only: int() would also read '٣' (an Arabic-Indic three) as 3
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > len(str(MAX_CONSTANT)):
        return None
    return int(text)


def _kind(typ: c.Type, model: c.CheckedModel) -> str:
    if typ.kind == "bool":
        return "true or false"
    if typ.kind == "enum":
        return "one of " + ", ".join(model.enum_values(typ.enum))
    return "an integer"


def param_combinations(model: c.CheckedModel, fixed: dict[str, int]) -> list[dict[str, int]]:
    """Every parameter assignment, in declaration order with values ascending.

    A parameter given with --param, or declared with a default, takes that one value; the
    others range over their whole domain (which may depend on the parameters before them).
    """
    combos: list[dict[str, int]] = [{}]
    diags = []
    for p in model.params:
        nxt = []
        for env in combos:
            try:
                lo = eval_const(p.domain.lo, env)
                hi = eval_const(p.domain.hi, env)
                default = None if p.default is None else eval_const(p.default, env)
            except ConstantError as err:
                raise TcpcheckError([_constant_diagnostic(err, f"parameter '{p.name}'", p.span,
                                                          env)]) from None
            every = fixed.get(p.name) == ALL_VALUES or (p.name not in fixed and default is None)
            if every and hi - lo >= MAX_PARAM_VALUES:
                raise TcpcheckError([Diagnostic(
                    "TCP306", f"parameter '{p.name}' has {hi - lo + 1} values ({lo}..{hi}); "
                    f"tcpcheck explores at most {MAX_PARAM_VALUES} values of a parameter: "
                    "narrow its range or fix it with --param", p.span)])
            if p.name in fixed and fixed[p.name] != ALL_VALUES:
                values = [fixed[p.name]]
            elif p.name in fixed:
                values = list(range(lo, hi + 1))
            elif default is not None:
                values = [default]
            else:
                values = list(range(lo, hi + 1))
            for v in values:
                if not lo <= v <= hi:
                    diags.append(Diagnostic(
                        "TCP400" if p.name in fixed else "TCP303",
                        f"parameter '{p.name}' = {v} is outside its range {lo}..{hi}",
                        None if p.name in fixed else p.span))
                    continue
                nxt.append({**env, p.name: v})
        combos = nxt
    if diags:
        raise TcpcheckError(unique(diags))
    return combos


# the values of one parameter explored one by one (each is a separate initial state)
MAX_PARAM_VALUES = 100_000


def _constant_diagnostic(err: ConstantError, what: str, span: Span | None,
                         env: dict[str, int]) -> Diagnostic:
    notes = (f"with {assignments_text(env)}",) if env else ()
    return Diagnostic(err.code, f"{what}: {err.message}", span, notes)


def _constants(model: c.CheckedModel):
    """Every constant expression of the model: (expression, what, span, settings, scope)."""
    for name, dom in model.fields:
        for r in (dom.lo, dom.hi):
            yield r, f"segment field '{name}'", dom.span, None, None
    for g in model.globals:
        for r in (g.domain.lo, g.domain.hi, g.init):
            yield r, f"variable '{g.name}'", g.span, None, None
    for inst in model.instances:
        settings = dict(inst.bindings)
        for _name, r in inst.bindings:
            yield r, f"instance '{inst.name}'", inst.span, None, None
        for v in model.endpoint(inst.endpoint).vars:
            for r in (v.domain.lo, v.domain.hi, v.init):
                yield r, f"variable '{v.name}'", v.span, settings, inst.bindings
    for ch in model.channels:
        for r in (ch.capacity, ch.loss_max, ch.loss_when):
            yield r, f"channel {ch.name}", ch.span, None, None


def _constants_all_defined(model: c.CheckedModel, combos: list[dict[str, int]]) -> bool:
    """Whether every constant has a value in every combination, evaluating each expression
    once per distinct value of the parameters it reads (the same answer as evaluating it in
    each combination: it reads nothing else)."""
    seen: dict[tuple[str, ...], set[tuple[int, ...]]] = {}
    for r, _what, _span, settings, _scope in _constants(model):
        if r is None or type(r) is c.RConst:
            continue
        names = params_read(r, settings)
        if names not in seen:
            seen[names] = {tuple(env[n] for n in names) for env in combos}
        for values in seen[names]:
            try:
                eval_const(r, dict(zip(names, values)), settings)
            except ConstantError:
                return False
    return True


def check_constants(model: c.CheckedModel, combos: list[dict[str, int]]) -> None:
    """Work out every constant of the model (bounds, initial values, settings, capacities,
    losses) in every parameter combination, so that no later stage meets one without a
    value. TcpcheckError names the first combination in which each declaration fails."""
    if _constants_all_defined(model, combos):
        return      # the usual case, found quickly; else walk the combinations for the notes
    diags: list[Diagnostic] = []
    failed: set[int] = set()  # declarations already reported (by id of their span)

    def value(r: c.RExpr | None, what: str, span: Span, env, settings=None,
              scope=None) -> None:
        if r is None or id(span) in failed:
            return
        try:
            eval_const(r, env, settings)
        except ConstantError as err:
            failed.add(id(span))
            diags.append(_constant_diagnostic(err, what, span, env))

    for env in combos:
        for name, dom in model.fields:
            value(dom.lo, f"segment field '{name}'", dom.span, env)
            value(dom.hi, f"segment field '{name}'", dom.span, env)
        for g in model.globals:
            for r in (g.domain.lo, g.domain.hi, g.init):
                value(r, f"variable '{g.name}'", g.span, env)
        for inst in model.instances:
            settings = dict(inst.bindings)
            for _name, r in inst.bindings:
                value(r, f"instance '{inst.name}'", inst.span, env)
            for v in model.endpoint(inst.endpoint).vars:
                for r in (v.domain.lo, v.domain.hi, v.init):
                    value(r, f"variable '{v.name}'", v.span, env, settings, inst.bindings)
        for ch in model.channels:
            for r in (ch.capacity, ch.loss_max, ch.loss_when):
                value(r, f"channel {ch.name}", ch.span, env)
    if diags:
        raise TcpcheckError(diags)
