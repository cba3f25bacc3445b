"""`tcpcheck list`: the names a model and its specs offer, plain and as deterministic JSON.
The expected names come from the compiled model (its variants) and the parsed specs, never
from a list written here."""
import json

import tcpcheck
from tcpcheck.parse import parse_file
from tcpcheck.spec import parse_spec_file
from tcpcheck.typecheck import check
from tcpcheck.verdicts import ExitStatus

from conftest import DEFAULT_MODEL, ROOT, run_tcpcheck


def _json(*args: str) -> dict:
    r = run_tcpcheck("list", *args, "--json")
    assert r.returncode == ExitStatus.OK, r.stderr
    return json.loads(r.stdout)


def test_every_observation_of_the_default_model_with_its_transitions():
    ts = tcpcheck.load(DEFAULT_MODEL)
    recorded = {o for v in ts.variants for o in v.observations}
    doc = _json("observations")
    assert {e["name"] for e in doc["entries"]} == recorded
    lines = DEFAULT_MODEL.read_text().splitlines()
    for e in doc["entries"]:
        assert e["transitions"], e["name"]
        for t in e["transitions"]:
            # the line named is the `on` of a transition whose body records the observation
            # (or the `channel` of a lossy link, for the network's loss step)
            first_word = "channel " if t["endpoint"] == "network" else "on "
            assert lines[t["line"] - 1].lstrip().startswith(first_word), t
    plain = run_tcpcheck("list", "observations").stdout
    assert all(name in plain for name in recorded)


def test_params_timers_and_calls_are_the_checked_models():
    model = check(parse_file(DEFAULT_MODEL))
    assert [e["name"] for e in _json("params")["entries"]] == sorted(p.name for p in model.params)
    timers = {f"{ep.name}.{t.name}" for ep in model.endpoints for t in ep.timers}
    assert {e["name"] for e in _json("timers")["entries"]} == timers
    answered = {tr.event.name for ep in model.endpoints for tr in ep.transitions
                if tr.event.kind == "call"}
    assert {e["name"].split("(")[0] for e in _json("calls")["entries"]} == answered
    delayed = next(e for e in _json("params")["entries"] if e["name"] == "delayed_ack")
    assert "pingpong" in delayed["doc"]  # the comment above the declaration


def test_properties_of_the_specs_named():
    spec = ROOT / "specs" / "teardown.spec"
    names = [p.name for p in parse_spec_file(spec).properties]
    doc = _json("properties", str(spec))
    assert [e["name"] for e in doc["entries"]] == names


def test_json_is_byte_identical_and_bad_input_is_located(tmp_path):
    first = run_tcpcheck("list", "observations", "--json").stdout
    assert first == run_tcpcheck("list", "observations", "--json").stdout
    bad = tmp_path / "bad.tcpm"
    bad.write_text("model m\nendpoint e( {\n")
    r = run_tcpcheck("list", "params", str(bad))
    assert r.returncode == ExitStatus.BAD_INPUT
    assert "bad.tcpm:2:" in r.stderr and "Traceback" not in r.stderr


def test_the_readme_shows_what_list_timers_prints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ tcpcheck list timers\n", 1)[1].split("```", 1)[0]
    assert shown.strip()
    assert run_tcpcheck("list", "timers").stdout == shown


def test_a_spec_alone_lists_what_its_model_offers(tmp_path):
    bench = ROOT / "models" / "bench" / "teardown_n.tcpm"
    spec = tmp_path / "bench.spec"
    spec.write_text(f'model "{bench}"\ninvariant fine: true\n')
    model = check(parse_file(bench))
    doc = _json("params", str(spec))
    assert [e["name"] for e in doc["entries"]] == sorted(p.name for p in model.params)
    assert doc != _json("params")  # not the default model's
