"""The breadth-first search loop: the explorer's sink of the emitted steps (tcpcheck.emit).

The whole search is one generated function per transition system, with every step inlined,
so that a state costs no call, no list and no tuple. It adds nothing to the steps' semantics
(tests/test_sinks.py compares it with the successor function, tcpcheck.successors, state by
state); what it adds is speed, and nothing here knows any particular model:

- consecutive steps that start with the same conditions share one `if` for them
  (`configured and owe == NOTHING and ...`);
- only the slots the conditions read are decoded for every state; a step's body decodes the
  others it needs when it fires;
- a successor is recorded straight into the explorer's arrays (and, with edges, its index).

The generated function's contract is `search(...)` below (see `_SearchLoop.generate`).
"""
from __future__ import annotations

from .emit import HEAD_REF, SLOT_REF
from .successors import decode_line, head_line, namespace
from .transitions import TransitionSystem


# Python refuses more than 100 levels of indentation; the shipped models share at most 9
# conditions, and a step's body adds its own `if`s
_MAX_SHARED = 24


class _SearchLoop:
    def __init__(self, ts: TransitionSystem, record_edges: bool):
        self.ts = ts
        self.record_edges = record_edges
        self.lines: list[str] = []

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def successor(self, d: int, vid: str) -> None:
        """Record successor `t` of step `vid` from state `head`: a new state gets the next id
        (unless the state limit is reached: then it is dropped and counted); with edges, the
        edge to it, new or not."""
        e = self.emit
        e(d, "k += 1")
        if self.record_edges:
            e(d, "j = index_get(t)")
            e(d, "if j is None:")
        else:
            e(d, "if t not in seen:")
        e(d + 1, "if found >= max_states:")
        e(d + 2, "stop = 'max-states'")
        e(d + 2, "dropped += 1")
        e(d + 1, "else:")
        e(d + 2, "index[t] = found" if self.record_edges else "seen_add(t)")
        e(d + 2, "states_append(t)")
        e(d + 2, "parent_append(head)")
        e(d + 2, f"pvar_append({vid})")
        if self.record_edges:
            e(d + 2, "esrc_append(head)")
            e(d + 2, "edst_append(found)")
            e(d + 2, f"evar_append({vid})")
        e(d + 2, "found += 1")
        if self.record_edges:
            e(d, "else:")
            e(d + 1, "esrc_append(head)")
            e(d + 1, "edst_append(j)")
            e(d + 1, f"evar_append({vid})")

    # -------------------------------------------------------- the whole function

    def generate(self) -> str:
        parts = []
        for step in self.ts.steps:
            saved, self.lines = self.lines, []
            self.successor(step.record_depth, step.variant)
            record, self.lines = self.lines, saved
            parts.append((list(step.conditions), [step.comment, *step.body, *record]))

        # slots read by conjuncts are decoded for every state; bodies decode the rest
        hot: set[int] = set()
        heads: set[int] = set()
        for conj, _ in parts:
            for text in conj:
                hot |= {int(m) for m in SLOT_REF.findall(text)}
                heads |= {int(m) for m in HEAD_REF.findall(text)}
        hot |= heads  # h<i> is the head of channel slot i: v<i> first
        body_lines = []
        for conj, body in parts:
            used = set()
            code = [ln.split("#", 1)[0] for ln in body]
            for ln in code:
                used |= {int(m) for m in SLOT_REF.findall(ln)}
            cold = [decode_line(self.ts, i) for i in sorted(used - hot)]
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
            e(3, decode_line(self.ts, i))
        for i in sorted(heads):
            e(3, head_line(self.ts, i))
        # the prefix tree of conjuncts over consecutive transitions, _MAX_SHARED deep; a
        # step's conditions beyond that are one `if` of their conjunction (`and` evaluates
        # them in the same order, and stops at the same one)
        open_: list[str] = []
        for conj, body in body_lines:
            shared, rest = conj[:_MAX_SHARED], conj[_MAX_SHARED:]
            common = 0
            while common < len(open_) and common < len(shared) and open_[common] == shared[common]:
                common += 1
            del open_[common:]
            for text in shared[common:]:
                e(3 + len(open_), f"if {text}:")
                open_.append(text)
            depth = 3 + len(open_)
            if rest:
                e(depth, "if " + " and ".join(f"({text})" for text in rest) + ":")
                depth += 1
            for ln in body:
                L.append("    " * depth + ln)
        e(3, "if not k:")
        e(4, "deadlocks.append(head)")
        e(3, "nedges += k")
        e(3, "head += 1")
        e(1, "except Bad as err:  # the model's own error (TCP500, TCP501), located")
        e(2, "return head, nedges - dropped, 'model-error', err")
        e(1, "return head, nedges - dropped, stop, None")
        return "\n".join(L) + "\n"


# ---------------------------------------------------------------- entry point


def search_function(ts: TransitionSystem, record_edges: bool):
    """The generated search for this transition system (made once per system and mode)."""
    cache = ts.__dict__.setdefault("_search_functions", {})
    if record_edges not in cache:
        source = _SearchLoop(ts, record_edges).generate()
        scope = namespace(ts)
        exec(compile(source, f"<tcpcheck search for {ts.model.path}>", "exec"), scope)
        cache[record_edges] = (scope["search"], source)
    return cache[record_edges][0]
