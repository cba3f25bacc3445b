"""The search loop of tcpcheck.explore, generated per model with every transition inlined.

`TransitionSystem.successors` (tcpcheck.compile) is the reference: one call per state, a list
of (variant, state) pairs. The explorer's hot loop is this module's instead: the same
transitions, in the same order with the same variant numbers, written into one generated
function that runs the whole breadth-first search, so that a state costs no call, no list and
no tuple. What makes it fast, all general (nothing here knows any particular model):

- guards are split into their `and`-ed conjuncts, and consecutive transitions that start with
  the same conjuncts share one `if` for them (`configured and owe == NOTHING and ...`);
- only the slots the guards read are decoded for every state; a transition's body decodes the
  others it needs when it fires;
- when every path through a body sends the same number of segments, "the channel has room" is
  one more conjunct and the segment's position is known without counting;
- range checks the compiler can prove unnecessary (a constant, a variable or field whose
  declared range fits, for every parameter combination) are left out;
- a working copy that the body overwrites before reading is not made.

The generated function's contract is `search(...)` below (see `_prologue`).
"""
from __future__ import annotations

import re
import types

from . import model as c
from .compile import ExplorationError, TransitionSystem, _Gen
from .params import eval_const
from .tcp import FLAG_WIDTH, flags_name

_VREF = re.compile(r"\bv(\d+)\b")


