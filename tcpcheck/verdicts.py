"""Verdicts and the process exit status: the one place that decides how tcpcheck exits.

A verdict is what a question to the model came to: a property holds or is violated, a capture
is accepted or rejected, or there is no answer yet. The exit status is the contract other
tools (CI jobs, scripts) rely on, and `exit_status` is the only function that turns verdicts
into it; the command-line modules only say which outcome they reached.

This module imports nothing from the package, so every other module may import it.
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum, StrEnum


class Verdict(StrEnum):
    """What one question came to. The values are the words printed in text and JSON output
    (a StrEnum formats as its value, so output is the same as when these were plain strings)."""

    # a property of the model (tcpcheck check, tcpcheck trace)
    HOLDS = "holds"
    VIOLATED = "violated"
    # a property that holds only because the premise of its implication is never met (no
    # complete run satisfies it): a pass, but one that tested nothing, so it says so
    VACUOUS = "holds vacuously"
    # a capture replayed against the model (tcpcheck replay, tcpcheck conform)
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    # either kind of question: a limit stopped the search before it could answer
    INCONCLUSIVE = "inconclusive"
    # a conform scenario that broke before its capture could be replayed, or a property whose
    # own arithmetic failed in a reachable state (a division by zero in a spec): no answer
    ERROR = "error"
    # the model itself failed (a located model error, TCP5xx) where the question led it
    MODEL_ERROR = "model-error"
    # a capture of a directory that could not be read (its TCP6xx diagnostic says why): bad
    # input, reported in its row while the others are replayed
    UNREADABLE = "unreadable"
    # the symbolic engine's bounded model checking found no violation in runs of up to N
    # steps (its message says N): evidence, not a proof, so it is no answer (exit 3)
    BOUNDED = "holds up to depth"


class ExitStatus(IntEnum):
    """The process exit status of every tcpcheck command (the contract; never renumber):

    0  OK            the command did its job and every property holds (vacuously too) /
                     capture is accepted
    1  VIOLATED      a property is violated, a capture or conform scenario is rejected, or the
                     model failed while exploring (a model error: the run that leads there is
                     printed)
    2  BAD_INPUT     the user's input is wrong: a parse or check error, a missing or unreadable
                     file, a bad option; reported as a located diagnostic, never a traceback;
                     also a directory replay where a capture is unreadable and none is rejected
    3  INCONCLUSIVE  no answer: a limit stopped the search (partial result: --max-states,
                     --time-limit, --max-memory, a signal), a joint graph too big for dot
                     to lay out, or the run cannot be done here (conform without root or
                     tcpdump)
    """

    OK = 0
    VIOLATED = 1
    BAD_INPUT = 2
    INCONCLUSIVE = 3


# Verdicts that make a run fail. A conform scenario that broke, or a property whose own
# arithmetic failed (ERROR), counts against the run: something went wrong that a user must
# look at. A vacuous pass is a pass: it is reported, not failed.
FAILING = frozenset({Verdict.VIOLATED, Verdict.REJECTED, Verdict.ERROR, Verdict.MODEL_ERROR})


def exit_status(verdicts: Iterable[Verdict] = (), *, model_error: bool = False,
                partial: bool = False, interrupted: bool = False) -> ExitStatus:
    """The exit status for a run that reached these verdicts.

    `model_error`: the model failed while exploring (a variable left its range); `partial`:
    the search (or a later phase) stopped at a limit before it covered everything. A failure
    outweighs missing answers: a violated property is reported as violated even when another
    is inconclusive, because one counterexample is already a definite answer. Bad input (an
    unreadable capture of a directory) comes next: the user must fix it, whatever else was
    unanswered. `interrupted`: a signal (SIGINT, SIGTERM) stopped the command; the user asked
    it to stop, so whatever it found by then, the command did not finish: inconclusive.
    """
    if interrupted:
        return ExitStatus.INCONCLUSIVE
    seen = set(verdicts)
    if model_error or seen & FAILING:
        return ExitStatus.VIOLATED
    if Verdict.UNREADABLE in seen:
        return ExitStatus.BAD_INPUT
    if partial or Verdict.INCONCLUSIVE in seen or Verdict.BOUNDED in seen:
        return ExitStatus.INCONCLUSIVE
    return ExitStatus.OK
