"""A deliberately simple, slow reference interpreter of a checked model.

It walks the resolved trees of tcpcheck.model (R* expressions, S* statements) directly on
plain dict states: no bit packing, no generated code, no variants. The compiled explorer
must reach exactly the states this reaches, with the same steps between them.

Semantics it spells out (the contract the compiler must meet):
- Initial states: one per parameter combination, parameters in declaration order and values
  ascending; a parameter with a default takes only that value.
- A transition is enabled when: (recv) the head of the incoming channel exists and its flags
  are one of the patterns (any, for `recv any`); (after T / expire T) timer T runs; the guard
  holds, evaluated in the state before the step (with `seg` the head segment).
- Taking it: the head segment is removed (recv), timer T stops (after/expire), then the body
  runs statement by statement, each seeing the effects of the ones before. `if` takes the
  first branch whose condition holds. `send` appends to the outgoing channel; a send to a
  full channel means the step cannot happen (the endpoint waits). When every path through
  the body sends the same number of segments, the room for all of them is checked after the
  guard and before the body: a step without room is not enabled and its body cannot fail,
  but its guard is evaluated (and can fail) wherever the event is available. A field value
  out of its range is an error at the send; a variable out of its range is an error at the end of the
  step. `and`/`or` short-circuit. Division and remainder floor, like Python.
- Steps are listed per instance (declaration order), per transition (declaration order), then
  the loss of each lossy channel's head segment (channel declaration order).
- Exploration is breadth-first; the first state (in discovery order) whose step fails stops it.
"""
from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass

from tcpcheck import model as c
from tcpcheck.tcp import flags_name


class ModelError(Exception):
    def __init__(self, code: str, message: str, instance: str | None = None,
                 transition: int | None = None):
        super().__init__(message)
        self.code = code
        self.instance = instance
        self.transition = transition


class _Blocked(Exception):
    """A send to a full channel: this step is not possible now."""


@dataclass(frozen=True)
class Step:
    """One edge: who moved, which transition, and what it did."""

    instance: str | None    # None: the network lost a segment
    transition: int         # -1 for a loss
    sends: tuple[int, ...]  # flag sets, in order
    arms: tuple[str, ...]
    cancels: tuple[str, ...]
    observations: tuple[str, ...]


