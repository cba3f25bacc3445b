"""The `replay` and `conform` commands: the model against the real kernel.

Registered on the main group by `register(main)` (one line at the end of tcpcheck/cli.py).
Exit status as everywhere: 0 accepted / conforms, 1 rejected / a scenario disagrees with the
model, 2 bad input (a corrupt capture, a missing file), 3 cannot tell (no capture privileges).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import click

from .cli_io import (command_deadline, default_model, emit_json, fail_input, max_states_option,
                     memory_option, save_drawing, time_limit_option)
from .diagnostics import Diagnostic, TcpcheckError, render
from .explore import NO_DEADLINE, Deadline, LimitReached, StopReason
from .trace import model_error_diagnostic
from .verdicts import ExitStatus, Verdict, exit_status
from .workers import WorkerLost, default_jobs, in_order

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".json", ".pkt")


def _split_args(args: tuple[str, ...]) -> tuple[Path | None, Path]:
    if len(args) == 1:
        return default_model(), Path(args[0])
    if len(args) == 2:
        return Path(args[0]), Path(args[1])
    raise click.UsageError("give a CAPTURE (file or directory), optionally after a MODEL")


# ------------------------------------------------------------------ replay

def _draw(r, output: Path) -> str | None:
    from .replay_report import replay_dot   # deferred: ladders pull in graphviz and networkx

    source = replay_dot(r)
    if source is None:
        return None
    written = save_drawing(source, output)
    if written.message:
        click.echo(f"tcpcheck: {written.message}", err=True)
    return str(written.image_path or written.dot_path)


def _memory_bound(max_memory: float | None) -> Deadline:
    """The --max-memory bound of conform. Not the command deadline of the model commands: a
    signal still stops conform at once (it cannot stop part way)."""
    return NO_DEADLINE if max_memory is None else Deadline(None, max_memory)


def _stopped_at(stop: LimitReached, what: str) -> None:
    """A conform cut short by --max-memory answers nothing: one line, exit 3."""
    click.echo(f"tcpcheck: {what} stopped ({stop.reason}) before it could answer: no answer",
               err=True)
    sys.exit(ExitStatus.INCONCLUSIVE)


def _read_one(path: Path, conn: str | None, from_close: bool, poll=None):
    """A capture (pcap, pcapng, JSON trace) or a packetdrill script (.pkt), read whole;
    `poll` (the command's Deadline.check) may stop a long read with LimitReached."""
    from .capture import read_capture       # deferred: see replay_cmd
    from .packetdrill import read_script

    if path.suffix.lower() == ".pkt":
        return read_script(path)
    return read_capture(path, conn, from_close, poll)


def _read_each(files: list[Path], conn: str | None, from_close: bool) -> list:
    """Read every capture of a directory. One bad capture never aborts the others: it
    becomes an `Unreadable` row with its diagnostics (verdict "unreadable")."""
    from .replay_report import Unreadable   # deferred: see replay_cmd

    out = []
    for path in files:
        try:
            out.append(_read_one(path, conn, from_close))
        except TcpcheckError as err:
            out.append(Unreadable(str(path), tuple(err.diagnostics)))
    return out


def _captured(item):
    """The captured segments of what was read (a script's are its packets), or None."""
    from .capture import Capture            # deferred: see replay_cmd

    if isinstance(item, Capture):
        return item
    return getattr(item, "capture", None)


@dataclass(frozen=True)
class ReplayLimits:
    """What every replay of one command is held to: the network's delay (--delay; None: the
    capture's own path), the command's deadline (--time-limit, --max-memory, a signal) and the
    (state, segment) pairs each capture's search may keep (--max-states; None: the default)."""
    delay: tuple[float, float] | None = None
    deadline: Deadline = NO_DEADLINE
    max_nodes: int | None = None


def replay_one(ts, item, side: str | None, prefix: bool, limits: ReplayLimits):
    """Replay what was read: two-sided, or one-sided with `side`; a packetdrill script is
    always one-sided, as the endpoint it describes. Each under the same delay and limits: a
    limit makes the verdict inconclusive, its stop_reason saying which."""
    from .capture import Capture            # deferred: see replay_cmd
    from .oneside import replay_side, script_params
    from .replay import replay

    bounds = {"delay": limits.delay, "deadline": limits.deadline,
              "max_nodes": limits.max_nodes}
    if not isinstance(item, Capture):       # a packetdrill script
        if side is not None and side != item.side:
            raise TcpcheckError([Diagnostic(
                "TCP622", f"--side {side}, but {item.capture.source} describes the {item.side}: "
                "a packetdrill script tests its local endpoint", None)])
        return replay_side(ts, item.capture, item.side, prefix=prefix, calls=item.calls,
                           app_calls=item.app_calls,
                           fixed=script_params(ts, item.settings, item.side), **bounds)
    if side is not None:
        return replay_side(ts, item, side, prefix=prefix, **bounds)
    return replay(ts, item, prefix=prefix, **bounds)


def _command_stop(r) -> StopReason | None:
    """The command's deadline, when it is what stopped this replay (its time, its memory, a
    signal): the replays after it cannot run. A capture's own bound (max-states) is not."""
    reason = getattr(r, "stop_reason", None)
    return None if reason in (None, StopReason.MAX_STATES) else reason


def _replay_row(ts, item, side: str | None, prefix: bool, limits: ReplayLimits):
    """One capture's row of a directory: its replay, Unreadable when the model refuses it
    (a packetdrill script of the other side), or the reason a limit stopped it."""
    from .replay_report import Unreadable   # deferred: see replay_cmd

    if isinstance(item, Unreadable):
        return item
    try:
        return replay_one(ts, item, side, prefix, limits)
    except TcpcheckError as err:
        return Unreadable(_captured(item).source, tuple(err.diagnostics))
    except LimitReached as limit:
        return limit.reason


def _rows_sent_back(ts, items: list, side: str | None, prefix: bool, limits: ReplayLimits,
                    jobs: int):
    """_replay_row of every item, made by `jobs` forked workers (tcpcheck.workers), in order.
    A row comes back without the transition system and the run's states (they do not pickle,
    and the directory's report reads neither); one where the model failed is replayed here
    again, whole (its error shows the run). None: the deadline passed before it came back."""
    from .replay import Replay              # deferred: see replay_cmd

    def slim(k: int):
        r = _replay_row(ts, items[k], side, prefix, limits)
        if not isinstance(r, Replay):
            return r
        return None if r.error is not None else replace(r, system=None, view=None)

    for k, r in enumerate(in_order(slim, len(items), jobs, limits.deadline)):
        if r is None and not limits.deadline.expired():
            r = _replay_row(ts, items[k], side, prefix, limits)
        yield replace(r, system=ts) if isinstance(r, Replay) else r


def _replay_each(ts, items: list, prefix: bool, progress: bool, limits: ReplayLimits,
                 side: str | None = None, jobs: int = 1) -> tuple[list, StopReason | None]:
    """Replay every capture read from a directory, `jobs` at once; an unreadable one stays
    its row, and so does one whose search met its bound (inconclusive, max-states). The
    command's deadline stops it between captures or inside one (that row inconclusive): (the
    rows done, why it stopped or None)."""
    results = []
    stop = None
    deadline = limits.deadline
    rows = (_rows_sent_back(ts, items, side, prefix, limits, jobs) if jobs > 1 else
            (_replay_row(ts, item, side, prefix, limits) for item in items))
    for k, item in enumerate(items, start=1):
        if deadline.expired():
            stop = deadline.reason
            break
        captured = _captured(item)
        if progress and captured is not None:   # a directory can take a while: say where
            name = Path(captured.source).name    # it is, on one terminal line
            click.echo(f"\rreplaying {k}/{len(items)}: {name}\x1b[K", err=True, nl=False)
        row = next(rows)
        if row is None or isinstance(row, StopReason):
            stop = deadline.reason if row is None else row
            break
        results.append(row)
        stop = _command_stop(results[-1])
        if stop is not None:
            break
    if progress:
        click.echo("\r\x1b[K", err=True, nl=False)
    return results, stop


def _audit(model, target, params, side, prefix, every, draw, conn, output, from_close,
           limits: ReplayLimits, as_json) -> None:
    """replay --all (tcpcheck/cli_audit.py): refuses the options of a single replay."""
    for given, name in ((not every, "--draw needs --all"), (conn, "--all takes every "
                        "connection: leave out --conn"), (output, "--all draws with --draw DIR, "
                        "not -o"), (from_close, "--all replays whole connections: leave out "
                        "--from-close")):
        if given:
            raise click.UsageError(name)
    from .cli_audit import audit_command    # deferred: only --all audits a whole capture

    audit_command(model, target, params, side, prefix, draw, limits, as_json)


def register(main: click.Group) -> None:
    """Add `replay` and `conform` to the tcpcheck command group."""
    main.add_command(replay_cmd)
    main.add_command(conform_cmd)


@click.command(name="replay")
@click.argument("args", nargs=-1, metavar="[MODEL] CAPTURE")
@click.option("--conn", default=None, metavar="N|PORT|A:P-B:P",
              help="Which TCP connection of the capture to replay (default: the first that "
                   "closes).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Fix a parameter (repeatable); every other one is tried with every value.")
@click.option("--from-close", is_flag=True,
              help="Replay only the teardown: set aside the segments before the first FIN or "
                   "RST (a request and its response) and count sequence numbers from there.")
@click.option("--prefix", is_flag=True,
              help="Accept a capture that stops before the close is over (a prefix of a run).")
@click.option("--delay", "delay_text", default=None, metavar="LO..HI",
              help="The network's delay each way (e.g. 0ms..200ms) instead of the one the "
                   "capture's handshake gives (or the model's, without a handshake).")
@click.option("--side", type=click.Choice(["client", "server"]), default=None,
              help="Judge only this endpoint against the model; the other is taken as given "
                   "(any stack: its segments arrive as captured).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Draw the matching (or the nearest) run as a ladder: .svg, .png, .pdf, .dot.")
@click.option("--all", "every", is_flag=True,
              help="Every TCP connection of the capture: a summary, then a row each (kind of "
                   "close, verdict, why not); the file is read as a stream.")
@click.option("--draw", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="With --all: draw each rejected connection's ladder in DIR.")
@max_states_option("Stop the search of a capture after this many (state, segments matched) "
                   "pairs (default 2,000,000): its verdict is then inconclusive, exit 3; a "
                   "directory goes on with the next capture.")
@time_limit_option("Stop the whole command after this many seconds: the capture being "
                   "replayed is inconclusive, those not reached are listed, exit 3.")
@memory_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout "
              "(with --all: JSON lines, a connection each, then the summary).")
