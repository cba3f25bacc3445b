"""`python -m tcpcheck.fuzz`: mutated models, specs, captures, JSON traces and packetdrill
scripts through the command line, looking for a traceback or a hang (for maintainers; run it
from a checkout).

    python -m tcpcheck.fuzz --models 6000 --specs 4000 --captures 1500 --traces 1000 --pkt 500 --seed 1

Each input is a shipped file changed a little (tcpcheck.mutate) and one tcpcheck command on it
(explore, simulate, check, map, graph, trace, replay: two-sided, one-sided with --side, a
packetdrill script), with a small --max-states and a --time-limit. Worker processes run the commands in-process (click's entry point, as a user's
`tcpcheck ...` runs it, without a Python start per input); the parent gives each input
--time-per-input seconds and kills a worker that takes longer. Every input ends in one class:

    ok          exit 0, 1 or 3 (holds, violated or rejected, inconclusive)
    error       exit 2 with a located diagnostic (error[TCPnnn])
    UNLOCATED   exit 2 without one
    TRACEBACK   an uncaught exception, or an exit status outside 0..3, or a dead worker
    HANG        still running after --time-per-input seconds

The last three are findings: each one's input files, its command line and what it printed go to
a directory of their own under --out, and the command exits 1. The inputs depend only on the
seed, so a finding can be found again (and its directory replays it without the fuzzer).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection, wait
from pathlib import Path

import click
from click.testing import CliRunner

from .cli import main as tcpcheck_main
from .mutate import (encode_text, grammar_words, mutate_capture, mutate_json, mutate_pkt,
                     mutate_text, shipped_files)
from .verdicts import ExitStatus

KINDS = ("models", "specs", "captures", "traces", "pkt")
PACKAGE = Path(__file__).resolve().parent
MAX_STATES = "300"          # enough to reach the first close of every shipped model
_LOCATED = re.compile(r"error\[TCP\d{3}\]")


class Outcome(StrEnum):
    OK = "ok"
    ERROR = "error"
    UNLOCATED = "UNLOCATED"
    TRACEBACK = "TRACEBACK"
    HANG = "HANG"


FINDINGS = (Outcome.UNLOCATED, Outcome.TRACEBACK, Outcome.HANG)


@dataclass(frozen=True)
class Case:
    """One input: its files (name, bytes) and the tcpcheck arguments, where `{dir}` stands for
    the directory the files are written to."""
    kind: str
    index: int
    files: tuple[tuple[str, bytes], ...]
    args: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index:06d}"

    def argv(self, where: Path) -> list[str]:
        return [a.replace("{dir}", str(where)) for a in self.args]


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    status: int | None       # the exit status (None: no status, the worker died or hung)
    seconds: float
    detail: str              # the traceback, or the end of what the command printed


# ------------------------------------------------------------------ the inputs


@dataclass(frozen=True)
class Trace:
    """A JSON trace to mutate, the model it is a run of and the parameters to replay it with."""
    text: str
    model: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class Corpus:
    """What the mutators start from: the shipped files, the languages' words, JSON traces."""
    root: Path
    models: tuple[Path, ...]
    specs: tuple[Path, ...]
    captures: tuple[Path, ...]
    traces: tuple[Trace, ...]
    pkts: tuple[Path, ...]
    model_words: tuple[str, ...]
    spec_words: tuple[str, ...]


def _bool_params(model: Path) -> list[str]:
    return re.findall(r"^param (\w+): bool", model.read_text(encoding="utf-8"), re.M)


def _params_of(doc: dict) -> tuple[str, ...]:
    return tuple(f"{k}={str(v).lower()}" for k, v in doc.get("params", {}).items())


def _json_traces(root: Path) -> list[Trace]:
    """Traces as `simulate --json` and `trace --json` print them, for the shipped models."""
    runner = CliRunner()
    default, bench = root / "models" / "teardown.tcpm", root / "models" / "bench" / "teardown_n.tcpm"
    commands = [(default, ["simulate", str(default), "--seed", str(s), "--json"]) for s in range(4)]
    commands += [(bench, ["simulate", str(bench), "--seed", str(s), "--json"]) for s in range(2)]
    commands.append((default, ["trace", str(root / "specs" / "teardown.spec"), "-p",
                               "a_three_way_close_can_end_in_rst", "--json", "--no-progress"]))
    traces = []
    for model, args in commands:
        result = runner.invoke(tcpcheck_main, args)
        if result.exit_code in (ExitStatus.OK, ExitStatus.VIOLATED):
            doc = json.loads(result.stdout)
            traces.append(Trace(result.stdout, str(model), _params_of(doc)))
    for path in sorted(root.glob("tests/fixtures/**/*.json")):
        model = next(iter(sorted(path.parent.glob("*.tcpm"))), default)
        traces.append(Trace(path.read_text(encoding="utf-8"), str(model), ()))
    return traces


