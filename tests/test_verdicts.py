"""The exit-status contract: the numbers, the one function that decides them, and that no other
module of tcpcheck decides an exit status with a number of its own."""
from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from tcpcheck.verdicts import ExitStatus, Verdict, exit_status

PACKAGE = Path(__file__).resolve().parent.parent / "tcpcheck"


def test_the_statuses_are_the_documented_numbers():
    # scripts and CI jobs test these numbers: renumbering breaks them
    assert {s.name: int(s) for s in ExitStatus} == {
        "OK": 0, "VIOLATED": 1, "BAD_INPUT": 2, "INCONCLUSIVE": 3}


def test_verdicts_print_as_the_words_of_the_output():
    # text and JSON output show these words; the enum must not change them
    assert [str(v) for v in Verdict] == ["holds", "violated", "holds vacuously",
                                         "accepted", "rejected",
                                         "inconclusive", "error", "model-error", "unreadable",
                                         "holds up to depth"]
    assert f"{Verdict.HOLDS}: ok" == "holds: ok"


@pytest.mark.parametrize("verdicts, model_error, partial, expected", [
    ((), False, False, ExitStatus.OK),                       # explore, complete
    ((), False, True, ExitStatus.INCONCLUSIVE),              # explore, stopped at a limit
    ((), True, False, ExitStatus.VIOLATED),                  # simulate: the model failed
    ((), True, True, ExitStatus.VIOLATED),                   # a model error stops the search
    ((Verdict.HOLDS, Verdict.HOLDS), False, False, ExitStatus.OK),
    ((Verdict.HOLDS, Verdict.VACUOUS), False, False, ExitStatus.OK),   # a pass, reported
    ((Verdict.VACUOUS, Verdict.ERROR), False, False, ExitStatus.VIOLATED),
    ((Verdict.HOLDS, Verdict.VIOLATED), False, False, ExitStatus.VIOLATED),
    ((Verdict.HOLDS, Verdict.INCONCLUSIVE), False, False, ExitStatus.INCONCLUSIVE),
    ((Verdict.INCONCLUSIVE, Verdict.VIOLATED), False, False, ExitStatus.VIOLATED),
    ((Verdict.INCONCLUSIVE,), True, False, ExitStatus.VIOLATED),   # check after a model error
    ((Verdict.ACCEPTED,), False, False, ExitStatus.OK),      # replay
    ((Verdict.ACCEPTED, Verdict.REJECTED), False, False, ExitStatus.VIOLATED),
    ((Verdict.ACCEPTED, Verdict.INCONCLUSIVE), False, False, ExitStatus.INCONCLUSIVE),
    ((Verdict.ERROR,), False, False, ExitStatus.VIOLATED),   # a conform scenario broke
    ((Verdict.MODEL_ERROR,), False, False, ExitStatus.VIOLATED),   # replay: the model failed
    # check --engine symbolic: no violation up to the depth is no proof
    ((Verdict.HOLDS, Verdict.BOUNDED), False, False, ExitStatus.INCONCLUSIVE),
    ((Verdict.BOUNDED, Verdict.VIOLATED), False, False, ExitStatus.VIOLATED),
    # replay of a directory with a capture that cannot be read
    ((Verdict.ACCEPTED, Verdict.UNREADABLE), False, False, ExitStatus.BAD_INPUT),
    ((Verdict.UNREADABLE, Verdict.REJECTED), False, False, ExitStatus.VIOLATED),
    ((Verdict.UNREADABLE, Verdict.INCONCLUSIVE), False, False, ExitStatus.BAD_INPUT),
])
def test_exit_status_of_each_command_outcome(verdicts, model_error, partial, expected):
    assert exit_status(verdicts, model_error=model_error, partial=partial) is expected


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_exit_status_of_every_combination(n):
    """Every multiset of n verdicts, with and without a model error and a limit: a failure
    outweighs bad input, which outweighs no answer, which outweighs success; the order of the
    verdicts does not matter."""
    failing = {Verdict.VIOLATED, Verdict.REJECTED, Verdict.ERROR, Verdict.MODEL_ERROR}
    for verdicts in itertools.combinations_with_replacement(list(Verdict), n):
        for model_error, partial in itertools.product((False, True), repeat=2):
            got = exit_status(verdicts, model_error=model_error, partial=partial)
            assert got == exit_status(reversed(verdicts), model_error=model_error,
                                      partial=partial)
            if model_error or failing & set(verdicts):
                assert got is ExitStatus.VIOLATED, (verdicts, model_error, partial)
            elif Verdict.UNREADABLE in verdicts:
                assert got is ExitStatus.BAD_INPUT, (verdicts, model_error, partial)
            elif partial or Verdict.INCONCLUSIVE in verdicts or Verdict.BOUNDED in verdicts:
                assert got is ExitStatus.INCONCLUSIVE, (verdicts, model_error, partial)
            else:
                assert set(verdicts) <= {Verdict.HOLDS, Verdict.VACUOUS, Verdict.ACCEPTED}
                assert got is ExitStatus.OK, (verdicts, model_error, partial)


