"""Ladder diagrams (tcpcheck.ladder) of real runs of the default model and of hand-written ones.

Real runs are built by naming their events one by one (`scripted_steps`), then timed with
the z3 timing check, so the drawings carry the times an engineer would see. The lost and the
in-flight segment are hand-written step lists in the trace format (tcpcheck/trace.py).
Golden files: tests/golden/ladder/ (pytest --update-golden rewrites them).
"""
from __future__ import annotations

import copy
import html
import re
import shutil
import subprocess

import pytest

import tcpcheck
from tcpcheck.explore import explore
from tcpcheck.ladder import analyse_run, instances_of, ladder_dot, ladder_text, write_ladder
from tcpcheck.lifelines import timer_ranges
from tcpcheck.timing import check_run
from tcpcheck.trace import run_steps

from conftest import DEFAULT_MODEL, run_tcpcheck

PARAMS = ["delayed_ack=true", "passive_has_data=false"]
RANGES = timer_ranges(tcpcheck.load(DEFAULT_MODEL, PARAMS).model)

THREE_WAY = [("client", "close()"), ("server", "recv FIN"), ("server", "close()"),
             ("client", "recv FIN | FIN+ACK"), ("server", "recv ACK"),
             ("client", "time_wait expires")]
FOUR_WAY = [("client", "close()"), ("server", "recv FIN"), ("server", "delack expires"),
            ("client", "recv ACK"), ("server", "close()"), ("client", "recv FIN | FIN+ACK"),
            ("server", "recv ACK"), ("client", "time_wait expires")]
SIMULTANEOUS = [("client", "close()"), ("server", "close()"),
                ("client", "recv FIN | FIN+ACK"), ("server", "recv FIN | FIN+ACK"),
                ("client", "recv ACK"), ("server", "recv ACK"),
                ("client", "time_wait expires"), ("server", "time_wait expires")]
# the passive side answers with data before its FIN: sequence numbers move on
WITH_DATA = [("client", "shutdown(SHUT_WR)"), ("server", "recv FIN"), ("server", "write()"),
             ("client", "recv DATA"), ("server", "close()"), ("client", "recv FIN | FIN+ACK"),
             ("server", "recv ACK"), ("server", "recv ACK")]

_explored: dict[tuple[str, ...], object] = {}


def scripted_steps(params: list[str], script: list[tuple[str, str]]) -> list[dict]:
    """The steps of the run that takes the named events in order, from the initial state.

    Each (endpoint, event label) must match exactly one edge out of the current state."""
    key = tuple(params)
    if key not in _explored:
        _explored[key] = explore(tcpcheck.load(DEFAULT_MODEL, params))
    ex = _explored[key]
    ts = ex.system
    out: dict[int, list[tuple[int, int]]] = {}
    for k in range(ex.n_edges):
        out.setdefault(ex.edge_src[k], []).append((ex.edge_variant[k], ex.edge_dst[k]))
    sid = ex.initial[0]
    run = [(-1, sid)]
    for who, label in script:
        found = sorted({(v, d) for v, d in out.get(sid, [])
                        if ts.variants[v].instance == who
                        and ts.variants[v].event.label() == label
                        and "delayed_ack_races_close" not in ts.variants[v].observations})
        # (the close that races the delayed-ACK timer has the same label: not these runs)
        assert len(found) == 1, f"{who}: {label} from {ts.decode(ex.states[sid])}: {found}"
        run.append(found[0])
        sid = found[0][1]
    timing = check_run(ts, [ts.variants[v] for v, _ in run[1:]])
    assert timing.feasible, timing.conflict
    return run_steps(ex, run, timing.times_ms)


@pytest.fixture(scope="module")
def three_way():
    return scripted_steps(PARAMS, THREE_WAY)


@pytest.fixture(scope="module")
def four_way():
    return scripted_steps(PARAMS, FOUR_WAY)


@pytest.fixture(scope="module")
def simultaneous():
    return scripted_steps(PARAMS, SIMULTANEOUS)


def _step(n, who, kind, event, states, *, received=None, sent=(), fired=None, obs=(),
          time_ms=None, **extra):
    step = {"step": n, "state": 100 + n, "endpoint": who, "kind": kind, "event": event,
            "received": received, "sent": list(sent),
            "segment": sent[0]["flags"] if sent else None,
            "timers": {"fired": fired, "armed": [], "cancelled": []},
            "observations": list(obs), **extra,
            "time_ms": time_ms, "tcp_states": dict(zip(("client", "server"), states))}
    return step