def load_corpus(root: Path) -> Corpus:
    files = shipped_files(root)
    return Corpus(root, tuple(files["models"]), tuple(files["specs"]), tuple(files["captures"]),
                  tuple(_json_traces(root)), tuple(files["pkt"]),
                  tuple(grammar_words((PACKAGE / "model.lark").read_text(encoding="utf-8"))),
                  tuple(grammar_words((PACKAGE / "spec.lark").read_text(encoding="utf-8"))))


def _limits(time_limit: float) -> list[str]:
    return ["--max-states", MAX_STATES, "--time-limit", f"{time_limit:g}", "--no-progress"]


def _model_case(c: Corpus, rng: random.Random, index: int, time_limit: float) -> Case:
    base = rng.choice(c.models)
    text = mutate_text(base.read_text(encoding="utf-8"), list(c.model_words), rng)
    m = "{dir}/model.tcpm"
    command = rng.choice(["explore", "explore", "explore", "simulate", "check", "map", "graph"])
    if command == "explore":
        args = ["explore", m, *_limits(time_limit), *rng.choice([[], ["--json"]])]
    elif command == "simulate":
        args = ["simulate", m, "--seed", str(rng.randrange(100)), "--steps", "60",
                "--time-limit", f"{time_limit:g}", "--json"]
    elif command == "check" and base.name == "teardown.tcpm":
        args = ["check", str(rng.choice(c.specs)), "--model", m, *_limits(time_limit)]
    elif command == "graph":
        args = ["graph", m, "-o", "{dir}/graph.dot", *_limits(time_limit)]
    else:
        args = ["map", m, *_limits(time_limit)]
    return Case("models", index, (("model.tcpm", encode_text(text)),), tuple(args))


_PROPERTY = re.compile(r"^(?:runs|reachable|invariant|timing)\s+(\w+)", re.M)


def _spec_case(c: Corpus, rng: random.Random, index: int, time_limit: float) -> Case:
    base = rng.choice(c.specs)
    original = base.read_text(encoding="utf-8")
    # the spec is written elsewhere: its model is named by an absolute path
    text = original.replace('"../models/', f'"{c.root}/models/')
    text = mutate_text(text, list(c.spec_words), rng)
    s = "{dir}/mutated.spec"
    names = _PROPERTY.findall(original)
    if names and rng.random() < 0.2:
        args = ["trace", s, "-p", rng.choice(names), *_limits(time_limit)]
    else:
        args = ["check", s, *_limits(time_limit), *rng.choice([[], [], ["--json"]])]
    return Case("specs", index, (("mutated.spec", encode_text(text)),), tuple(args))


# the parameters a packetdrill script settles itself (oneside.script_params): left open
_SCRIPT_PARAMS = frozenset({"linger_zero", "shared_socket", "delayed_ack", "client_quickack",
                            "server_quickack"})


def _fixed_params(model: Path, rng: random.Random, known: tuple[str, ...] = (),
                  leave: frozenset[str] = frozenset()) -> list[str]:
    """Every parameter of the model fixed (as `known` says, else at random), save those in
    `leave`: a replay then searches one combination, not 1,024 (the reading of the input is
    what is fuzzed; the search is the same code whatever the combination)."""
    given = dict(p.split("=", 1) for p in known)
    args = []
    for name in _bool_params(model):
        if name in leave:
            continue
        on = rng.random() < (0.5 if name in ("delayed_ack", "passive_has_data") else 0.1)
        args += ["--param", f"{name}={given.get(name, 'true' if on else 'false')}"]
    if model.name == "teardown_n.tcpm":
        args += ["--param", f"N={given.get('N', '2')}"]
    return args


def _replay_model(c: Corpus, rng: random.Random) -> list[str]:
    bench = rng.random() < 0.15
    model = c.root / "models" / ("bench/teardown_n.tcpm" if bench else "teardown.tcpm")
    return [str(model), *_fixed_params(model, rng)]


