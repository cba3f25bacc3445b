"""The step semantics of the model language, stated once: the transition emitter.

`emit_steps` turns every transition of a checked model, in every instance, and the loss of
the head segment of every lossy channel, into a `StepCode`: the conditions under which the
step is enabled, in the order they are evaluated, and the Python statements that compute the
successor state. Every consumer of the semantics is a *sink* of these and adds nothing to
them: the successor function (tcpcheck.successors: simulate, replay, the tests) and the
inlined breadth-first loop (tcpcheck.searchloop: explore, check, map, graph). A rule of the
language changes here or nowhere; tests/test_sinks.py compares the sinks state by state.

The rules, in the order a step is decided (`_Emitter.transition` writes them):

1. **The event.** `recv FLAGS`: the head of the incoming channel has one of these flag
   sets (`recv any`: the channel is not empty); `expire T` and `after T`: timer T runs;
   `call` and `internal`: always.
2. **The guard**, with `and`/`or` short-circuiting left to right as written. It is evaluated
   in every state where the event is available, whatever the outgoing channel holds, so a
   guard that cannot be evaluated (a division by zero) is a model error (TCP501) wherever
   the transition could be tried; it never hides behind a full channel.
3. **Room.** When every path through the body sends the same number k of segments, the
   step is enabled only while the outgoing channel has room for k more; a step without room
   waits (it is not taken, and its body is not run). When paths send different numbers,
   each `send` checks for room where it stands and a send without room makes the whole step
   wait (the statements before it were run: an error there is reported).
4. **The body**, statement by statement, each seeing the assignments before it; `if`
   branches are tried in order (a transition taken along one path of its branches is a
   *variant*, the unit an edge names). Segments go into the channel in the order they are
   sent. A segment field outside its declared range is a model error (TCP500) at its
   `send`; a division by zero is one (TCP501) at its statement.
5. **The successor.** A received segment leaves its channel, an `after`/`expire` timer
   stops, then the body's effects; every variable the step may write is checked against its
   declared range (TCP500, at the assignment that wrote it on the path taken). With the
   dead-variable reduction (tcpcheck.liveness) the successor's dead variables are cleared.

Conditions that can neither fail nor depend on the event (the guard's first conjuncts over
variables) are tested first, and the room before the rest of the guard when that rest
cannot fail: the order changes no outcome, only how soon a disabled step is rejected.
Range checks the emitter can prove unnecessary are left out, and a working copy that the
body overwrites before reading is not made.

Generated code reads `v<i>`, the value of slot i of the source state `s`, and `h<i>`, the
head segment of the channel in slot i; the body writes `w<i>` (working copies), `vid` (the
variant) and `t` (the successor).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import model as c
from .params import eval_const
from .tcp import FLAG_WIDTH, flags_name
from .transitions import ChannelInfo, Slot, Variant


@dataclass(frozen=True, slots=True)
class StepCode:
    """One transition (or one loss) as code that every sink wraps in its own way.

    A sink evaluates `conditions` in order (short-circuit); when all hold it runs `body`,
    whose lines are indented from column 0, and at indentation `record_depth` (in units of
    four spaces) the successor `t` of variant `variant` (a number or the local `vid`) is
    complete: that is where the sink records it."""

    comment: str
    conditions: tuple[str, ...]
    body: tuple[str, ...]
    record_depth: int
    variant: str


@dataclass(frozen=True, slots=True)
class Emitted:
    """What the emitter produces for a whole model: the steps in successor order, the variants
    they number, and the constants their code refers to by name (K0, K1, ...)."""

    steps: tuple[StepCode, ...]
    variants: tuple[Variant, ...]
    consts: dict


@dataclass(frozen=True, slots=True)
class StateLayout:
    """Where everything lives in the packed state (built by tcpcheck.compile)."""

    model: c.CheckedModel
    slots: tuple[Slot, ...]
    channels: tuple[ChannelInfo, ...]
    seg_fields: tuple[tuple[str, int, int, int, c.Type], ...]  # name, offset, width, base, type
    seg_width: int
    slot_of: dict                # ("var", inst, name) / ("global", name) / ("param", name) /
                                 # ("timer", inst, name) / ("channel", name) / ("counter", ch)
    combos: tuple[dict, ...]     # every parameter combination


def emit_steps(layout: StateLayout, reduction: tuple = (), reduced_steps: dict | None = None
               ) -> Emitted:
    """Every step of the model, in the order successors are listed: the instances in order,
    each one's transitions in order, then the losses of the lossy channels."""
    em = _Emitter(layout, reduction, reduced_steps or {})
    steps = []
    for inst in layout.model.instances:
        ep = layout.model.endpoint(inst.endpoint)
        for tr in ep.transitions:
            steps.append(em.transition(inst, ep, tr))
    for ch in layout.channels:
        if ch.lossy:
            steps.append(em.loss(ch))
    return Emitted(tuple(steps), tuple(em.variants), em.consts)


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where an expression is written: whose variables, which of them the step has written
    (read from the working copy), and which variant and span a failure names."""

    inst: str | None
    settings: dict | None
    written: frozenset[int]
    vid: str
    span: object
    where: str


# free_position tests the slots of a channel one by one up to this many (fast for the small
# channels of real models); beyond, it counts the value's bits (a conditional per slot would
# nest past Python's limit of 200 parentheses)
_MAX_CHAINED_SLOTS = 8


class _Emitter:
    def __init__(self, layout: StateLayout, reduction: tuple, reduced_steps: dict):
        self.layout = layout
        self.model = layout.model
        self.slots = layout.slots
        self.slot_of = layout.slot_of
        self.seg_width = layout.seg_width
        self.reduction = reduction
        self.reduced_steps = reduced_steps
        self.variants: list[Variant] = []
        self.consts: dict[str, object] = {}
        self.lines: list[str] = []
        self.in_slot: int | None = None     # the incoming channel of the transition at hand
        self.send_index = 0                 # sends before this point on every path
        self.static_sends = False           # every path sends the same number of segments
        self.divisions = 0                  # names the locals of checked divisions
        self._const_params: frozenset[str] | None = None
        self._combos_over: dict[frozenset[str], list[dict]] = {}

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def const(self, value) -> str:
        name = f"K{len(self.consts)}"
        self.consts[name] = value
        return name

    def out_channel(self, inst: str) -> ChannelInfo:
        return next(ch for ch in self.layout.channels if ch.src == inst)

    def in_channel(self, inst: str) -> ChannelInfo:
        return next(ch for ch in self.layout.channels if ch.dst == inst)

    # -------------------------------------------------------- expressions

    def read(self, i: int, written: frozenset[int]) -> str:
        return f"w{i}" if i in written else f"v{i}"

    def expr(self, r: c.RExpr, sc: _Scope) -> str:
        if isinstance(r, c.RConst):
            return str(r.value)
        if isinstance(r, c.RParam):
            return f"v{self.slot_of[('param', r.name)]}"
        if isinstance(r, c.RGlobal):
            return self.read(self.slot_of[("global", r.name)], sc.written)
        if isinstance(r, c.RLocal):
            return self.read(self.slot_of[("var", sc.inst, r.name)], sc.written)
        if isinstance(r, c.RSetting):
            # a setting is a constant expression over parameters, bound per instance
            return self.expr(sc.settings[r.name], _Scope(None, None, sc.written, sc.vid,
                                                         sc.span, sc.where))
        if isinstance(r, c.RSeg):
            name, off, width, base, _t = next(f for f in self.layout.seg_fields
                                              if f[0] == r.field)
            text = f"((h{self.in_slot} >> {off}) & {(1 << width) - 1})"
            return f"({text} + {base})" if base else text
        if isinstance(r, c.RRunning):
            return self.read(self.slot_of[("timer", sc.inst, r.timer)], sc.written)
        if isinstance(r, c.RRoom):
            # capacity minus the segments in the channel (no segment code is zero, so the
            # last one ends where the value's bits end); the channel as the step found it
            out = self.out_channel(sc.inst)
            cap = next(m.capacity for m in self.model.channels if m.name == out.name)
            w = self.seg_width
            return f"({self.expr(cap, sc)} - (v{out.slot}.bit_length() + {w - 1}) // {w})"
        a = [self.expr(x, sc) for x in r.args]
        match r.op:
            case "not": return f"(not {a[0]})"
            case "neg": return f"(-{a[0]})"
            # Python's min(x) wants an iterable: min/max of one argument is the argument
            case "min" | "max" if len(a) == 1: return a[0]
            case "min" | "max": return f"{r.op}({', '.join(a)})"
            case "/" | "%": return self.division(r.op, a[0], a[1], sc)
            case op: return f"({a[0]} {op} {a[1]})"

    def division(self, op: str, a: str, b: str, sc: _Scope) -> str:
        """`/` rounds down; dividing by zero is the model's error (TCP501), named where it
        stands, never a Python exception. Each division has its own local for the divisor."""
        d = f"d{self.divisions}"
        self.divisions += 1
        what = self.const(f"division by zero in {sc.where}")
        py = "//" if op == "/" else "%"
        return f"(({a} {py} {d}) if ({d} := {b}) else Zero({sc.vid}, {what}, {self.const(sc.span)}))"

    def range_expr(self, dom: c.Domain, sc: _Scope) -> tuple[str, str]:
        return self.expr(dom.lo, sc), self.expr(dom.hi, sc)

    # -------------------------------------------------------- what the emitter can prove

    def interval(self, r: c.RExpr, env: dict, settings: dict, inst: str, written):
        """Bounds of an expression's value in one parameter combination, or None if unknown."""
        if isinstance(r, c.RConst):
            return r.value, r.value
        if isinstance(r, (c.RParam, c.RSetting)):
            v = eval_const(r, env, settings)
            return v, v
        if isinstance(r, c.RRunning):
            return 0, 1
        if isinstance(r, c.RRoom):
            return 0, self.out_channel(inst).capacity
        if isinstance(r, (c.RLocal, c.RGlobal)):
            key = ("var", inst, r.name) if isinstance(r, c.RLocal) else ("global", r.name)
            if self.slot_of[key] in written:
                return None  # may hold a value this step has not range-checked yet
            dom = self.var_domain(key)
            return eval_const(dom.lo, env, settings), eval_const(dom.hi, env, settings)
        if isinstance(r, c.RSeg):
            dom = dict(self.model.fields)[r.field]
            return eval_const(dom.lo, env), eval_const(dom.hi, env)
        assert isinstance(r, c.ROp)
        if r.op in ("not", "and", "or", "==", "!=", "<", "<=", ">", ">="):
            return 0, 1
        a = [self.interval(x, env, settings, inst, written) for x in r.args]
        if any(x is None for x in a):
            return None
        match r.op:
            case "neg": return -a[0][1], -a[0][0]
            case "+": return a[0][0] + a[1][0], a[0][1] + a[1][1]
            case "-": return a[0][0] - a[1][1], a[0][1] - a[1][0]
            case "*":
                p = [x * y for x in a[0] for y in a[1]]
                return min(p), max(p)
            case "min": return min(x[0] for x in a), min(x[1] for x in a)
            case "max": return max(x[0] for x in a), max(x[1] for x in a)
        return None  # / and %: not worth it

    @property
    def const_params(self) -> frozenset[str]:
        """The parameters that declared bounds, settings and capacities read."""
        if self._const_params is None:
            m = self.model
            exprs = [e for ep in m.endpoints for v in ep.vars for e in (v.domain.lo, v.domain.hi)]
            exprs += [e for v in m.globals for e in (v.domain.lo, v.domain.hi)]
            exprs += [e for _n, d in m.fields for e in (d.lo, d.hi)]
            exprs += [e for inst in m.instances for _n, e in inst.bindings]
            exprs += [ch.capacity for ch in m.channels]
            self._const_params = _param_names(exprs, {})
        return self._const_params

    def combos_over(self, names: frozenset[str]) -> list[dict]:
        """The parameter combinations told apart only by these parameters' values."""
        if names not in self._combos_over:
            distinct = {tuple(env[n] for n in sorted(names)) for env in self.layout.combos}
            self._combos_over[names] = [dict(zip(sorted(names), values))
                                        for values in sorted(distinct)]
        return self._combos_over[names]

    def var_domain(self, key) -> c.Domain:
        return self.var_decl(key).domain

    def var_decl(self, key) -> c.CVar:
        if key[0] == "var":
            inst = next(i for i in self.model.instances if i.name == key[1])
            return next(v for v in self.model.endpoint(inst.endpoint).vars if v.name == key[2])
        return next(g for g in self.model.globals if g.name == key[1])

    def fits(self, values: list[c.RExpr], dom: c.Domain, settings: dict, inst: str,
             written) -> bool:
        """Whether every one of these values provably lies in the domain, in every combination."""
        # only the parameters these bounds can read tell combinations apart here: the
        # domains' and settings', and those the values name (2,048 combinations are often 1)
        names = self.const_params | _param_names(values, settings)
        for env in self.combos_over(names):
            lo, hi = eval_const(dom.lo, env, settings), eval_const(dom.hi, env, settings)
            for r in values:
                iv = self.interval(r, env, settings, inst, written)
                if iv is None or iv[0] < lo or iv[1] > hi:
                    return False
        return True

    # -------------------------------------------------------- statements

    def written_slots(self, stmts, inst: str) -> set[int]:
        out: set[int] = set()
        for s in stmts:
            if isinstance(s, c.SAssign):
                out.add(self.slot_of[_slot_key(s.target, inst)])
            elif isinstance(s, c.SSend):
                out.add(self.out_channel(inst).slot)
            elif isinstance(s, c.STimer):
                out.add(self.slot_of[("timer", inst, s.timer)])
            elif isinstance(s, c.SIf):
                for _, b in s.branches:
                    out |= self.written_slots(b, inst)
        return out

    def block(self, stmts, depth: int, stride: int, sc: _Scope) -> None:
        # sends advance send_index statement by statement; every branch of an `if` starts
        # where the `if` starts (stmt sets it past the `if` afterwards)
        start = self.send_index
        counts = [n_paths([s]) for s in stmts]
        for i, s in enumerate(stmts):
            stride_i = stride
            for k in counts[i + 1:]:
                stride_i *= k
            self.stmt(s, depth, stride_i, sc)
        self.send_index = start

    def stmt(self, s, depth: int, stride: int, sc: _Scope) -> None:
        here = _Scope(sc.inst, sc.settings, sc.written, sc.vid, s.span, sc.where)
        if isinstance(s, c.SAssign):
            self.emit(depth, f"w{self.slot_of[_slot_key(s.target, sc.inst)]} = "
                      f"{self.expr(s.value, here)}")
        elif isinstance(s, c.STimer):
            self.emit(depth, f"w{self.slot_of[('timer', sc.inst, s.timer)]} = "
                      f"{1 if s.op == 'arm' else 0}")
        elif isinstance(s, c.SObserve):
            pass  # static: recorded on the variant
        elif isinstance(s, c.SSend):
            self.send(s, depth, here)
        else:
            assert isinstance(s, c.SIf)
            start = self.send_index
            offset = 0
            for k, (cond, body) in enumerate(s.branches):
                kw = "if" if k == 0 else ("elif" if cond is not None else "else")
                head = f"{kw} {self.expr(cond, here)}:" if cond is not None else "else:"
                self.emit(depth, head)
                if offset:
                    self.emit(depth + 1, f"vid += {offset * stride}")
                self.emit(depth + 1, "pass")
                self.block(body, depth + 1, stride, sc)
                offset += n_paths(body)
            if s.branches[-1][0] is not None and offset:
                self.emit(depth, "else:")  # the path that takes no branch comes last
                self.emit(depth + 1, f"vid += {offset * stride}")
            self.send_index = start + (_sends(s) if self.static_sends else 0)

    def send(self, s: c.SSend, depth: int, sc: _Scope) -> None:
        """Append a segment: its code is the flags in the low bits, then every field."""
        ch = self.out_channel(sc.inst)
        w = self.seg_width
        if not self.static_sends:
            # the number of segments in the channel decides where this one goes
            self.emit(depth, f"n = (w{ch.slot}.bit_length() + {w - 1}) // {w}")
            cap = next(m.capacity for m in self.model.channels if m.name == ch.name)
            self.emit(depth, f"if n >= {self.expr(cap, sc)}: break  # {ch.name} is full: wait")
        code = [str(s.flags)]
        for k, ((fname, fr), (_n, off, _w, base, _t)) in enumerate(zip(s.fields,
                                                                       self.layout.seg_fields)):
            dom = dict(self.model.fields)[fname]
            f = self.expr(fr, sc)
            if not self.fits([fr], dom, sc.settings, sc.inst, sc.written):
                lo, hi = self.range_expr(dom, sc)
                local = f"f{k}"
                self.emit(depth, f"{local} = {f}")
                msg = self.const(f"field '{fname}' of a {flags_name(s.flags)} segment is "
                                 "{value}, outside its range {lo}..{hi}")
                self.emit(depth, f"if not {lo} <= {local} <= {hi}: raise Bad({sc.vid}, 'TCP500', "
                          f"{msg}.format(value={local}, lo={lo}, hi={hi}), {self.const(s.span)})")
                f = local
            code.append(f"(({f} - {base}) << {off})" if base else f"({f} << {off})")
        if self.static_sends:
            shift = f"sh{ch.slot}" + (f" + {w * self.send_index}" if self.send_index else "")
        else:
            shift = f"{w} * n"
        self.emit(depth, f"w{ch.slot} |= ({' | '.join(code)}) << ({shift})")
        self.send_index += 1

    # -------------------------------------------------------- transitions

    def transition(self, inst: c.CInstance, ep: c.CEndpoint, tr: c.CTransition) -> StepCode:
        """The rules of the module docstring, for one transition of one instance."""
        settings = dict(inst.bindings)
        written = self.written_slots(tr.body, inst.name)
        incoming = self.in_channel(inst.name)
        out = self.out_channel(inst.name)
        if tr.event.kind == "recv":
            written.add(incoming.slot)
        timer_slot = None
        if tr.after is not None:
            timer_slot = self.slot_of[("timer", inst.name, tr.after)]
            written.add(timer_slot)
        written = frozenset(written)
        self.in_slot = incoming.slot
        base = len(self.variants)
        paths = n_paths(tr.body)
        vid = "vid" if paths > 1 else str(base)
        label = f"{inst.name}: on {tr.event.label()}"
        guard_scope = _Scope(inst.name, settings, frozenset(), str(base), tr.span,
                             f"the guard of {label}")
        body_scope = _Scope(inst.name, settings, written, vid, tr.span, label)

        # 1. the event
        event = []
        if tr.event.kind == "recv":
            h = f"h{incoming.slot}"
            if tr.event.patterns is None:
                event.append(h)
            else:
                pats = sorted(set(tr.event.patterns))
                fm = (1 << FLAG_WIDTH) - 1
                event.append(f"({h} & {fm}) == {pats[0]}" if len(pats) == 1
                             else f"({h} & {fm}) in {set(pats)!r}")
        if timer_slot is not None:
            event.append(f"v{timer_slot}")
        # 2. the guard: its leading conjuncts that cannot fail and do not read the segment
        # may be tested before the event; the rest keep their written order after it. Of
        # those leading ones, the conjuncts over parameters come after the event: replay
        # searches every parameter combination at once and splits them only where a step
        # reads a parameter (tcpcheck.combos), so a parameter is best read only where the
        # step is otherwise possible
        safe, rest = [], []
        for g in _conjuncts(tr.guard):
            movable = not rest and not _reads_seg(g) and _total(g)
            (safe if movable else rest).append(g)
        over_state = [self.expr(g, guard_scope) for g in safe
                      if not _reads_param(g, settings)]
        over_params = [self.expr(g, guard_scope) for g in safe if _reads_param(g, settings)]
        rest_can_fail = any(not _total(g) for g in rest)
        rest = [self.expr(g, guard_scope) for g in rest]
        # 3. room for what every path sends
        k_sends = _uniform_sends(tr.body)
        room = self.room(out, k_sends, guard_scope)
        conditions = (over_state + event + over_params
                      + (rest + room if rest_can_fail else room + rest))

        # 4. the body, 5. the successor
        self.lines = []
        d = 0
        self.static_sends = k_sends is not None
        self.send_index = 0
        if not self.static_sends:
            self.emit(d, "for _ in ONCE:")  # a full channel at a send breaks out: the step waits
            d += 1
        if k_sends:
            self.emit(d, f"sh{out.slot} = {self.free_position(out, k_sends)}")
        for i in sorted(written):
            if i == timer_slot or (i == incoming.slot and tr.event.kind == "recv"):
                continue
            if _needs_copy(tr.body, i, self.slot_of, inst.name) or i == out.slot:
                self.emit(d, f"w{i} = v{i}")
        if tr.event.kind == "recv":
            self.emit(d, f"w{incoming.slot} = v{incoming.slot} >> {self.seg_width}")
        if timer_slot is not None:
            self.emit(d, f"w{timer_slot} = 0")
        if paths > 1:
            self.emit(d, f"vid = {base}")
        self.block(tr.body, d, 1, body_scope)
        self.range_checks(d, inst, tr, written, body_scope)
        delta = " + ".join(f"((w{i} - v{i}) << {self.slots[i].offset})"
                           for i in sorted(written)) or "0"
        self.emit(d, f"t = s + {delta}")
        self.reduce_successor(d, inst.name, written, tr.index)
        self.add_variants(inst, tr, base)
        comment = f"# {label} ({tr.span.line}:{tr.span.column})"
        return StepCode(comment, tuple(conditions), tuple(self.lines), d, vid)

    def room(self, out: ChannelInfo, k_sends: int | None, sc: _Scope) -> list[str]:
        """Conditions: the channel has room for k more segments (none when k is unknown)."""
        if not k_sends:
            return []
        w = self.seg_width
        cap_expr = next(m.capacity for m in self.model.channels if m.name == out.name)
        if isinstance(cap_expr, c.RConst):
            return ([f"v{out.slot} < {1 << (w * (cap_expr.value - k_sends))}"]
                    if cap_expr.value >= k_sends else ["False"])
        cap = self.expr(cap_expr, sc)
        return [f"{cap} >= {k_sends}", f"v{out.slot} < (1 << ({w} * ({cap} - {k_sends})))"]

    def free_position(self, out: ChannelInfo, k_sends: int) -> str:
        """The bit position after the last segment in the channel (there is room for k)."""
        w = self.seg_width
        v = f"v{out.slot}"
        most = max(0, out.capacity - k_sends)  # segments the channel may already hold
        if most > _MAX_CHAINED_SLOTS:
            # no segment code is zero, so the last one ends where the value's bits end
            return f"(({v}).bit_length() + {w - 1}) // {w} * {w}"
        sh = str(w * most)
        for length in range(most - 1, -1, -1):
            sh = f"{w * length} if {v} < {1 << (w * length)} else ({sh})"
        return sh

    def range_checks(self, d: int, inst: c.CInstance, tr: c.CTransition, written, sc) -> None:
        """Every variable the step may write must end inside its declared range (TCP500)."""
        for i in sorted(written):
            slot = self.slots[i]
            if slot.kind not in ("var", "global"):
                continue
            key = ("var", inst.name, slot.name.split(".", 1)[1]) if slot.kind == "var" \
                else ("global", slot.name)
            decl = self.var_decl(key)
            values = _assigned_values(tr.body, i, self.slot_of, inst.name)
            if self.fits(values, decl.domain, dict(inst.bindings), inst.name, written):
                continue
            pre = _Scope(inst.name, dict(inst.bindings), frozenset(), sc.vid, decl.span, sc.where)
            lo, hi = self.range_expr(decl.domain, pre)
            msg = self.const(f"{slot.name} would become {{value}}, outside its range {{lo}}..{{hi}}")
            self.emit(d, f"if not {lo} <= w{i} <= {hi}: raise Bad({sc.vid}, 'TCP500', "
                      f"{msg}.format(value=w{i}, lo={lo}, hi={hi}), "
                      f"{self.assignment_span(tr, i, inst.name, decl.span, sc.vid)})")

    def assignment_span(self, tr: c.CTransition, i: int, inst: str, fallback, vid: str) -> str:
        """Where a range error of slot i is reported: the assignment that wrote its final
        value, which is the last one on the path (the variant) the step took. Only the
        failing step reads it, so a per-variant table costs the search nothing."""
        spans = []
        for effects in straight_paths(tr.body):
            last = [s for s in effects if isinstance(s, c.SAssign)
                    and self.slot_of[_slot_key(s.target, inst)] == i]
            spans.append(last[-1].span if last else fallback)
        if len(set(spans)) == 1:
            return self.const(spans[0])
        return f"{self.const(tuple(spans))}[{vid} - {len(self.variants)}]"

    def reduce_successor(self, d: int, inst: str, written, tr_index: int) -> None:
        """Clear the dead variables of `inst` in the successor `t`; not after a step that
        keeps a reduced state reduced (no variable written, or, per the liveness analysis,
        none that can be dead where the step fires, and the TCP state unchanged)."""
        if tr_index in self.reduced_steps.get(inst, ()):
            return
        for slot, table in self.reduction:
            s = self.slots[slot]
            if s.owner == inst and any(self.slots[i].kind == "var"
                                       and self.slots[i].owner == inst for i in written):
                self.emit(d, f"t &= {self.const(table)}[(t >> {s.offset}) & {s.mask}]")

    def add_variants(self, inst: c.CInstance, tr: c.CTransition, base: int) -> None:
        ch = self.out_channel(inst.name).name
        for p, effects in enumerate(straight_paths(tr.body)):
            sends = tuple((ch, e.flags) for e in effects if isinstance(e, c.SSend))
            arms = tuple(e.timer for e in effects if isinstance(e, c.STimer) and e.op == "arm")
            cancels = tuple(e.timer for e in effects
                            if isinstance(e, c.STimer) and e.op == "cancel")
            obs = tuple(e.name for e in effects if isinstance(e, c.SObserve))
            ops = tuple((e.op, e.timer) for e in effects if isinstance(e, c.STimer))
            self.variants.append(Variant(base + p, inst.name, tr.event, tr.index, p, sends,
                                         arms, cancels, tr.after, obs, tr.span, ops))

    # -------------------------------------------------------- the network

    def loss(self, ch: ChannelInfo) -> StepCode:
        """The network loses the head segment of a lossy channel: when the channel is not
        empty, the head has one of the `of` flag sets, fewer than `max` segments were lost and
        `when` holds. Nothing else changes but the loss counter."""
        vid = len(self.variants)
        decl = next(m for m in self.model.channels if m.name == ch.name)
        sc = _Scope(None, None, frozenset(), str(vid), decl.span, f"the loss on {ch.name}")
        conds = [f"v{ch.slot}"]
        if ch.loss_of is not None:
            conds.append(f"(v{ch.slot} & {(1 << FLAG_WIDTH) - 1}) in {set(sorted(ch.loss_of))!r}")
        if ch.loss_counter is not None:
            conds.append(f"v{ch.loss_counter} < {self.expr(decl.loss_max, sc)}")
        if decl.loss_when is not None:
            conds.append(f"({self.expr(decl.loss_when, sc)})")
        off = self.slots[ch.slot].offset
        delta = f"s + (((v{ch.slot} >> {self.seg_width}) - v{ch.slot}) << {off})"
        if ch.loss_counter is not None:
            delta += f" + (1 << {self.slots[ch.loss_counter].offset})"
        self.variants.append(Variant(vid, None, c.CEvent("internal", f"loss on {ch.name}"), -1,
                                     0, (), (), (), None, ("segment_lost",), None,
                                     lost_from=ch.name))
        return StepCode(f"# network: the head segment of {ch.name} is lost", tuple(conds),
                        (f"t = {delta}",), 0, str(vid))


