"""The fold of a repeating phase: a long capture replayed at the cost of a short one.

Replay's search (tcpcheck.replay, over combos.SetSearch) walks keys (stripped state, segments
matched k, calls matched); one-sided replay's (tcpcheck.oneside) are (stripped state, k, call
results matched, script calls matched). Only k is a position: `shifted` moves a key along the
capture, whatever it counts besides. A long data phase repeats its captured segments with a
short period p (a one-byte write, then its ACK: p = 2), and after a transient the search repeats
itself too: the search's whole state at one moment (its queue with the combinations each key
waits for, and every key it can still reach or change, with their combinations, arrivals and
edges) is, shifted by p positions, its state p positions earlier. From then on it does the
same again and again while the segments it looks at keep repeating.

Why this is exact (the pumping argument). The search is deterministic and reads the capture
only through `_fits` (one-sided: a segment's side, the peer's segment it delivers, and the
tested side's sends compared), at the positions it tells `Folder.looked`, and only what the
signature of a position keeps; nothing else it does depends on a position (a packetdrill
script's calls do: one-sided replay does not fold them). Take the moment (a pop of the
first key at a new furthest position K) whose state equals the state at K - p shifted by p.
Every key below the queue's lowest position `start` is finished: nothing reaches it again.
If the segments from `start` on repeat with period p for `repeats` more periods beyond every
position the search has looked at, the search on the whole capture goes, after those
periods, through the same state again, shifted by repeats * p. So the search goes on, from
the very same data, over the capture with those `repeats` periods cut out after `start`
("compressed" positions): the verdict, the combinations and everything found after the cut
are the unfolded search's, shifted. Between `start - p` and the cut lies one period's keys
(the base); in the unfolded search the `repeats + 1` copies of it (copy 0 is the base itself)
have the base's arrivals and edges, shifted by j * p; `Unfolded` answers in the unfolded
search's positions from the compressed data alone.

What a caller gets back is therefore what the unfolded search would give: `Unfolded` has
SetSearch's questions (`path`, `useful`, `children`, the keys at a position) in real
positions. A run through the folded phase walks the base once per copy; `path` finds the walk
periodic and gives it as prefix, loop x count, rest (`FoldedPath`), unrolled when asked.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .combos import Interned, SetSearch

# The longest period looked for (in captured segments): a write and its ACK is 2, a write
# acknowledged every other segment 3, a request and a reply with their ACKs 4.
MAX_PERIOD = 8


class FoldingSearch(SetSearch):
    """A SetSearch that also knows its keys by position (segments matched): the fold compares
    the keys at and beyond the queue's lowest position."""

    def __init__(self, initial: list[tuple[tuple, int]], record_edges: bool = True,
                 same: Interned | None = None):
        self.at: dict[int, list[tuple]] = {}     # position -> keys, first reached first
        self.furthest = 0
        super().__init__(initial, record_edges, same)

    def _first(self, key: tuple) -> None:
        self.at.setdefault(key[1], []).append(key)
        if key[1] > self.furthest:
            self.furthest = key[1]

    def reached_at(self, k: int) -> list[tuple]:
        return list(self.at.get(k, ()))


@dataclass(frozen=True)
class Fold:
    """`repeats` periods of `period` segments cut out of the capture after position `start`:
    compressed position x >= start is real position x + repeats * period."""
    start: int
    period: int
    repeats: int

    @property
    def cut(self) -> int:
        return self.repeats * self.period

    def compress(self, items: list) -> list:
        return items[:self.start] + items[self.start + self.cut:]

    def real_position(self, k: int) -> int:
        return k + self.cut if k >= self.start else k


def shifted(key: tuple, by: int) -> tuple:
    """`key` (stripped state, segments matched, then whatever else the search counts: calls
    matched, ...) moved `by` positions along the capture; only the position moves, the rest
    counts things that do not repeat with the segments."""
    return (key[0], key[1] + by, *key[2:])


def _relative(key: tuple | None, at: int) -> tuple | None:
    return None if key is None else shifted(key, -at)


