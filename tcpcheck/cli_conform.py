"""The `replay` and `conform` commands: the model against the real kernel.

Registered on the main group by `register(main)` (one line at the end of tcpcheck/cli.py).
Exit status as everywhere: 0 accepted / conforms, 1 rejected / a scenario disagrees with the
model, 2 bad input (a corrupt capture, a missing file), 3 cannot tell (no capture privileges).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import conform
from .capture import read_capture
from .cli_io import (EXIT_INCONCLUSIVE, EXIT_OK, EXIT_VIOLATED, default_model, emit_json,
                     fail_input, save_drawing)
from .compile import segment_text
from .diagnostics import Diagnostic, TcpcheckError
from .params import assignments_text
from .replay import load_open, replay
from .trace import run_steps

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".json")


def _split_args(args: tuple[str, ...]) -> tuple[Path | None, Path]:
    if len(args) == 1:
        return default_model(), Path(args[0])
    if len(args) == 2:
        return Path(args[0]), Path(args[1])
    raise click.UsageError("give a CAPTURE (file or directory), optionally after a MODEL")


# ------------------------------------------------------------------ replay

def replay_json(r) -> dict:
    """One replay as a JSON document (stable keys)."""
    ts = r.system
    doc = {"capture": r.capture.as_json(), "model": ts.model.name, "verdict": r.verdict,
           "segments": len(r.capture.segments), "matched": r.matched, "kind": r.kind,
           "required_params": {k: v for k, v in r.required.items()},
           "combinations": len(r.combos), "total_combinations": len(ts.initial)}
    if r.accepted:
        doc["timing"] = None if r.timing is None else {
            "feasible": r.timing.feasible, "conflict": r.timing.conflict}
        times = r.timing.times_ms if r.timing is not None and r.timing.feasible else None
        doc["run"] = run_steps(r.view, r.run, times)
    else:
        doc["failed_at"] = r.failed_at.as_json() if r.failed_at else None
        doc["ended_early"] = r.ended_early
        doc["could_be_in"] = r.could_be_in
        doc["instead"] = r.instead
        doc["nearest_run"] = run_steps(r.view, r.run) if r.run else None
    return doc


def replay_lines(r, show_run: bool = True) -> list[str]:
    """The replay as text: the capture in the model's words, the verdict and why."""
    from .ladder import ladder_text  # deferred: ladder loads graphviz

    cap, ts = r.capture, r.system
    out = [f"{cap.source}: {cap.connection}, {len(cap.segments)} segments: {cap.compact or '-'}"]
    for s in cap.segments:
        out.append("  " + s.text())
    ignored = cap.ignored_summary()
    if ignored:
        out.append("ignored: " + ", ".join(ignored))
    for n in cap.notes:
        out.append("note: " + n)
    if r.accepted:
        kind = f" ({r.kind} close)" if r.kind else ""
        if r.untimely:
            out.append(f"verdict: {r.verdict}: these segments are a run of model "
                       f"{ts.model.name}{kind}, but "
                       + ("no run tried fits the times they were captured at"
                          if r.timing_limit else "not at the times they were captured at"))
        else:
            out.append(f"verdict: accepted: a run of model {ts.model.name}{kind}")
        req = assignments_text(r.required)
        out.append(f"allowed in {len(r.combos)} of {len(ts.initial)} parameter combinations"
                   + (f"; every one has {req}" if req else ""))
        if r.timing is not None:
            if r.timing.feasible:
                out.append("timing: the run fits the capture's own times within the model's "
                           "timer ranges" if r.timed_by_capture else
                           "timing: the timers' ranges allow this run")
            else:
                tried = "no run tried fits" if r.timing_limit else "no run fits"
                out.append((f"timing: {tried} the capture's own times within the model's timer "
                            "ranges: " if r.timed_by_capture else
                            f"timing: {tried} the timers' ranges: ")
                           + "; ".join(r.timing.conflict or []))
        if show_run:
            times = r.timing.times_ms if r.timing is not None and r.timing.feasible else None
            out.append("the matching run (hidden steps inferred):")
            out.extend("  " + line for line in
                       ladder_text(run_steps(r.view, r.run, times)).rstrip("\n").split("\n"))
    else:
        if r.failed_at is not None:
            out.append(f"verdict: rejected at segment #{r.failed_at.number}: no run of model "
                       f"{ts.model.name} sends {r.failed_at.side} "
                       f"{segment_text(r.failed_at.as_model())} after the "
                       f"{r.matched} segment{'s' if r.matched != 1 else ''} before it")
            closing = [g.number for g in r.capture.segments if g.flags in ("FIN", "FIN+ACK", "RST")]
            if r.failed_at.flags == "DATA" and (not closing or r.failed_at.number < closing[0]):
                out.append("hint: this is data before the close, and the model writes little "
                           "before it; --from-close replays only the teardown")
        else:
            sent = "this segment" if r.matched == 1 else f"these {r.matched} segments"
            out.append(f"verdict: rejected at the end of the capture: every run of model "
                       f"{ts.model.name} that sends {sent} must send more")
        if r.could_be_in:
            out.append("the model could have been in:")
            for c in r.could_be_in:
                st = ", ".join(f"{k} {v}" for k, v in c["tcp_states"].items())
                out.append(f"  {st}  ({c['combinations']} parameter combination"
                           f"{'s' if c['combinations'] != 1 else ''})")
        if r.instead:
            out.append("and could have sent instead:")
            for alt in r.instead:
                segs = ", ".join(segment_text(s) for s in alt["segments"])
                out.append(f"  {alt['side']} {segs}")
        elif r.could_be_in:
            out.append("and could send nothing at all from there")
        if show_run and r.run:
            out.append("the nearest run of the model (the matched part, then what it could "
                       "send instead):")
            out.extend("  " + line for line in
                       ladder_text(run_steps(r.view, r.run)).rstrip("\n").split("\n"))
    return out


