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
    assert [str(v) for v in Verdict] == ["holds", "violated", "accepted", "rejected",
                                         "inconclusive", "error"]
    assert f"{Verdict.HOLDS}: ok" == "holds: ok"


@pytest.mark.parametrize("verdicts, model_error, partial, expected", [
    ((), False, False, ExitStatus.OK),                       # explore, complete
    ((), False, True, ExitStatus.INCONCLUSIVE),              # explore, stopped at a limit
    ((), True, False, ExitStatus.VIOLATED),                  # simulate: the model failed
    ((), True, True, ExitStatus.VIOLATED),                   # a model error stops the search
    ((Verdict.HOLDS, Verdict.HOLDS), False, False, ExitStatus.OK),
    ((Verdict.HOLDS, Verdict.VIOLATED), False, False, ExitStatus.VIOLATED),
    ((Verdict.HOLDS, Verdict.INCONCLUSIVE), False, False, ExitStatus.INCONCLUSIVE),
    ((Verdict.INCONCLUSIVE, Verdict.VIOLATED), False, False, ExitStatus.VIOLATED),
    ((Verdict.INCONCLUSIVE,), True, False, ExitStatus.VIOLATED),   # check after a model error
    ((Verdict.ACCEPTED,), False, False, ExitStatus.OK),      # replay
    ((Verdict.ACCEPTED, Verdict.REJECTED), False, False, ExitStatus.VIOLATED),
    ((Verdict.ACCEPTED, Verdict.INCONCLUSIVE), False, False, ExitStatus.INCONCLUSIVE),
    ((Verdict.ERROR,), False, False, ExitStatus.VIOLATED),   # a conform scenario broke
])
def test_exit_status_of_each_command_outcome(verdicts, model_error, partial, expected):
    assert exit_status(verdicts, model_error=model_error, partial=partial) is expected


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_exit_status_of_every_combination(n):
    """Every multiset of n verdicts, with and without a model error and a limit: a failure
    outweighs no answer, which outweighs success; the order of the verdicts does not matter."""
    failing = {Verdict.VIOLATED, Verdict.REJECTED, Verdict.ERROR}
    for verdicts in itertools.combinations_with_replacement(list(Verdict), n):
        for model_error, partial in itertools.product((False, True), repeat=2):
            got = exit_status(verdicts, model_error=model_error, partial=partial)
            assert got == exit_status(reversed(verdicts), model_error=model_error,
                                      partial=partial)
            if model_error or failing & set(verdicts):
                assert got is ExitStatus.VIOLATED, (verdicts, model_error, partial)
            elif partial or Verdict.INCONCLUSIVE in verdicts:
                assert got is ExitStatus.INCONCLUSIVE, (verdicts, model_error, partial)
            else:
                assert set(verdicts) <= {Verdict.HOLDS, Verdict.ACCEPTED}
                assert got is ExitStatus.OK, (verdicts, model_error, partial)


def test_exit_status_takes_a_generator():
    # callers pass `(v.verdict for v in ...)`: it must be read once, all of it
    assert exit_status(v for v in (Verdict.HOLDS, Verdict.VIOLATED)) is ExitStatus.VIOLATED