class Folder:
    """Watches a search for the moment it repeats itself (see the module docstring).

    `signature[k]` is the captured segment k as `_fits` compares it; `longest` the most
    segments one step sends (a period must be at least that long, so that a step never jumps
    over a whole copy). The caller calls `at_pop` with each popped key and tells `looked`
    how far `_fits` has read."""

    def __init__(self, signature: list, longest: int, max_period: int = MAX_PERIOD):
        self.sig = signature
        self.n = len(signature)
        self.periods = range(max(1, longest), max_period + 1)
        self.top = -1             # the furthest position popped so far
        self.touched = 0          # one past the furthest position `_fits` has read
        self.cheap: dict[int, tuple] = {}     # position K -> the state at its first pop
        self.full: dict[int, tuple] = {}      # K -> the state with arrivals and edges
        self.fold: Fold | None = None

    def looked(self, end: int) -> None:
        if end > self.touched:
            self.touched = end

    def _periodic_near(self, k: int, p: int) -> bool:
        lo, hi = max(p, k - p), min(self.n, k + 2 * p)
        return hi - lo >= p and all(self.sig[y] == self.sig[y - p] for y in range(lo, hi))

    def at_pop(self, search: FoldingSearch, key: tuple, combos: int) -> Fold | None:
        """The fold, when the search (just after popping `key` for `combos`) is in the state it
        was in a period earlier and the segments repeat far enough to cut some out."""
        if self.fold is not None or key[1] <= self.top:
            return None
        at = self.top = key[1]
        periods = [p for p in self.periods if self._periodic_near(at, p)]
        for old in [k for k in self.cheap if k < at - 2 * MAX_PERIOD]:
            del self.cheap[old]
            self.full.pop(old, None)
        if not periods:
            return None
        queue = [(key, combos)] + [(q, search.pending[q]) for q in search.queue]
        low = min(q[1] for q, _ in queue)
        keys = [k for pos in range(low, search.furthest + 1) for k in search.at.get(pos, ())]
        cheap = (low - at, tuple((_relative(q, at), c) for q, c in queue),
                 frozenset((_relative(k, at), search.reached[k]) for k in keys))
        self.cheap[at] = cheap
        for p in periods:
            if self.cheap.get(at - p) != cheap:
                continue
            full = self.full.setdefault(at, self._full(search, keys, at))
            if self.full.get(at - p) != full:
                continue
            fold = self._fold(low, p)
            if fold is not None:
                self.fold = fold
                return fold
        return None

    @staticmethod
    def _full(search: SetSearch, keys: list[tuple], at: int) -> tuple:
        """The arrivals and edges of `keys`, relative to position `at`."""
        return tuple((tuple((c, _relative(f, at), v) for c, f, v in search.arrivals[k]),
                      frozenset((v, _relative(to, at), c)
                                for (v, to), c in search.edges.get(k, {}).items()))
                     for k in keys)

    def _fold(self, start: int, p: int) -> Fold | None:
        """How many periods can be cut after `start`: the segments must repeat with period p
        from `start` to every position the search has read, shifted by the cut."""
        end = start
        while end < self.n and self.sig[end] == self.sig[end - p]:
            end += 1
        repeats = (end - self.touched) // p
        return Fold(start, p, repeats) if repeats >= 1 else None


@dataclass(frozen=True)
class FoldedPath:
    """A run through a folded phase: `prefix`, then `loop` `count` times, then `rest` (each a
    list of (variant, key) in real positions, the loop given once with the positions of its
    first time round; each time round is `shift` positions further)."""
    prefix: list
    loop: list
    count: int
    shift: int
    rest: list

    def __len__(self) -> int:
        return len(self.prefix) + len(self.loop) * self.count + len(self.rest)

    def unrolled(self) -> Iterator[tuple[int, tuple]]:
        yield from self.prefix
        for j in range(self.count):
            for vid, key in self.loop:
                yield vid, shifted(key, j * self.shift)
        yield from self.rest


class _Reached:
    """search.reached in real positions (a read-only mapping)."""

    def __init__(self, unfolded: Unfolded):
        self.unfolded = unfolded

    def __getitem__(self, key: tuple) -> int:
        base, _shift = self.unfolded.base(key)
        return self.unfolded.search.reached[base]

    def get(self, key: tuple, default=None):
        base, _shift = self.unfolded.base(key)
        return self.unfolded.search.reached.get(base, default)