class Reference:
    def __init__(self, model: c.CheckedModel, fixed: dict[str, int] | None = None):
        self.model = model
        self.fixed = fixed or {}
        self.instances = {i.name: i for i in model.instances}
        self.field_domains = dict(model.fields)
        self.field_types = {name: dom.type for name, dom in model.fields}

    # ------------------------------------------------------------ expressions

    def eval(self, r: c.RExpr, st: dict, inst: str | None, seg: dict | None) -> int:
        if isinstance(r, c.RConst):
            return r.value
        if isinstance(r, c.RParam):
            return st["params"][r.name]
        if isinstance(r, c.RGlobal):
            return st["globals"][r.name]
        if isinstance(r, c.RLocal):
            return st["vars"][inst][r.name]
        if isinstance(r, c.RSetting):
            binding = dict(self.instances[inst].bindings)[r.name]
            return self.eval(binding, st, None, None)
        if isinstance(r, c.RSeg):
            return seg["fields"][r.field]
        if isinstance(r, c.RRunning):
            return int(st["timers"][inst][r.timer])
        op, args = r.op, r.args
        if op == "and":
            return int(bool(self.eval(args[0], st, inst, seg))
                       and bool(self.eval(args[1], st, inst, seg)))
        if op == "or":
            return int(bool(self.eval(args[0], st, inst, seg))
                       or bool(self.eval(args[1], st, inst, seg)))
        a = [self.eval(x, st, inst, seg) for x in args]
        if op == "not":
            return int(not a[0])
        if op == "neg":
            return -a[0]
        if op in ("/", "%"):
            if a[1] == 0:
                raise ModelError("TCP501", "division by zero")
            return a[0] // a[1] if op == "/" else a[0] % a[1]
        if op == "min":
            return min(a)
        if op == "max":
            return max(a)
        return {
            "==": lambda: int(a[0] == a[1]), "!=": lambda: int(a[0] != a[1]),
            "<": lambda: int(a[0] < a[1]), "<=": lambda: int(a[0] <= a[1]),
            ">": lambda: int(a[0] > a[1]), ">=": lambda: int(a[0] >= a[1]),
            "+": lambda: a[0] + a[1], "-": lambda: a[0] - a[1], "*": lambda: a[0] * a[1],
        }[op]()

    def const(self, r: c.RExpr, params: dict, inst: str | None = None) -> int:
        return self.eval(r, {"params": params}, inst, None)

    # ------------------------------------------------------------ initial states

    def param_combinations(self) -> list[dict]:
        combos = [{}]
        for p in self.model.params:
            nxt = []
            for env in combos:
                if p.name in self.fixed:
                    values = [self.fixed[p.name]]
                elif p.default is not None:
                    values = [self.const(p.default, env)]
                else:
                    values = range(self.const(p.domain.lo, env), self.const(p.domain.hi, env) + 1)
                nxt.extend({**env, p.name: v} for v in values)
            combos = nxt
        return combos

    def initial_states(self) -> list[dict]:
        out = []
        for env in self.param_combinations():
            st = {"params": dict(env), "globals": {}, "vars": {}, "timers": {},
                  "channels": {ch.name: [] for ch in self.model.channels},
                  "losses": {ch.name: 0 for ch in self.model.channels
                             if ch.lossy and ch.loss_max is not None}}
            for g in self.model.globals:
                st["globals"][g.name] = self.const(g.init, env)
            for inst in self.model.instances:
                ep = self.model.endpoint(inst.endpoint)
                st["vars"][inst.name] = {v.name: self.const(v.init, env, inst.name) for v in ep.vars}
                st["timers"][inst.name] = {t.name: False for t in ep.timers}
            out.append(st)
        return out

    # ------------------------------------------------------------ steps

    def out_channel(self, inst: str) -> c.CChannel:
        return next(ch for ch in self.model.channels if ch.src == inst)

    def in_channel(self, inst: str) -> c.CChannel:
        return next(ch for ch in self.model.channels if ch.dst == inst)

    def successors(self, st: dict) -> list[tuple[Step, dict]]:
        out = []
        for inst in self.model.instances:
            ep = self.model.endpoint(inst.endpoint)
            for tr in ep.transitions:
                got = self.take(st, inst.name, ep, tr)
                if got is not None:
                    out.append(got)
        for ch in self.model.channels:
            queue = st["channels"][ch.name]
            if not (ch.lossy and queue):
                continue
            # `lossy max K when C of FLAGS`: at most K losses, only while C, only those flags
            if ch.loss_of is not None and queue[0]["flags"] not in ch.loss_of:
                continue
            if ch.loss_max is not None and st["losses"][ch.name] >= self.const(ch.loss_max, st["params"]):
                continue
            if ch.loss_when is not None and not self.const(ch.loss_when, st["params"]):
                continue
            nxt = copy.deepcopy(st)
            nxt["channels"][ch.name].pop(0)
            if ch.loss_max is not None:
                nxt["losses"][ch.name] += 1
            out.append((Step(None, -1, (), (), (), ("segment_lost",)), nxt))
        return out

    def take(self, st: dict, inst: str, ep: c.CEndpoint, tr: c.CTransition):
        seg = None
        if tr.event.kind == "recv":
            queue = st["channels"][self.in_channel(inst).name]
            if not queue:
                return None
            seg = queue[0]
            if tr.event.patterns is not None and seg["flags"] not in tr.event.patterns:
                return None
        if tr.after is not None and not st["timers"][inst][tr.after]:
            return None
        try:
            # the guard is evaluated wherever the event is available, full channel or not:
            # a guard that fails is the model's error whatever the channel holds
            if tr.guard is not None and not self.eval(tr.guard, st, inst, seg):
                return None
            k = uniform_sends(tr.body)
            if k:
                ch = self.out_channel(inst)
                if len(st["channels"][ch.name]) + k > self.const(ch.capacity, st["params"]):
                    return None
            nxt = copy.deepcopy(st)
            if seg is not None:
                nxt["channels"][self.in_channel(inst).name].pop(0)
            if tr.after is not None:
                nxt["timers"][inst][tr.after] = False
            effects = {"sends": [], "arms": [], "cancels": [], "observations": []}
            try:
                self.run(tr.body, nxt, inst, seg, effects)
            except _Blocked:
                return None
            self.check_ranges(nxt, inst)
        except ModelError as err:
            err.instance, err.transition = inst, tr.index
            raise
        step = Step(inst, tr.index, tuple(effects["sends"]), tuple(effects["arms"]),
                    tuple(effects["cancels"]), tuple(effects["observations"]))
        return step, nxt

    def run(self, stmts, st: dict, inst: str, seg: dict | None, effects: dict) -> None:
        for s in stmts:
            if isinstance(s, c.SAssign):
                value = self.eval(s.value, st, inst, seg)
                if isinstance(s.target, c.RLocal):
                    st["vars"][inst][s.target.name] = value
                else:
                    st["globals"][s.target.name] = value
            elif isinstance(s, c.SSend):
                ch = self.out_channel(inst)
                queue = st["channels"][ch.name]
                if len(queue) >= self.const(ch.capacity, st["params"]):
                    raise _Blocked
                fields = {}
                for name, r in s.fields:
                    value = self.eval(r, st, inst, seg)
                    dom = self.field_domains[name]
                    lo, hi = self.const(dom.lo, st["params"]), self.const(dom.hi, st["params"])
                    if not lo <= value <= hi:
                        raise ModelError("TCP500", f"field {name} = {value}")
                    fields[name] = value
                queue.append({"flags": s.flags, "fields": fields})
                effects["sends"].append(s.flags)
            elif isinstance(s, c.STimer):
                st["timers"][inst][s.timer] = s.op == "arm"
                effects["arms" if s.op == "arm" else "cancels"].append(s.timer)
            elif isinstance(s, c.SObserve):
                effects["observations"].append(s.name)
            else:
                assert isinstance(s, c.SIf)
                for cond, body in s.branches:
                    if cond is None or self.eval(cond, st, inst, seg):
                        self.run(body, st, inst, seg, effects)
                        break

    def check_ranges(self, st: dict, inst: str) -> None:
        params = st["params"]
        for g in self.model.globals:
            lo, hi = self.const(g.domain.lo, params), self.const(g.domain.hi, params)
            if not lo <= st["globals"][g.name] <= hi:
                raise ModelError("TCP500", f"{g.name} = {st['globals'][g.name]}")
        ep = self.model.endpoint(self.instances[inst].endpoint)
        for v in ep.vars:
            lo, hi = self.const(v.domain.lo, params, inst), self.const(v.domain.hi, params, inst)
            if not lo <= st["vars"][inst][v.name] <= hi:
                raise ModelError("TCP500", f"{inst}.{v.name} = {st['vars'][inst][v.name]}")

    # ------------------------------------------------------------ the readable form

    def show(self, value: int, typ: c.Type):
        if typ.kind == "bool":
            return bool(value)
        if typ.kind == "enum":
            return self.model.enum_values(typ.enum)[value]
        return value

    def segment_text(self, seg: dict) -> str:
        parts = []
        for name, value in seg["fields"].items():
            typ = self.field_types[name]
            if typ.kind == "bool":
                if value:  # a true flag by its name, a false one not at all
                    parts.append(name)
            else:
                parts.append(f"{name}={self.show(value, typ)}")
        flags = flags_name(seg["flags"])
        return f"{flags}({','.join(parts)})" if parts else flags

    def decode(self, st: dict) -> dict:
        """The same dict TransitionSystem.decode gives for the packed state."""
        out = {}
        for p in self.model.params:
            out[p.name] = self.show(st["params"][p.name], p.domain.type)
        for g in self.model.globals:
            out[g.name] = self.show(st["globals"][g.name], g.domain.type)
        for inst in self.model.instances:
            ep = self.model.endpoint(inst.endpoint)
            for v in ep.vars:
                out[f"{inst.name}.{v.name}"] = self.show(st["vars"][inst.name][v.name], v.domain.type)
            for t in ep.timers:
                out[f"{inst.name}.timer.{t.name}"] = "running" if st["timers"][inst.name][t.name] else "off"
        for ch in self.model.channels:
            out[ch.name] = [self.segment_text(s) for s in st["channels"][ch.name]]
        for name, n in st["losses"].items():
            out[f"{name}.losses"] = n
        return out