def lost_ack_steps() -> list[dict]:
    """A three-way close whose last ACK the network loses; the server stays in LAST_ACK."""
    fin, finack, ack = {"flags": "FIN", "ack": 0}, {"flags": "FIN+ACK", "ack": 1}, \
        {"flags": "ACK", "ack": 1}
    return [
        {"step": 0, "state": 0, "params": {"delayed_ack": True, "passive_has_data": False},
         "time_ms": 0.0, "tcp_states": {"client": "ESTABLISHED", "server": "ESTABLISHED"}},
        _step(1, "client", "call", "close()", ("FIN_WAIT_1", "ESTABLISHED"), sent=[fin],
              time_ms=1.0),
        _step(2, "server", "recv", "recv FIN", ("FIN_WAIT_1", "CLOSE_WAIT"), received=fin,
              time_ms=2.0),
        _step(3, "server", "call", "close()", ("FIN_WAIT_1", "LAST_ACK"), sent=[finack],
              fired="think", obs=["three_way_close"], time_ms=3.0),
        _step(4, "client", "recv", "recv FIN | FIN+ACK", ("TIME_WAIT", "LAST_ACK"),
              received=finack, sent=[ack], time_ms=4.0),
        _step(5, "network", "loss", "loss on client->server", ("TIME_WAIT", "LAST_ACK"),
              obs=["segment_lost"], lost=ack, channel="client->server", time_ms=5.0),
        _step(6, "client", "expire", "time_wait expires", ("CLOSED", "LAST_ACK"),
              fired="time_wait", time_ms=60004.0),
    ]


def in_flight_steps() -> list[dict]:
    """A four-way close cut short: the server's FIN is still on the wire. No times known."""
    fin, ack1 = {"flags": "FIN", "ack": 0}, {"flags": "ACK", "ack": 1}
    fin2 = {"flags": "FIN", "ack": 1}
    return [
        {"step": 0, "state": 0, "params": {"delayed_ack": False, "passive_has_data": False},
         "time_ms": None, "tcp_states": {"client": "ESTABLISHED", "server": "ESTABLISHED"}},
        _step(1, "client", "call", "close()", ("FIN_WAIT_1", "ESTABLISHED"), sent=[fin]),
        _step(2, "server", "recv", "recv FIN", ("FIN_WAIT_1", "CLOSE_WAIT"), received=fin,
              sent=[ack1]),
        _step(3, "server", "call", "close()", ("FIN_WAIT_1", "LAST_ACK"), sent=[fin2],
              fired="think"),
        _step(4, "client", "recv", "recv ACK", ("FIN_WAIT_2", "LAST_ACK"), received=ack1),
    ]


# ------------------------------------------------------------------ helpers on DOT text

def segment_edges(dot: str) -> list[tuple[str, str, str]]:
    """(tail, head, attributes) of every segment arrow."""
    return re.findall(r"^\s*(\S+) -> (\S+) \[([^\]]*\bid=seg\d+[^\]]*)\]", dot, re.M)


def timer_bars(dot: str) -> list[tuple[str, str]]:
    """(id, how it ends) of every timer bar: tee cancelled, dot fired, none still running."""
    edges = re.findall(r"^\s*\S+ -> \S+ \[([^\]]*\bid=timer[^\]]*)\]", dot, re.M)
    return [(re.search(r"\bid=(\w+)", e).group(1), re.search(r"arrowhead=(\w+)", e).group(1))
            for e in edges]


def event_lines(dot: str) -> list[list[str]]:
    """The lines beside the lifelines (calls, timers), per row and endpoint, in order."""
    found = re.findall(r"^\s*event\d_\d+ \[label=<(.*)> ", dot, re.M)
    return [[html.unescape(t) for t in re.findall(r">([^<]+)</font>", f)] for f in found]


def labels(dot: str, prefix: str) -> list[str]:
    """The labels of the nodes named prefix<number>[_<number>], in order."""
    found = re.findall(rf'^\s*{prefix}\d+(?:_\d+)? \[label=(?:"((?:[^"\\]|\\.)*)"|(\S+))',
                       dot, re.M)
    return [quoted or bare for quoted, bare in found]


# ------------------------------------------------------------------ real runs

