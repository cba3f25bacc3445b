"""Every parameter combination searched at once: a parameter is decided where a step reads it.

Replay asks whether a capture is a run of the model *in some parameter combination*, and
which. Searching each of the default model's 2,048 combinations on its own repeats the same
work 2,048 times: most steps read no parameter, and a capture usually shows within a few
segments which values of the few that matter it needs. So the search carries, beside each
state, the *set* of combinations it stands for, and a step that reads a parameter the set does
not agree on splits it (the classic lazy treatment of a model's constants).

A set of combinations is an int whose bit r stands for `ts.initial[r]` (and its parameter
values `ts.initial_params[r]`). A state the search keeps has the bits of the varying
parameters cleared (`strip`); `concrete` puts back those of one combination of its set, giving
a state of the model as the explorer knows it. The successor function that reads parameters
from a mapping instead of the state is tcpcheck.successors.deferred_param_function, a sink of
the same emitted steps.

Why this is exact: the successor function is deterministic, so for a state and a set of
combinations that agree on every parameter it read, the successors are the same for every
combination of the set. A search over (state, set) pairs therefore finds a run for a
combination exactly when the search of that combination alone does, and along every edge the
set only shrinks: a path to a node is a run of every combination in the node's set.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .params import ConstValues
from .successors import deferred_param_function
from .transitions import TransitionSystem


@dataclass(frozen=True)
class Combos:
    """The parameter combinations of a transition system as sets (see the module docstring)."""

    ts: TransitionSystem
    every: int                                   # the set of all of them
    param_bits: int                              # the varying parameters' bits in a state
    by_value: dict[int, tuple[tuple[int, int], ...]]  # slot -> ((value, combinations), ...)
    by_closeness: tuple[int, ...]     # the combinations, closest to the defaults first
    away: tuple[int, ...]             # combination -> how many defaults it sets otherwise

    @classmethod
    def of(cls, ts: TransitionSystem) -> Combos:
        varying = [i for i, slot in enumerate(ts.slots) if slot.kind == "param" and slot.width]
        bits = 0
        by_value: dict[int, dict[int, int]] = {}
        for i in varying:
            slot = ts.slots[i]
            bits |= slot.mask << slot.offset
            # each value's set as a bit array first: or-ing 2,048 growing ints costs more
            having: dict[int, bytearray] = {}
            for r, state in enumerate(ts.initial):
                value = ((state >> slot.offset) & slot.mask) + slot.base   # ts.slot_value
                row = having.get(value)
                if row is None:
                    row = having[value] = bytearray((len(ts.initial) + 7) >> 3)
                row[r >> 3] |= 1 << (r & 7)
            by_value[i] = {v: int.from_bytes(row, "little") for v, row in having.items()}
        with_default = [p for p in ts.model.params if p.default is not None]
        const = ConstValues()   # a default reads few parameters, often none

        def away(r: int) -> int:
            """How many parameters with a default combination r sets otherwise (those of
            ts.notable_params that have a default)."""
            env = ts.initial_params[r]
            return sum(1 for p in with_default if const(p.default, env) != env[p.name])

        aways = tuple(away(r) for r in range(len(ts.initial)))
        order = tuple(sorted(range(len(ts.initial)), key=lambda r: (aways[r], r)))
        return cls(ts, (1 << len(ts.initial)) - 1, bits,
                   {i: tuple(sorted(v.items())) for i, v in by_value.items()}, order, aways)

    def near_defaults(self, most: int) -> int:
        """The combinations that set at most `most` parameters with a declared default
        otherwise (those without one take any of their values)."""
        out = 0
        for r, n in enumerate(self.away):
            if n <= most:
                out |= 1 << r
        return out

    def preferred(self, combos: int) -> int:
        """The combination of the set closest to the defaults (the one a run is shown in)."""
        return next(r for r in self.by_closeness if combos >> r & 1)

    def closeness(self, combos: int) -> int:
        """How far down by_closeness the set's preferred combination comes."""
        return next(k for k, r in enumerate(self.by_closeness) if combos >> r & 1)

    def strip(self, state: int) -> int:
        """The state without its varying parameters' bits."""
        return state & ~self.param_bits

    def concrete(self, stripped: int, r: int) -> int:
        """The state of combination r that `stripped` stands for."""
        return stripped | (self.ts.initial[r] & self.param_bits)

    def initial(self, keep: int | None = None) -> list[tuple[int, int]]:
        """The initial states, stripped, each with the set of combinations starting there
        (of those in `keep`, by default all), in the order of their first combination."""
        out: dict[int, int] = {}
        keep = self.every if keep is None else keep
        for r, state in enumerate(self.ts.initial):
            if keep >> r & 1:
                s = self.strip(state)
                out[s] = out.get(s, 0) | (1 << r)
        return list(out.items())

    def matching(self, wanted: dict[str, int]) -> int:
        """The combinations whose parameters have these (raw) values."""
        out = 0
        for r, env in enumerate(self.ts.initial_params):
            if all(env.get(p) == v for p, v in wanted.items()):
                out |= 1 << r
        return out


