"""Stage 2, the type checker: syntax tree -> checked model (tcpcheck.model).

Resolves names, checks types and ranges, and reports every error it finds with its span.
After this stage nothing depends on user input except the parameter values chosen at
compile time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import syntax as ast
from .diagnostics import Diagnostic, Span, TcpcheckError, did_you_mean
from .parse import keywords
from .model import (BOOL, CCall, CChannel, CEndpoint, CEvent, CInstance, CParam, CTimer, CTransition,
                    CVar, CheckedModel, Domain, INT, RConst, RExpr, RGlobal, RLocal, ROp, RParam,
                    RRoom, RRunning, RSeg, RSetting, SAssign, SIf, SObserve, SSend, SStmt, STimer, Type)
from .tcp import APP_CALLS, FLAG_BITS, TCP_STATES

FUNCTIONS = {"min", "max", "room", "running"}


# ---------------------------------------------------------------- the checker


@dataclass
class _Scope:
    """What names mean where an expression is checked."""

    endpoint: "_EndpointInfo | None" = None
    in_recv: bool = False
    constant: bool = False  # only parameters, constants and literals (type bounds, bindings)
    params_visible: frozenset[str] | None = None  # None: all


@dataclass
class _EndpointInfo:
    name: str
    settings: dict[str, Type] = field(default_factory=dict)
    vars: dict[str, Type] = field(default_factory=dict)
    timers: set[str] = field(default_factory=set)
    # names whose declaration had an error (already reported): uses of them stay quiet
    broken: set[str] = field(default_factory=set)


class _Checker:
    def __init__(self, mf: ast.ModelFile):
        self.mf = mf
        self.diags: list[Diagnostic] = []
        self.enums: dict[str, tuple[str, ...]] = {"tcp_state": TCP_STATES}
        self.enum_value: dict[str, tuple[str, int]] = {
            v: ("tcp_state", i) for i, v in enumerate(TCP_STATES)}
        self.params: dict[str, Type] = {}
        self.consts: dict[str, tuple[RExpr, Type]] = {}
        self.globals: dict[str, Type] = {}
        self.fields: dict[str, Type] = {}
        self.declared: dict[str, Span] = {}
        # names whose declaration had an error (already reported): uses of them stay quiet
        self.broken: set[str] = set()
        self.broken_fields: set[str] = set()
        self.param_names: set[str] = set()
        self.broken_settings: dict[str, set[str]] = {}  # endpoint -> settings with bad types
        self.lines = mf.text.split("\n")
        self.calls: dict[str, tuple[str, ...]] = dict(APP_CALLS)  # built-in, then declared
        self.own_calls: list[CCall] = []

    def error(self, code: str, message: str, span: Span | None, *notes: str) -> None:
        self.diags.append(Diagnostic(code, message, span, tuple(notes)))

    # -------------------------------------------------------- declarations

    def name_span(self, span: Span, name: str, after: str | None = None) -> Span:
        """Where `name` is written inside `span`: past its first word (the keyword), or past
        `after` when given. The span itself when the name is not on its first line."""
        line = self.lines[span.line - 1] if 0 < span.line <= len(self.lines) else ""
        stop = span.end_column - 1 if span.end_line == span.line else len(line)
        start = span.column - 1
        if after is not None:
            at = line.find(after, start, stop)
            start = at + len(after) if at >= 0 else start
        else:
            word = re.match(r"\w*", line[start:stop])
            start += word.end() if word else 0
        m = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)").search(line, start, stop)
        if not m:
            return span
        return Span(span.file, span.line, m.start() + 1, span.line, m.end() + 1)

    def reserved(self, name: str, at: Span, what: str) -> None:
        """A declared name that is a word of the language (TCP215). Lark's lexer would read
        `param true: bool` or `var when` as the word wherever both fit, so every use of the
        name would be a puzzling error elsewhere: say it once, at the declaration."""
        if name in keywords():
            self.error("TCP215", f"'{name}' is a word of the model language, not {_a_name(what)}",
                       at, f"rename it, e.g. '{name}_'")

    def declare(self, name: str, span: Span, what: str) -> bool:
        self.reserved(name, self.name_span(span, name), what)
        if name in self.declared:
            prev = self.declared[name]
            self.error("TCP200", f"{what} '{name}' is already declared",
                       self.name_span(span, name), f"first declared at {prev.line}:{prev.column}")
            return False
        self.declared[name] = span
        return True

    def run(self) -> CheckedModel:
        decls = self.mf.decls
        model_name, doc = Path(self.mf.path).stem, None
        for d in decls:
            if isinstance(d, ast.ModelDecl):
                model_name, doc = d.name, d.doc
        # enums first: their values may appear anywhere
        for d in decls:
            if isinstance(d, ast.EnumDecl):
                self.enum_decl(d)
        for d in decls:  # calls too: a transition may come before the call's declaration
            if isinstance(d, ast.CallDecl):
                self.call_decl(d)
        self.param_names = {d.name for d in decls if isinstance(d, ast.ParamDecl)}
        params: list[CParam] = []
        fields: list[tuple[str, Domain]] = []
        globals_: list[CVar] = []
        endpoints: list[CEndpoint] = []
        for d in decls:
            if isinstance(d, ast.ParamDecl):
                p = self.param_decl(d)
                if p:
                    params.append(p)
            elif isinstance(d, ast.ConstDecl):
                self.const_decl(d)
            elif isinstance(d, ast.SegmentDecl):
                for f in d.fields:
                    dom = self.domain(f.type, _Scope(constant=True))
                    self.reserved(f.name, self.name_span(f.span, f.name, after=""), "segment field")
                    if f.name in self.fields or f.name in self.broken_fields:
                        self.error("TCP200", f"segment field '{f.name}' is already declared",
                                   self.name_span(f.span, f.name, after=""))
                    elif dom is None:
                        self.broken_fields.add(f.name)
                    else:
                        self.fields[f.name] = dom.type
                        fields.append((f.name, dom))
            elif isinstance(d, ast.VarDecl):
                v = self.var_decl(d, _Scope(constant=False))
                if self.declare(d.name, d.span, "variable"):
                    if v is None:
                        self.broken.add(d.name)
                    else:
                        self.globals[d.name] = v.domain.type
                        globals_.append(v)
        for d in decls:
            if isinstance(d, ast.EndpointDecl):
                e = self.endpoint_decl(d)
                if e:
                    endpoints.append(e)
        instance_decls = [d for d in decls if isinstance(d, ast.InstanceDecl)]
        channel_decls = [d for d in decls if isinstance(d, ast.ChannelDecl)]
        instances = [i for d in instance_decls for i in [self.instance_decl(d, endpoints)] if i]
        declared = {d.name for d in instance_decls}
        channels = [c for d in channel_decls for c in [self.channel_decl(d, declared)] if c]
        self.topology(decls, instance_decls, channel_decls)
        self.unanswered_calls(decls)
        if any(d.severity == "error" for d in self.diags):
            # in file order, as a reader goes through the file (its warnings among them)
            raise TcpcheckError(sorted(self.diags, key=_position))
        return CheckedModel(model_name, doc, self.mf.path, self.mf.text,
                            tuple(self.enums.items()), tuple(params), tuple(fields),
                            tuple(globals_), tuple(endpoints), tuple(instances), tuple(channels),
                            tuple(self.own_calls), tuple(sorted(self.diags, key=_position)))

    def unanswered_calls(self, decls) -> None:
        """A declared call no transition answers is a warning (TCP216): the program can
        never make it, so a spec's `calls(I, NAME)` never holds, which is rarely meant."""
        answered = {tr.event.call for d in decls if isinstance(d, ast.EndpointDecl)
                    for tr in d.transitions if isinstance(tr.event, ast.AppCall)}
        for call in self.own_calls:
            if call.name not in answered:
                decl = next(d for d in decls if isinstance(d, ast.CallDecl) and d.name == call.name)
                self.diags.append(Diagnostic(
                    "TCP216", f"call '{call.name}' is declared but no transition answers it",
                    decl.name_span, (f"write 'on call {call.name}' in an endpoint, or remove "
                                     "the declaration",), severity="warning"))

    def call_decl(self, d: ast.CallDecl) -> None:
        # calls have their own namespace: a name after 'call' is never a variable or a value
        if d.name in keywords():
            # `on call any` would read as "on any call", `calls(I, when)` as the word
            self.error("TCP215", f"'{d.name}' is a word of the model language, not a call name",
                       d.name_span, "name the call after the step of your program it is, "
                       "e.g. 'drain' or 'half_close'")
            self.calls[d.name] = tuple(d.args)   # its uses stay quiet: the declaration is the error
            return
        if d.name in APP_CALLS:
            self.error("TCP200", f"'{d.name}' is a built-in application call", d.name_span,
                       "the built-in calls are " + _and_list(sorted(APP_CALLS)))
            return
        if d.name in self.calls:
            prev = next(c.span for c in self.own_calls if c.name == d.name)
            self.error("TCP200", f"call '{d.name}' is already declared", d.name_span,
                       f"first declared at {prev.line}:{prev.column}")
            return
        args: list[str] = []
        for arg, span in zip(d.args, d.arg_spans):
            if arg in args:
                self.error("TCP200", f"argument '{arg}' of call '{d.name}' is already declared",
                           span)
            else:
                args.append(arg)
        self.calls[d.name] = tuple(args)
        self.own_calls.append(CCall(d.name, tuple(args), d.span))

    def enum_decl(self, d: ast.EnumDecl) -> None:
        if not self.declare(d.name, d.span, "enum"):
            return
        seen = []
        for v, sp in zip(d.values, d.value_spans):
            self.reserved(v, sp, "enum value")
            if v in self.enum_value:
                other = self.enum_value[v][0]
                self.error("TCP200", f"enum value '{v}' is already a value of '{other}'", sp)
                continue
            self.enum_value[v] = (d.name, len(seen))
            seen.append(v)
        self.enums[d.name] = tuple(seen)

    def param_decl(self, d: ast.ParamDecl) -> CParam | None:
        scope = _Scope(constant=True, params_visible=frozenset(self.params))
        dom = self.domain(d.type, scope)
        default = None
        if d.default is not None and dom is not None:
            default = self.expect(d.default, dom.type, scope, "the parameter's default")
        if not self.declare(d.name, d.span, "parameter"):
            return None
        if dom is None:
            self.broken.add(d.name)
            return None
        self.params[d.name] = dom.type
        return CParam(d.name, dom, default, d.span)

    def const_decl(self, d: ast.ConstDecl) -> None:
        got = self.expr(d.value, _Scope(constant=True))
        if self.declare(d.name, d.span, "constant"):
            if got is None:
                self.broken.add(d.name)
            else:
                self.consts[d.name] = got

    def var_decl(self, d: ast.VarDecl, scope: _Scope) -> CVar | None:
        dom = self.domain(d.type, _Scope(constant=True, endpoint=scope.endpoint))
        if dom is None:
            return None
        init_scope = _Scope(endpoint=scope.endpoint, constant=True)
        init = self.expect(d.init, dom.type, init_scope, f"the initial value of '{d.name}'")
        if init is None:
            return None
        return CVar(d.name, dom, init, d.span)

    def domain(self, t: ast.TypeExpr, scope: _Scope) -> Domain | None:
        if isinstance(t, ast.BoolType):
            return Domain(BOOL, RConst(0), RConst(1), t.span)
        if isinstance(t, ast.NamedType):
            if t.name not in self.enums:
                self.error("TCP201", f"unknown type '{t.name}'" + did_you_mean(
                    t.name, ["bool", *self.enums]), t.span,
                    "a type is bool, a range lo..hi or an enum: " + _and_list(self.enums))
                return None
            return Domain(Type("enum", t.name), RConst(0),
                          RConst(len(self.enums[t.name]) - 1), t.span)
        lo = self.expect(t.lo, INT, scope, "a range bound")
        hi = self.expect(t.hi, INT, scope, "a range bound")
        if lo is None or hi is None:
            return None
        if isinstance(lo, RConst) and isinstance(hi, RConst) and lo.value > hi.value:
            self.error("TCP209", f"empty range {lo.value}..{hi.value}", t.span)
            return None
        return Domain(INT, lo, hi, t.span)

    def endpoint_decl(self, d: ast.EndpointDecl) -> CEndpoint | None:
        if not self.declare(d.name, d.span, "endpoint"):
            return None
        info = _EndpointInfo(d.name)
        self.broken_settings[d.name] = set()
        local_names: dict[str, Span] = {}

        def local(name: str, span: Span, what: str) -> bool:
            at = self.name_span(span, name, after="" if what == "setting" else None)
            self.reserved(name, at, what)
            if name in local_names:
                prev = local_names[name]
                self.error("TCP200", f"{what} '{name}' is already declared in endpoint '{d.name}'",
                           at, f"first declared at {prev.line}:{prev.column}")
                return False
            if name in self.enum_value:
                enum = self.enum_value[name][0]
                self.error("TCP200", f"{what} '{name}' has the name of a value of enum '{enum}'",
                           at)
                return False
            local_names[name] = span
            return True

        settings = []
        for s in d.settings:
            dom = self.domain(s.type, _Scope(constant=True))
            if local(s.name, s.span, "setting"):
                if dom is None:
                    info.broken.add(s.name)
                    self.broken_settings[d.name].add(s.name)
                else:
                    info.settings[s.name] = dom.type
                    settings.append((s.name, dom.type))
        timers = []
        for t in d.timers:
            if not local(t.name, t.span, "timer"):
                continue
            if t.lo.ms is None:
                self.error("TCP209", f"timer '{t.name}' needs a finite lower bound", t.lo.span)
                info.broken.add(t.name)
                continue
            if t.hi.ms is not None and t.hi.ms < t.lo.ms:
                self.error("TCP209", f"timer '{t.name}' has an empty duration range: its lower "
                           f"bound {t.lo} is more than its upper bound {t.hi}",
                           Span(t.span.file, t.lo.span.line, t.lo.span.column,
                                t.hi.span.end_line, t.hi.span.end_column))
                info.broken.add(t.name)
                continue
            info.timers.add(t.name)
            timers.append(CTimer(t.name, t.lo.ms, t.hi.ms, t.span))
        vars_ = []
        for v in d.vars:
            cv = self.var_decl(v, _Scope(endpoint=info))
            if local(v.name, v.span, "variable"):
                if cv is None:
                    info.broken.add(v.name)
                else:
                    info.vars[v.name] = cv.domain.type
                    vars_.append(cv)
        transitions = []
        for i, tr in enumerate(d.transitions):
            ct = self.transition(tr, info, i)
            if ct:
                transitions.append(ct)
        return CEndpoint(d.name, tuple(settings), tuple(vars_), tuple(timers),
                         tuple(transitions), d.span)

    def transition(self, tr: ast.Transition, info: _EndpointInfo, index: int) -> CTransition | None:
        ok = True
        ev = tr.event
        if isinstance(ev, ast.AppCall):
            if ev.call not in self.calls:
                hint = did_you_mean(ev.call, self.calls)
                notes = ["the calls are " + _and_list(sorted(self.calls))]
                if not hint:  # a step of the user's program that the model has not declared
                    notes.append(f"a call of the program's own is declared at top level: "
                                 f"'call {ev.call}'")
                self.error("TCP204", f"unknown application call '{ev.call}'" + hint,
                           self.name_span(ev.span, ev.call), *notes)
                ok = False
            else:
                allowed = self.calls[ev.call]
                if allowed and ev.arg not in allowed:
                    forms = _or_list(f"{ev.call}({a})" for a in allowed)
                    if ev.arg is None:
                        self.error("TCP213", f"{ev.call} needs an argument: {forms}",
                                   self.name_span(ev.span, ev.call))
                    else:
                        self.error("TCP213", f"{ev.call}() takes {_or_list(allowed)}, not "
                                   f"'{ev.arg}'" + did_you_mean(ev.arg, allowed),
                                   self.name_span(ev.span, ev.arg, after="("))
                    ok = False
                elif not allowed and ev.arg is not None:
                    self.error("TCP213", f"{ev.call}() takes no argument; write "
                               f"'on call {ev.call}'", self.name_span(ev.span, ev.arg, after="("))
                    ok = False
            event = CEvent("call", ev.call, ev.arg)
        elif isinstance(ev, ast.Recv):
            pats = None
            if ev.patterns is not None:
                pats = tuple(self.flags(p) for p in ev.patterns)
                if any(p is None for p in pats):
                    ok = False
            event = CEvent("recv", "", None, pats)  # type: ignore[arg-type]
        elif isinstance(ev, ast.Expire):
            ok &= self.timer_ref(ev.timer, info, self.name_span(ev.span, ev.timer))
            event = CEvent("expire", ev.timer)
        else:
            event = CEvent("internal", ev.name)
        if tr.after is not None:
            ok &= self.timer_ref(tr.after, info, tr.after_span)
            if isinstance(ev, ast.Expire):
                self.error("TCP202", "'expire' already waits for its timer; drop 'after'",
                           tr.after_span)
                ok = False
        scope = _Scope(endpoint=info, in_recv=isinstance(ev, ast.Recv))
        guard = None
        if tr.guard is not None:
            guard = self.expect(tr.guard, BOOL, scope, "a guard")
            ok &= guard is not None
        body = self.block(tr.body, scope)
        if body is None or not ok:
            return None
        return CTransition(index, event, tr.after if not isinstance(ev, ast.Expire) else ev.timer,
                           guard, body, tr.span)

    def timer_ref(self, name: str, info: _EndpointInfo, span: Span) -> bool:
        if name in info.timers:
            return True
        if name in info.broken:
            return False
        timers = (f"timers of endpoint '{info.name}': " + ", ".join(sorted(info.timers))
                  if info.timers else f"endpoint '{info.name}' declares no timer")
        if name in info.vars or name in info.settings:
            what = "a variable" if name in info.vars else "a setting"
            self.error("TCP205", f"'{name}' is {what}, not a timer", span,
                       timers)
            return False
        self.error("TCP205", f"unknown timer '{name}' in endpoint '{info.name}'"
                   + did_you_mean(name, info.timers), span, timers)
        return False

    def flags(self, f: ast.Flags) -> int | None:
        bits = 0
        for name in f.names:
            if name not in FLAG_BITS:
                self.error("TCP203", f"unknown segment flag '{name}'"
                           + did_you_mean(name, FLAG_BITS), self.name_span(f.span, name, after=""),
                           "the flags are " + _and_list(FLAG_BITS))
                return None
            bits |= FLAG_BITS[name]
        return bits

    def block(self, stmts, scope: _Scope) -> tuple[SStmt, ...] | None:
        out = []
        ok = True
        for s in stmts:
            r = self.stmt(s, scope)
            if r is None:
                ok = False
            else:
                out.append(r)
        return tuple(out) if ok else None

    def stmt(self, s: ast.Stmt, scope: _Scope) -> SStmt | None:
        info = scope.endpoint
        assert info is not None
        if isinstance(s, ast.Assign):
            if s.target in info.vars:
                target, ttype = RLocal(s.target), info.vars[s.target]
            elif s.target in self.globals:
                target, ttype = RGlobal(s.target), self.globals[s.target]
            else:
                ro = (s.target in info.settings and "an endpoint setting") or \
                     (s.target in self.params and "a parameter") or \
                     (s.target in self.consts and "a constant") or \
                     (s.target in self.enum_value and "an enum value")
                if ro:
                    self.error("TCP207", f"cannot assign '{s.target}': it is {ro}, not a variable",
                               s.target_span)
                elif s.target in self.broken or s.target in info.broken:
                    pass  # its declaration's error is already reported
                else:
                    self.error("TCP201", f"unknown variable '{s.target}'"
                               + did_you_mean(s.target, [*info.vars, *self.globals]), s.target_span)
                self.expr(s.value, scope)
                return None
            value = self.expect(s.value, ttype, scope, f"'{s.target}'")
            return SAssign(target, value, s.span) if value is not None else None
        if isinstance(s, ast.Send):
            bits = self.flags(s.flags)
            inits: dict[str, RExpr] = {}
            ok = bits is not None
            for fi in s.fields:
                if fi.field in self.broken_fields:
                    ok = False
                    continue
                if fi.field not in self.fields:
                    self.error("TCP206", f"unknown segment field '{fi.field}'"
                               + did_you_mean(fi.field, self.fields), fi.span)
                    ok = False
                    continue
                if fi.field in inits:
                    self.error("TCP200", f"field '{fi.field}' given twice", fi.span)
                    ok = False
                    continue
                v = self.expect(fi.value, self.fields[fi.field], scope, f"field '{fi.field}'")
                if v is None:
                    ok = False
                else:
                    inits[fi.field] = v
            if not ok:
                return None
            # unset fields are zero (or false, or the first enum value)
            fields = tuple((name, inits.get(name, RConst(0))) for name in self.fields)
            return SSend(bits, fields, s.span)
        if isinstance(s, (ast.Arm, ast.Cancel)):
            if not self.timer_ref(s.timer, info, self.name_span(s.span, s.timer)):
                return None
            return STimer("arm" if isinstance(s, ast.Arm) else "cancel", s.timer, s.span)
        if isinstance(s, ast.Observe):
            return SObserve(s.name, s.span)
        assert isinstance(s, ast.If)
        branches = []
        ok = True
        for cond, body in s.branches:
            c = None
            if cond is not None:
                c = self.expect(cond, BOOL, scope, "a condition")
                ok &= c is not None
            b = self.block(body, scope)
            ok &= b is not None
            branches.append((c, b))
        return SIf(tuple(branches), s.span) if ok else None

    # -------------------------------------------------------- expressions

    def expect(self, e: ast.Expr, want: Type, scope: _Scope, what: str) -> RExpr | None:
        got = self.expr(e, scope)
        if got is None:
            return None
        r, t = got
        if t != want:
            self.error("TCP202", f"{what} must be {_a(want)}, but this is {_a(t)}", e.span)
            return None
        return r

    def expr(self, e: ast.Expr, scope: _Scope) -> tuple[RExpr, Type] | None:
        if isinstance(e, ast.IntLit):
            return RConst(e.value), INT
        if isinstance(e, ast.BoolLit):
            return RConst(int(e.value)), BOOL
        if isinstance(e, ast.Name):
            return self.name(e, scope)
        if isinstance(e, ast.SegField):
            if not scope.in_recv:
                self.error("TCP208", "'seg' is the segment being received; use it only in "
                           "'on recv' transitions", e.span)
                return None
            if e.field in self.broken_fields:
                return None
            if e.field not in self.fields:
                self.error("TCP206", f"unknown segment field '{e.field}'"
                           + did_you_mean(e.field, self.fields), e.span)
                return None
            return RSeg(e.field), self.fields[e.field]
        if isinstance(e, ast.Call):
            return self.call(e, scope)
        if isinstance(e, ast.Unary):
            want = BOOL if e.op == "not" else INT
            r = self.expect(e.operand, want, scope, f"the operand of '{e.op}'")
            return (ROp("not" if e.op == "not" else "neg", (r,)), want) if r is not None else None
        assert isinstance(e, ast.Binary)
        left = self.expr(e.left, scope)
        right = self.expr(e.right, scope)
        if left is None or right is None:
            return None
        (lr, lt), (rr, rt) = left, right
        op = e.op
        if op in ("and", "or"):
            for side, t in ((e.left, lt), (e.right, rt)):
                if t != BOOL:
                    self.error("TCP202", f"'{op}' needs bool operands, but this is {_a(t)}", side.span)
                    return None
            return ROp(op, (lr, rr)), BOOL
        if op in ("==", "!="):
            if lt != rt:
                self.error("TCP202", f"cannot compare {_a(lt)} with {_a(rt)}", e.span)
                return None
            return ROp(op, (lr, rr)), BOOL
        for side, t in ((e.left, lt), (e.right, rt)):
            if t != INT:
                self.error("TCP202", f"'{op}' needs int operands, but this is {_a(t)}", side.span)
                return None
        return ROp(op, (lr, rr)), (BOOL if op in ("<", "<=", ">", ">=") else INT)

    def name(self, e: ast.Name, scope: _Scope) -> tuple[RExpr, Type] | None:
        n = e.name
        info = scope.endpoint
        if info is not None:
            if n in info.vars:
                if scope.constant:
                    return self.not_constant(e)
                return RLocal(n), info.vars[n]
            if n in info.settings:
                return RSetting(n), info.settings[n]
            if n in info.timers:
                self.error("TCP202", f"'{n}' is a timer; test it with running({n})", e.span)
                return None
        if n in self.globals:
            if scope.constant:
                return self.not_constant(e)
            return RGlobal(n), self.globals[n]
        if n in self.params:
            if scope.params_visible is not None and n not in scope.params_visible:
                self.error("TCP210", f"parameter '{n}' is declared later; a parameter may only "
                           "use the ones before it", e.span)
                return None
            return RParam(n), self.params[n]
        if n in self.consts:
            return self.consts[n]
        if n in self.enum_value:
            enum, index = self.enum_value[n]
            return RConst(index), Type("enum", enum)
        if n in self.param_names and n not in self.declared:
            self.error("TCP210", f"parameter '{n}' is declared later; declare it before "
                       "the first use", e.span)
            return None
        if n in self.broken or (info is not None and n in info.broken):
            return None  # its declaration's error is already reported
        cands = [*self.globals, *self.params, *self.consts, *self.enum_value]
        if info is not None:
            cands += [*info.vars, *info.settings, *info.timers]
        self.error("TCP201", f"unknown name '{n}'" + did_you_mean(n, cands), e.span)
        return None

    def not_constant(self, e: ast.Name):
        self.error("TCP210", f"'{e.name}' is a variable; only parameters, settings, constants "
                   "and literals are allowed here", e.span)
        return None

    def call(self, e: ast.Call, scope: _Scope) -> tuple[RExpr, Type] | None:
        if e.func == "running":
            info = scope.endpoint
            if info is None or scope.constant:
                self.error("TCP210", "running() is only allowed in transitions", e.span)
                return None
            if len(e.args) != 1 or not isinstance(e.args[0], ast.Name):
                self.error("TCP213", "running() takes one timer name", e.span)
                return None
            arg = e.args[0]
            if not self.timer_ref(arg.name, info, arg.span):
                return None
            return RRunning(arg.name), BOOL
        if e.func == "room":
            # the free places in the endpoint's outgoing channel: a writer that leaves room
            # for the ACK or RST its peer's segments will need (a bounded channel would
            # otherwise let two writers fill both ways and wait on each other forever)
            if scope.endpoint is None or scope.constant:
                self.error("TCP210", "room() is only allowed in transitions", e.span)
                return None
            if e.args:
                self.error("TCP213", "room() takes no argument", e.span)
                return None
            return RRoom(), INT
        if e.func in ("min", "max"):
            if not e.args:
                self.error("TCP213", f"{e.func}() needs at least one argument", e.span)
                return None
            args = [self.expect(a, INT, scope, f"an argument of {e.func}()") for a in e.args]
            if any(a is None for a in args):
                return None
            return ROp(e.func, tuple(args)), INT
        self.error("TCP214", f"unknown function '{e.func}'" + did_you_mean(e.func, FUNCTIONS),
                   self.name_span(e.span, e.func, after=""),
                   "the functions are min, max, room and running")
        return None

    # -------------------------------------------------------- instances and channels

    def instance_decl(self, d: ast.InstanceDecl, endpoints: list[CEndpoint]) -> CInstance | None:
        if not self.declare(d.name, d.span, "instance"):
            return None
        ep = next((e for e in endpoints if e.name == d.endpoint), None)
        if ep is None:
            self.error("TCP201", f"unknown endpoint '{d.endpoint}'"
                       + did_you_mean(d.endpoint, [e.name for e in endpoints]), d.endpoint_span)
            return None
        settings = dict(ep.settings)
        given: dict[str, RExpr] = {}
        named: set[str] = set()
        ok = True
        broken = self.broken_settings.get(ep.name, set())
        names = [*settings, *sorted(broken)]
        for b in d.bindings:
            if b.name in broken:  # the setting's own declaration is already reported
                named.add(b.name)
                ok = False
                continue
            if b.name not in settings:
                self.error("TCP211", f"endpoint '{ep.name}' has no setting '{b.name}'"
                           + did_you_mean(b.name, settings), self.name_span(b.span, b.name, ""),
                           f"its settings are {_and_list(names)}" if names
                           else f"endpoint '{ep.name}' has no settings")
                ok = False
                continue
            if b.name in named:
                self.error("TCP200", f"setting '{b.name}' given twice",
                           self.name_span(b.span, b.name, ""))
                ok = False
                continue
            named.add(b.name)
            v = self.expect(b.value, settings[b.name], _Scope(constant=True),
                            f"setting '{b.name}'")
            if v is None:
                ok = False
            else:
                given[b.name] = v
        missing = [s for s in settings if s not in named and s not in broken]
        if missing:
            self.error("TCP212", f"instance '{d.name}' does not set " + _and_list(
                f"'{m}'" for m in missing), d.span,
                f"write {ep.name}(" + ", ".join(f"{m} = ..." for m in settings) + ")")
            ok = False
        if not ok:
            return None
        return CInstance(d.name, ep.name, tuple((s, given[s]) for s in settings), d.span)

    def channel_decl(self, d: ast.ChannelDecl, declared: set[str]) -> CChannel | None:
        """Check a channel; `declared` holds every instance name written in the file."""
        ok = True
        for n, after in ((d.src, None), (d.dst, "->")):
            if n not in declared:
                self.error("TCP201", f"unknown instance '{n}' in channel"
                           + did_you_mean(n, declared), self.name_span(d.span, n, after))
                ok = False
            elif n in self.broken:
                ok = False
        if ok and d.src == d.dst:
            self.error("TCP302", "a channel connects two different endpoints", d.span)
            ok = False
        cap: RExpr | None = RConst(1)
        if d.capacity is not None:
            cap = self.expect(d.capacity, INT, _Scope(constant=True), "a capacity")
        delay: tuple[float, float | None] = (0.0, None)
        if d.delay is not None:
            lo, hi = d.delay
            if lo.ms is None:
                self.error("TCP209", "a channel's delay needs a finite lower bound", lo.span)
                ok = False
            elif hi.ms is not None and hi.ms < lo.ms:
                self.error("TCP209", f"delay {lo}..{hi}: the lower bound is above the upper",
                           lo.span)
                ok = False
            else:
                delay = (lo.ms, hi.ms)
        loss_max = loss_when = None
        loss_of = None
        if d.loss_max is not None:
            loss_max = self.expect(d.loss_max, INT, _Scope(constant=True), "the number of losses")
            ok &= loss_max is not None
        if d.loss_when is not None:
            loss_when = self.expect(d.loss_when, BOOL, _Scope(constant=True), "a loss condition")
            ok &= loss_when is not None
        if d.loss_of is not None:
            pats = tuple(self.flags(f) for f in d.loss_of)
            ok &= all(p is not None for p in pats)
            loss_of = pats
        if not ok or cap is None:
            return None
        return CChannel(d.src, d.dst, cap, d.lossy, d.span, delay, loss_max, loss_when, loss_of)

    def topology(self, decls, instances: list[ast.InstanceDecl],
                 channels: list[ast.ChannelDecl]) -> None:
        """Two instances and one channel each way, judged from the declarations as written,
        so that these errors show even when the declarations have errors of their own."""
        names = list(dict.fromkeys(d.name for d in instances))
        if len(names) != 2:
            msg = (f"a model has exactly two endpoint instances (client and server); this one "
                   f"has {len(names)}")
            endpoints = [d for d in decls if isinstance(d, ast.EndpointDecl)]
            ep = endpoints[0].name if endpoints else "E"
            if len(names) > 2:
                third = next(d for d in instances if d.name == names[2])
                self.error("TCP300", msg, self.name_span(third.span, third.name),
                           f"the first two are '{names[0]}' and '{names[1]}'")
            elif names:
                self.error("TCP300", msg, instances[0].span,
                           f"declare the other one, e.g. 'instance server = {ep}(...)'")
            else:
                span = (self.name_span(endpoints[-1].span, endpoints[-1].name) if endpoints
                        else Span(self.mf.path, 1, 1, 1, 2))
                self.error("TCP300", msg, span, f"declare them: 'instance client = {ep}(...)' "
                           f"and 'instance server = {ep}(...)'")
            return
        if any(n not in names or n in self.broken for c in channels for n in (c.src, c.dst)) \
                or any(c.src == c.dst for c in channels):
            return  # a channel with a wrong end is already reported; a missing one would repeat it
        seen: dict[tuple[str, str], ast.ChannelDecl] = {}
        for c in channels:
            first = seen.get((c.src, c.dst))
            if first is not None:
                self.error("TCP302", f"a second channel {c.src} -> {c.dst}", c.span,
                           f"the first is at {first.span.line}:{first.span.column}")
            else:
                seen[(c.src, c.dst)] = c
        a, b = names
        near = channels[-1].span if channels else instances[-1].span
        for src, dst in ((a, b), (b, a)):
            if (src, dst) not in seen:
                self.error("TCP301", f"no channel {src} -> {dst}: every model needs one channel "
                           "each way", near, f"declare it: 'channel {src} -> {dst} capacity N'")


def _position(d: Diagnostic) -> tuple[int, int]:
    return (d.span.line, d.span.column) if d.span is not None else (1 << 30, 0)


def _and_list(words) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _or_list(words) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _a(t: Type) -> str:
    s = str(t)
    return ("an " if s[0] in "aeiou" else "a ") + s


def _a_name(what: str) -> str:
    """'a parameter name', 'an enum value name'."""
    return ("an " if what[0] in "aeiou" else "a ") + what + " name"


def check(mf: ast.ModelFile) -> CheckedModel:
    """Resolve and type-check a parsed model; raise TcpcheckError with every error found."""
    return _Checker(mf).run()
