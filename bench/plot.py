#!/usr/bin/env python3
"""Draw bench/scaling.svg from the table bench/run.py wrote into bench/RESULTS.md.

    pip install matplotlib && python bench/plot.py [--results bench/RESULTS.md] [--out bench/scaling.svg]

Two panels against states stored (log scale), one line per tool:
  - states per second: tcpcheck's is its search time's; SPIN's is pan's own time's (pan s);
  - bytes per state: tcpcheck's is peak RSS growth over the same command stopped after one
    state (the table's column); SPIN's is pan's peak RSS minus its peak RSS at the smallest N
    (its preallocated hash table and stack), over the states.
The figures are read from the table, so the plot shows exactly what was measured; nothing
is run here. matplotlib is only needed for this script, not by tcpcheck.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_table(path: Path) -> list[dict]:
    """The rows between run.py's marker lines, as numbers."""
    text = path.read_text(encoding="utf-8")
    body = text.split("<!-- bench/run.py table: begin -->", 1)[1].split(
        "<!-- bench/run.py table: end -->", 1)[0]
    lines = [ln for ln in body.splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for ln in lines[2:]:
        cells = dict(zip(head, (c.strip() for c in ln.strip("|").split("|"))))
        rss = re.match(r"([\d.]+)\s*/\s*([\d.]+|-)", cells["peak RSS MiB (tcpcheck / pan)"])
        rows.append({
            "n": int(cells["N"]),
            "states": int(cells["states"].replace(",", "")),
            "pan_s": _num(cells["pan s"]),
            "search_s": _num(cells["tcpcheck search s"]),
            "tcpcheck_bps": _num(cells["bytes/state"]),
            "pan_rss": _num(rss.group(2)) if rss else None,
        })
    return rows


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
    speed.plot(*zip(*tc), "o-", label="tcpcheck (search)")
    if pan:
        speed.plot(*zip(*pan), "s--", label="SPIN (pan)")
    speed.set(xscale="log", yscale="log", xlabel="states stored", ylabel="states per second",
              title="speed as the state space grows")
    speed.axhline(1e6, color="#999999", linewidth=0.8, linestyle=":")
    speed.annotate("target: 1M states/s", (states[0], 1e6), textcoords="offset points",
                   xytext=(0, 4), fontsize=8, color="#666666")

    tcb = [(r["states"], r["tcpcheck_bps"]) for r in rows if r["tcpcheck_bps"]]
    base = next((r["pan_rss"] for r in rows if r["pan_rss"] is not None), None)
    panb = [(r["states"], (r["pan_rss"] - base) * 2**20 / r["states"]) for r in rows
            if r["pan_rss"] is not None and base is not None and r["pan_rss"] > base]
    memory.plot(*zip(*tcb), "o-", label="tcpcheck")
    if panb:
        memory.plot(*zip(*panb), "s--", label="SPIN (pan, above its smallest run)")
    memory.axhline(100, color="#999999", linewidth=0.8, linestyle=":")
    memory.annotate("target: 100 bytes/state", (states[0], 100), textcoords="offset points",
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--out", type=Path, default=HERE / "scaling.svg")
    args = ap.parse_args()
    rows = read_table(args.results)
    plot(rows, args.out)
    print(f"wrote {args.out} ({len(rows)} rows from {args.results})")


if __name__ == "__main__":
    main()