def test_three_way_close(three_way, golden):
    dot = ladder_dot(three_way, "three-way close", timers=RANGES)
    edges = segment_edges(dot)
    assert [(t, h) for t, h, _ in edges] == [("p0_1", "p1_2"), ("p1_3", "p0_4"),
                                             ("p0_4", "p1_5")]
    # flags as on the wire: every FIN carries ACK; the model's FIN+ACK said beside it
    assert labels(dot, "label") == ["[F.] seq=0 ack=0 len=0  t=1 ms",
                                    "[F.] seq=0 ack=1 len=0 (FIN+ACK)  t=3 ms",
                                    "[.] seq=1 ack=1 len=0  t=4 ms"]
    states = labels(dot, "state")
    assert states == ["ESTABLISHED", "ESTABLISHED", "FIN_WAIT_1", "CLOSE_WAIT", "LAST_ACK",
                      "TIME_WAIT", "CLOSED", "CLOSED"]
    # beside their own lifeline: client states left of x=0, server states right of the gap
    for name, x in re.findall(r"^\s*(state\d_\d+) .*pos=\"(-?[\d.]+),", dot, re.M):
        assert (float(x) < 0) == name.startswith("state0"), name
    events = [" | ".join(lines) for lines in event_lines(dot)]
    # why three segments: the FIN arms the delayed-ACK timer, the FIN+ACK carries the ACK
    # and cancels it; TIME_WAIT runs its 60 s and fires
    assert events == ["close()", "arms delack [0..200 ms] | arms think [0 ms..inf]",
                      "close() after think (1 ms) | cancels delack after 1 ms",
                      "arms time_wait [60 s]", "time_wait expires after 60 s"]
    assert timer_bars(dot) == [("timer1_0", "tee"), ("timer1_1", "dot"), ("timer0_2", "dot")]
    assert "note1_3 [label=three_way_close" in dot
    assert "delayed_ack=true, passive_has_data=false" in dot
    golden("ladder/three_way_close.dot", dot)


def test_four_way_close(four_way, golden):
    dot = ladder_dot(four_way, "four-way close")
    flags = [lab.split()[0] for lab in labels(dot, "label")]
    assert flags == ["[F.]", "[.]", "[F.]", "[.]"]
    assert len(segment_edges(dot)) == 4
    assert labels(dot, "label")[1] == "[.] seq=0 ack=1 len=0  t=3 ms"   # the delayed ACK
    assert "delack expires after 1 ms" in dot
    assert "three_way_close" not in dot
    assert "FIN_WAIT_2" in labels(dot, "state")
    golden("ladder/four_way_close.dot", dot)


def test_simultaneous_close(simultaneous, golden):
    dot = ladder_dot(simultaneous, "simultaneous close")
    edges = [(t, h) for t, h, _ in segment_edges(dot)]
    # the two FINs cross on the wire, and so do the two ACKs
    assert edges == [("p0_1", "p1_4"), ("p1_2", "p0_3"), ("p0_3", "p1_6"), ("p1_4", "p0_5")]
    assert labels(dot, "label") == ["[F.] seq=0 ack=0 len=0  t=1 ms",
                                    "[F.] seq=0 ack=0 len=0  t=2 ms",
                                    "[.] seq=1 ack=1 len=0  t=3 ms",
                                    "[.] seq=1 ack=1 len=0  t=4 ms"]
    assert "state0_3 [label=CLOSING" in dot and "state1_4 [label=CLOSING" in dot
    golden("ladder/simultaneous_close.dot", dot)


def test_sequence_numbers_count_data_and_fin():
    steps = scripted_steps(["delayed_ack=true", "passive_has_data=true"], WITH_DATA)
    _rows, segs = analyse_run(steps)
    assert [s.label(with_time=False) for s in segs] == [
        "[F.] seq=0 ack=0 len=0",          # client shutdown(SHUT_WR)
        "[P.] seq=0 ack=1 len=1",          # server's reply, carrying the ACK of the FIN
        "[.] seq=1 ack=1 len=0",           # client: acknowledges the reply at once
        "[F.] seq=1 ack=1 len=0",          # the data took one unit
        "[.] seq=1 ack=2 len=0"]          # client: its FIN took one; it has data and FIN
    assert all(s.end_row is not None and not s.lost for s in segs)


