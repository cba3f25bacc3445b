#!/usr/bin/env python3
"""Draw bench/scaling.svg and bench/workers.svg from the tables in bench/RESULTS.md.

    pip install matplotlib && python bench/plot.py [--results bench/RESULTS.md] [--out bench/scaling.svg] [--workers-out bench/workers.svg]

scaling.svg, from the table bench/run.py wrote: two panels against states stored (log scale),
one line per engine:
  - states per second: tcpcheck's is its search time's (the Python core's and the compiled
    core's, `--core c`); SPIN's is pan's own time's (pan s);
  - bytes per state: tcpcheck's is peak RSS growth over the same command stopped after one
    state (the table's column); SPIN's is pan's peak RSS minus its peak RSS at the smallest N
    (its preallocated hash table and stack), over the states.
workers.svg, from the table between the "workers table" markers (bench/jobs.py's figures,
and Ray's): states per wall second against the number of workers, one line per runner.
The figures are read from the tables, so the plots show exactly what was measured; nothing
is run here. matplotlib is only needed for this script, not by tcpcheck.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_table(path: Path) -> list[dict]:
    """The rows between run.py's marker lines, as numbers."""
    rows = []
    for cells in _cells(path, "bench/run.py table"):
        rss = re.match(r"([\d.]+)\s*/\s*([\d.]+|-)", cells["peak RSS MiB (tcpcheck / pan)"])
        rows.append({
            "n": int(cells["N"]),
            "states": int(cells["states"].replace(",", "")),
            "pan_s": _num(cells["pan s"]),
            "search_s": _num(cells["tcpcheck search s"]),
            "tcpcheck_bps": _num(cells["bytes/state"]),
            "pan_rss": _num(rss.group(2)) if rss else None,
            "c_search_s": _num(cells.get("C search s", "-")),
            "c_bps": _num(cells.get("C bytes/state", "-")),
        })
    return sorted(rows, key=lambda r: r["n"])


def read_workers(path: Path) -> list[dict]:
    """The rows of the workers table: runner, workers, states, wall seconds."""
    return [{"runner": cells["runner"], "workers": int(cells["workers"]),
             "states": int(cells["states"].replace(",", "")),
             "wall_s": float(cells["wall s"])} for cells in _cells(path, "workers table")]


def _cells(path: Path, marker: str) -> list[dict[str, str]]:
    """The rows of the Markdown table between `<!-- MARKER: begin -->` and its end, each as
    {column heading: cell}."""
    text = path.read_text(encoding="utf-8")
    body = text.split(f"<!-- {marker}: begin -->", 1)[1].split(f"<!-- {marker}: end -->", 1)[0]
    lines = [ln for ln in body.splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in ln.strip("|").split("|")))) for ln in lines[2:]]


def _num(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    # matplotlib writes a date and random ids into SVGs unless told not to
    plt.rcParams["svg.hashsalt"] = "tcpcheck"
    states = [r["states"] for r in rows]
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    tc = [(r["states"], r["states"] / r["search_s"]) for r in rows if r["search_s"]]
    pan = [(r["states"], r["states"] / r["pan_s"]) for r in rows if r["pan_s"]]
    speed.plot(*zip(*tc), "o-", label="tcpcheck, Python core (search)")
    cc = [(r["states"], r["states"] / r["c_search_s"]) for r in rows if r["c_search_s"]]
    if cc:
        speed.plot(*zip(*cc), "^-", label="tcpcheck, compiled core (search)")
    if pan:
        speed.plot(*zip(*pan), "s--", label="SPIN (pan)")
    speed.set(xscale="log", yscale="log", xlabel="states stored", ylabel="states per second",
              title="speed as the state space grows")
    speed.axhline(2e6, color="#999999", linewidth=0.8, linestyle=":")
    speed.annotate("target (issue 17): 2M states/s", (states[0], 2e6), textcoords="offset points",
                   xytext=(0, 4), fontsize=8, color="#666666")

    tcb = [(r["states"], r["tcpcheck_bps"]) for r in rows if r["tcpcheck_bps"]]
    base = next((r["pan_rss"] for r in rows if r["pan_rss"] is not None), None)
    panb = [(r["states"], (r["pan_rss"] - base) * 2**20 / r["states"]) for r in rows
            if r["pan_rss"] is not None and base is not None and r["pan_rss"] > base]
    memory.plot(*zip(*tcb), "o-", label="tcpcheck, Python core")
    cb = [(r["states"], r["c_bps"]) for r in rows if r["c_bps"]]
    if cb:
        memory.plot(*zip(*cb), "^-", label="tcpcheck, compiled core")
    if panb:
        memory.plot(*zip(*panb), "s--", label="SPIN (pan, above its smallest run)")
    memory.axhline(64, color="#999999", linewidth=0.8, linestyle=":")
    memory.annotate("target (issue 17): 64 bytes/state", (states[0], 64), textcoords="offset points",
                    xytext=(0, 4), fontsize=8, color="#666666")
    memory.set(xscale="log", xlabel="states stored", ylabel="bytes per stored state",
               title="memory per state")
    for ax in (speed, memory):
        ax.grid(True, which="major", linewidth=0.4, color="#dddddd")
        ax.legend(fontsize=8)
    fig.suptitle("teardown benchmark (models/bench/teardown_n.tcpm, N = "
                 f"{rows[0]['n']}..{rows[-1]['n']}), figures from bench/RESULTS.md")
    fig.tight_layout()
    fig.savefig(out, metadata={"Date": None})
    plt.close(fig)


def plot_workers(rows: list[dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "tcpcheck"
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for runner in dict.fromkeys(r["runner"] for r in rows):
        mine = sorted((r["workers"], r["states"] / r["wall_s"]) for r in rows
                      if r["runner"] == runner)
        ax.plot(*zip(*mine), "o-", label=runner)
    ax.set(xlabel="workers", ylabel="states per wall second", ylim=(0, None),
           title="states per second against workers")
    ax.set_xticks(sorted({r["workers"] for r in rows}))
    ax.grid(True, linewidth=0.4, color="#dddddd")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, metadata={"Date": None})
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--out", type=Path, default=HERE / "scaling.svg")
    ap.add_argument("--workers-out", type=Path, default=HERE / "workers.svg")
    args = ap.parse_args()
    rows = read_table(args.results)
    plot(rows, args.out)
    print(f"wrote {args.out} ({len(rows)} rows from {args.results})")
    workers = read_workers(args.results)
    plot_workers(workers, args.workers_out)
    print(f"wrote {args.workers_out} ({len(workers)} rows from {args.results})")


if __name__ == "__main__":
    main()
