"""The command line end to end: `python -m tcpcheck ...` run as a user would run it."""
from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from conftest import FIXTURES, GOLDEN, run_tcpcheck

MODEL = "models/teardown.tcpm"
EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3


def explore_json(*args: str) -> tuple[int, dict]:
    r = run_tcpcheck("explore", *args, "--json", "--no-timing")
    return r.returncode, json.loads(r.stdout)


def assert_clean_failure(r, *phrases: str) -> None:
    """Exit 2 with a message a user can act on, and no Python traceback."""
    assert r.returncode == EXIT_BAD_INPUT, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for phrase in phrases:
        assert phrase in r.stderr


@pytest.fixture
def no_dot_path(tmp_path):
    """A PATH on which only python exists: Graphviz's dot cannot be found."""
    bin_dir = tmp_path / "bin-without-dot"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    return str(bin_dir)


# ---------------------------------------------------------------- explore


def test_explore_json_has_the_statistics():
    r = run_tcpcheck("explore", MODEL, "--json")
    assert r.returncode == EXIT_OK, r.stderr
    doc = json.loads(r.stdout)
    assert {"states", "edges", "depth", "seconds"} <= set(doc)
    assert doc["states"] > 0 and doc["edges"] > 0 and doc["depth"] > 0
    assert isinstance(doc["seconds"], float)
    assert doc["complete"] is True and doc["stop_reason"] is None
    assert doc["initial_states"] == len(doc["parameter_combinations"]) == 4
    assert sum(p["states"] for p in doc["parameter_combinations"]) == doc["states"]


def test_explore_counts_match_the_library():
    import tcpcheck
    from tcpcheck.explore import explore

    ex = explore(tcpcheck.load(FIXTURES / "models" / "pipeline.tcpm"))
    code, doc = explore_json(str(FIXTURES / "models" / "pipeline.tcpm"))
    assert code == EXIT_OK
    assert (doc["states"], doc["edges"], doc["depth"]) == (ex.n_states, ex.n_edges, ex.max_depth) \
        == (6, 6, 4)


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_no_timing_output_is_byte_identical_between_runs(as_json):
    args = ["explore", MODEL, "--no-timing"] + (["--json"] if as_json else [])
    first, second = run_tcpcheck(*args), run_tcpcheck(*args)
    assert first.returncode == second.returncode == EXIT_OK
    assert first.stdout == second.stdout
    assert first.stdout  # something was printed


def test_explore_with_graph_is_byte_identical_between_runs():
    args = ("explore", str(FIXTURES / "models" / "quickack.tcpm"), "--json", "--no-timing",
            "--with-graph")
    first, second = run_tcpcheck(*args), run_tcpcheck(*args)
    assert first.stdout == second.stdout
    graph = json.loads(first.stdout)["graph"]
    assert len(graph["nodes"]) == 9 and len(graph["edges"]) == 7


def test_fixing_delayed_ack_halves_the_initial_states():
    _, everything = explore_json(MODEL)
    code, fixed = explore_json(MODEL, "--param", "delayed_ack=true")
    assert code == EXIT_OK
    assert fixed["initial_states"] == everything["initial_states"] // 2 == 2
    assert all(p["params"]["delayed_ack"] is True for p in fixed["parameter_combinations"])
    assert fixed["states"] < everything["states"]


def test_unknown_param_is_bad_input():
    r = run_tcpcheck("explore", MODEL, "--param", "delayed_acks=true")
    assert_clean_failure(r, "TCP400", "no parameter 'delayed_acks'", "delayed_ack")


def test_param_value_of_the_wrong_type_is_bad_input():
    r = run_tcpcheck("explore", MODEL, "--param", "delayed_ack=maybe")
    assert_clean_failure(r, "TCP400", "'maybe' is not true or false")


def test_param_without_a_value_is_bad_input():
    r = run_tcpcheck("explore", MODEL, "--param", "delayed_ack")
    assert_clean_failure(r, "TCP400", "name=value")


def test_bad_param_with_json_prints_the_diagnostics_as_json():
    r = run_tcpcheck("explore", MODEL, "--param", "nope=1", "--json")
    assert r.returncode == EXIT_BAD_INPUT
    doc = json.loads(r.stdout)
    assert doc["error"] == "bad input"
    assert [d["code"] for d in doc["diagnostics"]] == ["TCP400"]


def test_missing_model_file_is_bad_input(tmp_path):
    missing = tmp_path / "no-such-model.tcpm"
    r = run_tcpcheck("explore", str(missing))
    assert_clean_failure(r, "TCP401", "no such file", "no-such-model.tcpm")


def test_max_states_is_inconclusive():
    code, doc = explore_json(MODEL, "--max-states", "10")
    assert code == EXIT_INCONCLUSIVE
    assert doc["complete"] is False
    assert doc["stop_reason"] == "max-states"
    assert doc["states"] == 10


def test_max_states_that_cuts_nothing_is_complete():
    code, doc = explore_json(str(FIXTURES / "models" / "pipeline.tcpm"), "--max-states", "6")
    assert code == EXIT_OK
    assert doc["complete"] is True and doc["states"] == 6


def test_model_error_exits_1_and_shows_the_run():
    r = run_tcpcheck("explore", str(FIXTURES / "models" / "overflow.tcpm"), "--json",
                     "--no-timing")
    assert r.returncode == EXIT_VIOLATED
    assert "Traceback" not in r.stderr
    assert "TCP500" in r.stderr and "client.n would become 3" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["stop_reason"] == "model-error"
    assert doc["error"]["code"] == "TCP500"
    assert any("jump" in line for line in doc["error"]["run"])


