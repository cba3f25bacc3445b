"""Every parameter combination searched at once (tcpcheck.combos) is each combination searched
alone: the grouped successors, their remembered answers, the successors shared between
replays and a search that keeps no edges all give what the plain successor function gives."""
from __future__ import annotations

from collections import deque

import pytest
from conftest import DEFAULT_MODEL, ROOT

from tcpcheck.capture import read_capture
import tcpcheck.combos as combos_module
import tcpcheck.replay as replay_module
from tcpcheck.combos import Combos, DeferredSuccessors, Interned, SetSearch, members
from tcpcheck.replay import forget_large_splits, load_open, replay, shared_splits
from tcpcheck.verdicts import Verdict

CAPTURES = ROOT / "tests" / "captures"


@pytest.fixture(scope="module")
def ts():
    return load_open(DEFAULT_MODEL, [])


def _reachable(deferred: DeferredSuccessors, limit: int) -> list[tuple[int, int]]:
    """(stripped state, set) pairs breadth-first from the initial states, as a replay meets
    them (each successor with the part of the set that has it)."""
    seen: dict[tuple[int, int], None] = {}
    todo = deque(deferred.combos.initial())
    while todo and len(seen) < limit:
        node = todo.popleft()
        if node in seen:
            continue
        seen[node] = None
        succ, _quiet = deferred.merged(*node)
        todo.extend((nxt, part) for (_vid, nxt), part in succ)
    return list(seen)


def test_grouped_successors_are_each_combinations_own(ts):
    # for a sample of the combinations of each set, the successors the set search gives it
    # are exactly those of the plain successor function on its own concrete state
    cs = Combos.of(ts)
    deferred = DeferredSuccessors(cs)
    nodes = _reachable(deferred, 400)
    assert len(nodes) == 400
    checked = 0
    for state, combos in nodes[::7]:
        succ, quiet = deferred.merged(state, combos)
        for r in members(combos)[::61]:
            own = sorted((vid, cs.strip(nxt)) for vid, nxt in ts.successors(cs.concrete(state, r)))
            grouped = sorted(entry for entry, part in succ if part >> r & 1)
            assert grouped == own, (state, r)
            assert bool(quiet >> r & 1) == (not own)
            checked += 1
    assert checked > 200


def test_a_remembered_answer_is_the_one_worked_out_afresh(ts):
    # merged() remembers its answer per (state, set); parts learnt later for other
    # combinations of the same state must not change it, order included
    cs = Combos.of(ts)
    learnt = DeferredSuccessors(cs)
    nodes = _reachable(learnt, 300)
    for state, combos in nodes[::11]:
        first = learnt.merged(state, combos)
        learnt.merged(state, cs.every)          # every other part of the state learnt
        remembered = learnt.merged(state, combos)
        learnt.answers.clear()
        assert remembered == first == learnt.merged(state, combos)


@pytest.mark.parametrize("names", [("bulk_then_close.pcap", "http_server_closes.pcap"),
                                   ("server_closes_first.pcap", "invalid/data_after_fin.pcap",
                                    "write_after_rst.pcap")])
def test_replays_sharing_successors_answer_as_alone(names):
    # the successors a system's replays share (replay.shared_splits) leave each verdict,
    # run and set of combinations as a replay on a system of its own gives them
    caps = [read_capture(CAPTURES / name) for name in names]
    shared = load_open(DEFAULT_MODEL, [], caps)
    for cap in caps:
        together = replay(shared, cap, check_timing=False)
        alone_ts = load_open(DEFAULT_MODEL, [], caps)
        assert alone_ts is not shared
        alone = replay(alone_ts, cap, check_timing=False)
        assert (together.verdict, together.run, together.combos, together.matched,
                together.choices) == (alone.verdict, alone.run, alone.combos, alone.matched,
                                      alone.choices)
    assert shared_splits(shared).nodes


@pytest.mark.parametrize("name", ["bulk_then_close.pcap", "client_closes_while_server_sends.pcap",
                                  "invalid/rst_from_last_ack.pcap", "simultaneous_close.pcap"])
def test_a_search_without_edges_decides_as_one_with_them(name):
    cap = read_capture(CAPTURES / name)
    ts = load_open(DEFAULT_MODEL, [], [cap])
    full = replay(ts, cap, check_timing=False)
    bare = replay(ts, cap, check_timing=False, choices=False)
    assert bare.choices == [] and (full.choices != []) == (full.verdict is Verdict.ACCEPTED)
    assert (bare.verdict, bare.run, bare.combos, bare.required, bare.kind, bare.matched,
            bare.searched, bare.could_be_in, bare.instead) == \
        (full.verdict, full.run, full.combos, full.required, full.kind, full.matched,
         full.searched, full.could_be_in, full.instead)