def uniform_sends(stmts) -> int | None:
    """How many segments every path through the statements sends; None if paths differ.

    The generated explorer has its own (emit._uniform_sends); this one is written apart
    on purpose, like the rest of this interpreter, so that the two can disagree."""
    total = 0
    for s in stmts:
        if isinstance(s, c.SSend):
            total += 1
        elif isinstance(s, c.SIf):
            counts = {uniform_sends(body) for _, body in s.branches}
            if s.branches[-1][0] is not None:   # no else: the path that takes no branch
                counts.add(0)
            if len(counts) != 1 or None in counts:
                return None
            total += counts.pop()
    return total


def key(decoded: dict) -> tuple:
    """A hashable form of a decoded state."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in decoded.items()))


@dataclass
class ReferenceExploration:
    states: list[tuple]                           # keys of decoded states, in discovery order
    edges: list[tuple[tuple, tuple, Step]]        # (source key, target key, step)
    error: ModelError | None
    error_state: tuple | None


def explore(model: c.CheckedModel, fixed: dict[str, int] | None = None,
            max_states: int = 100_000) -> ReferenceExploration:
    """Breadth-first over dict states; stops at the first failing state, like the explorer."""
    ref = Reference(model, fixed)
    order: list[tuple] = []
    seen: dict[tuple, dict] = {}
    queue: deque = deque()
    for st in ref.initial_states():
        k = key(ref.decode(st))
        if k not in seen:
            seen[k] = st
            order.append(k)
            queue.append(k)
    edge_list = []
    while queue:
        k = queue.popleft()
        try:
            succ = ref.successors(seen[k])  # all or nothing: an error drops the whole state's steps
        except ModelError as err:
            return ReferenceExploration(order, edge_list, err, k)
        for step, nxt in succ:
            nk = key(ref.decode(nxt))
            if nk not in seen:
                if len(seen) >= max_states:
                    raise RuntimeError("reference exploration too large for a test")
                seen[nk] = nxt
                order.append(nk)
                queue.append(nk)
            edge_list.append((k, nk, step))
    return ReferenceExploration(order, edge_list, None, None)