def test_exit_status_takes_a_generator():
    # callers pass `(v.verdict for v in ...)`: it must be read once, all of it
    assert exit_status(v for v in (Verdict.HOLDS, Verdict.VIOLATED)) is ExitStatus.VIOLATED


# ---------------------------------------------------------------- who decides an exit status

# Calls that end the process with the status given as their first argument.
EXIT_CALLS = {"sys.exit", "os._exit", "exit", "quit", "ctx.exit", "SystemExit", "click.Exit",
              "Exit"}
# A forked conform scenario child reports to its parent, which reads the capture, not the
# status: its os._exit never becomes tcpcheck's.
FORKED_CHILDREN = {("conform.py", "_in_forked_child")}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _exits_with_a_number(tree: ast.Module) -> list[tuple[str, int, str]]:
    """(function, line, call) of every exit call whose status is an int literal."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Call) and _dotted(child.func) in EXIT_CALLS:
                arg = child.args[0] if child.args else None
                if arg is None or (isinstance(arg, ast.Constant) and isinstance(arg.value, int)):
                    found.append((function, child.lineno, ast.unparse(child)))
            visit(child, function)
    visit(tree, "<module>")
    return found


def _exit_numbers_by_name(tree: ast.Module) -> list[tuple[int, str]]:
    """Other ways to write a status as a number: a constant named EXIT_... (EXIT_OK = 0), or a
    function named for the exit (exit_code) that returns an int literal."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            names = [_dotted(n) for t in node.targets
                     for n in (t.elts if isinstance(t, ast.Tuple) else [t])]
            if any(n.upper().startswith("EXIT_") for n in names):
                found.append((node.lineno, ast.unparse(node)))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "exit" in node.name:
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Constant) \
                        and isinstance(ret.value.value, int):
                    found.append((ret.lineno, f"{node.name}: {ast.unparse(ret)}"))
    return sorted(found)


def test_exit_calls_are_found():
    # the scanner itself: it must see each form, or the test below proves nothing
    tree = ast.parse("import sys, os\nsys.exit(1)\ndef f(ctx):\n    ctx.exit(2)\n"
                     "    raise SystemExit(3)\nos._exit(0)\nsys.exit()\n"
                     "sys.exit(ExitStatus.OK)\n")
    assert [(f, line) for f, line, _ in _exits_with_a_number(tree)] == [
        ("<module>", 2), ("f", 4), ("f", 5), ("<module>", 6), ("<module>", 7)]


def test_exit_numbers_by_name_are_found():
    tree = ast.parse("EXIT_OK, EXIT_BAD = 0, 2\ndef exit_code(r):\n    if r:\n        return 1\n"
                     "    return 0\ndef exit_for(r):\n    return ExitStatus.OK\n")
    assert [line for line, _ in _exit_numbers_by_name(tree)] == [1, 4, 5]


def test_no_module_but_verdicts_exits_with_a_number():
    """Every exit status comes from tcpcheck.verdicts (ExitStatus or exit_status): a number
    written anywhere else would be a second place deciding the contract."""
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "verdicts.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for function, line, call in _exits_with_a_number(tree):
            if (path.name, function) not in FORKED_CHILDREN:
                offenders.append(f"{path.name}:{line} in {function}: {call}")
        offenders += [f"{path.name}:{line}: {text}" for line, text in _exit_numbers_by_name(tree)]
    assert offenders == []


def test_the_command_line_modules_exit_only_through_verdicts():
    """The command-line modules name their status; they never compute one from numbers
    (`1 if ... else 3`) or from EXIT_ constants of their own."""
    seen, offenders = 0, []
    for name in ("cli.py", "cli_conform.py", "cli_report.py", "__main__.py"):
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _dotted(node.func) in EXIT_CALLS):
                continue
            seen += 1
            inside = list(ast.walk(node.args[0]))
            if any(isinstance(n, ast.Constant) and isinstance(n.value, int) for n in inside) \
                    or any(_dotted(n).startswith("EXIT_") for n in inside
                           if isinstance(n, (ast.Name, ast.Attribute))):
                offenders.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert seen >= 15, "the command-line modules exit in many places: the scan missed them"
    assert offenders == []
