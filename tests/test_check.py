"""The checker: names, types and model structure, each error with its code and span, all at once."""
from __future__ import annotations

import pytest

import tcpcheck
from tcpcheck.typecheck import check
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.parse import parse_file, parse_text

from conftest import DEFAULT_MODEL

INSTANCES = """\
instance client = tcp(has_data = false)
instance server = tcp(has_data = true)
channel client -> server capacity 2
channel server -> client capacity 2
"""


def model(body: str = "", top: str = "", instances: str = INSTANCES) -> str:
    """A small valid teardown model, with `body` added to endpoint tcp and `top` before it."""
    return f"""\
model small
param delayed_ack: bool
const MAX = 2
enum close_kind {{ ACTIVE, PASSIVE }}
segment {{
    ack: 0..2
}}
{top}
endpoint tcp(has_data: bool) {{
    var state: tcp_state = ESTABLISHED
    var rcvd: 0..MAX = 0
    var kind: close_kind = ACTIVE
    timer delack 40ms..200ms
    on call close when state == ESTABLISHED {{
        send FIN(ack = rcvd)
        state := FIN_WAIT_1
    }}
    on recv FIN when state == ESTABLISHED {{
        rcvd := rcvd + 1
        if delayed_ack {{ arm delack }} else {{ send ACK(ack = rcvd) }}
    }}
{body}
}}
{instances}"""


def errors(text: str) -> list:
    with pytest.raises(TcpcheckError) as info:
        check(parse_text(text, "m.tcpm"))
    return info.value.diagnostics


def only_error(text: str):
    (diag,) = errors(text)
    return diag


def pos(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based line and column of the nth occurrence of `needle` in `text`."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def where(diag) -> tuple[int, int]:
    return diag.span.line, diag.span.column


def width(diag) -> int:
    assert diag.span.end_line == diag.span.line
    return diag.span.end_column - diag.span.column


# ---------------------------------------------------------------- valid models


def test_the_small_model_checks():
    m = check(parse_text(model(), "m.tcpm"))
    assert [i.name for i in m.instances] == ["client", "server"]
    assert [c.name for c in m.channels] == ["client->server", "server->client"]
    assert [v.name for v in m.endpoint("tcp").vars] == ["state", "rcvd", "kind"]


def test_the_default_model_checks():
    m = check(parse_file(DEFAULT_MODEL))
    assert m.name == "teardown"
    assert [(i.name, i.endpoint) for i in m.instances] == [("client", "tcp"), ("server", "tcp")]
    tcp = m.endpoint("tcp")
    assert any(v.name == "state" and str(v.domain.type) == "tcp_state" for v in tcp.vars)
    assert {t.event.kind for t in tcp.transitions} >= {"call", "recv", "expire"}


# ---------------------------------------------------------------- names


def test_unknown_name_in_a_guard_suggests_the_variable():
    text = model("    on call read when stat == CLOSED { }")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP201", "unknown name 'stat'; did you mean 'state'?")
    assert where(d) == pos(text, "stat ==") and width(d) == 4


def test_assignment_to_a_misspelt_variable_suggests_the_variable():
    text = model("    on call read { stat := CLOSED }")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP201", "unknown variable 'stat'; did you mean 'state'?")
    assert where(d) == pos(text, "stat :=")


def test_unknown_flag_in_a_send():
    text = model("    on call read { send FNI }")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP203", "unknown segment flag 'FNI'; did you mean 'FIN'?")
    assert where(d) == pos(text, "FNI")
    assert d.notes == ("the flags are FIN, SYN, RST, ACK and DATA",)


def test_unknown_flag_in_a_recv_pattern_points_at_the_bad_flag_only():
    text = model("    on recv FIN | FIN+AKC { }")
    d = only_error(text)
    assert d.code == "TCP203" and "'AKC'" in d.message and "'ACK'" in d.message
    assert where(d) == pos(text, "AKC") and width(d) == 3


def test_unknown_application_call_points_at_the_call_name():
    text = model("    on call clsoe { }")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP204",
                                   "unknown application call 'clsoe'; did you mean 'close'?")
    assert where(d) == pos(text, "clsoe") and width(d) == 5
    assert "shutdown" in d.notes[0]


@pytest.mark.parametrize("event, needle, message", [
    ("shutdown", "shutdown", "shutdown needs an argument: shutdown(SHUT_RD), shutdown(SHUT_WR) "
                             "or shutdown(SHUT_RDWR)"),
    ("shutdown(SHUT_WRITE)", "SHUT_WRITE", "shutdown() takes SHUT_RD, SHUT_WR or SHUT_RDWR, not "
                                           "'SHUT_WRITE'; did you mean 'SHUT_WR'?"),
    ("close(SHUT_WR)", "SHUT_WR", "close() takes no argument; write 'on call close'"),
])
def test_bad_call_arguments(event, needle, message):
    text = model(f"    on call {event} {{ }}")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP213", message)
    assert where(d) == pos(text, needle)