# ---------------------------------------------------------------- paths through branches


def n_paths(stmts) -> int:
    """How many variants a body has: one per path through its branches."""
    n = 1
    for s in stmts:
        if isinstance(s, c.SIf):
            k = sum(n_paths(b) for _, b in s.branches)
            if s.branches[-1][0] is not None:
                k += 1  # no else: the path that takes no branch
            n *= k
    return n


def straight_paths(stmts) -> list[list]:
    """The straight-line effects of every path, in the order the code numbers them."""
    result: list[list] = [[]]
    for s in stmts:
        if isinstance(s, c.SIf):
            alts = [p for _, b in s.branches for p in straight_paths(b)]
            if s.branches[-1][0] is not None:
                alts.append([])
            result = [r + a for r in result for a in alts]
        else:
            result = [r + [s] for r in result]
    return result


# ---------------------------------------------------------------- helpers over the tree


def _conjuncts(g: c.RExpr | None) -> list[c.RExpr]:
    if g is None:
        return []
    if isinstance(g, c.ROp) and g.op == "and":
        return [x for a in g.args for x in _conjuncts(a)]
    return [g]


def _walk(r: c.RExpr):
    yield r
    if isinstance(r, c.ROp):
        for a in r.args:
            yield from _walk(a)


def _reads_seg(r: c.RExpr) -> bool:
    return any(isinstance(x, c.RSeg) for x in _walk(r))