def _replay_options(rng: random.Random, time_limit: float) -> list[str]:
    """Replay's options, a few at random, and always its --time-limit: one-sided (--side), the
    network's delay, a bound on the search small enough to be met."""
    options = ["--time-limit", f"{time_limit:g}"]
    for option, chance in (("--from-close", 0.2), ("--prefix", 0.2), ("--json", 0.3)):
        if rng.random() < chance:
            options.append(option)
    if rng.random() < 0.1:
        options += ["--conn", rng.choice(["1", "2", "40001", "5000", "7"])]
    if rng.random() < 0.25:
        options += ["--side", rng.choice(["client", "server"])]
    if rng.random() < 0.15:
        options += ["--delay", rng.choice(["0ms..200ms", "0..0", "100ms..200ms", "0..1s",
                                           "10us..20us"])]
    if rng.random() < 0.15:
        options += ["--max-states", rng.choice(["1", "50", "300", "5000"])]
    return options


def _capture_case(c: Corpus, rng: random.Random, index: int, time_limit: float) -> Case:
    base = rng.choice(c.captures)
    data = mutate_capture(base.read_bytes(), rng)
    name = "capture" + base.suffix
    model, *params = _replay_model(c, rng)
    args = ["replay", model, "{dir}/" + name, *params, *_replay_options(rng, time_limit)]
    return Case("captures", index, ((name, data),), tuple(args))


def _trace_case(c: Corpus, rng: random.Random, index: int, time_limit: float) -> Case:
    base = rng.choice(c.traces)
    text = mutate_json(base.text, rng)
    params = _fixed_params(Path(base.model), rng, base.params)
    args = ["replay", base.model, "{dir}/trace.json", *params,
            *_replay_options(rng, time_limit)]
    return Case("traces", index, (("trace.json", encode_text(text)),), tuple(args))


def _pkt_case(c: Corpus, rng: random.Random, index: int, time_limit: float) -> Case:
    """A mutated packetdrill script through the script reader and one-sided replay, against
    the default model with the parameters the script does not settle fixed."""
    base = rng.choice(c.pkts)
    text = mutate_pkt(base.read_text(encoding="utf-8"), rng)
    model = c.root / "models" / "teardown.tcpm"
    params = _fixed_params(model, rng, leave=_SCRIPT_PARAMS)
    args = ["replay", str(model), "{dir}/script.pkt", *params, *_replay_options(rng, time_limit)]
    return Case("pkt", index, (("script.pkt", encode_text(text)),), tuple(args))


def make_case(c: Corpus, kind: str, seed: int, index: int, time_limit: float) -> Case:
    """Input `index` of a kind: it depends only on (seed, kind, index)."""
    rng = random.Random(f"{seed}/{kind}/{index}")
    if kind == "models":
        return _model_case(c, rng, index, time_limit)
    if kind == "specs":
        return _spec_case(c, rng, index, time_limit)
    if kind == "captures":
        return _capture_case(c, rng, index, time_limit)
    if kind == "traces":
        return _trace_case(c, rng, index, time_limit)
    return _pkt_case(c, rng, index, time_limit)


def cases(c: Corpus, counts: dict[str, int], seed: int, time_limit: float) -> Iterator[Case]:
    """The inputs, kind after kind (made one at a time: a run of thousands holds one)."""
    for kind in KINDS:
        for index in range(counts.get(kind, 0)):
            yield make_case(c, kind, seed, index, time_limit)


# ------------------------------------------------------------------ running one input


def run_args(args: list[str]) -> tuple[Outcome, int | None, str]:
    """Run tcpcheck with these arguments in this process and classify what happened."""
    result = CliRunner().invoke(tcpcheck_main, args, catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        detail = "".join(traceback.format_exception(*result.exc_info))
        return Outcome.TRACEBACK, None, detail
    status = result.exit_code
    tail = stderr[-4000:]
    if status not in tuple(ExitStatus) or "Traceback (most recent call last)" in stderr:
        return Outcome.TRACEBACK, status, tail
    if status == ExitStatus.BAD_INPUT:
        return (Outcome.ERROR if _LOCATED.search(stderr) else Outcome.UNLOCATED), status, tail
    return Outcome.OK, status, tail


def _worker(conn: Connection, memory_mb: int) -> None:
    """Run the arguments the parent sends, one at a time, and send back what came of them."""
    os.setpgrp()                  # Ctrl-C at the terminal goes to the parent, which stops us
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        if args is None:
            return
        conn.send(run_args(args))


class _Slot:
    """A worker process and the input it is running."""

    def __init__(self, ctx, memory_mb: int):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, memory_mb), daemon=True)
        self.proc.start()
        child.close()
        self.case: Case | None = None
        self.where: Path | None = None
        self.started = 0.0

    def give(self, case: Case, where: Path) -> None:
        self.case, self.where, self.started = case, where, time.monotonic()
        self.conn.send(case.argv(where))

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


