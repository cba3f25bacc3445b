"""TCP500 for a variable is reported at the assignment that left the range (the last one on
the path the step took), not at the variable's declaration, and with the run that reaches it."""
from tcpcheck.compile import compile_model
from tcpcheck.explore import explore
from tcpcheck.parse import parse_text
from tcpcheck.typecheck import check as check_model

from conftest import FIXTURES, run_tcpcheck

BRANCHES = """\
model branches
endpoint counter() {
    var n: 0..3 = 0
    var wide: bool = false
    on internal widen when not wide {
        wide := true
    }
    on internal tick {
        if wide {
            n := n + 2
        } else {
            n := n + 1
        }
    }
}
endpoint idle() {
}
instance client = counter()
instance server = idle()
channel client -> server capacity 1
channel server -> client capacity 1
"""


def _error(text: str):
    ts = compile_model(check_model(parse_text(text, "branches.tcpm")))
    result = explore(ts)
    assert result.error is not None, "the model leaves its range: exploring must say so"
    return result.error


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_error_points_at_the_assignment_on_the_path_taken():
    err = _error(BRANCHES)
    assert err.code == "TCP500"
    # breadth-first, the first state past 3 comes from the `n + 2` branch (n=2 after one
    # widen and one tick of two, before three ticks of one)
    assert err.span.line == _line_of(BRANCHES, "n := n + 2")
    assert err.span.line != _line_of(BRANCHES, "var n")


def test_without_the_wide_branch_the_other_assignment_is_named():
    text = BRANCHES.replace("n := n + 2", "n := n + 0")
    err = _error(text)
    assert err.code == "TCP500"
    assert err.span.line == _line_of(text, "n := n + 1")


def test_the_command_line_shows_the_assignment_and_the_run():
    model = FIXTURES / "models" / "overflow.tcpm"
    line = _line_of(model.read_text(), "n := n + 1")
    r = run_tcpcheck("explore", str(model), "--no-timing")
    assert f"overflow.tcpm:{line}:9: error[TCP500]" in r.stderr
    assert "reached by the run" in r.stderr and "jump" in r.stderr