def members(combos: int) -> list[int]:
    """The combination numbers in a set, in order."""
    out = []
    r = 0
    while combos:
        low = combos & -combos
        r = low.bit_length() - 1
        out.append(r)
        combos ^= low
    return out


def count(combos: int) -> int:
    return combos.bit_count()


# distinct sets an Interned table holds before it starts afresh (a search meets a few hundred)
MAX_INTERNED = 100_000


class Interned:
    """One object per distinct set of combinations. A search stores a set per key reached,
    per arrival and per successor of every answer, each an int of 2,048 bits (300 bytes),
    yet it meets few distinct sets: the larger bulk transfer's search held about a million
    such ints of fewer than 300 values. Storing the one object kept here instead of each
    fresh result of `&` and `|` frees the copies; the values, and so every answer, are the
    same (a set is only ever compared by value)."""

    def __init__(self):
        self.table: dict[int, int] = {}
        # of(s, s): the one object of set s (a bound method: the hot loops call it directly)
        self.of = self.table.setdefault

    def __call__(self, combos: int) -> int:
        return self.of(combos, combos)

    def bound(self) -> None:
        """Start afresh past MAX_INTERNED sets (called once per step of a search, not per
        set: the table may pass the bound by one step's sets)."""
        if len(self.table) >= MAX_INTERNED:
            self.table.clear()


# merged() answers a DeferredSuccessors remembers before it forgets them all at once: a
# search meets a state again soon after (at the next positions of a bulk transfer), and each
# answer holds a set of 2,048 bits per successor (the larger bulk transfer's search peaked
# at 693 MB remembering every answer, 639 MB with this bound, 542 MB remembering none)
MAX_ANSWERS = 20_000