def _param_names(exprs, settings: dict) -> frozenset[str]:
    """The parameters these expressions read, themselves or through an instance's setting."""
    out: set[str] = set()
    for r in exprs:
        for x in _walk(r):
            if isinstance(x, c.RParam):
                out.add(x.name)
            elif isinstance(x, c.RSetting) and x.name in settings:
                out |= _param_names([settings[x.name]], settings)
    return frozenset(out)


def _reads_param(r: c.RExpr, settings: dict) -> bool:
    """Whether the expression reads a parameter, itself or through an instance's setting."""
    return any(isinstance(x, c.RParam)
               or (isinstance(x, c.RSetting) and _reads_param(settings[x.name], settings))
               for x in _walk(r))


def _total(r: c.RExpr) -> bool:
    """Evaluating it can never fail (so it may be evaluated earlier than written)."""
    return not any(isinstance(x, c.ROp) and x.op in ("/", "%") for x in _walk(r))


def _sends(s) -> int:
    """Sends on every path through a statement (only called where that number is uniform)."""
    if isinstance(s, c.SSend):
        return 1
    if isinstance(s, c.SIf):
        return sum(_sends(x) for x in s.branches[0][1])
    return 0


def _uniform_sends(stmts) -> int | None:
    """The number of sends if every path through the statements has the same, else None."""
    total = 0
    for s in stmts:
        if isinstance(s, c.SSend):
            total += 1
        elif isinstance(s, c.SIf):
            counts = {_uniform_sends(b) for _, b in s.branches}
            if s.branches[-1][0] is not None:
                counts.add(0)
            if len(counts) != 1 or None in counts:
                return None
            total += counts.pop()
    return total


