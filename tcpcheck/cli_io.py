"""What every command shares about input and output: the model used when none is given, JSON
on stdout, bad input reported as located diagnostics (exit 2), drawings written to files, and
the command's deadline, which SIGINT and SIGTERM mark as interrupted.

tcpcheck/cli.py and tcpcheck/cli_conform.py both import it (neither imports the other's
helpers).
"""
from __future__ import annotations

import errno
import json
import math
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import click

from . import DEFAULT_MODEL
from .diagnostics import TcpcheckError, render_all
from .explore import NO_DEADLINE, Deadline
from .verdicts import ExitStatus

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def default_model() -> Path:
    local = Path("models/teardown.tcpm")
    return local if local.exists() else DEFAULT_MODEL


def emit_json(doc: dict) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=False))


# errors of a stdout that cannot take more: a full disk, a quota, a closed pipe
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EPIPE})


def cannot_write_output(err: OSError) -> None:
    """Stdout failed (`tcpcheck explore --json > /dev/full`): the user's environment, said in
    one line with exit 2 rather than a traceback."""
    try:
        # Python flushes stdout again at exit, which would fail again: point it elsewhere
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (lives until exit)
    except OSError:
        pass
    click.echo(f"tcpcheck: cannot write the output: {err.strerror or err}", err=True)
    sys.exit(ExitStatus.BAD_INPUT)


def fail_input(err: TcpcheckError, as_json: bool) -> None:
    """Print the diagnostics with their source lines (and as JSON when asked); exit 2."""
    sources = {}
    for d in err.diagnostics:
        if d.span is not None and d.span.file not in sources:
            try:
                sources[d.span.file] = Path(d.span.file).read_text(encoding="utf-8")
            except OSError:
                pass
    click.echo(render_all(err.diagnostics, sources), err=True)
    if as_json:
        emit_json({"error": "bad input", "diagnostics": [d.as_json() for d in err.diagnostics]})
    sys.exit(ExitStatus.BAD_INPUT)


def save_drawing(source: str, path: Path, deadline: Deadline = NO_DEADLINE):
    """Write a drawing; a path that cannot be written is bad input (exit 2), not a crash.
    `dot` runs under the command's deadline (LimitReached when it passes: the caller says
    what was done; tcpcheck.cli stops a command that does not)."""
    from .render import write_drawing  # deferred: render loads graphviz and networkx

    try:
        return write_drawing(source, path, deadline)
    except OSError as err:
        click.echo(f"tcpcheck: cannot write {path}: {err.strerror or err}", err=True)
        sys.exit(ExitStatus.BAD_INPUT)


# ---------------------------------------------------------------- limits, deadlines and signals

MAX_STATE_LIMIT = 2**31 - 1  # state ids are 32-bit entries of the explorer's arrays
MAX_TIME_LIMIT = 10_000_000  # seconds (about 16 weeks): beyond it --time-limit is a typing mistake
# megabytes: below 1 nothing runs at all (Python alone takes 10); above 16 TB, a typing mistake
MIN_MEMORY_LIMIT, MAX_MEMORY_LIMIT = 1, 16_000_000


class _Bounded(click.ParamType):
    """A finite number above 0 and at most `most` (click's FloatRange lets nan and inf
    through, and a limit of nan used to be ignored)."""

    name = "number"
    what = "limit"
    unit = ""
    least = 0.0
    most = math.inf

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of {self.unit}", param, ctx)
        if not (math.isfinite(number) and number > 0 and self.least <= number <= self.most):
            lowest = "above 0" if not self.least else f"from {self.least:,g}"
            self.fail(f"{value!r} is not a {self.what}: give {self.unit} {lowest} and at most "
                      f"{self.most:,}", param, ctx)
        return number


class Seconds(_Bounded):
    """--time-limit: seconds."""

    name = "seconds"
    what = "time limit"
    unit = "seconds"
    most = MAX_TIME_LIMIT


class Megabytes(_Bounded):
    """--max-memory: decimal megabytes of resident memory."""

    name = "megabytes"
    what = "memory limit"
    unit = "megabytes"
    least = MIN_MEMORY_LIMIT
    most = MAX_MEMORY_LIMIT


def memory_option(f):
    """--max-memory MB, the same on every command that explores, replays or draws."""
    return click.option(
        "--max-memory", type=Megabytes(), default=None, metavar="MB",
        help="Stop the whole command when its resident memory reaches this many megabytes "
             "(10^6 bytes; partial result, exit 3).")(f)


def time_limit_option(help_text: str = "Stop the whole command after this many seconds "
                                       "(partial result, exit 3)."):
    """--time-limit SECONDS: the command's deadline (command_deadline), on every command."""
    return click.option("--time-limit", type=Seconds(), default=None, metavar="SECONDS",
                        help=help_text)


def max_states_option(help_text: str = "Stop after this many states (the result is then "
                                       "partial, exit 3)."):
    """--max-states N: the bound of a command's search (its states, or replay's (state,
    segment) pairs), from 1 to what the explorer's arrays can number."""
    return click.option("--max-states", type=click.IntRange(min=1, max=MAX_STATE_LIMIT),
                        default=None, metavar="N", help=help_text)



class Interrupted(Exception):
    """A signal the command cannot take in its stride: it came before the command had a
    deadline to mark (loading, replay, conform), or it is the second one. The command stops
    where it is; tcpcheck.cli reports it (exit 3)."""


_RUNNING: list[Deadline] = []   # the running command's deadline, once it has made one


def command_deadline(time_limit: float | None, max_memory: float | None = None) -> Deadline:
    """The deadline of the command now running, from --time-limit and --max-memory: every
    phase polls it, and the first SIGINT or SIGTERM marks it (the phases then stop with what
    they have)."""
    deadline = Deadline(time_limit, max_memory)
    _RUNNING[:] = [deadline]
    return deadline


def _on_signal(signum, _frame) -> None:
    name = signal.Signals(signum).name
    if not _RUNNING or _RUNNING[0].signal is not None:
        raise Interrupted(name)
    _RUNNING[0].interrupt(name)


@contextmanager
def stop_on_signals():
    """While a command runs: SIGINT and SIGTERM stop it cleanly (see command_deadline and
    Interrupted) instead of click's "Aborted!" (exit 1) or a silent death (exit 143)."""
    if threading.current_thread() is not threading.main_thread():
        yield                       # only the main thread may set handlers (tests' runners)
        return
    previous = {sig: signal.signal(sig, _on_signal) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _RUNNING.clear()