@pytest.mark.parametrize("command", ["check", "trace"])
def test_a_model_error_fails_check_and_trace_too(tmp_path, command):
    # every property is inconclusive when the model fails, but the run is a failure (exit 1),
    # not a limit that was hit (exit 3)
    shutil.copy(FIXTURES / "models" / "overflow.tcpm", tmp_path / "overflow.tcpm")
    spec = tmp_path / "overflow.spec"
    spec.write_text('model "overflow.tcpm"\n\ninvariant small "n stays small": client.n <= 2\n',
                    encoding="utf-8")
    r = run_tcpcheck(command, str(spec), *(["-p", "small"] if command == "trace" else []),
                     "--no-progress")
    assert r.returncode == EXIT_VIOLATED, r.stderr
    assert "Traceback" not in r.stderr
    assert "the model failed while exploring" in r.stdout + r.stderr


# ---------------------------------------------------------------- graph


def test_graph_endpoint_view_writes_svg_and_dot(tmp_path):
    out = tmp_path / "x.svg"
    r = run_tcpcheck("graph", MODEL, "--view", "endpoint", "-o", str(out))
    assert r.returncode == EXIT_OK, r.stderr
    dot = tmp_path / "x.dot"
    assert dot.exists()
    # the command line draws exactly what the library draws (tests/test_graph.py's golden file)
    assert dot.read_text(encoding="utf-8") == \
        (GOLDEN / "render" / "endpoint.dot").read_text(encoding="utf-8")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed here, so no SVG can be drawn")
    assert out.exists()
    svg = out.read_text(encoding="utf-8")
    assert "<svg" in svg and "TIME_WAIT" in svg
    assert str(out) in r.stdout


def test_graph_to_dot_writes_only_dot(tmp_path):
    out = tmp_path / "joint.dot"
    r = run_tcpcheck("graph", str(FIXTURES / "models" / "quickack.tcpm"), "-o", str(out))
    assert r.returncode == EXIT_OK, r.stderr
    assert out.read_text(encoding="utf-8") == \
        (GOLDEN / "render" / "quickack-joint.dot").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joint.dot"]


def test_graph_without_graphviz_still_writes_dot(tmp_path, no_dot_path):
    out = tmp_path / "x.svg"
    r = run_tcpcheck("graph", MODEL, "-o", str(out), env={"PATH": no_dot_path})
    assert r.returncode == EXIT_OK, r.stderr
    assert (tmp_path / "x.dot").exists()
    assert (tmp_path / "x.dot").read_text(encoding="utf-8").startswith("digraph joint {")
    assert not out.exists()
    assert "Graphviz's 'dot' program is not installed" in r.stderr
    assert "Traceback" not in r.stderr


def test_graph_without_graphviz_reports_it_in_json(tmp_path, no_dot_path):
    out = tmp_path / "x.svg"
    r = run_tcpcheck("graph", MODEL, "--view", "endpoint", "-o", str(out), "--json",
                     env={"PATH": no_dot_path})
    assert r.returncode == EXIT_OK
    doc = json.loads(r.stdout)
    assert doc["rendered"] is False and doc["image"] is None
    assert doc["dot"] == str(tmp_path / "x.dot")
    assert "dot" in doc["message"]


def test_graph_to_an_unknown_format_is_bad_input(tmp_path):
    r = run_tcpcheck("graph", MODEL, "-o", str(tmp_path / "x.txt"))
    assert_clean_failure(r, ".dot, .svg, .png, .pdf")
    assert list(tmp_path.iterdir()) == []


def test_graph_of_an_unknown_endpoint_is_bad_input(tmp_path):
    r = run_tcpcheck("graph", MODEL, "--view", "endpoint", "--endpoint", "clinet",
                     "-o", str(tmp_path / "x.dot"))
    assert_clean_failure(r, "no instance 'clinet'")


# ---------------------------------------------------------------- help and entry point


def example_lines(help_text: str, command: str) -> list[str]:
    """Lines of a --help text that show a command to type (not the Usage line)."""
    return [line.strip() for line in help_text.splitlines()
            if line.strip().startswith(f"tcpcheck {command}")]


def test_main_help_shows_examples():
    r = run_tcpcheck("--help")
    assert r.returncode == EXIT_OK
    assert "Examples:" in r.stdout
    assert example_lines(r.stdout, "explore") and example_lines(r.stdout, "graph")


def test_graph_help_shows_examples():
    r = run_tcpcheck("graph", "--help")
    assert r.returncode == EXIT_OK
    assert any("--view endpoint -o" in line for line in example_lines(r.stdout, "graph"))


def test_explore_help_shows_examples():
    r = run_tcpcheck("explore", "--help")
    assert r.returncode == EXIT_OK
    assert example_lines(r.stdout, "explore")


def test_python_dash_m_tcpcheck_runs_the_command_line():
    r = run_tcpcheck("--version")
    assert r.returncode == EXIT_OK
    assert r.stdout.startswith("tcpcheck, version ")


def test_explore_uses_the_default_model_without_an_argument():
    code, doc = explore_json()
    assert code == EXIT_OK
    assert doc["model"] == "teardown" and doc["file"].endswith("teardown.tcpm")