@click.option("--no-cache", is_flag=True,
              help="Compile the model again instead of reading it from ~/.cache/tcpcheck, "
                   "and keep nothing there.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="A directory: replay N captures at once, in N processes (default: every "
                   "core); the output is the same as with --jobs 1.")
def replay_cmd(args, conn, params, from_close, prefix, delay_text, side, output, every, draw,
               max_states, time_limit, max_memory, as_json, no_cache, jobs):
    """Is a packet capture a run of the model? Replay CAPTURE against MODEL.

    CAPTURE is a pcap or pcapng file (tcpdump -w, tshark) or a JSON trace (as `tcpcheck trace
    --json` prints it). One TCP connection is taken (--conn chooses), the handshake skipped,
    sequence numbers made relative, and each segment read as the model's: FIN, FIN+ACK (a FIN
    that also acknowledges the peer's FIN), ACK, DATA (one unit each), RST, with `ack`
    counting the peer's units. Window updates, duplicate ACKs, keep-alives,
    retransmissions, PSH and TCP options are set aside and listed. Then every parameter
    combination of MODEL is searched for a run that sends exactly these segments in this
    order; receives, application calls and timer expiries are inferred.

    With --side client|server only that endpoint is judged: the peer (Windows, a BSD, a
    middlebox) is an environment that sends exactly what the capture shows, when it shows it,
    and the tested endpoint must answer as the model does. A packetdrill script (.pkt: system
    calls with their results, packets in `<` and out `>`) is replayed that way, as the
    endpoint it describes: its outbound packets and its calls' results must be the model's.

    A directory replays every capture in it: one row each, and which transitions of the model
    the captures exercised. A capture that cannot be read gets a row that says why (verdict
    "unreadable") and the others are replayed all the same.

    \b
    Examples:
      tcpcheck replay tests/captures/three_way.pcap
      tcpcheck replay models/teardown.tcpm close.pcapng -o out/close.svg
      tcpcheck replay tests/captures/ --json
      tcpcheck replay --from-close http.pcap     # only the close of a longer exchange
      tcpcheck replay --side server linux_vs_bsd.pcap
      tcpcheck replay tests/pkt/four_way_close.pkt
      tcpcheck replay --all morning.pcap       # every connection: summary, then a row each

    The run must also fit the capture's own timestamps within the model's timer ranges (z3):
    a three-way close whose FIN+ACK came later than any delayed-ACK timeout is rejected, with
    the constraints that clash. The network's delay is the capture's own: when the handshake's
    round trip needs more than the model's channels allow, they take up to half again that
    round trip (said in a note). A segment more than one call or cause could have sent (a FIN
    from close() or shutdown(SHUT_WR)) is reported with all of them.

    Exit status: 0 accepted, 1 rejected, 2 bad input (unreadable or corrupt capture; for a
    directory: one is unreadable and none is rejected), 3 inconclusive: the segments fit but
    no run tried fits their times, or a limit stopped the search (--max-states,
    --time-limit, --max-memory, a signal; a directory stopped by a time or memory limit
    still exits 1 when a capture it replayed was rejected).
    """
    from .render import FORMATS  # deferred: render loads graphviz and networkx

    if no_cache:
        os.environ["TCPCHECK_NO_CACHE"] = "1"  # read by tcpcheck.modelcache
    model, target = _split_args(args)
    if output is not None and output.suffix.lstrip(".").lower() not in FORMATS:
        raise click.BadParameter(f"'{output}' must end in one of " +
                                 ", ".join("." + f for f in FORMATS), param_hint="-o/--output")
    # deferred: ladders pull in graphviz and networkx, which `tcpcheck --help` need not load
    from .replay_report import directory_json, directory_lines, replay_json, replay_lines
    # deferred: only replay and conform read captures; the model commands start without them
    from .replay import load_open, parse_delay

    delay = None
    if delay_text is not None:
        try:
            delay = parse_delay(delay_text)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--delay") from None

    # SIGINT, SIGTERM, --time-limit, --max-memory: stop with what was replayed
    limits = ReplayLimits(delay, command_deadline(time_limit, max_memory), max_states)
    if every or draw is not None:
        _audit(model, target, list(params), side, prefix, every, draw, conn, output,
               from_close, limits, as_json)
    ts = None   # the model: loaded once the captures are read
    try:
        if target.is_dir():
            files = sorted(p for p in target.iterdir()
                           if p.is_file() and p.suffix.lower() in CAPTURE_SUFFIXES)
            if not files:
                raise TcpcheckError([Diagnostic("TCP600", f"{target} holds no capture "
                                                f"({', '.join(CAPTURE_SUFFIXES)})")])
            captures = _read_each(files, conn, from_close)
        else:
            captures = [_read_one(target, conn, from_close, limits.deadline.check)]
        # the channels hold as many segments as the captures had in flight at once
        ts = load_open(model, list(params),
                       [c for c in map(_captured, captures) if c is not None])
        if not target.is_dir():
            single = replay_one(ts, captures[0], side, prefix, limits)
    except TcpcheckError as err:
        fail_input(err, as_json)
    except LimitReached as limit:
        doing = "reading" if ts is None else "searching the runs of"
        click.echo(f"tcpcheck: replay stopped ({limit.reason}) while {doing} "
                   f"{target}: no verdict", err=True)
        sys.exit(ExitStatus.INCONCLUSIVE)   # no verdict: stopped part way
    stop = None
    if target.is_dir():
        try:
            results, stop = _replay_each(
                ts, captures, prefix,
                progress=len(files) > 1 and not as_json and sys.stderr.isatty(),
                limits=limits, side=side, jobs=jobs or default_jobs())
        except WorkerLost as err:
            click.echo(f"tcpcheck: a worker process died: {err}; try --jobs 1", err=True)
            sys.exit(ExitStatus.INCONCLUSIVE)
        if as_json:
            emit_json(directory_json(ts, results))
        else:
            click.echo("\n".join(directory_lines(ts, results)))
        if stop is not None:
            left = [p.name for p in files[len(results):]]
            click.echo(f"tcpcheck: replay stopped ({stop}) after {len(results)} of {len(files)} "
                       "captures; not replayed: " + (", ".join(left) or "none"), err=True)
    else:
        results = [single]
        r = results[0]
        stop = _command_stop(r)
        drawn = _draw(r, output) if output is not None else None
        if as_json:
            doc = replay_json(r)
            doc["drawn"] = drawn
            emit_json(doc)
        else:
            click.echo("\n".join(replay_lines(r)))
            if drawn:
                click.echo(f"drawn: {drawn}")
        if r.error is not None:
            diag, _ = model_error_diagnostic(r.error, r.view, r.run)
            click.echo(render(diag, {ts.model.path: ts.model.text}), err=True)
        if stop is not None:
            click.echo(f"tcpcheck: replay stopped ({stop}) while searching the runs of "
                       f"{target}: inconclusive", err=True)
    # a signal: the user asked to stop, whatever was found (3); a time or memory limit: the
    # rows replayed stand (a rejected one is an answer), the rest is inconclusive
    sys.exit(exit_status((r.verdict for r in results), partial=stop is not None,
                         interrupted=stop is StopReason.INTERRUPTED))


# ------------------------------------------------------------------ conform

@click.command(name="conform")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run every scenario this many times and report how stable it is.")
@click.option("--scenario", "only", multiple=True, metavar="NAME",
              help="Run only this scenario (repeatable); --list shows the names.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep every capture in this directory (NAME-RUN.pcap).")
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="Replay against this model instead of models/teardown.tcpm.")
@click.option("--from-close", is_flag=True,
              help="Replay each capture from its first FIN or RST on (as replay --from-close): "
                   "for scenarios whose data phase is longer than the model writes.")