def capture_steps(cap) -> list[dict]:
    """A capture as ladder steps: each segment sent, then received at once (on loopback the
    capture's order is the order sent, and arrival follows within microseconds)."""
    steps: list[dict] = []
    for seg in cap.segments:
        peer = "server" if seg.side == "client" else "client"
        steps.append({"step": f"#{seg.number}", "endpoint": seg.side, "kind": "send",
                      "sent": [seg.as_model()], "time_ms": seg.time_ms})
        steps.append({"step": "", "endpoint": peer, "kind": "recv",
                      "received": seg.as_model(), "time_ms": seg.time_ms})
    return steps


def _draw(r, output: Path) -> str | None:
    from .ladder import ladder_dot, ladder_pair_dot  # deferred: ladder loads graphviz

    if r.run is None:
        return None
    if r.accepted:
        times = r.timing.times_ms if r.timing is not None and r.timing.feasible else None
        title = f"{Path(r.capture.source).name}: accepted ({r.kind or 'run'})"
        source = ladder_dot(run_steps(r.view, r.run, times), title)
    else:
        at = f"#{r.failed_at.number} {r.failed_at.side} {segment_text(r.failed_at.as_model())}" \
            if r.failed_at else "the end of the capture"
        title = f"{Path(r.capture.source).name}: rejected at {at}"
        model = run_steps(r.view, r.run)
        # where they part: the capture's first bad segment, the model's alternative to it
        n_model = sum(len(step.get("sent") or []) for step in model)
        n_alt = len(model[-1].get("sent") or []) if len(model) > r.matched else 0
        marks = ({r.failed_at.number - 1} if r.failed_at else set(),
                 set(range(n_model - n_alt, n_model)))
        source = ladder_pair_dot(capture_steps(r.capture), model, title,
                                 ("the capture", "the nearest run of the model"), marks)
    written = save_drawing(source, output)
    if written.message:
        click.echo(f"tcpcheck: {written.message}", err=True)
    return str(written.image_path or written.dot_path)