def test_text_three_way(three_way, golden):
    text = ladder_text(three_way)
    lines = text.splitlines()
    assert len(lines) == 1 + 7 + 1          # header, one per step, the second segment of step 4
    assert "-->" in lines[2] and "[F.] seq=0 ack=0 len=0" in lines[2] and "close()" in lines[2]
    assert lines[3].rstrip().endswith("-->  CLOSE_WAIT")
    assert "[three_way_close]" in lines[4]
    golden("ladder/three_way_close.txt", text)


def test_text_simultaneous(simultaneous, golden):
    text = ladder_text(simultaneous)
    assert text.count("CLOSING") == 2
    golden("ladder/simultaneous_close.txt", text)


# ------------------------------------------------------------------ hand-written runs

def test_lost_segment(golden):
    steps = lost_ack_steps()
    dot = ladder_dot(steps, "three-way close, last ACK lost")
    edges = segment_edges(dot)
    assert len(edges) == 3
    tail, head, attrs = edges[2]
    assert (tail, head) == ("p0_4", "lost2") and "arrowhead=none" in attrs
    assert re.search(r"^\s*lost2 \[label=\"\u00d7\"", dot, re.M)
    assert "lostnote2 [label=segment_lost" in dot
    assert "segment_lost" not in "".join(labels(dot, "note"))   # not twice
    # the cross is half-way between the lifelines, on the row of the loss
    cross = re.search(r"^\s*lost2 .*pos=\"([\d.]+),([\d.]+)!\"", dot, re.M)
    row5 = re.search(r"^\s*p0_5 .*pos=\"-?[\d.]+,([\d.]+)!\"", dot, re.M)
    assert float(cross.group(1)) == 180.0 and cross.group(2) == row5.group(1)
    assert labels(dot, "label")[2] == "[.] seq=1 ack=1 len=0  t=4 ms"
    golden("ladder/lost_ack.dot", dot)
    text = ladder_text(steps)
    assert "[.] seq=1 ack=1 len=0  lost" in text and " X " in text
    golden("ladder/lost_ack.txt", text)


def test_segment_in_flight_at_the_end(golden):
    steps = in_flight_steps()
    dot = ladder_dot(steps, "four-way close, last FIN still on the wire")
    edges = segment_edges(dot)
    assert len(edges) == 3
    assert edges[2][:2] == ("p1_3", "end2") and "dashed" in edges[2][2]
    assert labels(dot, "label") == ["[F.] seq=0 ack=0 len=0", "[.] seq=0 ack=1 len=0",
                                    "[F.] seq=0 ack=1 len=0  (in flight)"]
    assert " ms" not in dot                 # no times known: none shown
    # the dangling end is below the last row, at the foot of the lifelines
    end = re.search(r"^\s*end2 .*pos=\"[\d.]+,([\d.]+)!\"", dot, re.M)
    foot = re.search(r"^\s*foot0 .*pos=\"[\d.]+,([\d.]+)!\"", dot, re.M)
    assert end.group(1) == foot.group(1)
    golden("ladder/in_flight.dot", dot)
    text = ladder_text(steps)
    assert text.splitlines()[-1].split() == ["end", "...", "[F.]", "seq=0", "ack=1", "len=0",
                                             "in", "flight", "..."]
    golden("ladder/in_flight.txt", text)


def test_instances_swapped(three_way):
    dot = ladder_dot(three_way, "t", instances=("server", "client"))
    assert "head0 [label=server" in dot
    # the client's FIN now goes from the right lifeline to the left one
    assert segment_edges(dot)[0][:2] == ("p1_1", "p0_2")


def test_deterministic_and_input_untouched(three_way, simultaneous):
    for steps in (three_way, simultaneous, lost_ack_steps(), in_flight_steps()):
        before = copy.deepcopy(steps)
        first = ladder_dot(steps, "x"), ladder_text(steps)
        again = ladder_dot(copy.deepcopy(steps), "x"), ladder_text(copy.deepcopy(steps))
        assert first == again
        assert steps == before


def test_steps_that_do_not_fit_together():
    steps = in_flight_steps()
    bad = copy.deepcopy(steps)
    bad[2]["received"] = {"flags": "ACK", "ack": 0}
    with pytest.raises(ValueError, match=r"step 2: server receives ACK\(ack=0\), but the "
                                         r"oldest segment from client to server on the wire "
                                         r"is FIN\(ack=0\)"):
        ladder_dot(bad, "x")
    bad = copy.deepcopy(steps)
    bad[2]["received"] = {"flags": "FIN", "ack": 1}
    with pytest.raises(ValueError, match="oldest segment"):
        ladder_dot(bad, "x")
    bad = copy.deepcopy(steps)
    del bad[1]                                  # the FIN was never sent
    with pytest.raises(ValueError, match="server receives a segment from client to server, "
                                         "but none is on the wire"):
        ladder_text(bad)
    with pytest.raises(ValueError, match="is not one of"):
        ladder_dot(steps, "x", instances=("a", "b"))
    bad = lost_ack_steps()
    bad[5]["channel"] = "client-server"
    with pytest.raises(ValueError, match="direction of channel"):
        ladder_dot(bad, "x")