@click.option("--pending", is_flag=True,
              help="Also run the scenarios the model does not pass yet (--list marks them, "
                   "with why); a scenario named with --scenario always runs.")
@click.option("--together", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE.pcap",
              help="Run the scenarios all at once (a port each) into this one capture, and "
                   "list its connections; audit it with `tcpcheck replay FILE.pcap --all`.")
@memory_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def conform_cmd(repeat, only, list_only, keep, model, from_close, pending, together, max_memory,
                as_json):
    """Run DOMAIN.md's teardown scenarios on real sockets and replay each capture.

    Every scenario runs a client and a server over loopback (separate processes where it
    needs them: a fork-shared socket, a killed process) while tcpdump captures on `lo`, then
    replays the capture against the default model with the scenario's parameters fixed. The
    table shows the segments seen (`C:FA S:A S:FA C:A`: side, then F FIN, R RST, A ACK, D data),
    the model's verdict, the kind of close observed and the kinds the model predicts, and the
    system calls' results: where one failed after the RST (ECONNRESET, EPIPE), the model must
    have a run with the same segments whose calls return the same ("model agrees").

    Needs root (or CAP_NET_RAW) and tcpdump; without them it says so and exits 3.

    Exit status: 0 every capture accepted and every kind as predicted, 1 a disagreement,
    2 bad input (the model), 3 capture impossible here.
    """
    from . import conform  # deferred: only replay and conform read captures (see replay_cmd)

    if list_only:
        for s in conform.SCENARIOS:
            click.echo(f"{s.name:<28} {s.summary}")
            if s.pending:
                click.echo(f"{'':<28} pending (runs with --pending): {s.pending}")
        sys.exit(ExitStatus.OK)
    names = {s.name for s in conform.SCENARIOS}
    for n in only:
        if n not in names:
            raise click.BadParameter(f"no scenario '{n}'; --list shows them", param_hint="--scenario")
    problem = conform.capture_problem()
    if problem:
        click.echo(f"tcpcheck conform: cannot capture packets here: {problem}", err=True)
        if as_json:
            emit_json({"error": "cannot capture", "reason": problem})
        sys.exit(ExitStatus.INCONCLUSIVE)
    if together is not None:
        _together(conform, conform.selected(list(only) or None, pending), together, as_json)
    try:
        report = conform.run_suite(model or default_model(), list(only) or None, repeat, keep,
                                   progress=None if as_json or not sys.stderr.isatty() else
                                   (lambda text: click.echo(text, err=True)),
                                   from_close=from_close, deadline=_memory_bound(max_memory),
                                   pending=pending)
    except TcpcheckError as err:
        fail_input(err, as_json)
    except LimitReached as stop:
        _stopped_at(stop, "conform")
    except conform.CaptureUnavailable as err:
        click.echo(f"tcpcheck conform: cannot capture packets here: {err}", err=True)
        sys.exit(ExitStatus.INCONCLUSIVE)
    if as_json:
        emit_json(report.as_json())
    else:
        click.echo("\n".join(report.lines()))
    # the suite as one verdict: accepted only if every capture is, with the kind of close and
    # the calls' results the model predicts
    sys.exit(exit_status([Verdict.ACCEPTED if report.ok else Verdict.REJECTED]))


