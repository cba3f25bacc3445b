"""The compiled model kept between replays (tcpcheck.modelcache): a cached run says exactly
what an uncached one says, an edited model is compiled again, a broken entry is made again,
and a small replay starts without networkx."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import DEFAULT_MODEL, ROOT, run_tcpcheck

import tcpcheck.replay as replay_module
from tcpcheck import modelcache
from tcpcheck.capture import read_capture
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.replay import load_open, replay

CAPTURE = ROOT / "tests" / "captures" / "passive_closes_at_once.pcap"
# a few parameters fixed: each system here compiles in a fraction of a second
FIXED = ["lossy_network=false", "shared_socket=false", "more_calls=false", "data_phase=false"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory of this test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TCPCHECK_NO_CACHE", raising=False)
    return tmp_path / "cache" / "tcpcheck" / "models"


def _no_compiling(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("compiled again although the cache holds this model")
    monkeypatch.setattr(replay_module, "compile_model", refuse)


def test_a_cached_replay_prints_what_an_uncached_one_prints(cache):
    env = {"XDG_CACHE_HOME": str(cache.parent.parent)}
    for args in (["replay", str(CAPTURE), "--json"], ["replay", str(CAPTURE)]):
        plain = run_tcpcheck(*args, env={**env, "TCPCHECK_NO_CACHE": "1"})
        assert plain.returncode == 0, plain.stderr
        first = run_tcpcheck(*args, env=env)     # the text run reads the --json run's entry
        second = run_tcpcheck(*args, env=env)
        assert (first.returncode, first.stdout, first.stderr) == \
               (second.returncode, second.stdout, second.stderr) == \
               (plain.returncode, plain.stdout, plain.stderr)
    assert len(list(cache.glob("*.pickle"))) == 1


def test_no_cache_keeps_nothing(cache):
    env = {"XDG_CACHE_HOME": str(cache.parent.parent)}
    for args, more in ((["--no-cache"], {}), ([], {"TCPCHECK_NO_CACHE": "1"})):
        out = run_tcpcheck("replay", str(CAPTURE), *args, env={**env, **more})
        assert out.returncode == 0, out.stderr
        assert "accepted" in out.stdout
        assert not cache.exists()


def test_the_second_load_reads_the_cache_and_replays_alike(cache, monkeypatch):
    cap = read_capture(CAPTURE)
    built = load_open(DEFAULT_MODEL, FIXED, [cap])
    _no_compiling(monkeypatch)
    kept = load_open(DEFAULT_MODEL, FIXED, [cap])
    assert kept is not built
    assert (kept.slots, kept.initial, kept.variants, kept.successor_source) == \
           (built.slots, built.initial, built.variants, built.successor_source)
    assert all(kept.successors(s) == built.successors(s) for s in built.initial)
    a, b = replay(built, cap), replay(kept, cap)
    assert (a.verdict, a.run, a.kind, a.timing.times_ms, a.combos) == \
           (b.verdict, b.run, b.kind, b.timing.times_ms, b.combos)


def test_editing_the_model_compiles_it_again(cache, tmp_path):
    model = tmp_path / "teardown.tcpm"
    text = DEFAULT_MODEL.read_text(encoding="utf-8")
    model.write_text(text, encoding="utf-8")
    before = load_open(model, FIXED)
    # TIME_WAIT's length is the model's word: another one must be what the next load says
    assert "timer time_wait 60s..60s" in text
    model.write_text(text.replace("timer time_wait 60s..60s", "timer time_wait 30s..30s"),
                     encoding="utf-8")
    after = load_open(model, FIXED)
    assert len(list(cache.glob("*.pickle"))) == 2
    waits = {t.lo_ms for ep in after.model.endpoints for t in ep.timers if t.name == "time_wait"}
    assert waits == {30000.0}
    assert before.model.text != after.model.text


def test_other_parameters_or_channels_are_another_entry(cache, monkeypatch):
    load_open(DEFAULT_MODEL, FIXED)
    load_open(DEFAULT_MODEL, FIXED + ["delayed_ack=true"])
    deeper = load_open(DEFAULT_MODEL, FIXED, [read_capture(ROOT / "tests" / "captures" /
                                                           "bulk_then_close.pcap")])
    assert len(list(cache.glob("*.pickle"))) == 3
    assert max(ch.capacity for ch in deeper.channels) > 3


@pytest.mark.parametrize("damage", [b"", b"not a pickle", None])
def test_a_broken_entry_is_ignored_and_made_again(cache, damage):
    built = load_open(DEFAULT_MODEL, FIXED)
    (entry,) = cache.glob("*.pickle")
    if damage is None:      # a whole entry, but another key's (a copy, a collision of names)
        other = load_open(DEFAULT_MODEL, FIXED + ["delayed_ack=true"])
        (second,) = set(cache.glob("*.pickle")) - {entry}
        entry.write_bytes(second.read_bytes())
        assert other.initial != built.initial
    else:
        entry.write_bytes(damage)
    again = load_open(DEFAULT_MODEL, FIXED)
    assert again.initial == built.initial and again.successor_source == built.successor_source
    assert modelcache._read(entry, modelcache.entry_key(
        DEFAULT_MODEL, DEFAULT_MODEL.read_text(encoding="utf-8"),
        {"open_all_but": FIXED, "min_capacity": 0})) is not None   # rewritten whole


def test_a_model_with_errors_is_bad_input_and_leaves_no_entry(cache, tmp_path):
    bad = tmp_path / "bad.tcpm"
    bad.write_text("model broken {", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(TcpcheckError):
            load_open(bad)
    with pytest.raises(TcpcheckError):
        load_open(tmp_path / "missing.tcpm")
    assert not cache.exists() or not list(cache.glob("*.pickle"))


def test_an_unwritable_cache_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.delenv("TCPCHECK_NO_CACHE", raising=False)
    ts = load_open(DEFAULT_MODEL, FIXED)
    assert ts.successors(ts.initial[0])


def test_the_cache_keeps_its_newest_entries_only(cache, monkeypatch):
    monkeypatch.setattr(modelcache, "KEEP_ENTRIES", 2)
    for value in ("true", "false"):
        load_open(DEFAULT_MODEL, FIXED + [f"delayed_ack={value}"])
    load_open(DEFAULT_MODEL, FIXED + ["passive_has_data=true"])
    assert len(list(cache.glob("*.pickle"))) == 2


def test_a_small_replay_does_not_load_networkx(cache):
    code = ("import sys\nfrom tcpcheck.cli import main\n"
            "try:\n    main(['replay', sys.argv[1]], standalone_mode=False)\n"
            "except SystemExit:\n    pass\n"
            "print('networkx' in sys.modules, 'tcpcheck.graph' in sys.modules)\n")
    for _ in range(2):          # compiling the model, then reading it from the cache
        out = subprocess.run([sys.executable, "-c", code, str(CAPTURE)], capture_output=True,
                             text=True, cwd=ROOT, timeout=120,
                             env={**os.environ,
                                  "XDG_CACHE_HOME": str(cache.parent.parent)})
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[-1] == "False False"
