"""A Ray cluster (--cluster): the sweep on Ray actors gives one process's Summary, and one
search partitioned by state over 1, 2 and 4 actors finds the same states at the same depths
(so the same shortest runs), the same edges and terminal states as the one-process search.
Without Ray (the optional `cluster` extra) nothing imports it, and --cluster says what to
install."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from tcpcheck import load
from tcpcheck.explore import explore, explore_each
from tcpcheck.verdicts import ExitStatus

TEARDOWN = ROOT / "models" / "teardown.tcpm"
SPIN = ROOT / "models" / "bench" / "teardown_n.tcpm"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_nothing_imports_ray_without_cluster():
    r = _python("import sys\n"
                "from click.testing import CliRunner\n"
                "from tcpcheck.cli import main\n"
                "r = CliRunner().invoke(main, ['explore', '--param', 'delayed_ack=*', "
                "'--jobs', '2', '--json'])\n"
                "assert r.exit_code == 0, r.output\n"
                "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_cluster_without_ray_says_what_to_install():
    # None in sys.modules makes `import ray` fail, as on a machine without the extra
    r = _python("import sys\nsys.modules['ray'] = None\nsys.argv = ['tcpcheck', 'explore', "
                "'--cluster', 'local']\nfrom tcpcheck.cli import main\nmain()")
    assert r.returncode == ExitStatus.BAD_INPUT
    assert "pip install 'tcpcheck[cluster]'" in r.stderr and "Traceback" not in r.stderr


ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tcpcheck[cluster]')")
from tcpcheck.cluster import (ModelSource, connect, explore_partitioned,  # noqa: E402
                              explore_sweep_ray, level_sizes, partition_of)


@pytest.fixture(scope="module")
def local_ray():
    connect("local", 4)
    yield
    ray.shutdown()


def _source(path: Path, params: tuple[str, ...] = ()) -> ModelSource:
    return ModelSource(str(path), path.read_text(encoding="utf-8"), params, True)


def test_a_state_has_one_owner_in_range_whatever_its_size():
    for parts in (1, 2, 4, 7):
        owners = {partition_of(s, parts) for s in [0, 1, 2 ** 64 + 3, 2 ** 97 - 1, *range(50)]}
        assert owners <= set(range(parts))
    assert len({partition_of(s, 4) for s in range(64)}) == 4   # spread, not all on one


CASES = [(TEARDOWN, ())] + [(SPIN, (f"N={n}",)) for n in (1, 2, 3, 4)]


@pytest.mark.parametrize("path,params", CASES, ids=lambda x: x.name if isinstance(x, Path) else ",".join(x))
def test_a_partitioned_search_finds_what_one_process_finds(local_ray, path, params):
    source = _source(path, params)
    one = explore(source.load(), record_edges=True)
    assert one.complete
    expected = (one.n_states, one.edge_count, len(one.deadlocks), level_sizes(one.depth))
    for workers in (1, 2, 4):
        r = explore_partitioned(source, workers=workers)
        assert r.complete and r.error is None
        # the same states at the same depths: every shortest run has one process's length
        assert (r.n_states, r.edge_count, r.terminal_states, r.levels) == expected, workers
        assert r.max_depth == one.max_depth
        assert (r.bytes_sent == 0) == (workers == 1)


def test_the_sweep_on_ray_gives_one_process_summary(local_ray):
    ts = load(TEARDOWN, ["delayed_ack=*", "client_quickack=*", "linger_zero=*"])
    source = _source(TEARDOWN, ("delayed_ack=*", "client_quickack=*", "linger_zero=*"))
    for max_states in (None, 1_000):
        one = explore_each(ts, max_states=max_states)
        many = explore_sweep_ray(ts, source, workers=2, max_states=max_states)
        assert (many.n_states, many.edge_count, many.regions, many.reused, many.stop_reason) \
            == (one.n_states, one.edge_count, one.regions, one.reused, one.stop_reason)
