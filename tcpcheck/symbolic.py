"""The symbolic engine: a third sink of the emitted steps (tcpcheck.emit), on z3.

The steps' conditions and bodies are the Python text emit.py writes for every sink; this
module reads that text (Python's own `ast`) and executes it with z3 bit-vectors in place of
ints, forking at every `if`. Nothing here restates a rule of the language: a step is
enabled, waits, fails or makes its successor exactly where the generated code says so.
The slots are decoded with the successor function's own decoding lines
(successors.decode_line, head_line) from the bit-vector `s`, and a successor is the
bit-vector `t` the body computes. For bounded model checking `s` is a SlotState's packed
vector: one small variable per slot concatenated at the slots' offsets (the layout of the
transition system), and the body's `t = s + ((w - v) << offset) + ...` is built slot by
slot, so a decoded slot simplifies to its variable and no wide adder reaches the solver.

What comes out is, per step, when it is enabled, its successors (one per path through the
body's branches, with the path's variant) and when it fails (a range error or a division by
zero: the model's error). tcpcheck.bmc unrolls these for bounded model checking.

The bit-vectors are wider than the packed state by a margin, and read as two's-complement
numbers: every value the generated code computes (a slot, a field, a channel, the
difference of two slots shifted into place) then has its Python value, and a successor,
computed modulo 2**width, is the same packed int.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import z3

from .successors import decode_line, head_line
from .transitions import TransitionSystem

MARGIN_BITS = 16   # above the packed state: signs and intermediate values


class UnsupportedCode(Exception):
    """The generated code uses a construct this sink cannot execute symbolically: a bug to
    fix here (emit.py grew a construct), never a verdict."""


@dataclass(frozen=True)
class SymbolicPath:
    """One path through a step's body: taken when `condition` holds; its successor is
    `successor` and it is variant `variant` (every path's variant is a constant)."""

    condition: z3.BoolRef
    successor: z3.BitVecRef
    variant: int


@dataclass(frozen=True)
class SymbolicStep:
    """One emitted step over the state `s`: its paths (the step is enabled where one of their
    conditions holds) and where trying it is the model's error."""

    comment: str
    paths: tuple[SymbolicPath, ...]
    error: z3.BoolRef

    @property
    def enabled(self) -> z3.BoolRef:
        return z3.Or([p.condition for p in self.paths]) if self.paths else z3.BoolVal(False)


def width_of(ts: TransitionSystem) -> int:
    return max(ts.state_bits, 1) + MARGIN_BITS


@dataclass(frozen=True)
class SlotState:
    """One state as one small z3 bit-vector per slot (as wide as the slot), in the slots'
    order; slots of width 0 (constants) have none. `packed` is the same state as the
    bit-vector the generated code reads (`s`): the slots concatenated at their offsets,
    zero above, so decoding a slot from it simplifies back to the slot's variable and the
    solver never sees the wide state as an unknown."""

    slots: tuple[z3.BitVecRef | None, ...]
    width: int

    @property
    def variables(self) -> tuple[z3.BitVecRef, ...]:
        return tuple(v for v in self.slots if v is not None)

    @property
    def packed(self) -> z3.BitVecRef:
        parts = [v for v in reversed(self.slots) if v is not None]   # high slots first
        used = sum(v.size() for v in parts)
        if self.width > used:
            parts.insert(0, z3.BitVecVal(0, self.width - used))
        return z3.Concat(parts) if len(parts) > 1 else parts[0]

    def equals(self, t: z3.BitVecRef, ts: TransitionSystem) -> z3.BoolRef:
        """This state is the packed value `t` (a successor the generated code computes):
        slot by slot, and nothing set above the packed state (an int the explicit engine
        would hold there is no state of ours)."""
        eqs = [v == z3.Extract(slot.offset + slot.width - 1, slot.offset, t)
               for v, slot in zip(self.slots, ts.slots) if v is not None]
        top = max(ts.state_bits, 0)
        eqs.append(z3.Extract(self.width - 1, top, t) == 0)
        return z3.And(eqs)

    def pack(self, m: z3.ModelRef, ts: TransitionSystem) -> int:
        """The packed int of this state in the model `m`."""
        out = 0
        for v, slot in zip(self.slots, ts.slots):
            if v is not None:
                out |= m.eval(v, model_completion=True).as_long() << slot.offset
        return out

    def is_value(self, packed: int, ts: TransitionSystem) -> z3.BoolRef:
        return z3.And([v == (packed >> slot.offset) & slot.mask
                       for v, slot in zip(self.slots, ts.slots) if v is not None])


def slot_state(ts: TransitionSystem, name: str) -> SlotState:
    """Fresh per-slot variables named `name.<slot>`, laid out as the successor function's
    own decoding reads them (each slot's offset and width from the transition system);
    falls back to no per-slot split only if the slots do not tile the packed state."""
    slots = tuple(z3.BitVec(f"{name}.{slot.name}", slot.width) if slot.width else None
                  for slot in ts.slots)
    covered = sorted((slot.offset, slot.width) for slot in ts.slots if slot.width)
    at = 0
    for offset, width in covered:
        if offset != at:
            raise UnsupportedCode(f"the slots do not tile the packed state at bit {at}")
        at += width
    if at != ts.state_bits:
        raise UnsupportedCode("the slots do not cover the packed state")
    return SlotState(slots, width_of(ts))


def symbolic_steps(ts: TransitionSystem, s: z3.BitVecRef,
                   by_slot: bool = False) -> tuple[SymbolicStep, ...]:
    """Every step of `ts`, in step order, as z3 terms over the packed state `s`; `by_slot`
    (when `s` is a SlotState's packed vector) builds each successor slot by slot, so no
    wide adder reaches the solver."""
    w = s.size()
    env: dict = {"s": s}
    layout = [(slot.offset, slot.width, slot.base) for slot in ts.slots] if by_slot else None
    run = _Run(ts.consts, w, max(slot.width for slot in ts.slots), layout)
    decoding = [decode_line(ts, i) for i in range(len(ts.slots))]
    decoding += [head_line(ts, ch.slot) for ch in ts.channels]
    for line in decoding:
        for st in ast.parse(line).body:
            run.stmt(st, _Path(z3.BoolVal(True), env, "ok"))
    return tuple(run.step(step, env) for step in ts.steps)


def transition(steps: tuple[SymbolicStep, ...], nxt: z3.BitVecRef) -> z3.BoolRef:
    """s -> nxt is a step (the state `s` the steps were built over)."""
    return z3.Or([z3.And(p.condition, nxt == p.successor) for st in steps for p in st.paths])


def failing(steps: tuple[SymbolicStep, ...]) -> z3.BoolRef:
    """Trying some step in `s` is the model's error."""
    return z3.Or([st.error for st in steps])


# ---------------------------------------------------------------- executing the code


@dataclass
class _Path:
    """One path through a body so far: its condition, its locals, and how it stands: "ok"
    (running), "wait" (a send found its channel full: the step is not taken), "error"."""

    pc: z3.BoolRef
    env: dict
    status: str


class _Run:
    def __init__(self, consts: dict, width: int, slot_bits: int, layout=None):
        self.layout = layout      # the slots (offset, width, base) when `s` is per-slot
        self.consts = consts
        self.width = width
        self.slot_bits = slot_bits   # no slot is wider: what bit_length is asked of fits
        self.errors: list[z3.BoolRef] = []   # where a division by zero is reached

    def int_(self, x):
        if isinstance(x, int):
            return z3.BitVecVal(x, self.width)
        if z3.is_bool(x):
            return z3.If(x, z3.BitVecVal(1, self.width), z3.BitVecVal(0, self.width))
        return x

    def bool_(self, x):
        if isinstance(x, bool):
            return z3.BoolVal(x)
        if isinstance(x, int):
            return z3.BoolVal(x != 0)
        return x if z3.is_bool(x) else x != 0

    # ---------------------------------------------------- a step

    def step(self, step, env: dict) -> SymbolicStep:
        self.errors = []
        ctx = z3.BoolVal(True)
        for text in step.conditions:
            ctx = z3.And(ctx, self.bool_(self.expr(_parse_expr(text), ctx, env)))
        body = ast.parse("\n".join(step.body)).body if step.body else []
        ends = self.block(body, [_Path(ctx, dict(env), "ok")])
        if step.record_depth not in (0, 1):
            raise UnsupportedCode(f"a successor recorded at depth {step.record_depth}")
        paths = []
        for p in ends:
            if p.status == "ok":
                vid = z3.simplify(self.int_(p.env["vid"] if step.variant == "vid"
                                            else int(step.variant)))
                if not z3.is_bv_value(vid):
                    raise UnsupportedCode(f"{step.comment}: a variant that is not a constant")
                paths.append(SymbolicPath(p.pc, self.int_(p.env["t"]), vid.as_signed_long()))
        error = z3.Or(self.errors + [p.pc for p in ends if p.status == "error"])
        return SymbolicStep(step.comment, tuple(paths), error)

    def block(self, stmts, paths: list[_Path]) -> list[_Path]:
        for st in stmts:
            nxt: list[_Path] = []
            for p in paths:
                nxt.extend(self.stmt(st, p) if p.status == "ok" else [p])
            paths = nxt
        return paths

    def stmt(self, st, p: _Path) -> list[_Path]:
        env = p.env
        if isinstance(st, ast.Assign) and len(st.targets) == 1 \
                and isinstance(st.targets[0], ast.Name):
            changed = _slot_updates(st.value) if self.layout is not None else None
            if changed is not None and st.targets[0].id == "t":
                env["t"] = self.successor_by_slot(changed, p, env)
                return [p]
            env[st.targets[0].id] = self.expr(st.value, p.pc, env)
            return [p]
        if isinstance(st, ast.AugAssign) and isinstance(st.target, ast.Name):
            value = ast.BinOp(ast.Name(st.target.id, ast.Load()), st.op, st.value)
            env[st.target.id] = self.expr(value, p.pc, env)
            return [p]
        if isinstance(st, ast.Pass):
            return [p]
        if isinstance(st, ast.Break):
            return [_Path(p.pc, env, "wait")]
        if isinstance(st, ast.Raise):
            return [_Path(p.pc, env, "error")]
        if isinstance(st, ast.If):
            cond = self.bool_(self.expr(st.test, p.pc, env))
            yes = self.block(st.body, [_Path(z3.And(p.pc, cond), dict(env), "ok")])
            no = self.block(st.orelse, [_Path(z3.And(p.pc, z3.Not(cond)), dict(env), "ok")])
            return [q for q in yes + no if not z3.is_false(z3.simplify(q.pc))]
        if isinstance(st, ast.For) and isinstance(st.iter, ast.Name) and st.iter.id == "ONCE":
            # a loop run once, left early by a send that finds its channel full: the step
            # waits (the `break` path ends as "wait"; the successor is recorded inside)
            return self.block(st.body, [p])
        raise UnsupportedCode(f"statement {ast.dump(st)[:80]}")

    def successor_by_slot(self, changed: dict[int, list[tuple[str, str]]], p: _Path,
                         env: dict):
        """`t = s + ((w - v) << offset) + ...`, the generated code's successor, built slot by
        slot: a changed slot holds its new value, the others are read from `s`. Equal to the
        generated sum wherever each new value fits its slot; where one does not (the sum
        would carry into the next slot) the step is marked failing, which the successor
        function must confirm (bmc: a loud RunDoesNotReplay otherwise), never a silent
        difference."""
        by_offset = {off: (i, w, base) for i, (off, w, base) in enumerate(self.layout) if w}
        parts, fits = [], []
        for off in sorted(by_offset, reverse=True):
            i, w, base = by_offset[off]
            # a slot of width 0 (a constant) shares its offset with the slot after it; its
            # change is 0 on every path that keeps it in range (the code checks the range
            # before the sum), so only the slot that holds the bits is written
            terms = [(new, old) for new, old in changed.get(off, ())
                     if self._width_of_value(new) != 0]
            if terms:
                if len(terms) > 1:
                    raise UnsupportedCode(f"two slots change at bit {off}")
                new_name, old_name = terms[0]
                raw = self.int_(env[new_name]) - base
                fits.append(z3.And(raw >= 0, raw <= (1 << w) - 1))
                parts.append(z3.Extract(w - 1, 0, raw))
            else:
                parts.append(z3.Extract(off + w - 1, off, env["s"]))
        used = sum(x.size() for x in parts)
        if self.width > used:
            parts.insert(0, z3.BitVecVal(0, self.width - used))
        if fits:
            self.errors.append(z3.And(p.pc, z3.Not(z3.And(fits))))
        return z3.Concat(parts) if len(parts) > 1 else parts[0]

    def _width_of_value(self, name: str) -> int | None:
        """The width of the slot a successor's new value `w<i>` is written to (emit.py
        names slot i's values v<i> and w<i>); None for any other name."""
        m = re.fullmatch(r"w(\d+)", name)
        return self.layout[int(m.group(1))][1] if m and int(m.group(1)) < len(self.layout) \
            else None

    # ---------------------------------------------------- expressions

    def expr(self, e, ctx, env):
        """The value of `e`, evaluated where `ctx` holds (a division by zero there is an
        error of the step)."""
        if isinstance(e, ast.Constant) and isinstance(e.value, (bool, int)):
            return z3.BoolVal(e.value) if isinstance(e.value, bool) else self.int_(e.value)
        if isinstance(e, ast.Name):
            if e.id in env:
                return env[e.id]
            if e.id in self.consts:
                return self.consts[e.id]
            raise UnsupportedCode(f"the name {e.id}")
        if isinstance(e, ast.NamedExpr):
            env[e.target.id] = value = self.expr(e.value, ctx, env)
            return value
        if isinstance(e, ast.BoolOp):
            parts, here = [], ctx
            for a in e.values:
                b = self.bool_(self.expr(a, here, env))
                parts.append(b)
                here = z3.And(here, b if isinstance(e.op, ast.And) else z3.Not(b))
            return z3.And(parts) if isinstance(e.op, ast.And) else z3.Or(parts)
        if isinstance(e, ast.UnaryOp):
            x = self.expr(e.operand, ctx, env)
            if isinstance(e.op, ast.Not):
                return z3.Not(self.bool_(x))
            if isinstance(e.op, ast.USub):
                return -self.int_(x)
        if isinstance(e, ast.BinOp):
            return self.binop(e.op, self.int_(self.expr(e.left, ctx, env)),
                              self.int_(self.expr(e.right, ctx, env)))
        if isinstance(e, ast.Compare):
            return self.compare(e, ctx, env)
        if isinstance(e, ast.IfExp):
            test = self.bool_(self.expr(e.test, ctx, env))
            yes = self.expr(e.body, z3.And(ctx, test), env)
            no = self.expr(e.orelse, z3.And(ctx, z3.Not(test)), env)
            if z3.is_bool(yes) and z3.is_bool(no):
                return z3.If(test, yes, no)
            return z3.If(test, self.int_(yes), self.int_(no))
        if isinstance(e, ast.Call):
            return self.call(e, ctx, env)
        if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Name):
            table = self.consts[e.value.id]
            index = self.int_(self.expr(e.slice, ctx, env))
            out = self.int_(0)
            for k in range(len(table) - 1, -1, -1):
                out = z3.If(index == k, self.int_(table[k]), out)
            return out
        raise UnsupportedCode(f"expression {ast.dump(e)[:80]}")

    def binop(self, op, a, b):
        match op:
            case ast.Add(): return a + b
            case ast.Sub(): return a - b
            case ast.Mult(): return a * b
            case ast.BitAnd(): return a & b
            case ast.BitOr(): return a | b
            case ast.LShift(): return a << b
            case ast.RShift(): return a >> b       # arithmetic, as Python's
            case ast.FloorDiv(): return _floordiv(a, b)
            case ast.Mod(): return a - b * _floordiv(a, b)  # Python's sign: the divisor's
        raise UnsupportedCode(f"operator {type(op).__name__}")

    def compare(self, e: ast.Compare, ctx, env):
        left = self.expr(e.left, ctx, env)
        parts = []
        for op, right_node in zip(e.ops, e.comparators):
            if isinstance(op, ast.In) and isinstance(right_node, ast.Set):
                members = [self.int_(self.expr(x, ctx, env)) for x in right_node.elts]
                parts.append(z3.Or([self.int_(left) == m for m in members]))
                continue
            right = self.expr(right_node, ctx, env)
            a, b = self.int_(left), self.int_(right)
            match op:
                case ast.Eq(): parts.append(a == b)
                case ast.NotEq(): parts.append(a != b)
                case ast.Lt(): parts.append(a < b)
                case ast.LtE(): parts.append(a <= b)
                case ast.Gt(): parts.append(a > b)
                case ast.GtE(): parts.append(a >= b)
                case _: raise UnsupportedCode(f"comparison {type(op).__name__}")
            left = right
        return z3.And(parts) if len(parts) > 1 else parts[0]

    def call(self, e: ast.Call, ctx, env):
        f = e.func
        if isinstance(f, ast.Attribute) and f.attr == "bit_length" and not e.args:
            return self.bit_length(self.int_(self.expr(f.value, ctx, env)))
        if isinstance(f, ast.Name) and f.id in ("min", "max") and e.args:
            args = [self.int_(self.expr(a, ctx, env)) for a in e.args]
            out = args[0]
            for x in args[1:]:
                out = z3.If(x < out, x, out) if f.id == "min" else z3.If(x > out, x, out)
            return out
        if isinstance(f, ast.Name) and f.id == "Zero":
            # the divisor is zero where this is reached: the model's error (TCP501)
            self.errors.append(ctx)
            return self.int_(0)
        raise UnsupportedCode(f"call {ast.dump(e)[:80]}")

    def bit_length(self, x):
        """Python's int.bit_length of a value that is never negative here: a channel's
        contents, which fit its slot (a wider value would not replay: see tcpcheck.bmc).
        Counted on the slot's bits only, a chain the solver handles quickly."""
        low = z3.Extract(self.slot_bits - 1, 0, x)
        out = self.int_(0)
        for k in range(self.slot_bits):
            out = z3.If(z3.UGE(low, z3.BitVecVal(1 << k, self.slot_bits)), self.int_(k + 1), out)
        return out


