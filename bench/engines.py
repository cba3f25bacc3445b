#!/usr/bin/env python3
"""The explicit and the symbolic engine side by side as the model grows (issue 16).

    python bench/engines.py [--sizes 2,3,4,5] [--time-limit 600] [--max-memory 4000]
                            [--depth 8] [--proof | --only-proof | --proof-vs-explicit]
                            [--config data|close] [--mine-at 2]

The model is models/parametric.tcpm (the default model with its size bounds as parameters)
in data_phase.spec's configuration (data_phase, delayed ACK, a passive side with nothing to
reply), with D, the data segments a side the model tells apart, as the size; the properties
are the shipped specs' invariants (DOMAIN.md: TIME_WAIT never faces a peer in CLOSE_WAIT; no
delayed-ACK timer runs on into TIME_WAIT or CLOSED), on the model and on its two failing
variants (tests/test_domain_specs.py VARIANTS), one for each: the ACK of a FIN moves FIN_WAIT_1
straight to TIME_WAIT; the half-closed side's held-back ACK does not leave with the ACK of the
peer's FIN. For every size, six runs, each in a new
process whose CPU time (getrusage) and peak memory (VmHWM) the parent measures:

    explicit  the explorer (`--core c`, the compiled core, while the state fits its 128 bits;
              the Python core above, said in the row) and its verdicts on the model, then on
              the variant, under --time-limit and --max-memory (a run cut off is "did not
              finish"; a size the explorer did not finish is not tried again above it)
    symbolic  bounded model checking (tcpcheck.bmc) of the invariants to --depth steps on the
              model ("holds up to depth N": bounded, not a proof), and on each variant of
              the property it breaks, until its shortest counterexample (at most --depth
              steps); killed at --time-limit

    proof     (--proof, or --only-proof without the others) k-induction on the model's
              invariants, strengthened by the facts tcpcheck.lemmas mines from every state
              at --mine-at (by default the configuration's: D=2, n=2) and Houdini keeps
              at the size (`check --lemmas-from D=2`):
              proved, or holds up to a depth; --proof-vs-explicit runs only the explorer on
              the model and the proof, size by size, the explorer again at every size

--config says which configuration of the model grows (CONFIGS): `data` (the default) is the
one above, D the size; `close` is the teardown without the data phase but with what else
multiplies its states on (early data, a socket shared by P processes, a network that loses
up to L segments a channel), every bound growing with the size n: D = L = P = n. There
Houdini over the mined facts takes hours at n = 5, so the proof first gives each invariant
to z3's Spacer with no facts (SPACER_FIRST_SECONDS) and mines only for what it leaves; a
proof cut off by its CPU limit still reports what it proved.

--time-limit is each run's CPU seconds (RLIMIT_CPU: the machine is shared, so wall time says
little), --max-memory the explorer's resident memory (its --max-memory).

The crossover, for the invariants and for each variant, is the first size where the
symbolic engine answers and the explorer does not, or answers with more CPU time. The machine's load average is printed before and
after: on a shared machine the CPU seconds are what to compare.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "parametric.tcpm"
SPECS = [ROOT / "specs" / "teardown.spec", ROOT / "specs" / "data_phase.spec"]


@dataclass(frozen=True)
class Config:
    """A configuration of the parametric model that grows: `fixed` settings, the size
    parameters set to the size n, and the size the proof's facts are mined at;
    `spacer_first`: the proof tries z3's Spacer with no facts on each invariant before it
    mines any (where Houdini over the mined facts takes hours: bench/RESULTS.md)."""

    fixed: tuple[str, ...]
    grown: tuple[str, ...]
    mined_at: int
    spacer_first: bool = False


CONFIGS = {
    "data": Config(("data_phase=true", "delayed_ack=true", "passive_has_data=false"),
                   ("D",), 2),
    # no data phase; early data, a socket shared by P processes, L losses a channel: at
    # n = 1 the explorer finds 205,494 states, at n = 3 6,138,320 (the last that fits the
    # compiled core's 128 bits). Facts mined at n = 2, where a count's "1" is not its top:
    # at n = 1 `sent` (at most 1 here, whatever D is) reads as "up to D" (bench/RESULTS.md)
    "close": Config(("delayed_ack=true", "passive_has_data=false", "early_data=true",
                     "shared_socket=true", "lossy_network=true"), ("D", "L", "P"), 2,
                    spacer_first=True),
}
# the failing variants (tests/test_domain_specs.py VARIANTS): the property each one breaks
VARIANTS = ("time_wait_only_after_the_peer_closed", "a_held_ack_leaves_before_time_wait")
CONFIG = "data"  # which of CONFIGS (--config; the child process reads it from the environment)
WALL_FACTOR = 4  # a run is killed after this many times its CPU limit in wall time (the
                 # machine is shared: the limit itself is on CPU time, RLIMIT_CPU)


@dataclass(frozen=True)
class Measured:
    """One run: what it answered and what it cost."""

    engine: str
    model: str          # "model", or the property whose variant it is
    size: int
    finished: bool      # every property answered, nothing cut off
    verdicts: dict      # property -> verdict (and depth for the symbolic engine)
    note: str
    wall_s: float
    cpu_s: float
    peak_mb: float


# ---------------------------------------------------------------- one run (child process)

def _variant_text(prop: str) -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_domain_specs import VARIANTS as RULES  # the failing variants, stated once there
    _spec, old, new = RULES[prop]
    text = MODEL.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise SystemExit(f"the parametric model no longer has the rule {prop} takes out")
    return text.replace(old, new)


def _invariants(ts):
    from tcpcheck import spec as S
    return [p for path in SPECS for p in S.resolve(S.parse_spec_file(path), ts)
            if p.kind == "invariant"]


def size_params(size: int) -> list[str]:
    """The parameter settings of one size in the configuration benchmarked."""
    config = CONFIGS[_config()]
    return [*(f"{name}={size}" for name in config.grown), *config.fixed]


def _config() -> str:
    return os.environ.get("ENGINES_CONFIG", CONFIG)


def _load(model: str, size: int):
    from tcpcheck import load
    from tcpcheck import spec as S
    params = size_params(size)
    keep = frozenset().union(*(S.variables_read(S.parse_spec_file(p)) for p in SPECS))
    text = None if model == "model" else _variant_text(model)
    return load(MODEL, params, keep=keep, text=text)


def run_explicit(model: str, size: int, max_memory: float) -> dict:
    from tcpcheck import csink
    from tcpcheck.explore import Deadline, explore
    from tcpcheck.query import check_property
    ts = _load(model, size)
    deadline = Deadline(None, max_memory)   # the time limit is the process's CPU limit
    try:
        csink.build(ts)
        core = "c"
    except csink.CoreUnavailable as why:
        core, note = "python", f"python core ({why})"
    else:
        note = "C core"
    ex = explore(ts, deadline=deadline, core=core)
    verdicts = {}
    if ex.complete:
        for p in _invariants(ts):
            verdicts[p.name] = str(check_property(ex, p, deadline).verdict)
    finished = ex.complete and not deadline.expired()
    return {"finished": finished, "verdicts": verdicts,
            "note": f"{note}, {len(ex.states):,} states"
                    + ("" if ex.complete else f", stopped: {ex.stop_reason}")}


# what the proof has found so far: a CPU limit (SIGXCPU) prints it (main: _on_cpu_limit)
PROVED_SO_FAR: dict[str, str] = {}


def run_proof(model: str, size: int, depth: int) -> dict:
    """k-induction with facts mined at the size --mine-at (tcpcheck.lemmas: the whole state
    space explored there, mined from it or from a sample of it past MINE_SAMPLE states,
    carried over to `size`, kept where Houdini proves them inductive):
    what `tcpcheck check ... --engine symbolic --param D=SIZE --lemmas-from D=2` does.
    In a configuration with `spacer_first`, z3's Spacer with no facts tries each invariant
    first, and only what it leaves is mined for."""
    from tcpcheck.explore import Deadline, explore
    from tcpcheck.kinduction import check_inductive, strengthen_from
    from tcpcheck.lemmas import mine
    mined_at = int(os.environ.get("ENGINES_MINE_AT") or CONFIGS[_config()].mined_at)
    ts = _load(model, size)
    left = _invariants(ts)
    if CONFIGS[_config()].spacer_first:
        left = [p for p in left if not _proved_without_facts(ts, p)]
        if not left:
            return {"finished": True, "verdicts": dict(PROVED_SO_FAR),
                    "note": "Spacer with no facts, nothing mined"}
    small = _load(model, mined_at)
    deadline = Deadline(None)       # the time limit is the process's CPU limit
    ex = explore(small, record_edges=False, deadline=deadline, core="auto")
    at = ",".join(size_params(mined_at)[:len(CONFIGS[_config()].grown)])
    # Houdini's own bound is wall time, which a shared machine stretches: the process's CPU
    # limit is the only bound here
    strong = strengthen_from(ts, mine(small, mining_sample(ex.states, small), ts, at),
                             deadline, float("inf"))
    if strong is None:
        return {"finished": False, "verdicts": dict(PROVED_SO_FAR),
                "note": "Houdini did not finish"}
    # k-induction first; what it leaves, z3's Spacer with the same facts (its invariant is
    # checked again before "proved": tcpcheck.kinduction.spacer_proves)
    results = check_inductive(ts, left, min(depth, 2), deadline,
                              strengthening=strong, spacer=True)
    verdicts = dict(PROVED_SO_FAR) | {
        r.name: (_how_proved(r) if str(r.verdict) == "holds" else f"{r.verdict} {r.depth}")
        for r in results}
    return {"finished": all(str(r.verdict) == "holds" for r in results), "verdicts": verdicts,
            "note": strong.text}


SPACER_FIRST_SECONDS = 60   # Spacer's time with no facts, a property (spacer_first)


def _proved_without_facts(ts, p) -> bool:
    """Whether z3's Spacer, assuming nothing, proves invariant `p` within
    SPACER_FIRST_SECONDS (its invariant checked again by a plain solver: spacer_proves),
    noted in PROVED_SO_FAR."""
    from tcpcheck.kinduction import _predicate, spacer_proves
    from tcpcheck.symbolic import width_of
    s, pred = _predicate(ts, p, width_of(ts))
    if spacer_proves(ts, s, pred, seconds=SPACER_FIRST_SECONDS) is not True:
        return False
    PROVED_SO_FAR[p.name] = "proved by Spacer with no facts"
    return True


def _how_proved(r) -> str:
    """"proved at k=K" (k-induction) or "proved by Spacer"."""
    from tcpcheck.bmc import ProvedBy
    return "proved by Spacer" if r.proved_by is ProvedBy.SPACER else f"proved at k={r.depth}"


MINE_SAMPLE = 500_000   # states mined at most (n = 3 has 6,138,320: all would take 15 GB)


def mining_sample(states, small) -> list[int]:
    """The states facts are mined from: all of them, or past MINE_SAMPLE a sample drawn with
    a fixed seed (the same every run), the initial states with it. A sample proposes more
    candidates, some false; Houdini drops those (a false fact is never inductive), so it
    costs time, never a verdict."""
    states = list(states)
    if len(states) <= MINE_SAMPLE:
        return states
    import random
    return random.Random(0).sample(states, MINE_SAMPLE) + list(small.initial)


def run_symbolic(model: str, size: int, depth: int) -> dict:
    from tcpcheck.bmc import check_bounded
    from tcpcheck.explore import Deadline
    ts = _load(model, size)
    # on the variant only the property it breaks: the search stops at its shortest run
    props = [p for p in _invariants(ts) if model in ("model", p.name)]
    results = check_bounded(ts, props, depth, Deadline(None))
    verdicts = {r.name: f"violated at depth {r.depth}" if str(r.verdict) == "violated"
                else f"{r.verdict} {r.depth}" for r in results}
    done = all(r.depth == depth or str(r.verdict) == "violated" for r in results)
    return {"finished": done, "verdicts": verdicts,
            "note": f"bounded model checking, {ts.state_bits} state bits"}


# ---------------------------------------------------------------- the table (parent)

def measure(engine: str, model: str, size: int, args: dict) -> Measured:
    """One run in a new process: its CPU time from getrusage(RUSAGE_CHILDREN) around it, its
    peak resident memory from /proc (VmHWM, read each second), killed past its limit."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--run", engine, model, str(size),
           str(args["time_limit"]), str(args["max_memory"]), str(args["depth"])]
    env = dict(os.environ, PYTHONPATH=str(ROOT), ENGINES_CONFIG=args["config"],
               ENGINES_MINE_AT=str(args["mine_at"]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    peak_kb, killed = 0, False
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, env=env,
                             start_new_session=True) as proc:
        while True:
            peak_kb = max(peak_kb, _hwm_kb(proc.pid))
            try:
                proc.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                if time.perf_counter() - start > args["time_limit"] * WALL_FACTOR:
                    os.killpg(proc.pid, signal.SIGKILL)   # our own child's session only
                    proc.wait()
                    killed = True
                    break
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode(errors="replace")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    why = (f"killed after {wall:.0f} s wall" if killed else
           f"CPU limit ({args['time_limit']:.0f} s) reached" if proc.returncode == -signal.SIGXCPU
           else (errors.strip().splitlines() or [f"no output, exit {proc.returncode}"])[-1])
    got = {"finished": False, "verdicts": {}, "note": why}
    if text.strip():
        got = json.loads(text)
    return Measured(engine, model, size, got["finished"], got["verdicts"], got["note"], wall,
                    cpu, peak_kb / 1024)


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def row(m: Measured) -> str:
    verdicts = "; ".join(f"{k}: {v}" for k, v in sorted(m.verdicts.items())) or "-"
    return (f"| {m.size} | {m.engine} | {m.model} | {'yes' if m.finished else 'no'} | "
            f"{m.cpu_s:.1f} | {m.wall_s:.1f} | {m.peak_mb:.0f} | {verdicts} | {m.note} |")


def crossover(rows: list[Measured], model: str) -> int | None:
    """The first size where the symbolic engine answered on `model` (the model's invariants,
    or a variant's counterexample) and the explorer either did not answer or took more CPU
    time for it."""
    for size in sorted({m.size for m in rows}):
        sy = [m for m in rows if (m.size, m.engine, m.model) == (size, "symbolic", model)]
        ex = [m for m in rows if (m.size, m.engine, m.model) == (size, "explicit", model)]
        if not sy or not sy[0].finished:
            continue
        if not ex or not ex[0].finished or ex[0].cpu_s > sy[0].cpu_s:
            return size
    return None


def proof_crossover(rows: list[Measured], prop: str) -> int | None:
    """The first size where the proof proved `prop` and the explorer either did not finish
    or took more CPU time (--proof-vs-explicit)."""
    for size in sorted({m.size for m in rows}):
        pr = [m for m in rows if (m.size, m.engine) == (size, "proof")]
        ex = [m for m in rows if (m.size, m.engine) == (size, "explicit")]
        if not pr or not str(pr[0].verdicts.get(prop, "")).startswith("proved"):
            continue
        if not ex or not ex[0].finished or ex[0].cpu_s > pr[0].cpu_s:
            return size
    return None


def _on_cpu_limit(_signum, _frame) -> None:
    """The child's CPU limit: what the proof found so far, not finished."""
    print(json.dumps({"finished": False, "verdicts": dict(PROVED_SO_FAR),
                      "note": "CPU limit reached"}), flush=True)
    os._exit(0)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--run"]:
        engine, model, size, limit, memory, depth = argv[1:7]
        cpu = int(float(limit))
        # SIGXCPU ends the run (a proof's with what it proved so far); the hard limit kills
        # it when a solver call holds the signal back past a few minutes
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 300))
        if engine == "proof":
            signal.signal(signal.SIGXCPU, _on_cpu_limit)
        if engine == "explicit":
            got = run_explicit(model, int(size), float(memory))
        elif engine == "proof":
            got = run_proof(model, int(size), int(depth))
        else:
            got = run_symbolic(model, int(size), int(depth))
        print(json.dumps(got))
        return
    args = {"time_limit": 600.0, "max_memory": 4000.0, "depth": 8, "config": CONFIG,
            "mine_at": None}
    sizes = [2, 3, 4, 5]
    it = iter(argv)
    for a in it:
        if a == "--sizes":
            sizes = [int(x) for x in next(it).split(",")]
        elif a in ("--time-limit", "--max-memory"):
            args[a[2:].replace("-", "_")] = float(next(it))
        elif a == "--proof":
            pass
        elif a == "--only-proof":
            args["only_proof"] = True
        elif a == "--proof-vs-explicit":
            args["proof_vs_explicit"] = True
        elif a == "--config" or a == "--mine-at":
            args[a[2:].replace("-", "_")] = next(it)
        elif a == "--depth":
            args["depth"] = int(next(it))
        else:
            raise SystemExit(__doc__)
    if args["config"] not in CONFIGS:
        raise SystemExit(f"--config: one of {', '.join(CONFIGS)}")
    config = CONFIGS[args["config"]]
    args["mine_at"] = int(args["mine_at"] or config.mined_at)
    print(f"load average before: {os.getloadavg()[0]:.2f}; limits: {args['time_limit']:.0f} CPU s, "
          f"{args['max_memory']:.0f} MB; symbolic depth {args['depth']}; configuration "
          f"{args['config']} ({', '.join(config.fixed)}), size n: "
          f"{' = '.join(config.grown)} = n; facts mined at n = {args['mine_at']}",
          flush=True)
    print("| n | engine | model | finished | CPU s | wall s | peak MB | verdicts | note |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    rows: list[Measured] = []
    if args.get("proof_vs_explicit"):
        for size in sizes:
            for engine in ("explicit", "proof"):
                m = measure(engine, "model", size, args)
                rows.append(m)
                print(row(m), flush=True)
        for prop in VARIANTS:     # the invariants the failing variants break
            at = proof_crossover(rows, prop)
            print(f"crossover for proving {prop}: " + (f"n = {at}" if at is not None else
                                                        "not within these sizes"))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        return
    explicit_out = False
    for size in sizes:
        for engine in () if args.get("only_proof") else ("explicit", "symbolic"):
            for model in ("model", *VARIANTS):
                if engine == "explicit" and explicit_out:
                    print(f"| {size} | explicit | {model} | not run | | | | | did not finish "
                          f"at a smaller D |", flush=True)
                    continue
                m = measure(engine, model, size, args)
                rows.append(m)
                print(row(m), flush=True)
                if engine == "explicit" and not m.finished:
                    explicit_out = True
        if "--proof" in argv or args.get("only_proof"):
            m = measure("proof", "model", size, args)
            rows.append(m)
            print(row(m), flush=True)
    for model in ("model", *VARIANTS):
        at = crossover(rows, model)
        what = "the invariants (bounded)" if model == "model" else f"the variant of {model}"
        print(f"crossover for {what}: " + (f"D = {at}" if at is not None else
                                            "not within these sizes"))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