class DeferredSuccessors:
    """successors(stripped state, set) -> [(subset, [(variant, stripped successor)])]: the
    set split where the steps read a parameter it does not agree on, each part with the
    successors every one of its combinations has. Remembered per state: the parts found
    for one set serve every later set they cover."""

    def __init__(self, combos: Combos, decorate=lambda succ: succ,
                 tree: SplitTree | None = None, same: Interned | None = None):
        self.combos = combos
        self.same = same or Interned()      # the sets of its answers, one object per value
        if tree is None:    # what the caller makes of a list of successors, once
            tree = SplitTree(combos, deferred_param_function(combos.ts)[0], decorate)
        self.tree = tree
        # stripped state -> [(the combinations a part stands for, its successors)]
        self.known: dict[int, list[tuple[int, list]]] = {}
        # stripped state -> (parts known when made, [(successor, combinations)], quiet)
        self.tables: dict[int, tuple] = {}
        # (stripped state, set) -> merged's answer: a search meets the same state with the
        # same set at many positions (a bulk transfer's states recur at every segment), and
        # the answer depends on nothing else (see `merged`)
        self.answers: dict[tuple[int, int], tuple[list[tuple], int]] = {}

    def __call__(self, state: int, combos: int) -> list[tuple[int, list]]:
        known = self.known.setdefault(state, [])
        out = []
        left = combos
        for having, succ in known:
            part = left & having
            if part:
                out.append((part, succ))
                left &= ~having
                if not left:
                    return out
        if left:
            for having, succ in self._split(state, left):
                known.append((having, succ))
                out.append((left & having, succ))
        return out

    def merged(self, state: int, combos: int, order=None) -> tuple[list[tuple], int]:
        """The successors of `state` over the set at once: [(successor, the combinations
        that have it)], each successor once however many parts have it, and the
        combinations in which the state has no successor at all. `order` sorts the
        successors (a key function), as the caller wants them tried (one `order` for the
        life of this object: the answers are remembered with it).

        Remembered per (state, set): the table only grows by parts of combinations not in
        the set, whose successors are each either new (placed after the others) or already
        in the table (their place kept), so a later table filtered by the same set is the
        same list in the same order."""
        memo = (state, combos)
        answer = self.answers.get(memo)
        if answer is not None:
            return answer
        if len(self.answers) >= MAX_ANSWERS:
            self.answers.clear()
        self.same.bound()
        self(state, combos)     # every combination of the set in some known part
        known = self.known[state]
        cached = self.tables.get(state)
        if cached is None or cached[0] != len(known):
            having: dict = {}       # (variant, successor) -> [entry, combinations]
            quiet = 0
            for part, succ in known:
                if not succ:
                    quiet |= part
                for entry in succ:
                    seen = having.get(entry[:2])
                    if seen is None:
                        having[entry[:2]] = [entry, part]
                    else:
                        seen[1] |= part
            of = self.same.of
            table = [(entry, of(part, part)) for entry, part in having.values()]
            if order is not None:
                table.sort(key=lambda item: order(item[0]))
            cached = self.tables[state] = (len(known), table, self.same(quiet))
        _n, table, quiet = cached
        of = self.same.of
        answer = self.answers[memo] = (
            [(entry, of(both, both)) for entry, part in table if (both := part & combos)],
            self.same(quiet & combos))
        return answer

    def _split(self, state: int, combos: int) -> list[tuple[int, list]]:
        """The parts of `combos` with their successors; each part named by every combination
        that agrees with it on the parameters its steps read (not only those in `combos`)."""
        return self.tree.parts(state, combos)


class _Reading(dict):
    """The parameter values of one combination (`values`: slot -> value), looked up as the
    steps read them, with the slots read listed in the order they were read."""

    def __init__(self, values: dict[int, int]):
        super().__init__()
        self.values = values
        self.order: list[int] = []

    def __missing__(self, slot: int) -> int:
        value = self[slot] = self.values[slot]
        self.order.append(slot)
        return value


