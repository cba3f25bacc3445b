"""The `replay` and `conform` commands: the model against the real kernel.

Registered on the main group by `register(main)` (one line at the end of tcpcheck/cli.py).
Exit status as everywhere: 0 accepted / conforms, 1 rejected / a scenario disagrees with the
model, 2 bad input (a corrupt capture, a missing file), 3 cannot tell (no capture privileges).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_io import default_model, emit_json, fail_input, save_drawing
from .diagnostics import Diagnostic, TcpcheckError, render
from .trace import model_error_diagnostic
from .verdicts import ExitStatus, Verdict, exit_status

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".json")


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


def _read_each(files: list[Path], conn: str | None, from_close: bool) -> list:
    """Read every capture of a directory. One bad capture never aborts the others: it
    becomes an `Unreadable` row with its diagnostics (verdict "unreadable")."""
    from .capture import read_capture       # deferred: see replay_cmd
    from .replay_report import Unreadable

    out = []
    for path in files:
        try:
            out.append(read_capture(path, conn, from_close))
        except TcpcheckError as err:
            out.append(Unreadable(str(path), tuple(err.diagnostics)))
    return out


def _replay_each(ts, captures: list, prefix: bool, progress: bool) -> list:
    """Replay every capture read from a directory; an unreadable one stays its row."""
    from .capture import Capture            # deferred: see replay_cmd
    from .replay import replay

    results = []
    for k, cap in enumerate(captures, start=1):
        if progress:    # a directory can take a while: say where it is, on one terminal line
            name = Path(cap.source).name
            click.echo(f"\rreplaying {k}/{len(captures)}: {name}\x1b[K", err=True, nl=False)
        if not isinstance(cap, Capture):
            results.append(cap)
            continue
        results.append(replay(ts, cap, prefix=prefix))
    if progress:
        click.echo("\r\x1b[K", err=True, nl=False)
    return results


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
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Draw the matching (or the nearest) run as a ladder: .svg, .png, .pdf, .dot.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def replay_cmd(args, conn, params, from_close, prefix, output, as_json):
    """Is a packet capture a run of the model? Replay CAPTURE against MODEL.

    CAPTURE is a pcap or pcapng file (tcpdump -w, tshark) or a JSON trace (as `tcpcheck trace
    --json` prints it). One TCP connection is taken (--conn chooses), the handshake skipped,
    sequence numbers made relative, and each segment read as the model's: FIN, FIN+ACK (a FIN
    that also acknowledges the peer's FIN), ACK, DATA (one unit each), RST, with `ack`
    counting the peer's units. Window updates, duplicate ACKs, keep-alives,
    retransmissions, PSH and TCP options are set aside and listed. Then every parameter
    combination of MODEL is searched for a run that sends exactly these segments in this
    order; receives, application calls and timer expiries are inferred.

    A directory replays every capture in it: one row each, and which transitions of the model
    the captures exercised. A capture that cannot be read gets a row that says why (verdict
    "unreadable") and the others are replayed all the same.

    \b
    Examples:
      tcpcheck replay tests/captures/three_way.pcap
      tcpcheck replay models/teardown.tcpm close.pcapng -o out/close.svg
      tcpcheck replay tests/captures/ --json
      tcpcheck replay --from-close http.pcap     # only the close of a longer exchange

    The run must also fit the capture's own timestamps within the model's timer ranges (z3):
    a three-way close whose FIN+ACK came later than any delayed-ACK timeout is rejected, with
    the constraints that clash.

    Exit status: 0 accepted, 1 rejected, 2 bad input (unreadable or corrupt capture; for a
    directory: one is unreadable and none is rejected), 3 the segments fit but no run tried
    fits their times (a search limit).
    """
    from .render import FORMATS  # deferred: render loads graphviz and networkx

    model, target = _split_args(args)
    if output is not None and output.suffix.lstrip(".").lower() not in FORMATS:
        raise click.BadParameter(f"'{output}' must end in one of " +
                                 ", ".join("." + f for f in FORMATS), param_hint="-o/--output")
    # deferred: ladders pull in graphviz and networkx, which `tcpcheck --help` need not load
    from .replay_report import directory_json, directory_lines, replay_json, replay_lines
    # deferred: only replay and conform read captures; the model commands start without them
    from .capture import read_capture
    from .replay import load_open, replay

    from .capture import Capture

    try:
        if target.is_dir():
            files = sorted(p for p in target.iterdir()
                           if p.is_file() and p.suffix.lower() in CAPTURE_SUFFIXES)
            if not files:
                raise TcpcheckError([Diagnostic("TCP600", f"{target} holds no capture "
                                                f"({', '.join(CAPTURE_SUFFIXES)})")])
            captures = _read_each(files, conn, from_close)
        else:
            single = read_capture(target, conn, from_close)
            captures = [single]
        # the channels hold as many segments as the captures had in flight at once
        ts = load_open(model, list(params), [c for c in captures if isinstance(c, Capture)])
    except TcpcheckError as err:
        fail_input(err, as_json)
    if target.is_dir():
        results = _replay_each(ts, captures, prefix,
                               progress=len(files) > 1 and not as_json and sys.stderr.isatty())
        if as_json:
            emit_json(directory_json(ts, results))
        else:
            click.echo("\n".join(directory_lines(ts, results)))
    else:
        results = [replay(ts, single, prefix=prefix)]
        r = results[0]
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
    sys.exit(exit_status(r.verdict for r in results))


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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def conform_cmd(repeat, only, list_only, keep, model, as_json):
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
    try:
        report = conform.run_suite(model or default_model(), list(only) or None, repeat, keep,
                                   progress=None if as_json or not sys.stderr.isatty() else
                                   (lambda text: click.echo(text, err=True)))
    except TcpcheckError as err:
        fail_input(err, as_json)
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