def _slot_updates(e) -> dict[int, list[tuple[str, str]]] | None:
    """{offset: [(new, old), ...]} when `e` is `s + ((new - old) << offset) + ...` (how
    emit.py writes a successor), else None."""
    terms = []
    while isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add):
        terms.append(e.right)
        e = e.left
    if not (isinstance(e, ast.Name) and e.id == "s") or not terms:
        return None
    out = {}
    for t in terms:
        off = 0
        if isinstance(t, ast.BinOp) and isinstance(t.op, ast.LShift):
            if not isinstance(t.right, ast.Constant):
                return None
            off, t = t.right.value, t.left
        if not (isinstance(t, ast.BinOp) and isinstance(t.op, ast.Sub)
                and isinstance(t.left, ast.Name) and isinstance(t.right, ast.Name)):
            return None
        out.setdefault(off, []).append((t.left.id, t.right.id))
    return out


def _floordiv(a, b):
    """Python's `//` (rounds down) from z3's truncating signed division; by a constant power
    of two (how a channel's bits become its segments) an arithmetic shift, which rounds down
    too and spares the solver a divider."""
    b = z3.simplify(b)
    if z3.is_bv_value(b) and b.as_long() > 0 and b.as_long() & (b.as_long() - 1) == 0:
        return a >> (b.as_long().bit_length() - 1)
    q = a / b
    exact_or_same_sign = z3.Or(z3.SRem(a, b) == 0, (a < 0) == (b < 0))
    return z3.If(exact_or_same_sign, q, q - 1)


def _parse_expr(text: str):
    return ast.parse(text, mode="eval").body
