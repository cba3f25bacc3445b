"""The behaviour map: kinds of close per parameter combination, derived from exploration + z3."""
from __future__ import annotations

import json

import tcpcheck
from conftest import DEFAULT_MODEL, run_tcpcheck
from tcpcheck.behaviour import behaviour_map
from tcpcheck import load
from tcpcheck.explore import explore


def _rows(path=DEFAULT_MODEL, params=()):
    ex = explore(tcpcheck.load(path, list(params)))
    return {(r.params["delayed_ack"], r.params["passive_has_data"]): r for r in behaviour_map(ex)}


def test_three_way_close_appears_only_with_delayed_ack_and_no_data():
    rows = _rows()
    with_three_way = [key for key, r in rows.items() if "three-way" in r.kinds]
    assert with_three_way == [(1, 0)]


def test_three_way_close_needs_the_application_to_close_before_the_delayed_ack_fires():
    row = _rows()[(1, 0)]
    assert row.kinds["three-way"] == "client.think <= client.delack or server.think <= server.delack"
    # and the four-way close is what happens when the timer wins the race
    assert row.kinds["four-way"] == "client.delack <= client.think or server.delack <= server.think"


def test_quick_ack_always_gives_four_segments_and_late_data_after_close_gives_rst():
    rows = _rows()
    assert rows[(0, 0)].kinds["four-way"] == "always"
    assert "three-way" not in rows[(0, 0)].kinds
    assert rows[(0, 1)].kinds["rst"] == "always"


def test_without_data_an_rst_needs_a_passive_application_slower_than_tcp_fin_timeout():
    # the orphaned closer leaves FIN_WAIT_2 after tcp_fin_timeout (60 s); a FIN sent later
    # meets a closed socket: within the network's 50 ms of delay, at 59.95 s of thinking
    assert _rows()[(0, 0)].kinds["rst"] == "client.think >= 59950 ms or server.think >= 59950 ms"


def test_the_map_follows_the_model_not_a_table(tmp_path):
    # a model whose passive side never delays its ACK has no three-way close anywhere
    text = DEFAULT_MODEL.read_text().replace("        if delayed_ack {\n            arm delack",
                                             "        if false {\n            arm delack")
    model = tmp_path / "quickack.tcpm"
    model.write_text(text)
    assert all("three-way" not in r.kinds for r in _rows(model).values())


def test_map_command_json():
    result = run_tcpcheck("map", "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    rows = {(r["params"]["delayed_ack"], r["params"]["passive_has_data"]): r for r in doc["rows"]}
    assert "three-way" in rows[(True, False)]["kinds"]
    assert rows[(True, False)]["runs"]["three-way"] > 0


LOOPING_MODEL = """model loop "a writer that may go on forever"

endpoint e() {
    var state: tcp_state = ESTABLISHED
    on call write when state == ESTABLISHED and room() >= 1 {
        send DATA
    }
    on recv DATA {
    }
    on call close when state == ESTABLISHED {
        state := CLOSED
    }
}

instance client = e()
instance server = e()
channel client -> server capacity 1
channel server -> client capacity 1
"""


def test_map_of_a_cyclic_graph_counts_its_runs_as_infinite(tmp_path):
    # a data phase of any length has infinitely many complete runs: the map's product counts
    # them through the cycle (tcpcheck.product) and says "infinite" instead of enumerating
    model = tmp_path / "loop.tcpm"
    model.write_text(LOOPING_MODEL, encoding="utf-8")
    ex = explore(load(model))
    assert ex.complete and ex.on_a_cycle() is not None
    r = run_tcpcheck("map", str(model), "--no-progress")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "four-way" in r.stdout and "infinite" in r.stdout


def test_an_acyclic_graph_has_no_state_on_a_cycle():
    assert explore(load(DEFAULT_MODEL)).on_a_cycle() is None