def _coverage(results) -> tuple[list[str], list[str]]:
    """Transitions (instance: event at line) the accepted runs used, and those none did."""
    used: set[tuple[str, int]] = set()
    ts = results[0].system
    for r in results:
        if r.accepted and r.run:
            for vid, _sid in r.run[1:]:
                v = ts.variants[vid]
                if v.instance is not None:
                    used.add((v.instance, v.transition))
    hit, missed = [], []
    for inst in ts.model.instances:
        ep = ts.model.endpoint(inst.endpoint)
        for k, tr in enumerate(ep.transitions):
            line = tr.span.line if getattr(tr, "span", None) else "?"
            label = f"{inst.name}: {tr.event.label()} (line {line})"
            (hit if (inst.name, k) in used else missed).append(label)
    return hit, missed


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
    the captures exercised.

    \b
    Examples:
      tcpcheck replay tests/captures/three_way.pcap
      tcpcheck replay models/teardown.tcpm close.pcapng -o out/close.svg
      tcpcheck replay tests/captures/ --json
      tcpcheck replay --from-close http.pcap     # only the close of a longer exchange

    The run must also fit the capture's own timestamps within the model's timer ranges (z3):
    a three-way close whose FIN+ACK came later than any delayed-ACK timeout is rejected, with
    the constraints that clash.

    Exit status: 0 accepted, 1 rejected, 2 bad input (unreadable or corrupt capture), 3 the
    segments fit but no run tried fits their times (a search limit).
    """
    from .render import FORMATS  # deferred: render loads graphviz and networkx

    model, target = _split_args(args)
    if output is not None and output.suffix.lstrip(".").lower() not in FORMATS:
        raise click.BadParameter(f"'{output}' must end in one of " +
                                 ", ".join("." + f for f in FORMATS), param_hint="-o/--output")
    try:
        ts = load_open(model, list(params))
        if target.is_dir():
            files = sorted(p for p in target.iterdir()
                           if p.is_file() and p.suffix.lower() in CAPTURE_SUFFIXES)
            if not files:
                raise TcpcheckError([Diagnostic("TCP600", f"{target} holds no capture "
                                                f"({', '.join(CAPTURE_SUFFIXES)})")])
            captures = [read_capture(p, conn, from_close) for p in files]
        else:
            captures = [read_capture(target, conn, from_close)]
    except TcpcheckError as err:
        fail_input(err, as_json)
    results = []
    show = len(captures) > 1 and not as_json and sys.stderr.isatty()
    for k, cap in enumerate(captures, start=1):
        if show:    # a directory can take a while: say where it is, on one terminal line
            click.echo(f"\rreplaying {k}/{len(captures)}: {Path(cap.source).name}\x1b[K",
                       err=True, nl=False)
        results.append(replay(ts, cap, prefix=prefix))
    if show:
        click.echo("\r\x1b[K", err=True, nl=False)
    if target.is_dir():
        _print_directory(results, as_json)
    else:
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
    verdicts = {r.verdict for r in results}
    sys.exit(EXIT_VIOLATED if "rejected" in verdicts else
             EXIT_INCONCLUSIVE if "inconclusive" in verdicts else EXIT_OK)


def _print_directory(results, as_json: bool) -> None:
    hit, missed = _coverage(results)
    ts = results[0].system
    if as_json:
        emit_json({"model": ts.model.name,
               "captures": [{"file": r.capture.source, "verdict": r.verdict, "kind": r.kind,
                             "segments": r.capture.compact, "matched": r.matched,
                             "required_params": r.required, "combinations": len(r.combos),
                             "failed_at": r.failed_at.as_json() if r.failed_at else None}
                            for r in results],
               "transitions_exercised": hit, "transitions_not_exercised": missed})
        return
    rows = [("capture", "segments", "verdict", "kind", "parameters it needs")]
    for r in results:
        verdict = (r.verdict + (" (timing)" if r.untimely else "")) if r.accepted else (
            f"rejected at #{r.failed_at.number}" if r.failed_at else "rejected at end")
        req = assignments_text(r.required) if r.accepted else ""
        rows.append((Path(r.capture.source).name, r.capture.compact or "-", verdict,
                     r.kind or "-", req))
    click.echo("\n".join(_table(rows)))
    click.echo(f"\ntransitions exercised by the accepted captures: {len(hit)} of "
               f"{len(hit) + len(missed)}")
    click.echo("never exercised:")
    for m in missed:
        click.echo("  " + m)


def _table(rows) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(f"{str(c):<{w}}" for c, w in zip(r, widths)).rstrip() for r in rows]


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
    3 capture impossible here.
    """
    if list_only:
        for s in conform.SCENARIOS:
            click.echo(f"{s.name:<28} {s.summary}")
        sys.exit(EXIT_OK)
    names = {s.name for s in conform.SCENARIOS}
    for n in only:
        if n not in names:
            raise click.BadParameter(f"no scenario '{n}'; --list shows them", param_hint="--scenario")
    problem = conform.capture_problem()
    if problem:
        click.echo(f"tcpcheck conform: cannot capture packets here: {problem}", err=True)
        if as_json:
            emit_json({"error": "cannot capture", "reason": problem})
        sys.exit(EXIT_INCONCLUSIVE)
    try:
        report = conform.run_suite(model or default_model(), list(only) or None, repeat, keep,
                                   progress=None if as_json or not sys.stderr.isatty() else
                                   (lambda text: click.echo(text, err=True)))
    except TcpcheckError as err:
        fail_input(err, as_json)
    except conform.CaptureUnavailable as err:
        click.echo(f"tcpcheck conform: cannot capture packets here: {err}", err=True)
        sys.exit(EXIT_INCONCLUSIVE)
    if as_json:
        emit_json(report.as_json())
    else:
        click.echo("\n".join(report.lines()))
    sys.exit(EXIT_OK if report.ok else EXIT_VIOLATED)