class SplitTree:
    """The parameters a state's steps read, as a decision tree shared by every set of
    combinations and every search that asks (replay.shared_successors keeps one per system
    for all its replays): a node is the path of (slot, value) read so far, in the order the
    steps read them, and holds either the next slot read or, at a leaf, the part (every
    combination with the path's values) and its successors.

    Why it answers as splitting each set afresh: the successor function is deterministic, so
    which slot it reads next depends only on the values it has read; a set that agrees on that
    slot goes down one branch, one that does not is split there, its parts in the order of
    the slot's values. Walking the tree in that order gives the same parts in the same
    order, while the function runs once per leaf for the life of the tree (in one combination
    of the part, whose values it reads as it goes) instead of again from the start for every
    part of every set."""

    LEAF, READS = 0, 1

    def __init__(self, combos: Combos, function, decorate):
        self.combos = combos
        self.function = function
        self.decorate = decorate
        # stripped state -> {path: (READS, slot) or (LEAF, part, successors)}
        self.nodes: dict[int, dict[tuple, tuple]] = {}
        # the values read, sorted -> every combination having them
        self.parts_by_values: dict[tuple, int] = {}
        self.values: dict[int, dict[int, int]] = {}     # combination -> _values
        # paths and READS nodes, one object each: every state's tree holds the same few
        # hundred (the larger bulk transfer's 29,000 trees held 650,000 path tuples)
        self.paths: dict[tuple, tuple] = {}
        self.pairs: dict[tuple[int, int], tuple[int, int]] = {}
        self.reads: dict[int, tuple] = {}

    def parts(self, state: int, combos: int) -> list[tuple[int, list]]:
        """[(part, successors)]: the leaves `combos` reaches, in the order of the values."""
        out: list[tuple[int, list]] = []
        self._walk(state, self.nodes.setdefault(state, {}), (), combos, out)
        return out

    def _walk(self, state: int, tree: dict, path: tuple, combos: int, out: list) -> None:
        node = tree.get(path)
        if node is None:
            node = self._grow(state, tree, path, combos)
        if node[0] == self.LEAF:
            out.append((node[1], node[2]))
            return
        slot = node[1]
        for value, having in self.combos.by_value[slot]:
            part = combos & having
            if part:
                self._walk(state, tree, path + ((slot, value),), part, out)

    def _grow(self, state: int, tree: dict, path: tuple, combos: int) -> tuple:
        """Run the steps once, in one combination of `combos` (the node at `path` says which
        values they read before): every slot they read after it is a node of the tree, and
        the leaf they end in the part of every combination with the values read. One run
        per leaf, never one per split."""
        r = (combos & -combos).bit_length() - 1
        values = self.values.get(r)
        if values is None:
            values = self.values[r] = self._values(r)
        given = _Reading(values)
        succ = self.function(state, given)
        leaf = (self.LEAF, self._part(given), self.decorate(succ))
        full = self._same_path(tuple([(slot, given[slot]) for slot in given.order]))
        assert full[:len(path)] == path, "the steps read the parameters in another order"
        for k in range(len(path), len(full)):
            slot = full[k][0]
            node = self.reads.get(slot)
            if node is None:
                node = self.reads[slot] = (self.READS, slot)
            tree.setdefault(self._same_path(full[:k]), node)
        tree[full] = leaf
        return tree[path]

    def _same_path(self, path: tuple) -> tuple:
        """The one object kept for this path (and for each of its (slot, value) pairs)."""
        same = self.paths.get(path)
        if same is None:
            same = self.paths[path] = tuple(self.pairs.setdefault(pair, pair) for pair in path)
        return same

    def _values(self, r: int) -> dict[int, int]:
        """Combination r's value of each varying parameter, by slot."""
        state, slots = self.combos.ts.initial[r], self.combos.ts.slots
        return {i: ((state >> slots[i].offset) & slots[i].mask) + slots[i].base
                for i in self.combos.by_value}

    def _part(self, given: dict) -> int:
        """Every combination with the values the steps read."""
        key = tuple(sorted(given.items()))
        having = self.parts_by_values.get(key)
        if having is None:
            having = self.combos.every
            by_value = self.combos.by_value
            for slot, value in key:
                having &= next(part for v, part in by_value[slot] if v == value)
            self.parts_by_values[key] = having
        return having


