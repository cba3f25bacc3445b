"""Honest verdicts in specs: a pass that tested nothing says so, and a spec's arithmetic fails
as a model's does.

* A `runs` (or `reachable`) property resting on an implication whose premise no complete run
  meets holds vacuously: its own verdict word (exit 0), "no run has observed X".
* An invariant `P implies Q` where no reachable state satisfies P warns at P (TCP503).
* A division by zero in a reachable state is an error at the division, with the run to that
  state (TCP502, verdict "error", exit 1), never a value made up for it.

Every verdict here comes from exploring the default model (430 states with its default
parameters); the premises are chosen by what the model can and cannot do.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import DEFAULT_MODEL, run_tcpcheck
from tcpcheck.verdicts import ExitStatus

# linger_zero is false by default: no run closes with an RST for SO_LINGER 0
NEVER = "observed rst_for_linger_zero"
# the default model has a three-way close (a delayed ACK lets the FIN+ACK carry it)
SOMETIMES = "observed three_way_close"


def _spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "honest.spec"
    path.write_text(f'model "{DEFAULT_MODEL}"\n{body}\n', encoding="utf-8")
    return path


def _check_json(spec: Path) -> tuple[int, dict, str]:
    result = run_tcpcheck("check", str(spec), "--json", "--no-progress", "--no-timing")
    return result.returncode, json.loads(result.stdout), result.stderr


def _props(doc: dict) -> dict:
    return {p["name"]: p for p in doc["properties"]}


@pytest.mark.parametrize("formula, vacuous, message", [
    (f"{NEVER} implies eventually sends(any, RST)", True,
     "no run has observed rst_for_linger_zero"),
    (f"{SOMETIMES} implies eventually sends(any, FIN | FIN+ACK)", False,
     "every complete run satisfies it"),
    ("finally (client.state == SYN_SENT implies server.state == CLOSED)", True,
     "no run has met the premise `finally client.state == SYN_SENT`"),
    ("always (client.state == SYN_SENT implies server.state == CLOSED)", True,
     "no run has met the premise `eventually client.state == SYN_SENT`"),
    ("finally (client.state == CLOSED implies server.state == CLOSED)", False,
     "every complete run satisfies it"),
    # both halves untested: vacuous; `A before B` has no premise (it fails when neither happens)
    (f"({NEVER} implies delayed_ack) and ({NEVER} implies not delayed_ack)", True,
     "no run has observed rst_for_linger_zero"),
])
def test_a_runs_property_that_tests_nothing_holds_vacuously(tmp_path, formula, vacuous, message):
    status, doc, _ = _check_json(_spec(tmp_path, f"runs p: {formula}"))
    p = _props(doc)["p"]
    assert status == ExitStatus.OK   # a vacuous pass is still a pass
    assert p["verdict"] == ("holds vacuously" if vacuous else "holds")
    assert p["message"] == message


def test_an_implication_tested_in_part_is_a_note_not_a_verdict(tmp_path):
    status, doc, _ = _check_json(_spec(
        tmp_path, f"runs p: ({NEVER} implies delayed_ack or not delayed_ack) and "
                  f"({SOMETIMES} implies delayed_ack)"))
    p = _props(doc)["p"]
    assert (status, p["verdict"]) == (ExitStatus.OK, "holds")
    assert "partly vacuous: no run has observed rst_for_linger_zero" in p["notes"]


def test_a_violated_implication_is_not_looked_at_for_vacuity(tmp_path):
    status, doc, _ = _check_json(_spec(tmp_path, f"runs p: {SOMETIMES} implies not delayed_ack"))
    assert (status, _props(doc)["p"]["verdict"]) == (ExitStatus.VIOLATED, "violated")


def test_vacuous_is_its_own_word_in_the_table_and_the_report(tmp_path):
    spec = _spec(tmp_path, f"runs p: {NEVER} implies eventually sends(any, RST)")
    report = tmp_path / "report.md"
    result = run_tcpcheck("check", str(spec), "--no-progress", "--report", str(report))
    assert result.returncode == ExitStatus.OK, result.stderr
    assert re.search(r"^p\s+runs\s+holds vacuously\s", result.stdout, re.M), result.stdout
    assert "p: holds vacuously: no run has observed rst_for_linger_zero" in result.stdout
    assert "| runs | holds vacuously |" in report.read_text(encoding="utf-8")


def test_an_invariant_about_a_state_no_run_reaches_warns_at_its_premise(tmp_path):
    spec = _spec(tmp_path, "invariant i: client.state == SYN_SENT implies server.state == CLOSED\n"
                           "invariant j: client.state == TIME_WAIT implies client.rcvd >= 1")
    status, doc, stderr = _check_json(spec)
    props = _props(doc)
    assert status == ExitStatus.OK
    assert props["i"]["verdict"] == props["j"]["verdict"] == "holds"   # the verdict stays
    [warning] = props["i"]["diagnostics"]
    assert (warning["code"], warning["severity"], warning["line"], warning["column"]) == \
        ("TCP503", "warning", 2, 14)
    assert "diagnostics" not in props["j"]   # TIME_WAIT is reached: nothing to warn about
    stderr = run_tcpcheck("check", str(spec), "--no-progress").stderr   # the text output
    assert f"{spec}:2:14: warning[TCP503]: no reachable state satisfies " \
           "`client.state == SYN_SENT`" in stderr


def test_a_division_by_zero_in_a_reachable_state_is_located_with_its_run(tmp_path):
    # client.rcvd is 0 at the start and grows: `sent / rcvd` fails in the initial state, and
    # `rcvd == 0 or ...` guards the division so that the second property is fine
    spec = _spec(tmp_path, "invariant ratio: client.sent / client.rcvd <= 2\n"
                           "invariant guarded: client.rcvd == 0 or client.sent % client.rcvd <= 2\n"
                           "runs later: finally (client.sent / (client.rcvd - 1) >= 0)")
    status, doc, stderr = _check_json(spec)
    props = _props(doc)
    assert status == ExitStatus.VIOLATED   # as a model's TCP501: the run fails, exit 1
    assert props["guarded"]["verdict"] == "holds"
    for name, line, column in (("ratio", 2, 18), ("later", 4, 22)):
        p = props[name]
        assert p["verdict"] == "error", p
        [error] = p["diagnostics"]
        assert (error["code"], error["line"], error["column"]) == ("TCP502", line, column)
        assert "division by zero ('/' by 0)" in error["message"]
        assert error["notes"][0] == "reached by the run:"
        assert p["trace"], "the run to the failing state is shown"
    text = run_tcpcheck("check", str(spec), "--no-progress")
    assert text.returncode == ExitStatus.VIOLATED
    assert f"{spec}:2:18: error[TCP502]: division by zero" in text.stderr
    assert "Traceback" not in text.stderr + stderr


def test_a_constant_division_by_zero_is_refused_before_exploring(tmp_path):
    result = run_tcpcheck("check", str(_spec(tmp_path, "invariant i: 1 / 0 == 0")),
                          "--no-progress")
    assert result.returncode == ExitStatus.BAD_INPUT
    assert "honest.spec:2:14: error[TCP304]: division by zero" in result.stderr


def test_a_witness_of_an_implication_whose_premise_never_happens_is_vacuous(tmp_path):
    status, doc, _ = _check_json(_spec(tmp_path, f"reachable p: {NEVER} implies delayed_ack\n"
                                                 f"reachable q: {SOMETIMES} implies delayed_ack"))
    props = _props(doc)
    assert status == ExitStatus.OK
    assert (props["p"]["verdict"], props["p"]["message"]) == \
        ("holds vacuously", "no run has observed rst_for_linger_zero")
    assert props["q"]["verdict"] == "holds"