class Unfolded:
    """The compressed search (`search`, run past the fold) answering in real positions."""

    def __init__(self, search: SetSearch, fold: Fold):
        self.search = search
        self.fold = fold
        self.low = fold.start - fold.period          # the base: [low, start)
        self.reached = _Reached(self)

    def __len__(self) -> int:
        return len(self.search)

    # ---- positions
    def copy(self, k: int) -> int | None:
        """Which copy of the base real position k lies in (None: before or after them)."""
        f = self.fold
        if k < self.low or k >= f.start + f.cut:
            return None
        return (k - self.low) // f.period

    def base(self, key: tuple) -> tuple[tuple, int]:
        """The compressed key holding a real key's data, and the shift from it to the real."""
        shift = self.shift_at(key[1])
        return shifted(key, -shift), shift

    def shift_at(self, k: int) -> int:
        """How far real position k lies beyond the compressed position holding its data."""
        f = self.fold
        j = self.copy(k)
        if j is not None:
            return j * f.period
        return 0 if k < self.low else f.cut

    def real(self, key: tuple) -> tuple:
        """A compressed key as the unfolded search's (those at and after the cut move)."""
        return shifted(key, self.fold.real_position(key[1]) - key[1])

    def reached_at(self, k: int) -> list[tuple]:
        shift = self.shift_at(k)
        return [shifted(key, shift) for key in self.search.reached_at(k - shift)]

    @property
    def arrivals(self) -> dict:
        """The arrivals of the keys before the cut, where real and compressed agree (enough
        for the initial keys)."""
        return {k: a for k, a in self.search.arrivals.items() if k[1] < self.fold.start}

    def edges_of(self, key: tuple) -> dict:
        base, shift = self.base(key)
        return {(vid, shifted(to, shift)): c
                for (vid, to), c in self.search.edges.get(base, {}).items()}

    def arrivals_of(self, key: tuple) -> list:
        base, shift = self.base(key)
        return [(c, None if f is None else shifted(f, shift), v)
                for c, f, v in self.search.arrivals[base]]

    # ---- runs
    def path(self, key: tuple, combo: int) -> FoldedPath:
        """SetSearch.path in real positions. Walking back through the copies, the walk that
        enters a copy at the same base key as it entered an earlier one repeats itself every
        so many copies: that stretch is the loop, given once with its count."""
        p = self.fold.period
        back: list = []              # the walk, backwards
        entered: dict[tuple, tuple[int, int]] = {}   # base key -> (where in `back`, copy)
        loop = None                  # (where the loop starts in `back`, its length, count,
        last = None                  #  copies it spans)
        while key is not None:
            j = self.copy(key[1])
            if loop is None and j is not None and j != last:
                last = j
                base, _shift = self.base(key)
                seen = entered.get(base)
                if seen is None:
                    entered[base] = (len(back), j)
                else:
                    copies = seen[1] - j
                    count = j // copies
                    if count:
                        loop = (seen[0], len(back) - seen[0], count, copies)
                        key = shifted(key, -count * copies * p)
                        last = j - count * copies
            vid, came_from = next((v, f) for c, f, v in self.arrivals_of(key) if c >> combo & 1)
            back.append((vid, key))
            key = came_from
        if loop is None:
            back.reverse()
            return FoldedPath(back, [], 0, 0, [])
        at, length, count, copies = loop
        rest = back[:at][::-1]
        body = back[at:at + length][::-1]
        first = [(vid, shifted(k, -count * copies * p)) for vid, k in body]
        return FoldedPath(back[at + length:][::-1], first, count + 1, copies * p, rest)

    def useful(self, finals: dict[tuple, int]) -> _Useful:
        return _Useful(self, finals)

    def children(self, useful):
        def of(node):
            key, combos = node
            out = []
            for (vid, to), along in self.edges_of(key).items():
                narrowed = combos & along & useful.get(to, 0)
                if narrowed:
                    out.append((vid, (to, narrowed)))
            return out
        return of

    def sends(self, useful) -> Iterator[tuple[int, tuple[int, ...]]]:
        """(real position, the variants of the sending steps from keys there that some run
        to an accepting key takes), in position order: SetSearch's edges, copy by copy."""
        s, f = self.search, self.fold
        by_pos: dict[int, list[tuple]] = {}
        for key in s.edges:
            by_pos.setdefault(key[1], []).append(key)
        for pos in sorted(k for k in by_pos if k < self.low):
            yield pos, _sending(s, by_pos[pos], 0, useful)
        memo: dict[tuple, list] = {}
        for j in range(f.repeats + 1):
            shift = j * f.period
            which = useful.copy_key(j)
            found = memo.get(which)
            if found is None:
                found = memo[which] = [(pos, _sending(s, by_pos[pos], shift, useful))
                                       for pos in range(self.low, f.start) if pos in by_pos]
            for pos, vids in found:
                yield pos + shift, vids
        for pos in sorted(k for k in by_pos if k >= f.start):
            yield pos + f.cut, _sending(s, by_pos[pos], f.cut, useful)


def _sending(search: SetSearch, keys: list[tuple], shift: int, useful) -> tuple[int, ...]:
    """The variants of the sending steps from `keys` (real positions `shift` further) that
    some run to an accepting key takes."""
    out: dict[int, None] = {}
    for key in keys:
        for (vid, to), combos in search.edges[key].items():
            if to[1] != key[1] and combos & useful.get(shifted(to, shift), 0):
                out[vid] = None
    return tuple(out)