def _write_case(case: Case, scratch: Path) -> Path:
    where = scratch / case.name
    where.mkdir(parents=True, exist_ok=True)
    for name, data in case.files:
        (where / name).write_bytes(data)
    return where


def _keep_finding(case: Case, where: Path, result: Result, out: Path) -> None:
    """The input, the command that replays it (from inside its directory) and what it did."""
    target = out / case.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(where, target)
    argv = [a.replace(str(where), ".") for a in case.argv(where)]
    (target / "command.txt").write_text(
        f"# {result.outcome} after {result.seconds:.1f} s, exit status {result.status}\n"
        f"cd {target} && python -m tcpcheck {' '.join(_quote(a) for a in argv)}\n",
        encoding="utf-8")
    (target / "output.txt").write_text(result.detail, encoding="utf-8")


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w./=:@+-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def run_cases(inputs: Iterator[Case], jobs: int, time_per_input: float, memory_mb: int,
              out: Path | None, on_result=None) -> list[tuple[Case, Result]]:
    """Run every input in `jobs` worker processes; findings are copied to `out`."""
    ctx = multiprocessing.get_context("fork")
    slots = [_Slot(ctx, memory_mb) for _ in range(jobs)]
    results: list[tuple[Case, Result]] = []
    pending = iter(inputs)
    exhausted = False
    with tempfile.TemporaryDirectory(prefix="tcpcheck-fuzz-") as tmp:
        scratch = Path(tmp)

        def finish(k: int, result: Result, restart: bool) -> None:
            slot = slots[k]
            case, where = slot.case, slot.where
            assert case is not None and where is not None
            if result.outcome in FINDINGS and out is not None:
                _keep_finding(case, where, result, out)
            shutil.rmtree(where, ignore_errors=True)
            results.append((case, result))
            if on_result is not None:
                on_result(case, result)
            slot.case = None
            if restart:
                slot.stop()
                slots[k] = _Slot(ctx, memory_mb)

        try:
            while True:
                for slot in slots:
                    if slot.case is None and not exhausted:
                        case = next(pending, None)
                        if case is None:
                            exhausted = True
                        else:
                            slot.give(case, _write_case(case, scratch))
                busy = [s for s in slots if s.case is not None]
                if not busy:
                    break
                now = time.monotonic()
                timeout = max(0.0, min(s.started + time_per_input for s in busy) - now)
                ready = wait([s.conn for s in busy], timeout=timeout)
                for k, slot in enumerate(slots):
                    if slot.case is None:
                        continue
                    seconds = time.monotonic() - slot.started
                    if slot.conn in ready:
                        try:
                            outcome, status, detail = slot.conn.recv()
                        except EOFError:
                            slot.proc.join()
                            finish(k, Result(Outcome.TRACEBACK, None, seconds,
                                             f"the worker died (exit code {slot.proc.exitcode})"),
                                   restart=True)
                            continue
                        finish(k, Result(outcome, status, seconds, detail),
                               restart=outcome is Outcome.TRACEBACK)
                    elif seconds > time_per_input:
                        finish(k, Result(Outcome.HANG, None, seconds,
                                         f"still running after {seconds:.1f} s"), restart=True)
        finally:
            for slot in slots:
                try:
                    slot.conn.send(None)
                except OSError:
                    pass
                slot.stop()
    return results


# ------------------------------------------------------------------ the command


def summary(results: list[tuple[Case, Result]]) -> str:
    counts = Counter((case.kind, result.outcome) for case, result in results)
    columns = list(Outcome)
    lines = [f"{'kind':<10}{'inputs':>8}" + "".join(f"{o.value:>11}" for o in columns)]
    for kind in KINDS:
        total = sum(counts[kind, o] for o in columns)
        if total:
            lines.append(f"{kind:<10}{total:>8}" + "".join(f"{counts[kind, o]:>11}" for o in columns))
    lines.append(f"{'total':<10}{len(results):>8}" +
                 "".join(f"{sum(counts[k, o] for k in KINDS):>11}" for o in columns))
    return "\n".join(lines)