# ------------------------------------------------------------------ Graphviz draws it

needs_dot = pytest.mark.skipif(shutil.which("dot") is None or shutil.which("neato") is None,
                               reason="Graphviz (dot, neato) is not installed")


def _svg_paths(svg: str) -> dict[str, str]:
    """Edge id -> path data of its line."""
    return dict(re.findall(r'<g id="(seg\d+)" class="edge">.*?<path [^>]*d="([^"]+)"', svg,
                           re.S))


def _ends(d: str) -> tuple[tuple[float, float], tuple[float, float]]:
    nums = [float(v) for v in re.findall(r"-?[\d.]+", d)]
    return (nums[0], nums[1]), (nums[-2], nums[-1])


@needs_dot
def test_graphviz_draws_it(tmp_path, three_way, simultaneous):
    for k, steps in enumerate((three_way, simultaneous, lost_ack_steps(), in_flight_steps())):
        dot = ladder_dot(steps, "ladder")
        src = tmp_path / f"l{k}.dot"
        src.write_text(dot, encoding="utf-8")
        by_dot = subprocess.run(["dot", "-Tsvg", str(src)], capture_output=True, text=True)
        assert by_dot.returncode == 0 and by_dot.stderr == "", by_dot.stderr
        by_neato = subprocess.run(["neato", "-n", "-Tsvg", str(src)], capture_output=True,
                                  text=True)
        assert by_neato.returncode == 0 and by_neato.stderr == "", by_neato.stderr
        # `dot` honours layout=neato: both draw every arrow at the same place
        paths = _svg_paths(by_dot.stdout)
        assert paths == _svg_paths(by_neato.stdout)
        assert len(paths) == len(analyse_run(steps)[1])
        for d in paths.values():                      # slanted: it goes down as it goes across
            (x0, y0), (x1, y1) = _ends(d)
            assert abs(x1 - x0) > 100 and y1 - y0 > 20, d


@needs_dot
def test_write_ladder_through_render(tmp_path, three_way):
    written = write_ladder(three_way, "three-way close", tmp_path / "ladder.svg")
    assert written.rendered and written.message is None
    svg = written.image_path.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "[F.] seq=0 ack=1 len=0 (FIN+ACK)" in svg
    assert written.dot_path.read_text(encoding="utf-8") == ladder_dot(three_way,
                                                                      "three-way close")
    png = write_ladder(three_way, "three-way close", tmp_path / "ladder.png")
    assert png.rendered and png.image_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_stale_ack_is_drawn_with_the_sequence_number_of_its_senders_fin():
    from conftest import ROOT, run_tcpcheck

    r = run_tcpcheck("trace", "-p", "a_three_way_close_can_end_in_rst",
                     str(ROOT / "specs" / "teardown.spec"))
    assert r.returncode == 0, r.stderr
    fin_ack = [ln for ln in r.stdout.splitlines() if "(FIN+ACK)" in ln]
    stale = [ln for ln in r.stdout.splitlines() if "(stale)" in ln]
    assert fin_ack and stale
    fin_seq = fin_ack[0].split("[F.] seq=")[1].split()[0]
    assert all(ln.split("[.] seq=")[1].split()[0] == fin_seq for ln in stale)


# ------------------------------------------------------------------ any instance names

def _renamed(steps: list[dict], names: dict[str, str]) -> list[dict]:
    """The steps with the endpoints renamed (channels and tcp_states too)."""
    out = copy.deepcopy(steps)
    for step in out:
        if step.get("endpoint") in names:
            step["endpoint"] = names[step["endpoint"]]
        if "tcp_states" in step:
            step["tcp_states"] = {names.get(k, k): v for k, v in step["tcp_states"].items()}
        if "channel" in step:
            src, dst = (x.strip() for x in step["channel"].split("->"))
            step["channel"] = f"{names[src]} -> {names[dst]}"
    return out