@pytest.mark.parametrize("body, needle", [
    ("on expire delak { }", "delak"),
    ("on call read { arm delak }", "delak"),
    ("on call read { cancel delak }", "delak"),
    ("on call read after delak { }", "delak"),
    ("on call read when running(delak) { }", "delak"),
])
def test_unknown_timer_everywhere_a_timer_is_named(body, needle):
    text = model("    " + body)
    d = only_error(text)
    assert d.code == "TCP205"
    assert d.message == "unknown timer 'delak' in endpoint 'tcp'; did you mean 'delack'?"
    assert where(d) == pos(text, needle) and width(d) == 5
    assert d.notes == ("timers of endpoint 'tcp': delack",)


def test_a_variable_is_not_a_timer():
    text = model("    on call read { arm rcvd }")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP205", "'rcvd' is a variable, not a timer")


def test_a_timer_is_tested_with_running():
    text = model("    on call read when delack { }")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP202", "'delack' is a timer; test it with running(delack)")


def test_unknown_segment_field_in_seg_and_in_send():
    text = model("    on recv ACK when seg.ak == 1 { send ACK(acks = 1) }")
    d1, d2 = errors(text)
    assert (d1.code, d1.message) == ("TCP206", "unknown segment field 'ak'; did you mean 'ack'?")
    assert where(d1) == pos(text, "seg.ak")
    assert (d2.code, d2.message) == ("TCP206", "unknown segment field 'acks'; did you mean 'ack'?")
    assert where(d2) == pos(text, "acks")


def test_unknown_function():
    text = model("    on call read when mx(rcvd, 1) == 1 { }")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP214", "unknown function 'mx'; did you mean 'max'?")
    assert where(d) == pos(text, "mx(") and width(d) == 2


def test_unknown_type_suggests_bool():
    text = model(top="param quick: boolean")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP201", "unknown type 'boolean'; did you mean 'bool'?")
    assert where(d) == pos(text, "boolean")


def test_a_parameter_may_only_use_the_parameters_before_it():
    text = model(top="param window: 0..size\nparam size: 0..2")
    d = only_error(text)
    assert d.code == "TCP210" and d.message.startswith("parameter 'size' is declared later")
    assert where(d) == pos(text, "size\n")


def test_an_initial_value_cannot_read_a_variable():
    text = model("    var copy: 0..2 = rcvd")
    d = only_error(text)
    assert d.code == "TCP210" and d.message.startswith("'rcvd' is a variable")


# ---------------------------------------------------------------- types


@pytest.mark.parametrize("body, needle, message", [
    ("on call read { rcvd := true }", "true", "'rcvd' must be an int, but this is a bool"),
    ("on call read when rcvd { }", "rcvd {", "a guard must be a bool, but this is an int"),
    ("on call read when state == 1 { }", "state == 1",
     "cannot compare a tcp_state with an int"),
    ("on call read when state == ACTIVE { }", "state == ACTIVE",
     "cannot compare a tcp_state with a close_kind"),
    ("on call read when rcvd and true { }", "rcvd and",
     "'and' needs bool operands, but this is an int"),
    ("on call read { rcvd := has_data + 1 }", "has_data +",
     "'+' needs int operands, but this is a bool"),
    ("on call read { send ACK(ack = rcvd == 1) }", "rcvd == 1",
     "field 'ack' must be an int, but this is a bool"),
    ("on call read { if rcvd { } }", "rcvd { }", "a condition must be a bool, but this is an int"),
    ("on call read { kind := CLOSED }", "CLOSED }",
     "'kind' must be a close_kind, but this is a tcp_state"),
])
def test_type_mismatches(body, needle, message):
    text = model("    " + body)
    d = only_error(text)
    assert (d.code, d.message) == ("TCP202", message)
    assert where(d) == pos(text, needle)


def test_instance_setting_of_the_wrong_type():
    text = model(instances=INSTANCES.replace("has_data = false", "has_data = 0"))
    d = only_error(text)
    assert d.code == "TCP202"
    assert d.message == "setting 'has_data' must be a bool, but this is an int"
    assert where(d) == pos(text, "0)")