def _together(conform, scenarios: list, path: Path, as_json: bool) -> None:
    """conform --together: one capture of every scenario's connection at once, written whole
    (captured beside it, then renamed) or not at all; a line per connection; exit 0."""
    part = path.with_name(path.name + ".part")
    # tcpdump would fail on it without saying why: a path that cannot be written is bad input
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise click.BadParameter(f"cannot write a capture in '{path.parent}' (no such "
                                 f"directory, or not writable)", param_hint="--together")
    try:
        ran = conform.run_together(scenarios, part)
        part.replace(path)
    except conform.CaptureUnavailable as err:
        click.echo(f"tcpcheck conform: cannot capture packets here: {err}", err=True)
        sys.exit(ExitStatus.INCONCLUSIVE)
    finally:
        part.unlink(missing_ok=True)
    rows = [{"server_port": port, "scenario": sc.name, "calls": calls}
            for port, (sc, calls) in sorted(ran.items())]
    if as_json:
        emit_json({"capture": str(path), "connections": rows})
    else:
        click.echo(f"{path}: {len(rows)} scenarios at once; audit with: "
                   f"tcpcheck replay {path} --all")
        for row in rows:
            click.echo(f"  port {row['server_port']:<6} {row['scenario']}")
    sys.exit(ExitStatus.OK)
