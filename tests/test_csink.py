"""The compiled core (tcpcheck.csink) explores exactly as the Python core does.

State by state: the same states under the same ids (breadth-first, successors in step
order), the same parents and parent variants, the same edges in the same order, the same
terminal states and edge counts, the same stop under a state limit, the same located model
error. Skipped, with the reason, where no C compiler or cffi is installed.
"""
from __future__ import annotations

import importlib.util
import shutil

import pytest

from conftest import FIXTURES, ROOT, run_tcpcheck
from tcpcheck import csink, load
from tcpcheck.explore import explore, explore_each

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("cffi") is None or shutil.which("cc") is None,
    reason="the compiled core needs cffi and a C compiler (cc)")

TEARDOWN_N = ROOT / "models" / "bench" / "teardown_n.tcpm"
DEFAULT = ROOT / "models" / "teardown.tcpm"


def _same(ts, **kw) -> object:
    py = explore(ts, core="python", **kw)
    c = explore(ts, core="c", **kw)
    assert c.n_states == py.n_states
    assert list(c.states) == list(py.states)
    assert list(c.parent) == list(py.parent)
    assert list(c.parent_variant) == list(py.parent_variant)
    assert list(c.edge_src) == list(py.edge_src)
    assert list(c.edge_dst) == list(py.edge_dst)
    assert list(c.edge_variant) == list(py.edge_variant)
    assert c.deadlocks == py.deadlocks
    assert c.initial == py.initial
    assert (c.edge_count, c.expanded, c.complete, c.stop_reason, c.error_state) == \
        (py.edge_count, py.expanded, py.complete, py.stop_reason, py.error_state)
    return c


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_spins_model_state_by_state(n):
    ex = _same(load(TEARDOWN_N, [f"N={n}"], reduce=False))
    assert ex.complete and ex.n_states > 1000


@pytest.mark.parametrize("params", [[], ["early_data=*", "more_calls=*"], ["data_phase=true"],
                                    ["lossy_network=true", "shared_socket=*"]],
                         ids=lambda p: ",".join(p) or "defaults")
def test_the_default_models_combinations_state_by_state(params):
    ts = load(DEFAULT, params)
    _same(ts)
    _same(ts, record_edges=False)


def test_each_combination_alone_gives_the_same_figures():
    ts = load(DEFAULT, ["early_data=*", "linger_zero=*", "delayed_ack=*"])
    py = explore_each(ts, core="python")
    c = explore_each(ts, core="c")
    assert (c.n_states, c.edge_count, c.expanded, c.deadlocks, c.max_depth, c.regions) == \
        (py.n_states, py.edge_count, py.expanded, py.deadlocks, py.max_depth, py.regions)


@pytest.mark.parametrize("limit", [1, 4, 1000, 4321])
def test_a_state_limit_stops_both_at_the_same_state(limit):
    ex = _same(load(TEARDOWN_N, ["N=3"]), max_states=limit)
    assert ex.stop_reason == "max-states" and ex.n_states == max(limit, 1)


def test_a_model_error_is_the_same_located_error():
    ts = load(FIXTURES / "guard_division" / "full_channel.tcpm")
    c = _same(ts)
    py = explore(ts, core="python")
    assert c.stop_reason == "model-error"
    assert (c.error.variant, c.error.code, c.error.message, c.error.span) == \
        (py.error.variant, py.error.code, py.error.message, py.error.span)


def test_the_cache_builds_once_and_no_cache_builds_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TCPCHECK_NO_CACHE", raising=False)
    csink.build(load(TEARDOWN_N, ["N=1"]))
    built = [p.name for p in (tmp_path / "tcpcheck").iterdir()]
    assert len(built) == 1 and built[0].startswith("_tcpcheck_core_")  # no temp dir left

    def no_compiler(*_a, **_k):
        raise AssertionError("compiled again although the cache holds this source")
    monkeypatch.setattr(csink, "_compile", no_compiler)
    ex = explore(load(TEARDOWN_N, ["N=1"]), core="c")  # a fresh system: read from the cache
    assert ex.n_states == 532


def test_explore_json_is_byte_identical_between_cores(tmp_path):
    args = ["explore", str(TEARDOWN_N), "--param", "N=2", "--json", "--no-timing",
            "--no-reduction"]
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    py = run_tcpcheck(*args, "--core", "python", env=env)
    c = run_tcpcheck(*args, "--core", "c", env=env)
    assert py.returncode == c.returncode == 0, c.stderr
    assert c.stdout == py.stdout and '"states": 6847' in c.stdout


def test_auto_without_a_compiler_says_so_once_and_runs_python(tmp_path):
    r = run_tcpcheck("explore", "--param", "early_data=*", "--json", "--no-timing",
                     "--core", "auto", env={"CC": "no-such-compiler", "XDG_CACHE_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("Python core") == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_core_c_without_a_compiler_is_a_clear_error(tmp_path):
    r = run_tcpcheck("explore", "--core", "c", "--json",
                     env={"CC": "no-such-compiler", "XDG_CACHE_HOME": str(tmp_path)})
    assert r.returncode == 2
    assert "error: --core c: no C compiler found" in r.stderr and "Traceback" not in r.stderr


def test_no_cache_builds_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # TMPDIR is read again
    mod = csink.build(load(TEARDOWN_N, ["N=1"]), use_cache=False)
    assert mod.lib.expand is not None
    assert not (tmp_path / "cache").exists()
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("limit,reason", [(["--time-limit", "0.01"], "time-limit"),
                                          (["--max-states", "5000"], "max-states"),
                                          (["--max-memory", "1"], "memory")])
def test_the_limits_end_a_compiled_search_with_exit_3(limit, reason, tmp_path):
    r = run_tcpcheck("explore", str(TEARDOWN_N), "--param", "N=8", "--no-reduction", "--json",
                     "--core", "c", *limit, env={"XDG_CACHE_HOME": str(tmp_path)})
    assert r.returncode == 3, r.stdout + r.stderr
    assert '"complete": false' in r.stdout and reason in r.stdout
    assert "Traceback" not in r.stderr