@pytest.mark.parametrize("target, what", [
    ("delayed_ack", "a parameter"), ("has_data", "an endpoint setting"), ("MAX", "a constant"),
    ("PASSIVE", "an enum value"),
])
def test_assignment_to_a_read_only_name(target, what):
    text = model(f"    on call read {{ {target} := 1 }}")
    d = only_error(text)
    assert d.code == "TCP207"
    assert d.message == f"cannot assign '{target}': it is {what}, not a variable"
    assert where(d) == pos(text, f"{target} :=") and width(d) == len(target)


def test_seg_outside_a_recv_transition():
    text = model("    on call read when seg.ack == 1 { }")
    d = only_error(text)
    assert d.code == "TCP208" and "'on recv'" in d.message
    assert where(d) == pos(text, "seg.ack")


def test_seg_inside_a_recv_transition_is_fine():
    check(parse_text(model("    on recv ACK when seg.ack == rcvd { rcvd := seg.ack }"), "m.tcpm"))


# ---------------------------------------------------------------- declarations


def test_duplicate_parameter_notes_the_first_declaration():
    text = model(top="param delayed_ack: bool")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP200", "parameter 'delayed_ack' is already declared")
    assert where(d) == pos(text, "delayed_ack: bool", nth=1)
    assert d.notes == ("first declared at 2:1",)


@pytest.mark.parametrize("body, what, name", [
    ("var rcvd: bool = false", "variable", "rcvd"),
    ("timer delack 1ms..2ms", "timer", "delack"),
])
def test_duplicate_declarations_in_an_endpoint(body, what, name):
    text = model("    " + body)
    d = only_error(text)
    assert d.code == "TCP200"
    assert d.message == f"{what} '{name}' is already declared in endpoint 'tcp'"
    line, column = pos(text, body)
    assert where(d) == (line, column + body.index(name))


def test_enum_value_declared_twice():
    text = model(top="enum opener { ACTIVE, SIMULTANEOUS }")
    d = only_error(text)
    assert d.code == "TCP200"
    assert d.message == "enum value 'ACTIVE' is already a value of 'close_kind'"
    assert where(d) == pos(text, "ACTIVE", nth=1)


def test_variable_named_like_an_enum_value():
    d = only_error(model("    var CLOSED: bool = false"))
    assert (d.code, d.message) == ("TCP200", "variable 'CLOSED' has the name of a value of enum "
                                             "'tcp_state'")


def test_duplicate_instance():
    text = model(instances=INSTANCES + "instance server = tcp(has_data = true)\n")
    d = only_error(text)
    assert (d.code, d.message) == ("TCP200", "instance 'server' is already declared")
    assert where(d) == pos(text, "server = tcp", nth=1)


@pytest.mark.parametrize("decl, needle", [("var rcvd2: 3..1 = 3", "3..1"),
                                          ("var left: MAX..0 = 0", "MAX..0")])
def test_empty_range(decl, needle):
    text = model("    " + decl)
    d = only_error(text)
    assert d.code == "TCP209" and d.message.startswith("empty range")
    assert where(d) == pos(text, needle)


def test_timer_with_a_reversed_duration_range():
    text = model("    timer think 200ms..40ms")
    d = only_error(text)
    assert d.code == "TCP209"
    assert d.message == ("timer 'think' has an empty duration range: its lower bound 200ms is "
                         "more than its upper bound 40ms")
    assert where(d) == pos(text, "200ms..40ms")


# ---------------------------------------------------------------- instances and channels


def test_one_instance_is_not_a_connection():
    text = model(instances="instance client = tcp(has_data = false)\n")
    d = only_error(text)
    assert d.code == "TCP300"
    assert d.message.endswith("this one has 1")
    assert where(d) == pos(text, "instance client")


def test_three_instances_point_at_the_third():
    text = model(instances=INSTANCES + "instance proxy = tcp(has_data = false)\n")
    d = only_error(text)
    assert d.code == "TCP300" and d.message.endswith("this one has 3")
    assert where(d) == pos(text, "proxy")
    assert d.notes == ("the first two are 'client' and 'server'",)


def test_no_instances_points_at_the_endpoint():
    text = model(instances="")
    d = only_error(text)
    assert d.code == "TCP300" and d.message.endswith("this one has 0")
    assert where(d) == pos(text, "tcp(has_data")


def test_missing_channel_says_which_direction_and_how_to_declare_it():
    text = model(instances=INSTANCES.replace("channel server -> client capacity 2\n", ""))
    d = only_error(text)
    assert (d.code, d.message) == ("TCP301", "no channel server -> client: every model needs "
                                             "one channel each way")
    assert d.notes == ("declare it: 'channel server -> client capacity N'",)
    assert where(d) == pos(text, "channel client -> server")