def _slot_key(target, inst: str) -> tuple:
    return ("var", inst, target.name) if isinstance(target, c.RLocal) else ("global", target.name)


def _expr_reads(r: c.RExpr, i: int, slot_of: dict, inst: str) -> bool:
    for x in _walk(r):
        if isinstance(x, (c.RLocal, c.RGlobal)) and slot_of[_slot_key(x, inst)] == i:
            return True
        if isinstance(x, c.RRunning) and slot_of[("timer", inst, x.timer)] == i:
            return True
    return False


def _mentions(s, i: int, slot_of: dict, inst: str) -> bool:
    if isinstance(s, c.SAssign):
        return slot_of[_slot_key(s.target, inst)] == i or _expr_reads(s.value, i, slot_of, inst)
    if isinstance(s, c.STimer):
        return slot_of[("timer", inst, s.timer)] == i
    if isinstance(s, c.SSend):
        return any(_expr_reads(r, i, slot_of, inst) for _, r in s.fields)
    if isinstance(s, c.SIf):
        return any((cond is not None and _expr_reads(cond, i, slot_of, inst))
                   or any(_mentions(x, i, slot_of, inst) for x in body)
                   for cond, body in s.branches)
    return False


def _needs_copy(stmts, i: int, slot_of: dict, inst: str) -> bool:
    """Whether the working copy w<i> must start as v<i>: not if the first statement that
    mentions slot i is a top-level assignment to it that does not read it."""
    for s in stmts:
        if not _mentions(s, i, slot_of, inst):
            continue
        if isinstance(s, c.SAssign) and slot_of[_slot_key(s.target, inst)] == i:
            return _expr_reads(s.value, i, slot_of, inst)
        if isinstance(s, c.STimer):
            return False
        return True
    return True


def _assigned_values(stmts, i: int, slot_of: dict, inst: str) -> list[c.RExpr]:
    out = []
    for s in stmts:
        if isinstance(s, c.SAssign) and slot_of[_slot_key(s.target, inst)] == i:
            out.append(s.value)
        elif isinstance(s, c.SIf):
            for _, body in s.branches:
                out += _assigned_values(body, i, slot_of, inst)
    return out


SLOT_REF = re.compile(r"\bv(\d+)\b")     # a slot's value read by generated code
HEAD_REF = re.compile(r"\bh(\d+)\b")     # a channel's head segment read by generated code
