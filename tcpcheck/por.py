"""Partial-order reduction of replay's search: one side's invisible steps, not every interleaving.

Replay (tcpcheck.replay) searches the product of the model with the capture: a key is a
model state and the number k of captured segments matched. A step that sends must send the
next captured segments (it moves k); a step that sends nothing (an application call, a
timer's expiry, a receipt that sends nothing) keeps k. Steps of the two sides that send
nothing mostly commute, and the full search walks every interleaving of them (a bulk
transfer: hundreds of thousands of keys). At a key where one side's steps are *persistent*
(whatever the rest of the system does first, it neither changes those steps nor is changed
by them), exploring that side's steps alone loses no accepting run: the classical ample /
stubborn set reduction (Valmari's stubborn sets, Peled's ample sets, Godefroid's persistent
sets; SPIN's partial-order reduction is the same idea).

What the search must keep (replay's verdict and everything it reports but the run shown and
`searched`), and why this keeps it:

- Accepting keys are (state, n) with no successor at all: deadlocks of the product. A search
  that expands, at each key, a persistent set that is not empty when the key has a step,
  reaches every deadlock the full search reaches (every run to one has an equivalent run,
  the same steps with independent ones swapped, in the reduced graph). Per combination of
  parameters: the set is persistent and covers the combination in each combination of the
  popped set (`ample` checks both over every combination of it), so the set of accepting
  keys, and their combinations, are the full search's. So are the variants that send each
  segment along accepting runs (equivalent runs take the same steps), hence the choices.
- A model error (a step whose successor cannot be computed) and the furthest position need
  the cycle proviso as well: the reduced search must not go round a cycle of one side's steps
  forever while the other side's step waits. The strong form is used: when a step of the set
  leads to a key the search has reached already, the key is expanded fully (every cycle of
  the reduced graph then has a fully expanded key). Replay falls back to the full search for
  anything but an acceptance that needs nothing more (a rejection shows the states at the
  furthest position and their alternatives, which depend on the interleavings kept; a timed
  check may need a run the reduction dropped: times are not invariant under reordering).

When a side X's steps are persistent at (state, k), with Y the other side (`ample`):
1. every step of X enabled there (in the product: a send counts when it fits) sends nothing,
   and none is a loss (the network's steps belong to no side and are never chosen);
2. X's outgoing channel is empty, or its room is already at least what any of X's guards
   compares room() with and any of X's steps sends (`Side.roomy`): Y's receipts and the
   network's losses on it only add room, which would otherwise change a guard of X's or
   wake a send of X's waiting for room;
3. no loss on X's incoming channel is enabled: it would change the head X receives. It
   stays disabled while X takes no step: the head does not move (below), the loss counter
   only grows, its `when` reads parameters;
4. Y cannot change the head of X's incoming channel before X moves: either Y cannot send at
   all before X does (the next captured segment is X's, or none is left: k is the end),
   or the channel is not empty (Y's sends go behind the head) and no send X has enabled in
   the model fits at the next of X's captured segments (Y's segments move k at most up to
   there: they cannot be X's; X's sends do not change while X takes no step);
5. if X receives, Y cannot observe the room it makes: Y cannot send (the first case of 4),
   and either Y is roomy as in 2, or none of Y's transitions that are not receipts reads
   room() on a path that sends nothing and X's outgoing channel is empty (Y's receipts,
   which may read room(), then have nothing to receive).
Then, by induction along any run of the product from the key that takes none of X's steps:
X's state, the head and room it reads and the position its sends are compared at do not
change, so X's enabled steps stay exactly the set; the others' steps read and write only
Y's variables and timers, Y's outgoing channel's tail and the losses, which X's steps
neither read nor write (a model's variables and timers are per instance; a model with
globals, or not exactly two instances joined by one channel each way, is not reduced).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import model as c
from .emit import straight_paths
from .transitions import TransitionSystem

# Off: on the bulk transfers it keeps 1% fewer pairs and costs the audit a timed search
# each (bench/RESULTS.md, "Partial-order reduction of replay's search"); `replay(reduce=True)`
# turns it on for one replay
ENABLED = False


@dataclass(frozen=True, slots=True)
class Side:
    """What the reduction needs to know of one instance of a two-instance model."""
    name: str
    out_offset: int              # the bits of its outgoing channel in a state
    out_mask: int
    in_offset: int               # the bits of its incoming channel
    in_mask: int
    in_channel: str              # the name of its incoming channel (a loss's lost_from)
    room_quiet: bool             # some non-receipt reads room() on a path that sends nothing
    # room() at or above `settled` and more changes nothing the side's steps see (None: no
    # such bound, a room() read other than compared with a constant in a guard); `capacity`
    # its outgoing channel's smallest over the combinations (None: unknown)
    settled: int | None
    capacity: int | None
    seg_width: int

    def roomy(self, state: int) -> bool:
        """Whether more room in the outgoing channel would change none of this side's steps:
        at least `settled` places free in every combination."""
        if self.settled is None or self.capacity is None:
            return False
        held = (((state >> self.out_offset) & self.out_mask).bit_length()
                + self.seg_width - 1) // self.seg_width
        return self.capacity - held >= self.settled


@dataclass(frozen=True, slots=True)
class Sides:
    """The two sides of a model, in the model's order, and each variant's instance index (-1:
    the network) and whether it is a receipt."""
    sides: tuple[Side, Side]
    side_of: tuple[int, ...]     # variant -> 0 or 1, -1 for the network's steps
    receipt: tuple[bool, ...]    # variant -> a recv
    lost_from: tuple[str | None, ...]   # variant -> the channel a loss takes its head from

    @classmethod
    def of(cls, ts: TransitionSystem) -> Sides | None:
        """The sides of `ts`, or None when the model is not one the argument above covers."""
        model = ts.model
        names = [inst.name for inst in model.instances]
        if len(names) != 2 or any(s.kind == "global" for s in ts.slots):
            return None
        if len(ts.channels) != 2 or {(ch.src, ch.dst) for ch in ts.channels} != {
                (names[0], names[1]), (names[1], names[0])}:
            return None
        out = {ch.src: ch for ch in ts.channels}
        into = {ch.dst: ch for ch in ts.channels}
        sides = []
        for inst in model.instances:
            o, i = ts.slots[out[inst.name].slot], ts.slots[into[inst.name].slot]
            sides.append(Side(inst.name, o.offset, o.mask, i.offset, i.mask,
                              into[inst.name].name, _room_quiet(model, inst),
                              _settled_room(ts, inst), _least_capacity(ts, out[inst.name].name),
                              ts.seg_width))
        index = {name: k for k, name in enumerate(names)}
        side_of = tuple(-1 if v.instance is None else index[v.instance] for v in ts.variants)
        receipt = tuple(v.event.kind == "recv" for v in ts.variants)
        return cls((sides[0], sides[1]), side_of, receipt,
                   tuple(v.lost_from for v in ts.variants))

    def ample(self, steps: tuple, state: int, next_side: int | None, may_fit) -> tuple:
        """A persistent subset of `steps` (replay's fitting steps at a key: (variant,
        successor, segments matched, combinations)), or `steps` itself. `next_side`: the side
        of the next captured segment, None at the end of the capture; `may_fit(x)`: whether a
        send side x has enabled in the model may fit the captured segments once the other
        side has sent its own (at the next of side x's captured segments)."""
        if len(steps) < 2:
            return steps
        every = 0
        for step in steps:
            every |= step[3]
        for x in (0, 1) if next_side is None else (next_side, 1 - next_side):
            mine = self._persistent(x, steps, state, next_side, every, may_fit)
            if mine is not None:
                return mine
        return steps

    def _persistent(self, x: int, steps: tuple, state: int, next_side: int | None,
                    every: int, may_fit) -> tuple | None:
        side, other = self.sides[x], self.sides[1 - x]
        out_empty = not (state >> side.out_offset) & side.out_mask
        if not out_empty and not side.roomy(state):
            return None                                     # 2
        y_can_send = next_side is not None and next_side != x
        if y_can_send and (not (state >> side.in_offset) & side.in_mask or may_fit(x)):
            return None                                     # 4
        mine = []
        covered = 0
        receives = False
        side_of, receipt, lost_from = self.side_of, self.receipt, self.lost_from
        for step in steps:
            vid = step[0]
            owner = side_of[vid]
            if owner == x:
                mine.append(step)
                covered |= step[3]
                receives = receives or receipt[vid]
            elif owner == -1 and lost_from[vid] == side.in_channel:
                return None                                 # 3
        if not mine or len(mine) == len(steps) or covered != every:
            return None
        if receives and (y_can_send or not (other.roomy(state)
                                            or out_empty and not other.room_quiet)):
            return None                                     # 5
        return tuple(mine)


def sides_of(ts: TransitionSystem) -> Sides | None:
    """Sides.of(ts), worked out once per system and kept on it."""
    known = ts.__dict__.get("_por_sides", False)
    if known is not False:
        return known
    sides = ts.__dict__["_por_sides"] = Sides.of(ts)
    return sides


def _room_quiet(model: c.CheckedModel, inst: c.CInstance) -> bool:
    """Whether a transition of `inst` other than a receipt reads room() and has a path that
    sends nothing (condition 5: a side receiving changes its peer's room)."""
    for tr in model.endpoint(inst.endpoint).transitions:
        if tr.event.kind == "recv" or not _reads_room((tr.guard, tr.body)):
            continue
        if any(not any(isinstance(e, c.SSend) for e in path)
               for path in straight_paths(tr.body)):
            return True
    return False


def _reads_room(node) -> bool:
    """Whether an expression or statement tree contains room()."""
    if isinstance(node, c.RRoom):
        return True
    if isinstance(node, (tuple, list)):
        return any(_reads_room(x) for x in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return any(_reads_room(getattr(node, f.name)) for f in dataclasses.fields(node))
    return False


_MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _settled_room(ts: TransitionSystem, inst: c.CInstance) -> int | None:
    """The least room r such that every room() comparison of `inst`'s guards has the same
    truth for every room from r up, and every send of its steps has room: more room than r
    changes none of its steps. None when room() is read otherwise (in a body, in
    arithmetic, against a non-constant)."""
    bound = max((len(v.sends) for v in ts.variants if v.instance == inst.name), default=0)
    for tr in ts.model.endpoint(inst.endpoint).transitions:
        if _reads_room(tr.body):
            return None
        b = _guard_room(tr.guard)
        if b is None:
            return None
        bound = max(bound, b)
    return bound


def _guard_room(node) -> int | None:
    """The room from which every `room() OP constant` in `node` is settled (0 when there is
    none); None when room() stands anywhere else."""
    if isinstance(node, c.RRoom):
        return None
    if isinstance(node, c.ROp) and node.op in _MIRRORED and len(node.args) == 2:
        a, b = node.args
        op = node.op
        if isinstance(b, c.RRoom) and isinstance(a, c.RConst):
            a, b, op = b, a, _MIRRORED[op]
        if isinstance(a, c.RRoom) and isinstance(b, c.RConst):
            return max(0, b.value if op in (">=", "<") else b.value + 1)
    if isinstance(node, (tuple, list)):
        parts = [_guard_room(x) for x in node]
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        parts = [_guard_room(getattr(node, f.name)) for f in dataclasses.fields(node)]
    else:
        return 0
    return None if None in parts else max(parts, default=0)


def _least_capacity(ts: TransitionSystem, channel: str) -> int | None:
    """The channel's capacity in the combination where it is smallest (None: not known)."""
    from .params import eval_const     # the model's constant expressions
    decl = next(ch for ch in ts.model.channels if ch.name == channel)
    try:
        return min(eval_const(decl.capacity, dict(env)) for env in ts.initial_params)
    except Exception:   # noqa: BLE001 -- an expression this cannot evaluate: no bound
        return None