def _outcome(r) -> tuple:
    return (r.verdict, r.run, r.combos, r.required, r.kind, r.matched, r.searched, r.could_be_in,
            r.instead)


@pytest.mark.parametrize("name", ["bulk_then_close.pcap", "invalid/rst_from_last_ack.pcap",
                                  "client_closes_while_server_sends.pcap"])
def test_steps_remembered_across_positions_decide_as_each_position_alone(name, monkeypatch):
    # replay reuses the steps that fit for a (state, set) at every position whose segments
    # ahead are the same (replay._position_classes); numbering every position apart makes
    # each position work its steps out alone, the reference
    cap = read_capture(CAPTURES / name)
    ts = load_open(DEFAULT_MODEL, [], [cap])
    shared = replay(ts, cap, check_timing=False, choices=False)
    monkeypatch.setattr(replay_module, "_position_classes",
                        lambda segs, window: list(range(len(segs) + 1)))
    alone = replay(ts, cap, check_timing=False, choices=False)
    assert _outcome(shared) == _outcome(alone)


def test_position_classes_tell_apart_what_fits_reads():
    cap = read_capture(CAPTURES / "bulk_then_close.pcap")
    segs = cap.segments
    classes = replay_module._position_classes(segs, 2)
    assert len(classes) == len(segs) + 1
    for a in range(len(classes)):
        for b in range(len(classes)):
            ahead = [tuple((segs[j].side, segs[j].segment) if j < len(segs) else None
                           for j in range(k, k + 2)) for k in (a, b)]
            assert (classes[a] == classes[b]) == (ahead[0] == ahead[1])
    assert len(set(classes)) < len(classes)     # a bulk transfer repeats itself


def test_a_search_keeps_one_object_per_distinct_set(monkeypatch):
    searches = []
    original = SetSearch.__init__

    def keep(self, *args, **kwargs):
        searches.append(self)
        original(self, *args, **kwargs)
    monkeypatch.setattr(SetSearch, "__init__", keep)
    cap = read_capture(CAPTURES / "client_closes_while_server_sends.pcap")
    ts = load_open(DEFAULT_MODEL, [], [cap])
    result = replay(ts, cap, check_timing=False, choices=False)
    assert result.verdict is Verdict.ACCEPTED
    sets = list(searches[-1].reached.values())
    assert len(sets) > len(set(sets))       # many keys share a set...
    assert len({id(s) for s in sets}) == len(set(sets))     # ...and its one object


def test_interned_sets_are_the_values_given():
    same = Interned()
    a, b = (1 << 2047) | 5, (1 << 2047) | 5
    assert a is not b
    assert same(a) is same(b) is a and same(3) == 3
    same.table.update({i: i for i in range(combos_module.MAX_INTERNED)})
    same.bound()
    assert same.table == {} and same(b) is b


def test_a_tree_holds_one_object_per_path(ts):
    deferred = DeferredSuccessors(Combos.of(ts))
    _reachable(deferred, 200)
    tree = deferred.tree
    seen: dict[tuple, tuple] = {}
    for nodes in tree.nodes.values():
        for path in nodes:
            assert seen.setdefault(path, path) is path
            for pair in path:
                assert tree.pairs[pair] is pair
    assert len(seen) < sum(len(nodes) for nodes in tree.nodes.values())


def test_a_forgotten_tree_grows_again_to_the_same_answers(monkeypatch):
    cap = read_capture(CAPTURES / "http_server_closes.pcap")
    ts = load_open(DEFAULT_MODEL, [], [cap])
    first = replay(ts, cap, check_timing=False)
    monkeypatch.setattr(replay_module, "LARGE_SPLITS", 0)
    forget_large_splits(ts)
    assert replay_module._SHARED not in ts.__dict__
    again = replay(ts, cap, check_timing=False)
    assert _outcome(again) == _outcome(first) and again.choices == first.choices
    assert shared_splits(ts).nodes


@pytest.mark.parametrize("side", [None, "server"])
def test_a_replay_pauses_the_cycle_collector_for_its_search_only(ts, monkeypatch, side):
    # replay and one-sided replay run their search with the cyclic collector paused (it
    # walked the search's millions of objects for nothing) and leave it as they found it
    import gc

    import tcpcheck.oneside as oneside_module
    seen = []
    search_stop = replay_module.search_stop

    def watched(*args):         # called at every pop of the search
        seen.append(gc.isenabled())
        return search_stop(*args)

    monkeypatch.setattr(replay_module if side is None else oneside_module, "search_stop",
                        watched)
    cap = read_capture(CAPTURES / "server_closes_first.pcap")
    assert gc.isenabled()
    r = (replay(ts, cap, check_timing=False) if side is None
         else oneside_module.replay_side(ts, cap, side, check_timing=False))
    assert r.verdict is Verdict.ACCEPTED
    assert seen and not any(seen)
    assert gc.isenabled()
