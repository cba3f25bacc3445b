"""Shared test helpers: golden files, paths, the default model explored.

Golden files live in tests/golden/. Run `pytest --update-golden` to rewrite them on purpose
(then read the diff before committing).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tcpcheck
from tcpcheck.explore import explore, explore_each

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFAULT_MODEL = ROOT / "models" / "teardown.tcpm"


def pytest_configure(config):
    """Give the test session a compile cache of its own (unless TCPCHECK_TEST_CACHE names one):
    tests must neither read what a user's earlier runs left in ~/.cache/tcpcheck nor leave
    entries there, and two sessions side by side must not share one."""
    chosen = os.environ.get("TCPCHECK_TEST_CACHE")
    if not chosen:
        import tempfile
        chosen = tempfile.mkdtemp(prefix="tcpcheck-test-cache-")
        config._tcpcheck_made_cache = chosen   # ours to remove when the session ends
    os.environ["XDG_CACHE_HOME"] = chosen


def pytest_unconfigure(config):
    made = getattr(config, "_tcpcheck_made_cache", None)
    if made:
        import shutil
        shutil.rmtree(made, ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite golden files with the current output instead of comparing")


@pytest.fixture
def golden(request):
    """golden(name, text): compare text with tests/golden/<name>, or rewrite it."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            if not update:
                pytest.fail(f"golden file {path} is missing; run pytest --update-golden")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from {path} (pytest --update-golden rewrites it)"
    return check


def run_tcpcheck(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the tcpcheck command as a user would (python -m tcpcheck), capturing output."""
    full_env = {**os.environ, "COLUMNS": "120", **(env or {})}
    return subprocess.run([sys.executable, "-m", "tcpcheck", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def teardown_ex():
    """The default model explored with its default parameters (428 states: cheap, but made
    once a module, as every test of a module reads the same one)."""
    return explore(tcpcheck.load(DEFAULT_MODEL))


def assert_search_stops_before_expanding(make_deadline, reason) -> None:
    """A search (of one combination, or of each) whose deadline has already passed when it
    starts stops at once with `reason`, and nothing it did not expand ends a run."""
    ts = tcpcheck.load(DEFAULT_MODEL)
    ex = explore(ts, deadline=make_deadline())
    assert not ex.complete and ex.stop_reason is reason
    assert ex.expanded == 0 and not ex.terminal   # nothing expanded: nothing is terminal
    summary = explore_each(ts, deadline=make_deadline())
    assert not summary.complete and summary.stop_reason is reason
