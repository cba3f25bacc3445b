"""`trace --around K`: the joint graph cut to the states within K steps of a property's run,
the run in red -- a picture of what the run passed by, when the whole graph is too big."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import run_tcpcheck
from tcpcheck.graph import neighbourhood
from tcpcheck.verdicts import ExitStatus


def _around(tmp_path: Path, k: int) -> str:
    out = tmp_path / f"near{k}.dot"
    r = run_tcpcheck("trace", "-p", "simultaneous_close_is_possible", "--around", str(k),
                     "-o", str(out))
    assert r.returncode == ExitStatus.OK, r.stderr
    assert f"wrote {out}" in r.stdout
    return out.read_text(encoding="utf-8")


def test_the_neighbourhood_of_the_simultaneous_close_golden(tmp_path, golden):
    golden("render/simultaneous-close-around-1.dot", _around(tmp_path, 1))


def test_more_steps_show_more_states_and_zero_the_run_alone(tmp_path):
    shown = {k: int(re.search(r"showing (\d+) ", _around(tmp_path, k)).group(1))
             for k in (0, 1, 2)}
    assert 0 < shown[0] < shown[1] < shown[2]
    run_only = _around(tmp_path, 0)
    # every edge drawn with the run alone is one of the run's (red)
    edges = [line for line in run_only.splitlines() if "->" in line]
    assert edges and all("red" in line for line in edges), edges


def test_neighbourhood_walks_edges_both_ways(teardown_ex):
    ex = teardown_ex
    src, dst = ex.edge_src[0], ex.edge_dst[0]
    assert dst in neighbourhood(ex, {src}, 1) and src in neighbourhood(ex, {dst}, 1)
    assert neighbourhood(ex, {src}, 0) == {src}


def test_around_needs_an_output(tmp_path):
    r = run_tcpcheck("trace", "-p", "simultaneous_close_is_possible", "--around", "1")
    assert r.returncode == ExitStatus.BAD_INPUT
    assert "give -o FILE too" in r.stderr and "Traceback" not in r.stderr