class SetSearch:
    """A breadth-first search whose keys (a stripped state and what replay has matched) are
    each reached for a set of combinations. Combinations that reach a key after it was
    expanded queue it again for them alone, and those that reach it while it waits join
    them: a key is expanded once per wave of new combinations, not once per path.

    Everything a run is rebuilt from is kept per combination: `arrivals` (which step first
    brought which combinations to a key) give, for any one combination, a path that is a run
    of it (`path`); `edges` (which step leads where, for which combinations) give the runs
    to an accepting key (`useful`). A search whose caller asks for no such runs (replay's
    untimed verdict for an audit: `record_edges=False`) keeps no edges: they are most of a
    large search's memory and a third of its steps' cost, and nothing it decides reads them."""

    def __init__(self, initial: list[tuple[tuple, int]], record_edges: bool = True,
                 same: Interned | None = None):
        self.same = same or Interned()      # its sets, one object per value
        self.reached: dict[tuple, int] = {}
        self.arrivals: dict[tuple, list[tuple[int, tuple | None, int]]] = {}
        self.edges: dict[tuple, dict[tuple[int, tuple], int]] = {}
        self.record_edges = record_edges
        self.pending: dict[tuple, int] = {}
        self.queue: deque[tuple] = deque()
        for key, combos in initial:
            self._arrive(key, combos, None, -1)

    def __len__(self) -> int:
        return len(self.reached)

    def __bool__(self) -> bool:
        return bool(self.queue)

    def pop(self) -> tuple[tuple, int]:
        """The next key, with the combinations it has not been expanded for."""
        self.same.bound()
        key = self.queue.popleft()
        return key, self.pending.pop(key)

    def step(self, key: tuple, vid: int, to: tuple, combos: int) -> None:
        """In these combinations, step `vid` leads from `key` to `to`."""
        if self.record_edges:
            out = self.edges.setdefault(key, {})
            out[(vid, to)] = out.get((vid, to), 0) | combos
        self._arrive(to, combos, key, vid)

    def _arrive(self, key: tuple, combos: int, came_from: tuple | None, vid: int) -> None:
        # the hot path of a large search (a bulk transfer: two million steps): each dict
        # looked up once
        had = self.reached.get(key)
        if had is None:
            if combos:
                combos = self.same.of(combos, combos)
                self._first(key)
                self.reached[key] = combos
                self.arrivals[key] = [(combos, came_from, vid)]
                self.pending[key] = combos
                self.queue.append(key)
            return
        new = combos & ~had
        if not new:
            return
        of = self.same.of
        new = of(new, new)
        both = had | new
        self.reached[key] = of(both, both)
        self.arrivals[key].append((new, came_from, vid))
        pending = self.pending.get(key)
        if pending is not None:
            both = pending | new
            self.pending[key] = of(both, both)
        else:
            self.pending[key] = new
            self.queue.append(key)

    def _first(self, key: tuple) -> None:
        """`key` is reached for the first time (a subclass may note it)."""

    def reached_at(self, k: int) -> list[tuple]:
        """The keys reached with k segments matched."""
        return [key for key in self.reached if key[1] == k]

    def path(self, key: tuple, combo: int) -> list[tuple[int, tuple]]:
        """[(variant, key)] from an initial key to `key`, a run of combination `combo`."""
        out = []
        while key is not None:
            vid, came_from = next((v, f) for c, f, v in self.arrivals[key] if c >> combo & 1)
            out.append((vid, key))
            key = came_from
        out.reverse()
        return out

    def useful(self, finals: dict[tuple, int]) -> dict[tuple, int]:
        """key -> the combinations for which some run from it reaches an accepting key
        (`finals`: key -> the combinations in which it accepts)."""
        assert self.record_edges, "useful() reads the edges a search kept"
        into: dict[tuple, list[tuple[tuple, int]]] = {}
        for key, out in self.edges.items():
            for (_vid, to), combos in out.items():
                into.setdefault(to, []).append((key, combos))
        useful = dict(finals)
        todo = list(finals)
        while todo:
            key = todo.pop()
            reach = useful[key]
            for before, combos in into.get(key, ()):
                more = reach & combos & ~useful.get(before, 0)
                if more:
                    useful[before] = useful.get(before, 0) | more
                    todo.append(before)
        return useful

    def children(self, useful: dict[tuple, int]):
        """children((key, combinations)) -> [(variant, (next key, combinations))]: the steps
        along runs to an accepting key, each combination set narrowed to those the step is
        taken in and that still accept; the order steps were found in."""
        def of(node):
            key, combos = node
            out = []
            for (vid, to), along in self.edges.get(key, {}).items():
                narrowed = combos & along & useful.get(to, 0)
                if narrowed:
                    out.append((vid, (to, narrowed)))
            return out
        return of