def _signature(result: Result) -> str:
    """A traceback's last line and innermost frame of ours: findings grouped by cause."""
    lines = result.detail.strip().splitlines()
    frames = [ln.strip() for ln in lines if ln.strip().startswith('File "') and "tcpcheck" in ln]
    return f"{lines[-1][:120] if lines else '?'} @ {frames[-1] if frames else '?'}"


def _repository(root: Path | None) -> Path:
    for candidate in ([root] if root else []) + [PACKAGE.parent, Path.cwd()]:
        if candidate and (candidate / "tests" / "captures").is_dir() \
                and (candidate / "models" / "teardown.tcpm").is_file():
            return candidate.resolve()
    raise click.UsageError("run the fuzzer from a tcpcheck checkout (it mutates models/, "
                           "specs/ and tests/captures/), or give --root")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--models", default=200, show_default=True, help="Mutated models to run.")
@click.option("--specs", default=200, show_default=True, help="Mutated specs to run.")
@click.option("--captures", default=100, show_default=True, help="Mutated pcap/pcapng files.")
@click.option("--traces", default=100, show_default=True, help="Mutated JSON traces.")
@click.option("--pkt", "pkts", default=100, show_default=True,
              help="Mutated packetdrill scripts (tests/pkt/*.pkt).")
@click.option("--seed", default=0, show_default=True, help="The inputs depend only on it.")
@click.option("--time-per-input", type=click.FloatRange(min=1, max=3600), default=10.0,
              show_default=True, help="Seconds before an input counts as a HANG (each command "
              "gets half of it as its --time-limit).")
@click.option("--jobs", type=click.IntRange(min=1), default=min(2, os.cpu_count() or 1),
              show_default=True, help="Worker processes.")
@click.option("--max-memory", type=click.IntRange(min=0), default=3000, show_default=True,
              help="MB of address space per worker (0: no limit); past it an input fails "
                   "with MemoryError, a TRACEBACK.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("fuzz-findings"), show_default=True,
              help="Where each finding's input, command and output are written.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The tcpcheck checkout whose files are mutated (default: this one).")
@click.option("--quiet", is_flag=True, help="No progress line.")
def fuzz(models, specs, captures, traces, pkts, seed, time_per_input, jobs, max_memory, out,
         root, quiet):
    """Fuzz tcpcheck: mutated inputs through the command line; exit 1 on any finding (a
    TRACEBACK, a HANG, an error without a location), 3 when interrupted."""
    corpus = load_corpus(_repository(root))
    counts = {"models": models, "specs": specs, "captures": captures, "traces": traces,
              "pkt": pkts}
    total = sum(counts.values())
    started = time.monotonic()
    seen = Counter()

    results: list[tuple[Case, Result]] = []   # filled as inputs finish: an interrupt keeps them

    def progress(case: Case, result: Result) -> None:
        results.append((case, result))
        seen[result.outcome in FINDINGS] += 1
        if result.outcome in FINDINGS:
            click.echo(f"\r{case.name}: {result.outcome}: {_signature(result)}\x1b[K", err=True)
        if not quiet and sys.stderr.isatty():
            done = sum(seen.values())
            click.echo(f"\r{done}/{total} inputs, {seen[True]} findings, "
                       f"{time.monotonic() - started:.0f} s\x1b[K", err=True, nl=False)

    interrupted = False
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        run_cases(cases(corpus, counts, seed, time_per_input / 2), jobs,
                            time_per_input, max_memory, out, progress)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not quiet and sys.stderr.isatty():
        click.echo("\r\x1b[K", err=True, nl=False)
    click.echo(f"tcpcheck fuzz: seed {seed}, {len(results)} inputs in "
               f"{time.monotonic() - started:.0f} s, time per input {time_per_input:g} s")
    click.echo(summary(results))
    findings = [(c, r) for c, r in results if r.outcome in FINDINGS]
    causes = Counter(_signature(r) for _, r in findings)
    for cause, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])):
        click.echo(f"  {n} x {cause}")
    if findings:
        click.echo(f"findings written to {out}/")
    if interrupted:
        click.echo("interrupted: the counts are those of the inputs run so far")
        sys.exit(ExitStatus.INCONCLUSIVE)
    sys.exit(ExitStatus.VIOLATED if findings else ExitStatus.OK)


if __name__ == "__main__":
    fuzz()