def test_no_channels_at_all_gives_one_error_per_direction():
    text = model(instances="instance client = tcp(has_data = false)\n"
                           "instance server = tcp(has_data = true)\n")
    assert [(d.code, d.message.split(":")[0]) for d in errors(text)] == [
        ("TCP301", "no channel client -> server"), ("TCP301", "no channel server -> client")]


@pytest.mark.parametrize("extra, code, message", [
    ("channel client -> server\n", "TCP302", "a second channel client -> server"),
    ("channel client -> client\n", "TCP302", "a channel connects two different endpoints"),
    ("channel client -> sever\n", "TCP201", "unknown instance 'sever' in channel; did you "
                                            "mean 'server'?"),
])
def test_bad_channels(extra, code, message):
    text = model(instances=INSTANCES + extra)
    d = only_error(text)
    assert (d.code, d.message) == (code, message)
    assert d.span.line == text.count("\n", 0, text.index(extra)) + 1


def test_missing_instance_setting():
    text = model(instances=INSTANCES.replace("tcp(has_data = true)", "tcp()"))
    d = only_error(text)
    assert (d.code, d.message) == ("TCP212", "instance 'server' does not set 'has_data'")
    assert where(d) == pos(text, "instance server")
    assert d.notes == ("write tcp(has_data = ...)",)


def test_unknown_instance_setting():
    text = model(instances=INSTANCES.replace("has_data = false", "has_data = false, hasdata = 1"))
    d = only_error(text)
    assert (d.code, d.message) == ("TCP211", "endpoint 'tcp' has no setting 'hasdata'; did you "
                                             "mean 'has_data'?")
    assert where(d) == pos(text, "hasdata")


def test_unknown_endpoint_in_an_instance():
    text = model(instances=INSTANCES.replace("client = tcp", "client = tpc"))
    d = only_error(text)
    assert (d.code, d.message) == ("TCP201", "unknown endpoint 'tpc'; did you mean 'tcp'?")
    assert where(d) == pos(text, "tpc")


# ---------------------------------------------------------------- every error at once


def test_a_file_with_several_independent_errors_reports_all_of_them_in_file_order():
    text = model(
        "    on call clsoe { send FNI }\n"
        "    on recv ACK { stat := CLOSED; arm delak }\n"
        "    on call read when rcvd { }",
        top="param window: 3..1",
        instances=INSTANCES.replace("channel server -> client capacity 2\n", ""))
    diags = errors(text)
    assert [d.code for d in diags] == ["TCP209", "TCP204", "TCP203", "TCP201", "TCP205",
                                       "TCP202", "TCP301"]
    assert [where(d) for d in diags] == sorted(where(d) for d in diags)


def test_an_instance_with_a_bad_setting_is_still_known_to_its_channels():
    text = model(instances=INSTANCES.replace("has_data = false", "has_data = 0"))
    assert [d.code for d in errors(text)] == ["TCP202"]


def test_a_variable_with_a_bad_declaration_is_not_reported_again_at_each_use():
    text = model("    var sent: 0..1 = false\n"
                 "    on call write when sent == 0 { sent := 1 }")
    d = only_error(text)
    assert (d.code, where(d)) == ("TCP202", pos(text, "false"))


def test_a_timer_with_a_bad_range_is_not_reported_again_at_each_use():
    text = model("    timer think 2s..1s\n    on call write after think { arm think }")
    assert [d.code for d in errors(text)] == ["TCP209"]


def test_a_setting_with_a_bad_type_is_not_reported_again_at_each_instance():
    text = model().replace("tcp(has_data: bool)", "tcp(has_data: boolean)")
    d = only_error(text)  # not also "no setting 'has_data'" at both instances
    assert (d.code, d.message) == ("TCP201", "unknown type 'boolean'; did you mean 'bool'?")


def test_structure_errors_are_reported_alongside_type_errors():
    text = model("    on call read { rcvd := true }",
                 instances="instance client = tcp(has_data = false)\n")
    assert [d.code for d in errors(text)] == ["TCP202", "TCP300"]


def test_a_model_is_parsed_once_for_every_configuration_check_loads(tmp_path):
    # `check` loads the model once per spec group, each with its own parameters: the text
    # is parsed and type-checked once, and a changed text is read afresh
    one = tcpcheck.load(DEFAULT_MODEL, ["delayed_ack=true"])
    two = tcpcheck.load(DEFAULT_MODEL, ["delayed_ack=false"])
    assert one.model is two.model and one.fixed != two.fixed
    path = tmp_path / "m.tcpm"
    text = DEFAULT_MODEL.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    first = tcpcheck.load(path).model
    path.write_text(text.replace("timer think 0ms..inf", "timer think 5ms..inf"),
                    encoding="utf-8")
    again = tcpcheck.load(path).model
    assert again is not first and "5ms" in again.text
