"""DOMAIN.md's properties beyond the basic close: every shipped spec file holds on the default
model in the configuration it names, and each universal property fails on a variant of the
model with the rule that makes it true taken out (a property that cannot fail proves nothing).
The witnesses' negations are checked in test_specs.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DEFAULT_MODEL, ROOT, run_tcpcheck

MODEL_TEXT = DEFAULT_MODEL.read_text(encoding="utf-8")
SPECS = sorted((ROOT / "specs").glob("*.spec"))

_ORPHAN_FIN_WAIT_2 = ("            if orphan {\n                arm fin_wait_2\n"
                      "                cancel delack  # tcp_time_wait, as for close() in FIN_WAIT_2 below\n"
                      "            }\n")

# property -> (spec file, the model text to change, what to put instead)
VARIANTS = {
    "late_data_after_close_is_reset": (
        "late_data", "        if rd_shut {\n            send RST", "        if false {\n            send RST"),
    "late_data_after_shutdown_is_delivered": (
        "late_data", "        if rd_shut {\n            send RST", "        if true {\n            send RST"),
    "late_data_after_shutdown_then_close_is_reset": (
        "late_data", "        } else {\n            rd_shut := true\n            orphan := true\n            if state == FIN_WAIT_2 {",
        "        } else {\n            orphan := true\n            if state == FIN_WAIT_2 {"),
    "queued_data_is_read_before_the_error": (
        "linger", "        if unread {\n            unread := false\n            observe read_returns_queued_data",
        "        if false {\n            unread := false\n            observe read_returns_queued_data"),
    "the_sender_of_late_data_never_sees_econnreset": (
        "late_data", "        if not orphan and state != CLOSE_WAIT {", "        if not orphan {"),
    "close_with_unread_data_never_sends_fin": (
        "unread_data", "        } elif unread or linger_zero {\n            # tcp_close",
        "        } elif linger_zero {\n            # tcp_close"),
    "every_byte_before_fin_is_delivered": (
        "unread_data", "    on recv DATA when state == ESTABLISHED {\n        rcvd := min(rcvd + 1, 2)\n",
        "    on recv DATA when state == ESTABLISHED {\n"),
    "data_on_a_fin_is_queued_for_read": (
        "unread_data", "    on recv DATA+FIN when state == ESTABLISHED {\n        rcvd := min(rcvd + 1, 2) + 1  # the data (counted up to two), then the FIN\n        unread := true\n",
        "    on recv DATA+FIN when state == ESTABLISHED {\n        rcvd := min(rcvd + 1, 2) + 1\n"),
    "linger_zero_close_sends_no_fin": (
        "linger", "        } elif unread or linger_zero {\n            send RST",
        "        } elif unread {\n            send RST"),
    "shutdown_rd_sends_nothing": (
        "shutdown", "        rd_shut := true\n        observe shut_rd",
        "        rd_shut := true\n        send FIN(ack = rcvd)\n        observe shut_rd"),
    "shared_socket_needs_two_closes_or_shutdown": (
        "shared_socket", "    on call close when state == ESTABLISHED {\n        if other_ref {",
        "    on call close when state == ESTABLISHED {\n        if false {"),
    "only_a_shut_down_socket_waits_forever": (
        "leak", _ORPHAN_FIN_WAIT_2, ""),
    "an_orphan_times_out": (
        "leak", _ORPHAN_FIN_WAIT_2, ""),
    "a_fin_is_retransmitted_only_while_unacknowledged": (
        "retransmission", "                state := FIN_WAIT_2\n                cancel rto\n            }",
        "                state := FIN_WAIT_2\n            }"),
    # a data phase of any length (specs/data_phase.spec)
    "data_before_the_fin_is_all_delivered": (
        "data_phase", "and not running(delack) {\n        rcvd := min(rcvd + 1, 2)\n",
        "and not running(delack) {\n"),
    "close_with_unread_data_resets_after_any_exchange": (
        "data_phase", "        } elif unread or linger_zero {\n            send RST\n            cancel delack  # tcp_done",
        "        } elif linger_zero {\n            send RST\n            cancel delack  # tcp_done"),
    "every_close_after_a_data_phase_ends": (
        "data_phase", "when data_phase and state == CLOSED and room() == 0 {",
        "when false and state == CLOSED and room() == 0 {"),
    "every_close_ends_even_when_a_segment_is_lost": (
        "loss", "    on expire rto when retries < 2 {", "    on expire rto when false {"),
    # the half-closed side's held-back ACK goes out with the ACK of the peer's FIN
    "a_held_ack_leaves_before_time_wait": (
        "data_phase",
        ("    on recv FIN | FIN+ACK when state == FIN_WAIT_2 {\n        rcvd := rcvd + 1\n"
         "        send ACK(ack = rcvd)\n        cancel delack"),
        ("    on recv FIN | FIN+ACK when state == FIN_WAIT_2 {\n        rcvd := rcvd + 1\n"
         "        send ACK(ack = rcvd)\n")),
    # the ACK of our FIN taken for the peer's FIN too: TIME_WAIT while the peer is in CLOSE_WAIT
    "time_wait_only_after_the_peer_closed": (
        "teardown", "    on recv ACK when state != CLOSED {\n        if state == FIN_WAIT_1 and seg.ack == sent + 1 {\n            state := FIN_WAIT_2\n",
        "    on recv ACK when state != CLOSED {\n        if state == FIN_WAIT_1 and seg.ack == sent + 1 {\n            state := TIME_WAIT\n"),
    # close() in TIME_WAIT as if the socket were still open: tcp_close's reset for unread data
    "close_in_time_wait_sends_nothing": (
        "late_data", "        unread := false  # the queue is dropped with the socket",
        "        if unread or linger_zero { send RST }  #"),
}


# A behaviour Linux shows that the model gives only through one rule: the witness property
# holds on the default model and has no witness (violated, no run to show) without the rule.
# property -> (spec file, the model text to change, what to put instead)
REACHABLE_VARIANTS = {
    # Linux __tcp_ack_snd_check / tcp_add_backlog: one ACK for a burst and the FIN on it
    "one_ack_for_a_burst_and_its_fin": (
        "data_phase", "and state == ESTABLISHED and running(delack) and unread {",
        "and state == ESTABLISHED and false {"),
    # the same rule, as client_closes_while_server_sends shows it: two segments, no ACK, one RST
    "a_reader_that_has_not_read_takes_more_data_without_an_ack": (
        "data_phase", "and state == ESTABLISHED and running(delack) and unread {",
        "and state == ESTABLISHED and running(delack) and false {"),
    # Linux tcp_reset sets sk_err: a reset socket still takes write() calls (ECONNRESET, EPIPE)
    "a_writer_learns_of_the_reset_from_its_next_writes": (
        "data_phase",
        "    on call write when (more_calls or data_phase) and (state == CLOSED or state == TIME_WAIT) and not orphan {",
        "    on call write when more_calls and (state == CLOSED or state == TIME_WAIT) and not orphan {"),
    "the_half_closed_side_holds_its_ack": (
        "data_phase", "    on recv DATA when data_phase and delayed_ack and (state == FIN_WAIT_1 or state == FIN_WAIT_2)",
        "    on recv DATA when false and (state == FIN_WAIT_1 or state == FIN_WAIT_2)"),
    "shutdown_then_close_in_time_wait": (
        "late_data", "    on call close when more_calls and state == TIME_WAIT and not orphan {",
        "    on call close when false and state == TIME_WAIT and not orphan {"),
}


def _check(spec: Path, model: Path | None = None) -> dict:
    args = ["check", str(spec), "--json", "--no-progress", "--no-timing"]
    if model is not None:
        args += ["--model", str(model)]
    result = run_tcpcheck(*args)
    assert result.returncode in (0, 1), result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)["properties"]}


def _check_variant(tmp_path: Path, name: str, spec_name: str, old: str, new: str) -> dict:
    """Property `name` of specs/<spec_name>.spec checked on the default model with the rule's
    text `old` replaced by `new` (which must occur once: a model edit must not silently make
    the variant the default model)."""
    assert MODEL_TEXT.count(old) == 1, f"the default model no longer has {old!r} once"
    model = tmp_path / "variant.tcpm"
    model.write_text(MODEL_TEXT.replace(old, new))
    return _check(ROOT / "specs" / f"{spec_name}.spec", model)[name]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_shipped_spec_holds_on_the_default_model(spec):
    props = _check(spec)
    assert props
    assert {n: p["verdict"] for n, p in props.items() if p["verdict"] != "holds"} == {}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_property_fails_without_the_rule_that_makes_it_true(tmp_path, name):
    p = _check_variant(tmp_path, name, *VARIANTS[name])
    assert p["verdict"] == "violated", p["message"]
    assert p["trace"], "a counterexample run is shown"


@pytest.mark.parametrize("name", sorted(REACHABLE_VARIANTS))
def test_behaviour_is_unreachable_without_the_rule_that_gives_it(tmp_path, name):
    p = _check_variant(tmp_path, name, *REACHABLE_VARIANTS[name])
    assert p["verdict"] == "violated", p["message"]
    assert "no complete run" in p["message"]
    assert not p["trace"], "no witness run is shown"


def test_every_domain_universal_property_has_a_failing_variant():
    # every `runs`/`invariant`/`terminates` property of the new spec files is covered above
    from tcpcheck.spec import parse_spec_file

    universal = {p.name for s in SPECS if s.stem != "teardown"
                 for p in parse_spec_file(s).properties if p.kind in ("runs", "invariant", "terminates")}
    assert universal <= set(VARIANTS)


def test_the_retransmission_limits_are_named_after_the_sysctls_with_this_machines_values():
    # the model follows 2 retransmissions as its own bound and never gives up; its comment
    # names Linux's limits, which must be the ones this machine's kernel has
    text = MODEL_TEXT
    assert "gave_up_retransmitting" not in text
    assert "The model follows at most 2 retransmissions" in text and "retries < 2" in text
    stated = {"tcp_orphan_retries": "0", "tcp_retries2": "15"}   # Linux's defaults
    for sysctl, value in stated.items():
        assert f"{sysctl} = {value}" in text
    proc = Path("/proc/sys/net/ipv4")
    if not (proc / "tcp_orphan_retries").exists():
        pytest.skip("no /proc/sys/net/ipv4 here: the measured values cannot be compared")
    here = {sysctl: (proc / sysctl).read_text().strip() for sysctl in stated}
    if here != stated:
        pytest.skip(f"this kernel is configured otherwise ({here}); the model states the defaults")