def test_ladder_of_other_instance_names_is_the_same_drawing(three_way):
    names = {"client": "a", "server": "b"}
    for steps in (three_way, lost_ack_steps()):
        renamed, original = ladder_text(_renamed(steps, names)), ladder_text(steps)
        head = next(i for i, line in enumerate(original.splitlines()) if line.startswith("step"))
        assert renamed.splitlines()[head].split()[-2:] == ["a", "b"]
        # the same table, only the heading's names differ
        assert renamed.splitlines()[head + 1:] == original.splitlines()[head + 1:]
        assert "head0 [label=a" in ladder_dot(_renamed(steps, names), "t")


def test_instances_come_from_the_model_order_then_the_order_they_act(three_way):
    steps = _renamed(three_way, {"client": "zed", "server": "amy"})
    assert instances_of(steps) == ("zed", "amy")     # tcp_states lists them in model order
    for step in steps:
        step.pop("tcp_states", None)
    assert instances_of(steps) == ("zed", "amy")     # zed acts first
    assert instances_of(three_way) == ("client", "server")
    assert instances_of([]) == ("client", "server")
    assert instances_of([{"step": 0, "endpoint": "solo"}]) == ("solo", "peer")


def test_simulate_the_bench_model_draws_its_ladder():
    # the example in `simulate --help`: instances a and b
    result = run_tcpcheck("simulate", "models/bench/teardown_n.tcpm", "--param", "N=2",
                          "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[-2:] == ["a", "b"]


# ------------------------------------------------------------------ what the lifelines show

def test_the_time_axis_compresses_time_wait_and_keeps_the_rest_to_scale(three_way):
    dot = ladder_dot(three_way, "three-way close", timers=RANGES)
    ys = {int(r): float(v) for r, v in re.findall(r"^\s*p0_(\d+) .*pos=\"-?[\d.]+,([\d.]+)!",
                                                  dot, re.M)}
    steps = [round(ys[r] - ys[r + 1], 1) for r in range(6)]
    assert steps[:5] == [steps[0]] * 5           # a millisecond apart: one row each
    # the 60 s of TIME_WAIT: longer than a row, far shorter than to scale, marked "60 s"
    assert steps[0] < steps[5] < 2 * steps[0]
    gap = re.search(r"^\s*gap6 \[label=\"([^\"]*)\".*pos=\"-?[\d.]+,([\d.]+)!", dot, re.M)
    assert gap.group(1) == "60 s\\r" and ys[6] < float(gap.group(2)) < ys[5]
    assert "break0_6" in dot and "break1_6" in dot        # across both lifelines


def test_time_axis_to_scale_up_to_a_bound():
    from tcpcheck.lifelines import MAX_STRETCH, time_axis

    axis = time_axis([0.0, 1.0, 3.0, 3.0, 4.0, 5.0, 60005.0])
    assert axis.offsets[:6] == (0.0, 1.0, 3.0, 4.0, 5.0, 6.0)   # 2 ms: two rows; 0 ms: one
    assert axis.gaps == ((6, 60000.0),) and axis.offsets[6] - axis.offsets[5] < MAX_STRETCH
    assert time_axis([None, None, None]).offsets == (0.0, 1.0, 2.0)
    assert time_axis([]).offsets == ()


def test_a_retransmitted_fin_ack_is_drawn_as_one():
    finack = {"flags": "FIN+ACK", "ack": 1}
    again = {"flags": "FIN", "ack": 1}        # the model's retransmission: a FIN, acking theirs
    steps = [
        {"step": 0, "state": 0, "params": {}, "time_ms": 0.0,
         "tcp_states": {"client": "FIN_WAIT_1", "server": "CLOSE_WAIT"}},
        _step(1, "server", "call", "close()", ("FIN_WAIT_1", "LAST_ACK"), sent=[finack],
              time_ms=1.0),
        _step(2, "network", "loss", "loss on server->client", ("FIN_WAIT_1", "LAST_ACK"),
              obs=["segment_lost"], lost=finack, channel="server->client", time_ms=2.0),
        _step(3, "server", "expire", "rto expires", ("FIN_WAIT_1", "LAST_ACK"), sent=[again],
              fired="rto", time_ms=201.0),
    ]
    steps[1]["timers"]["armed"] = ["rto"]
    steps[3]["timers"]["armed"] = ["rto"]
    dot = ladder_dot(steps, "lost FIN+ACK", timers={"server": {"rto": (200.0, 120000.0)}})
    assert [lab.split("  ")[0] for lab in labels(dot, "label")] == [
        "[F.] seq=0 ack=1 len=0 (FIN+ACK)",
        "[F.] seq=0 ack=1 len=0 (retransmitted FIN+ACK)"]      # (then: in flight)
    assert event_lines(dot) == [["close()", "arms rto [200 ms..120 s]"],
                                ["rto expires after 200 ms", "arms rto [200 ms..120 s]"]]
    # the first rto fired; the second still runs at the end (dashed, no end mark)
    assert timer_bars(dot) == [("timer1_0", "dot"), ("timer1_1", "none")]


def test_a_call_shows_what_it_returned():
    steps = lost_ack_steps()[:5]
    steps.append(_step(5, "client", "call", "read()", ("TIME_WAIT", "CLOSED"),
                       obs=["read_fails_econnreset", "something_else"], time_ms=6.0))
    steps[4]["sent"] = []
    dot = ladder_dot(steps[:4] + steps[5:], "x")
    assert ["read() -> ECONNRESET"] in event_lines(dot)
    assert labels(dot, "note") == ["three_way_close", "something_else"]
    assert "read() -> ECONNRESET" in ladder_text(steps[:4] + steps[5:])


def test_an_accepted_capture_is_drawn_with_its_real_numbers_and_times(tmp_path):
    from conftest import ROOT

    out = tmp_path / "cap.dot"
    r = run_tcpcheck("replay", str(ROOT / "tests" / "captures" / "passive_waits_past_delack.pcap"),
                     "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert labels(out.read_text(encoding="utf-8"), "label") == [
        "[F.] seq 1 ack 1 len 0  captured at 0 ms",
        "[.] seq 1 ack 2 len 0  captured at 1.742 ms",
        "[F.] seq 1 ack 2 len 0  captured at 502.083 ms",
        "[.] seq 2 ack 2 len 0  captured at 502.108 ms"]


# ------------------------------------------------------------------ legible where they cross

# Helvetica's advance widths (per 1000 of the font size), from its AFM metrics, by character
# class: independent of the estimate ladder.py places labels with
_NARROW, _MID, _WIDE = "ijl.,:;|!'()[] ", "abcdeghknopqsuvxyz0123456789_-=*#fJrt", "mwABCDEFGHKMNOPQRSUVWXYZ"


def _helvetica_width(text: str, size: float) -> float:
    w = 0
    for ch in text:
        w += 278 if ch in _NARROW else 556 if ch in _MID else 833 if ch in _WIDE else 667
    return w * size / 1000


def _svg_text_boxes(svg: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(text, (x0, y0, x1, y1)) of every piece of text Graphviz drew."""
    boxes = []
    for attrs, body in re.findall(r"<text ([^>]*)>([^<]*)</text>", svg):
        a = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        text = html.unescape(body).replace("\xa0", " ")
        size, x, y = float(a["font-size"]), float(a["x"]), float(a["y"])
        w = _helvetica_width(text, size)
        x0 = {"start": x, "middle": x - w / 2, "end": x - w}[a.get("text-anchor", "start")]
        boxes.append((text, (x0, y - 0.75 * size, x0 + w, y + 0.2 * size)))
    return boxes


def _overlaps(svg: str) -> list[tuple[str, str]]:
    boxes = _svg_text_boxes(svg)
    return [(t, u) for i, (t, a) in enumerate(boxes) for u, b in boxes[i + 1:]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]


@needs_dot
def test_crossing_segments_keep_their_labels_apart(tmp_path, simultaneous):
    from conftest import ROOT

    # the simultaneous close: both FINs cross, then both ACKs
    svg = write_ladder(simultaneous, "simultaneous close", tmp_path / "sim.svg",
                       timers=RANGES).image_path.read_text(encoding="utf-8")
    assert len(_svg_text_boxes(svg)) > 30 and _overlaps(svg) == []
    # the stale-ACK race: a FIN+ACK and the stale ACK built before it cross the peer's ACK
    out = tmp_path / "stale.svg"
    r = run_tcpcheck("trace", "-p", "a_three_way_close_can_end_in_rst",
                     str(ROOT / "specs" / "teardown.spec"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    svg = out.read_text(encoding="utf-8")
    assert "(stale)" in svg and _overlaps(svg) == []