class _Useful:
    """SetSearch.useful in real positions: key -> the combinations some run from it to an
    accepting key has. Keys after the cut keep the compressed search's answer; copy j of the
    base is worked out from copy j + 1 (the copies before the last see the same future but
    one period longer), until the answers repeat; keys before the base from copy 0."""

    def __init__(self, unfolded: Unfolded, finals: dict[tuple, int]):
        self.u = unfolded
        s, f = unfolded.search, unfolded.fold
        compressed = {unfolded.base(k)[0]: c for k, c in finals.items()}
        self.after = s.useful(compressed)         # right for keys at and after the cut
        into: dict[tuple, list[tuple[tuple, int]]] = {}
        self.base_keys = [k for pos in range(unfolded.low, f.start)
                          for k in s.reached_at(pos)]
        for key in self.base_keys:
            for (_vid, to), combos in s.edges.get(key, {}).items():
                into.setdefault(to, []).append((key, combos))
        self.into = into
        last = {k: self.after[k] for k in self.base_keys if self.after.get(k)}
        seq = [last]                              # seq[i]: copy repeats - i
        index = {frozenset(last.items()): 0}
        self.cycle = None
        while len(seq) <= f.repeats:
            nxt = self._before(seq[-1])
            frozen = frozenset(nxt.items())
            if frozen in index:
                self.cycle = (index[frozen], len(seq) - index[frozen])
                break
            index[frozen] = len(seq)
            seq.append(nxt)
        self.seq = seq
        self.prefix = self._prefix(self.copy(0))

    def copy_index(self, j: int) -> int:
        i = self.u.fold.repeats - j
        if i < len(self.seq):
            return i
        start, length = self.cycle
        return start + (i - start) % length

    def copy(self, j: int) -> dict:
        return self.seq[self.copy_index(j)]

    def copy_key(self, j: int) -> tuple[int, int]:
        """What the useful sets of copy j and of the next one are (for memoising by them)."""
        nxt = self.copy_index(j + 1) if j < self.u.fold.repeats else -1
        return self.copy_index(j), nxt

    def _before(self, later: dict) -> dict:
        """A copy's useful sets from the next copy's: steps into the next copy (targets at
        or after the cut in the base's numbering), then back within the copy."""
        p, start = self.u.fold.period, self.u.fold.start
        s = self.u.search
        out: dict[tuple, int] = {}
        todo = []
        for key in self.base_keys:
            got = 0
            for (_vid, to), combos in s.edges.get(key, {}).items():
                if to[1] >= start:
                    got |= combos & later.get(shifted(to, -p), 0)
            if got:
                out[key] = got
                todo.append(key)
        return self._back(out, todo, lambda k: k[1] >= self.u.low)

    def _back(self, useful: dict, todo: list, inside, into=None) -> dict:
        into = self.into if into is None else into
        while todo:
            key = todo.pop()
            reach = useful[key]
            for before, combos in into.get(key, ()):
                if not inside(before):
                    continue
                more = reach & combos & ~useful.get(before, 0)
                if more:
                    useful[before] = useful.get(before, 0) | more
                    todo.append(before)
        return useful

    def _prefix(self, first: dict) -> dict:
        """Keys before the base, from copy 0's answers."""
        s, low = self.u.search, self.u.low
        into: dict[tuple, list[tuple[tuple, int]]] = {}
        for key, out in s.edges.items():
            if key[1] < low:
                for (_vid, to), combos in out.items():
                    into.setdefault(to, []).append((key, combos))
        useful = dict(first)
        return self._back(useful, list(first), lambda k: k[1] < low, into)

    def get(self, key: tuple, default=0) -> int:
        base, _shift = self.u.base(key)
        j = self.u.copy(key[1])
        if j is not None:
            return self.copy(j).get(base, default)
        if key[1] < self.u.low:
            return self.prefix.get(base, default)
        return self.after.get(base, default)

    def __contains__(self, key: tuple) -> bool:
        return bool(self.get(key))

    def __getitem__(self, key: tuple) -> int:
        value = self.get(key)
        if not value:
            raise KeyError(key)
        return value


def unfolded(search: SetSearch, fold: Fold | None):
    """The search answering in the capture's own positions (itself when nothing was cut)."""
    return search if fold is None else Unfolded(search, fold)


def real_position(fold: Fold | None, k: int) -> int:
    return k if fold is None else fold.real_position(k)


def real_key(fold: Fold | None, key: tuple) -> tuple:
    """A compressed key in the capture's own positions."""
    return key if fold is None else shifted(key, fold.real_position(key[1]) - key[1])
