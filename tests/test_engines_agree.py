"""Both engines on the shipped specs: the explorer's verdicts and the symbolic engine's
(k-induction, Spacer, bounded model checking, timing answers from the explorer's own timing
code) must be compatible, property by property: equal where the symbolic engine is
conclusive (a timing query: the same answer, word for word), "holds up to depth N" beside
holds (or beside a violation whose run is longer than N), never opposite (bmc.agrees).

CI runs the default configuration (teardown.spec, depth 6, no Spacer) and the documented
command. The full cross-check is slow (the data_phase configuration's variants take minutes
each) and runs only when asked:

  TCPCHECK_SLOW=1        every shipped spec in the configuration it names, and every failing
                         variant of tests/test_domain_specs.py (the variant model with the
                         spec it fails), one test each, spec by spec
  TCPCHECK_SLOW_DEPTH=N  the symbolic engine's depth there (default 5; 4 for the
                         data_phase configuration and its variants: SLOW_DEPTHS)
  TCPCHECK_PAIRS=a,b     only these configurations (spec stems, variant names)
  TCPCHECK_SPACER=1      let z3's Spacer try the invariants k-induction does not prove

`python tests/test_engines_agree.py docs/engines-crosscheck.tsv` records the full cross-check
(the same knobs apply) as a table, a row per (configuration, property) pair with both
verdicts, the timing answers and whether they agree, and a summary line: how many pairs,
how many compared (both engines conclusive), how many disagree."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import DEFAULT_MODEL, ROOT, run_tcpcheck
from test_domain_specs import MODEL_TEXT, REACHABLE_VARIANTS, VARIANTS
from tcpcheck import load
from tcpcheck import spec as S
from tcpcheck.bmc import agrees
from tcpcheck.symbolic_check import check_symbolic_properties
from tcpcheck.verdicts import Verdict
from tcpcheck.verify import check_model, group_by_model, merge_params, spec_files

SLOW = os.environ.get("TCPCHECK_SLOW") == "1"
CI_DEPTH = 6
# the symbolic engine's depth in the full cross-check, by spec: the data_phase configuration
# (a cyclic graph, its invariant's strengthening) costs over a minute of CPU at depth 4
SLOW_DEPTHS = {"data_phase": 4}
SLOW_DEPTH = os.environ.get("TCPCHECK_SLOW_DEPTH")
SPACER = os.environ.get("TCPCHECK_SPACER") == "1"
SPECS = sorted((ROOT / "specs").glob("*.spec"))
ALL_VARIANTS = {**VARIANTS, **REACHABLE_VARIANTS}
PAIRS = [p for p in os.environ.get("TCPCHECK_PAIRS", "").split(",") if p]
slow = pytest.mark.skipif(not SLOW, reason="the full cross-check: set TCPCHECK_SLOW=1")


def _configurations() -> list[tuple[str, str, tuple[str, str] | None]]:
    """(name, spec stem, (old, new) model change or None): every shipped spec as it is,
    then every failing variant with the spec it fails; TCPCHECK_PAIRS picks some."""
    out = [(spec.stem, spec.stem, None) for spec in SPECS]
    out += [(name, spec, (old, new)) for name, (spec, old, new) in sorted(ALL_VARIANTS.items())]
    # the cheap ones first: a recording cut short keeps the most rows
    out.sort(key=lambda c: c[1] in SLOW_DEPTHS)
    return [c for c in out if not PAIRS or c[0] in PAIRS]


def slow_depth(spec: str) -> int:
    return int(SLOW_DEPTH) if SLOW_DEPTH else SLOW_DEPTHS.get(spec, 5)


def _both(spec: Path, model: Path | None, depth: int, spacer: bool, only: str | None = None):
    """[(explicit, symbolic)] for every property of `spec` (or the one named `only`) on
    `model` (default: the one the spec names), in the configuration the spec names."""
    specs, model_arg = spec_files([spec], spec.parent)
    pairs = []
    for (model_path, params), group in group_by_model(specs, model or model_arg,
                                                      DEFAULT_MODEL).items():
        chosen = merge_params(params, [])
        read = frozenset().union(*(S.variables_read(sf) for _p, sf in group))
        ts = load(model_path, chosen, keep=read)
        props = [p for _path, sf in group for p in S.resolve(sf, ts)
                 if only is None or p.name == only]
        explicit = [e for e in check_model(model_path, group, chosen, None, None).verdicts
                    if only is None or e.name == only]
        pairs += list(zip(explicit, check_symbolic_properties(ts, props, depth, spacer=spacer)))
    return pairs


def _assert_compatible(pairs) -> None:
    for e, s in pairs:
        assert agrees(e, s) is not False, (e.name, str(e.verdict), e.message, str(s.verdict),
                                           s.message)


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    assert MODEL_TEXT.count(old) == 1
    model = tmp_path / "variant.tcpm"
    model.write_text(MODEL_TEXT.replace(old, new))
    return model


def test_the_default_configuration_agrees_and_the_symbolic_engine_answers():
    pairs = _both(ROOT / "specs" / "teardown.spec", None, CI_DEPTH, spacer=False)
    _assert_compatible(pairs)
    got = {s.name: s for _e, s in pairs}
    # conclusive where it can be: the invariant proved, the shortest witness found
    assert got["time_wait_only_after_the_peer_closed"].verdict is Verdict.HOLDS
    assert got["three_way_close_is_possible"].verdict is Verdict.HOLDS
    compared = [agrees(e, s) for e, s in pairs]
    assert compared.count(True) >= 5, compared


@slow
def test_a_failing_invariant_variant_is_violated_by_both_engines(tmp_path):
    """a_held_ack_leaves_before_time_wait (specs/data_phase.spec) on the variant of
    tests/test_domain_specs.py whose FIN_WAIT_2 no longer cancels the held-back ACK: both
    engines find it violated, the symbolic one by a replayed run as short as the explorer's."""
    name, spec_name, old, new = ("a_held_ack_leaves_before_time_wait",
                                 *VARIANTS["a_held_ack_leaves_before_time_wait"])
    pairs = _both(ROOT / "specs" / f"{spec_name}.spec", _variant(tmp_path, old, new), 6, False,
                  only=name)
    (e, s), = pairs
    assert e.verdict is Verdict.VIOLATED and s.verdict is Verdict.VIOLATED, s.message
    _assert_compatible(pairs)