class _SearchGen(_Gen):
    def __init__(self, ts: TransitionSystem, record_edges: bool):
        slot_of: dict[tuple, int] = {}
        for i, s in enumerate(ts.slots):
            if s.kind in ("param", "global", "channel"):
                slot_of[(s.kind, s.name)] = i
            elif s.kind == "counter":
                slot_of[("counter", s.name.rsplit(".", 1)[0])] = i
            elif s.kind == "var":
                inst, name = s.name.split(".", 1)
                slot_of[("var", inst, name)] = i
            else:
                inst, _, name = s.name.split(".", 2)
                slot_of[("timer", inst, name)] = i
        layout = types.SimpleNamespace(slots=list(ts.slots))
        super().__init__((ts.model, layout, list(ts.channels), list(ts.seg_fields), ts.seg_width,
                          slot_of, [dict(p) for p in ts.initial_params]))
        self.ts = ts
        self.reduction = ts.reduction
        self.reduced_steps = ts.reduced_steps
        self.record_edges = record_edges
        self.in_slot: int | None = None     # the incoming channel of the transition at hand
        self.send_index = 0                 # sends before this point on every path (static mode)
        self.static_sends = False
        self.next_vid = 0

    # -------------------------------------------------------- expressions

    def expr(self, r: c.RExpr, ctx) -> str:
        if isinstance(r, c.RSeg):
            # read straight from the head of the incoming channel (h<slot>), so that the text
            # of a conjunct says everything it depends on
            name, off, width, base, _t = next(f for f in self.seg_fields if f[0] == r.field)
            text = f"((h{self.in_slot} >> {off}) & {(1 << width) - 1})"
            return f"({text} + {base})" if base else text
        return super().expr(r, ctx)

    def interval(self, r: c.RExpr, env: dict, settings: dict, written: set[int]):
        """Bounds of an expression's value in one parameter combination, or None if unknown."""
        if isinstance(r, c.RConst):
            return r.value, r.value
        if isinstance(r, (c.RParam, c.RSetting)):
            v = eval_const(r, env, settings)
            return v, v
        if isinstance(r, c.RRunning):
            return 0, 1
        if isinstance(r, (c.RLocal, c.RGlobal)):
            inst = self._inst
            key = ("var", inst, r.name) if isinstance(r, c.RLocal) else ("global", r.name)
            if self.slot_of[key] in written:
                return None  # may hold a value this transition has not range-checked yet
            dom = self._var_domain(key)
            return eval_const(dom.lo, env, settings), eval_const(dom.hi, env, settings)
        if isinstance(r, c.RSeg):
            dom = dict(self.model.fields)[r.field]
            return eval_const(dom.lo, env), eval_const(dom.hi, env)
        assert isinstance(r, c.ROp)
        if r.op in ("not", "and", "or", "==", "!=", "<", "<=", ">", ">="):
            return 0, 1
        a = [self.interval(x, env, settings, written) for x in r.args]
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

    def _var_domain(self, key) -> c.Domain:
        if key[0] == "var":
            inst = next(i for i in self.model.instances if i.name == key[1])
            return next(v for v in self.model.endpoint(inst.endpoint).vars if v.name == key[2]).domain
        return next(g for g in self.model.globals if g.name == key[1]).domain

    def fits(self, values: list[c.RExpr], dom: c.Domain, settings: dict, written: set[int]) -> bool:
        """Whether every one of these values provably lies in the domain, in every combination."""
        for env in self.combos:
            lo, hi = eval_const(dom.lo, env, settings), eval_const(dom.hi, env, settings)
            for r in values:
                iv = self.interval(r, env, settings, written)
                if iv is None or iv[0] < lo or iv[1] > hi:
                    return False
        return True

    # -------------------------------------------------------- statements

    def stmt(self, s, depth, stride, ctx, var_domains) -> None:
        if isinstance(s, c.SSend) and self.static_sends:
            self.static_send(s, depth, ctx)
        elif isinstance(s, c.SIf) and self.static_sends:
            start = self.send_index
            super().stmt(s, depth, stride, ctx, var_domains)  # each branch restarts at `start`
            self.send_index = start + _sends(s)
        else:
            super().stmt(s, depth, stride, ctx, var_domains)

    def block(self, stmts, depth, stride, ctx, var_domains) -> None:
        # sends advance send_index statement by statement; every branch of an `if` starts
        # where the `if` starts (stmt sets it past the `if` afterwards)
        start = self.send_index
        super().block(stmts, depth, stride, ctx, var_domains)
        self.send_index = start

    def static_send(self, s: c.SSend, depth: int, ctx) -> None:
        inst, settings, written = ctx
        ch = self.out_channel(inst)
        code = [str(s.flags)]
        for k, ((fname, fr), (_n, off, _w, base, _t)) in enumerate(zip(s.fields, self.seg_fields)):
            dom = dict(self.model.fields)[fname]
            f = self.expr(fr, ctx)
            if not self.fits([fr], dom, settings, written):
                lo, hi = self.range_expr(dom, (inst, settings, written))
                local = f"f{k}"
                self.emit(depth, f"{local} = {f}")
                msg = self.const(f"field '{fname}' of a {flags_name(s.flags)} segment is "
                                 "{value}, outside its range {lo}..{hi}")
                self.emit(depth, f"if not {lo} <= {local} <= {hi}: raise Bad(vid, 'TCP500', "
                          f"{msg}.format(value={local}, lo={lo}, hi={hi}), {self.const(s.span)})")
                f = local
            code.append(f"(({f} - {base}) << {off})" if base else f"({f} << {off})")
        shift = f"sh{ch.slot}" + (f" + {self.seg_width * self.send_index}" if self.send_index else "")
        self.emit(depth, f"w{ch.slot} |= ({' | '.join(code)}) << ({shift})")
        self.send_index += 1

    # -------------------------------------------------------- transitions

    def transition_parts(self, inst: c.CInstance, ep: c.CEndpoint, tr: c.CTransition):
        """(conjuncts, body lines) of one transition; the body ends with the successor."""
        self._inst = inst.name
        settings, written, incoming, timer_slot = self.transition_slots(inst, tr)
        self.in_slot = incoming.slot
        ctx_pre = (inst.name, settings, set())
        ctx = (inst.name, settings, written)
        base = self.next_vid
        n_paths = self.n_paths(tr.body)
        self.next_vid += n_paths

        # conjuncts: safe guard parts first (pure, cannot raise), then the event's own
        # conditions, then whatever reads the segment or could raise, in the written order
        safe, rest = [], []
        for g in _conjuncts(tr.guard):
            (rest if rest or _reads_seg(g) or not _total(g) else safe).append(self.expr(g, ctx_pre))
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
        k_sends = _uniform_sends(tr.body)
        out = self.out_channel(inst.name)
        cap_expr = next(m.capacity for m in self.model.channels if m.name == out.name)
        room = []
        if k_sends:
            w = self.seg_width
            if isinstance(cap_expr, c.RConst):
                room.append(f"v{out.slot} < {1 << (w * (cap_expr.value - k_sends))}"
                            if cap_expr.value >= k_sends else "False")
            else:
                cap = self.expr(cap_expr, ctx_pre)
                room.append(f"{cap} >= {k_sends}")
                room.append(f"v{out.slot} < (1 << ({w} * ({cap} - {k_sends})))")
        conjuncts = safe + event + room + rest

        saved = self.lines
        self.lines = []
        d = 0
        self.static_sends = k_sends is not None
        self.send_index = 0
        if not self.static_sends:
            self.emit(d, "for _ in ONCE:")
            d += 1
        if k_sends:
            w = self.seg_width
            v = f"v{out.slot}"
            sh = str(w * max(0, out.capacity - k_sends))
            for length in range(out.capacity - k_sends - 1, -1, -1):
                sh = f"{w * length} if {v} < {1 << (w * length)} else ({sh})"
            self.emit(d, f"sh{out.slot} = {sh}")
        copies = [i for i in sorted(written) if _needs_copy(tr.body, i, self.slot_of, inst.name)
                  or i == out.slot]
        for i in copies:
            if i != incoming.slot or tr.event.kind != "recv":
                if i != timer_slot:
                    self.emit(d, f"w{i} = v{i}")
        if tr.event.kind == "recv":
            self.emit(d, f"w{incoming.slot} = v{incoming.slot} >> {self.seg_width}")
        if timer_slot is not None:
            self.emit(d, f"w{timer_slot} = 0")
        if n_paths > 1:
            self.emit(d, f"vid = {base}")
        self.block(tr.body, d, 1, ctx, None)
        for i in sorted(written):
            slot = self.layout.slots[i]
            if slot.kind not in ("var", "global"):
                continue
            key = ("var", inst.name, slot.name.split(".", 1)[1]) if slot.kind == "var" \
                else ("global", slot.name)
            dom = self._var_domain(key)
            values = _assigned_values(tr.body, i, self.slot_of, inst.name)
            if self.fits(values, dom, settings, written):
                continue
            lo, hi = self.range_expr(dom, ctx_pre)
            msg = self.const(f"{slot.name} would become {{value}}, outside its range {{lo}}..{{hi}}")
            cvar_span = (next(v for v in ep.vars if v.name == key[2]).span if slot.kind == "var"
                         else next(g for g in self.model.globals if g.name == key[1]).span)
            self.emit(d, f"if not {lo} <= w{i} <= {hi}: raise Bad(vid, 'TCP500', "
                      f"{msg}.format(value=w{i}, lo={lo}, hi={hi}), {self.const(cvar_span)})")
        delta = " + ".join(f"((w{i} - v{i}) << {self.layout.slots[i].offset})"
                           for i in sorted(written)) or "0"
        self.emit(d, f"t = s + {delta}")
        self.reduce_successor(d, inst.name, written, tr.index)
        self.successor(d, "vid" if n_paths > 1 else str(base))
        body = self.lines
        self.lines = saved
        if n_paths == 1:
            # `vid` only appears in the error messages of range checks
            body = [ln.replace("Bad(vid,", f"Bad({base},") for ln in body]
        comment = f"# {inst.name}: on {tr.event.label()} ({tr.span.line}:{tr.span.column})"
        return conjuncts, [comment] + body

    def loss_parts(self, ch):
        vid = self.next_vid
        self.next_vid += 1
        saved, self.lines = self.lines, []
        self.emit(0, f"t = {self.loss_delta(ch)}")
        self.successor(0, str(vid))
        body, self.lines = self.lines, saved
        return self.loss_guard(ch), [f"# network: the head segment of {ch.name} is lost"] + body

    def successor(self, d: int, vid: str) -> None:
        e = self.emit
        e(d, "k += 1")
        if self.record_edges:
            e(d, "j = index_get(t)")
            e(d, "if j is None:")
            e(d + 1, "if found >= max_states:")
            e(d + 2, "stop = 'max-states'")
            e(d + 2, "dropped += 1")
            e(d + 1, "else:")
            e(d + 2, "index[t] = found")
            e(d + 2, "states_append(t)")
            e(d + 2, "parent_append(head)")
            e(d + 2, f"pvar_append({vid})")
            e(d + 2, "esrc_append(head)")
            e(d + 2, "edst_append(found)")
            e(d + 2, f"evar_append({vid})")
            e(d + 2, "found += 1")
            e(d, "else:")
            e(d + 1, "esrc_append(head)")
            e(d + 1, "edst_append(j)")
            e(d + 1, f"evar_append({vid})")
        else:
            e(d, "if t not in seen:")
            e(d + 1, "if found >= max_states:")
            e(d + 2, "stop = 'max-states'")
            e(d + 2, "dropped += 1")
            e(d + 1, "else:")
            e(d + 2, "seen_add(t)")
            e(d + 2, "states_append(t)")
            e(d + 2, "parent_append(head)")
            e(d + 2, f"pvar_append({vid})")
            e(d + 2, "found += 1")

    # -------------------------------------------------------- the whole function

    def generate(self) -> str:
        parts = []
        for inst in self.model.instances:
            ep = self.model.endpoint(inst.endpoint)
            for tr in ep.transitions:
                parts.append(self.transition_parts(inst, ep, tr))
        for ch in self.channels:
            if ch.lossy:
                parts.append(self.loss_parts(ch))
        assert self.next_vid == len(self.ts.variants), "variant numbering differs from compile"

        # slots read by conjuncts are decoded for every state; bodies decode the rest
        hot: set[int] = set()
        heads: set[int] = set()
        for conj, _ in parts:
            for text in conj:
                hot |= {int(m) for m in _VREF.findall(text)}
                heads |= {int(m) for m in re.findall(r"\bh(\d+)\b", text)}
        hot |= heads  # h<i> is the head of channel slot i: v<i> first
        body_lines = []
        for conj, body in parts:
            used = set()
            code = [ln.split("#", 1)[0] for ln in body]
            for ln in code:
                used |= {int(m) for m in _VREF.findall(ln)}
            cold = [self._decode(i) for i in sorted(used - hot)]
            body_lines.append((conj, body[:1] + cold + body[1:]))

        L = self.lines = []
        e = self.emit
        e(0, "def search(states, seen, parent, pvar, esrc, edst, evar, deadlocks, head, "
             "max_states, tick):")
        e(1, "states_append = states.append")
        e(1, "parent_append = parent.append")
        e(1, "pvar_append = pvar.append")
        e(1, "esrc_append = esrc.append")
        e(1, "edst_append = edst.append")
        e(1, "evar_append = evar.append")
        e(1, "index = seen")
        e(1, "index_get = seen.get if isinstance(seen, dict) else None")
        e(1, "seen_add = seen.add if isinstance(seen, set) else None")
        e(1, "found = len(states)  # not `n`: the generated sends use that name")
        e(1, "nedges = dropped = 0")
        e(1, "stop = None")
        e(1, "try:")
        e(2, "while head < found:")
        e(3, "if not head & 1023 and tick(head, found, nedges - dropped):")
        e(4, "stop = 'time-limit'")
        e(4, "break")
        e(3, "s = states[head]")
        e(3, "k = 0")
        for i in sorted(hot):
            e(3, self._decode(i))
        for i in sorted(heads):
            e(3, f"h{i} = v{i} & {(1 << self.seg_width) - 1}")
        # the prefix tree of conjuncts over consecutive transitions
        open_: list[str] = []
        for conj, body in body_lines:
            common = 0
            while common < len(open_) and common < len(conj) and open_[common] == conj[common]:
                common += 1
            del open_[common:]
            for text in conj[common:]:
                e(3 + len(open_), f"if {text}:")
                open_.append(text)
            for ln in body:
                L.append("    " * (3 + len(open_)) + ln)
        e(3, "if not k:")
        e(4, "deadlocks.append(head)")
        e(3, "nedges += k")
        e(3, "head += 1")
        e(1, "except Bad as err:")
        e(2, "return head, nedges - dropped, 'model-error', err")
        e(1, "except (ZeroDivisionError, ValueError) as err:")
        e(2, "return head, nedges - dropped, 'model-error', "
             "Bad(-1, 'TCP501', f'arithmetic error: {err}', None)")
        e(1, "return head, nedges - dropped, stop, None")
        return "\n".join(L) + "\n"

    def _decode(self, i: int) -> str:
        slot = self.layout.slots[i]
        if slot.width == 0:
            return f"v{i} = {slot.base}  # {slot.name}"
        text = f"(s >> {slot.offset}) & {slot.mask}" if slot.offset else f"s & {slot.mask}"
        return f"v{i} = {f'({text}) + {slot.base}' if slot.base else text}  # {slot.name}"


# ---------------------------------------------------------------- helpers over statements


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


def _total(r: c.RExpr) -> bool:
    """Evaluating it can never raise (so it may be evaluated earlier than written)."""
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


# ---------------------------------------------------------------- entry point


def search_function(ts: TransitionSystem, record_edges: bool):
    """The generated search for this transition system (made once per system and mode)."""
    cache = ts.__dict__.setdefault("_search_functions", {})
    if record_edges not in cache:
        gen = _SearchGen(ts, record_edges)
        source = gen.generate()
        namespace: dict = {"ONCE": (0,), "Bad": ExplorationError, **gen.consts}
        exec(compile(source, f"<tcpcheck search for {ts.model.path}>", "exec"), namespace)
        cache[record_edges] = (namespace["search"], source)
    return cache[record_edges][0]
