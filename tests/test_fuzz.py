"""Fuzzing in the suite: mutated models, specs, captures, JSON traces and packetdrill scripts
never give a traceback or a hang (issue 12). Hypothesis draws the seeds of tcpcheck.mutate's mutators and the inputs
run through the command line (tcpcheck.fuzz's worker, with its time limit), a few dozen of
each kind: the suite's budget. `python -m tcpcheck.fuzz` runs thousands (see the README).
"""
from __future__ import annotations

import random
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpcheck.frames import NotTcp, TcpFrame, decode
from tcpcheck.fuzz import (FINDINGS, KINDS, Outcome, load_corpus, make_case, run_cases,
                           summary)
from tcpcheck.mutate import (mutate_capture, mutate_json, mutate_pkt, mutate_text, pkt_tokens,
                             tokens)

from conftest import ROOT

TIME_PER_INPUT = 60.0      # a hang, not a slow input on a loaded machine
EXAMPLES, INPUTS_PER_EXAMPLE = 4, 3     # 12 inputs of each kind


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(ROOT)


def _findings(results) -> str:
    return "\n".join(f"{case.name}: {result.outcome}: {case.args}\n{result.detail[-1500:]}"
                     for case, result in results if result.outcome in FINDINGS)


@pytest.mark.parametrize("kind", KINDS)
def test_mutated_inputs_never_give_a_traceback_or_a_hang(corpus, kind, tmp_path):
    examples = []

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(min_value=0, max_value=2**31))
    def run(seed):
        inputs = [make_case(corpus, kind, seed, k, TIME_PER_INPUT / 2)
                  for k in range(INPUTS_PER_EXAMPLE)]
        results = run_cases(iter(inputs), 1, TIME_PER_INPUT, 0, tmp_path / "findings")
        examples.extend(results)
        assert not _findings(results), _findings(results)

    run()
    assert len(examples) >= EXAMPLES * INPUTS_PER_EXAMPLE
    # the inputs are near-valid: some are bad input, reported as located errors
    assert Outcome.ERROR in {result.outcome for _, result in examples}, summary(examples)


def test_a_hang_is_found_and_kept_with_its_command(corpus, tmp_path):
    case = make_case(corpus, "models", 0, 0, 5)
    results = run_cases(iter([case]), 1, 0.001, 0, tmp_path)
    assert [r.outcome for _, r in results] == [Outcome.HANG]
    kept = tmp_path / case.name
    assert (kept / "model.tcpm").read_bytes() == dict(case.files)["model.tcpm"]
    command = (kept / "command.txt").read_text()
    assert "python -m tcpcheck " + case.args[0] in command and "./model.tcpm" in command


@given(st.text(alphabet=st.sampled_from('ab_1 9#"\n\t:=<>.()+-{}é'), max_size=200))
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
def test_tokens_keep_every_character(text):
    assert "".join(tokens(text)) == text


def test_the_inputs_are_the_same_for_a_seed(corpus):
    for kind in KINDS:
        first = [make_case(corpus, kind, 7, k, 5) for k in range(5)]
        again = [make_case(corpus, kind, 7, k, 5) for k in range(5)]
        other = [make_case(corpus, kind, 8, k, 5) for k in range(5)]
        assert first == again
        assert first != other


@given(st.text(alphabet=st.sampled_from('ab_1 9/*"\n\t:=<>.()+-{}[]é'), max_size=200))
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
def test_script_tokens_keep_every_character(text):
    assert "".join(pkt_tokens(text)) == text


def test_script_mutations_reach_the_reader_and_one_sided_replay(corpus):
    # token-level changes of the shipped scripts: most stay near the original, and across
    # seeds they give each of the reader's errors and scripts it reads and replays
    scripts = [p.read_text() for p in corpus.pkts]
    assert len(scripts) >= 10
    rng = random.Random(5)
    changed = [mutate_pkt(text, rng) for text in scripts for _ in range(5)]
    assert sum(m not in scripts for m in changed) >= 0.9 * len(changed)
    assert sum(len(m) > len(t) // 2 for m, t in zip(changed, [t for t in scripts for _ in range(5)])) \
        >= 0.7 * len(changed)
    cases = [make_case(corpus, "pkt", 2, k, 30) for k in range(40)]
    assert all(c.args[0] == "replay" and c.args[2] == "{dir}/script.pkt" for c in cases)
    assert any("--side" in c.args for c in cases) and any("--delay" in c.args for c in cases)
    assert all("--time-limit" in c.args for c in cases)


def test_text_mutations_are_small_changes():
    text = (ROOT / "specs" / "teardown.spec").read_text()
    rng = random.Random(1)
    changed = [mutate_text(text, ["and", "or", "=="], rng) for _ in range(50)]
    assert sum(m != text for m in changed) >= 45
    # most keep most of the file: a change, not a new file
    assert sum(len(m) > len(text) // 2 for m in changed) >= 35


def test_capture_mutations_reach_the_tcp_header():
    """Across seeds the frames of a mutated capture decode to other flags, other lengths,
    options, and frames set aside as malformed: the structure is changed, not just bytes."""
    data = (ROOT / "tests" / "captures" / "server_closes_first.pcap").read_bytes()
    original = _decoded(data)
    seen_flags, seen_options, set_aside = set(), set(), set()
    for seed in range(150):
        for frame in _decoded(mutate_capture(data, random.Random(seed))):
            if isinstance(frame, TcpFrame):
                seen_flags.add(frame.flags)
                seen_options.update(frame.options)
            else:
                set_aside.add(frame.what)
    assert seen_flags - {f.flags for f in original if isinstance(f, TcpFrame)}
    assert "malformed options" in seen_options
    assert {"malformed TCP header", "truncated frame"} & set_aside


def _decoded(data: bytes) -> list[TcpFrame | NotTcp]:
    if data[:4] != b"\xd4\xc3\xb2\xa1" or len(data) < 24:
        return []
    linktype = struct.unpack_from("<I", data, 20)[0]
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frames.append(decode(linktype, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return frames


def test_json_mutations_change_types_and_sizes():
    text = (ROOT / "tests" / "fixtures" / "guard_division" / "one_write.json").read_text()
    kinds = set()
    for seed in range(100):
        out = mutate_json(text, random.Random(seed))
        kinds.add("long" if len(out) > 10 * len(text) else "short")
        kinds.add("nested" if "[[[[[[" in out or '{"a":{"a":' in out else "flat")
    assert kinds == {"long", "short", "nested", "flat"}


def test_the_fuzz_command_prints_its_counts(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tcpcheck.fuzz", "--models", "1", "--specs", "1",
                          "--captures", "1", "--traces", "1", "--pkt", "1",
                          "--out", str(tmp_path / "f"), "--jobs", "1", "--time-per-input", "60"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("tcpcheck fuzz: seed 0, 5 inputs")
    assert any(line.split()[:2] == ["pkt", "1"] for line in lines)
    total = next(line for line in lines if line.startswith("total")).split()
    assert total[1] == "5" and total[-3:] == ["0", "0", "0"]
    assert not (tmp_path / "f").exists()