@slow
@pytest.mark.parametrize("config", _configurations(), ids=lambda c: c[0])
def test_every_shipped_spec_and_failing_variant_agrees(tmp_path, config):
    name, spec, change = config
    model = _variant(tmp_path, *change) if change else None
    _assert_compatible(_both(ROOT / "specs" / f"{spec}.spec", model, slow_depth(spec),
                             spacer=SPACER))


def test_the_documented_command_compares_the_engines():
    """docs/engines.md's command: every property compared, none disagreeing, the invariant
    proved; the bounded answers leave it at exit 3 (no answer for some)."""
    result = run_tcpcheck("check", "specs/teardown.spec", "--engine", "both", "--depth", "1",
                          "--json")
    assert result.returncode == 3, result.stderr
    props = {p["name"]: p for p in json.loads(result.stdout)["properties"]}
    assert all(p["engines_agree"] is not False for p in props.values())
    invariant = props["time_wait_only_after_the_peer_closed"]
    assert invariant["verdict"] == "holds" and invariant["engines_agree"] is True
    assert invariant["message"].startswith("proved by k-induction at k=0")


# ---------------------------------------------------------------- the recorded cross-check

COLUMNS = ("configuration", "property", "kind", "explicit", "symbolic", "depth", "agree",
           "explicit answer", "symbolic answer", "cpu s")


def _rows(name: str, pairs, cpu: float) -> list[tuple]:
    word = {True: "yes", False: "NO", None: "not compared"}
    out = []
    for k, (e, s) in enumerate(pairs):
        out.append((name, e.name, e.kind, str(e.verdict), str(s.verdict), s.depth,
                    word[agrees(e, s)], e.answer or "", s.answer or "",
                    f"{cpu:.1f}" if k == 0 else ""))
    return out


def record(path: Path) -> int:
    """Run the cross-check configuration by configuration, appending each one's rows to
    `path` as it finishes (a long run keeps what it did); the summary line last. Returns
    the number of disagreements."""
    import tempfile
    import time

    with path.open("w", encoding="utf-8") as out:
        depths = SLOW_DEPTH or "".join(f"{k} {v}, " for k, v in SLOW_DEPTHS.items()) + "5 otherwise"
        out.write("# both engines on every shipped spec and failing variant "
                  f"(tests/test_engines_agree.py); symbolic depth {depths}, "
                  f"Spacer {'on' if SPACER else 'off'}\n")
        out.write("\t".join(COLUMNS) + "\n")
        pairs = compared = disagree = 0
        for name, spec, change in _configurations():
            with tempfile.TemporaryDirectory() as tmp:
                model = _variant(Path(tmp), *change) if change else None
                start = time.process_time()
                got = _both(ROOT / "specs" / f"{spec}.spec", model, slow_depth(spec),
                            spacer=SPACER)
                cpu = time.process_time() - start
            for row in _rows(name, got, cpu):
                out.write("\t".join(str(x) for x in row) + "\n")
            out.flush()
            verdicts = [agrees(e, s) for e, s in got]
            pairs += len(got)
            compared += sum(v is not None for v in verdicts)
            disagree += verdicts.count(False)
            print(f"{name}: {len(got)} pairs, {cpu:.1f} s CPU", flush=True)
        out.write(f"# {pairs} pairs, {compared} compared, {disagree} disagree\n")
    return disagree


if __name__ == "__main__":
    import sys
    sys.exit(1 if record(Path(sys.argv[1])) else 0)
