"""The README's figures of the shipped captures: how many of each source the model accepts,
and the reason for each rejection (issue 11, point 5).

    python scripts/capture_figures.py              # print the Markdown tables
    python scripts/capture_figures.py --only so_linger_zero.pcap --only four_way_close.pkt

Every capture in tests/captures (its subfolders too) and every packetdrill script in tests/pkt
is replayed against models/teardown.tcpm with what its expected.toml says of it:
- `scenario`: a `tcpcheck conform` capture, replayed as conform does (the scenario's
  parameters fixed, the channels as deep as the capture needs) and, where the scenario's calls
  met an RST (`calls`), with the kernel's results of those calls;
- `params`: parameters fixed for the replay, as `--param`; every other one is open;
- `side`: a one-sided replay of that endpoint (`--side`), the peer taken as given;
- `links/` holds one conform capture under other link types: replayed as that capture.
A `.pkt` script is one-sided, as the endpoint it describes. Captures are grouped by their
`source`; an expected rejection (`verdict = "rejected"`: a capture shipped as an example of
what Linux cannot do) is counted apart from a rejection nobody expected.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # this checkout's tcpcheck, wherever the script is run from

from tcpcheck import load
from tcpcheck.capture import read_capture
from tcpcheck.cli_conform import ReplayLimits
from tcpcheck.cli_conform import replay_one as replay_as_the_command
from tcpcheck.conform import SCENARIOS
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.oneside import replay_side
from tcpcheck.packetdrill import read_script
from tcpcheck.replay import calls_after_error, channel_depth, open_params, replay
from tcpcheck.replay_report import replay_lines
from tcpcheck.verdicts import ExitStatus, Verdict

MODEL = ROOT / "models" / "teardown.tcpm"
CAPTURES = ROOT / "tests" / "captures"
PKT = ROOT / "tests" / "pkt"
# the link-type variants: one conform capture, rewritten by make_link_types.py
LINKS_ORIGINAL = "passive_sends_data_then_closes.pcap"

# how each source is named in the table, in the table's order
SOURCES = {
    "conform": "`tcpcheck conform` scenarios (Linux, loopback)",
    "links": "the same under other link types (`links/`)",
    "user": "ordinary programs written for the tests (`user/`)",
    "other stack": "one Linux endpoint, the peer another stack (`oneside/`, `--side`)",
    "packetdrill": "the project's packetdrill scripts (`tests/pkt`, one-sided)",
    "hand-made": "hand-made, impossible for TCP (`invalid/`)",
}


@dataclass(frozen=True)
class Shipped:
    """A capture or script as its expected.toml describes it."""
    name: str                       # its path under tests/captures or tests/pkt
    path: Path
    source: str
    expected: str                   # "accepted" or "rejected"
    kind: str | None                # the kind of close expected of an accepted one
    needs: str | None               # what the model lacks to accept it yet (expected.toml)
    params: tuple[str, ...]         # fixed; every other parameter is open
    open_rest: bool                 # False: only `params` (a conform scenario's are all)
    side: str | None
    calls: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Outcome:
    shipped: Shipped
    verdict: str                    # accepted, rejected, inconclusive, unreadable, ...
    reason: str                     # one line: why not accepted, or what differs; or empty

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.shipped.expected and not (self.verdict == "accepted"
                                                              and self.reason)


def _entry(name: str, want: dict, path: Path) -> Shipped:
    scenario = {s.name: s for s in SCENARIOS}.get(want.get("scenario", ""))
    params = tuple(scenario.params) if scenario else tuple(want.get("params", ()))
    calls = tuple(sorted((side, got) for side, rec in want.get("calls", {}).items()
                         if (got := calls_after_error(rec)) is not None))
    side = want.get("side")
    # a one-sided capture's figure is its --side verdict, not the two-sided one
    one_sided = "side_" if "side_verdict" in want else ""
    return Shipped(name, path, want["source"], want[f"{one_sided}verdict"],
                   want.get(f"{one_sided}kind"), want.get("needs"), params, scenario is None,
                   side, calls)


def shipped() -> list[Shipped]:
    """Every capture and script the project ships, with its expected.toml entry."""
    captures = tomllib.loads((CAPTURES / "expected.toml").read_text(encoding="utf-8"))
    scripts = tomllib.loads((PKT / "expected.toml").read_text(encoding="utf-8"))
    out = [_entry(name, want, CAPTURES / name) for name, want in captures.items()]
    original = captures[LINKS_ORIGINAL]
    out += [_entry(str(p.relative_to(CAPTURES)), {**original, "source": "links"}, p)
            for p in sorted((CAPTURES / "links").iterdir())
            if p.suffix in (".pcap", ".pcapng")]
    out += [_entry(name, want, PKT / name) for name, want in scripts.items()]
    return out


def _reason(lines: list[str]) -> str:
    """The verdict line of a replay, without its `verdict: ` (the one-line reason)."""
    said = next((ln for ln in lines if ln.startswith("verdict: ")), lines[-1])
    return said.removeprefix("verdict: ")


_systems: dict = {}


def _system(item: Shipped, captured):
    """The model for this item, compiled once per (parameters, channel depth)."""
    depth = channel_depth([captured])
    key = (item.params, item.open_rest, depth)
    if key not in _systems:
        params = open_params(MODEL, list(item.params)) if item.open_rest else list(item.params)
        _systems[key] = load(MODEL, params, min_capacity=depth)
    return _systems[key]


def replay_one(item: Shipped) -> Outcome:
    """Replay a shipped capture or script as its expected.toml says, to a verdict and why."""
    try:
        if item.path.suffix == ".pkt":
            script = read_script(item.path)
            ts = _system(item, script.capture)
            # as `tcpcheck replay SCRIPT.pkt` does: its endpoint, its calls, its settings
            r = replay_as_the_command(ts, script, None, False, ReplayLimits())
        else:
            cap = read_capture(item.path)
            ts = _system(item, cap)
            r = (replay_side(ts, cap, item.side) if item.side else replay(ts, cap))
            if r.accepted and item.calls:
                with_calls = replay(ts, cap, calls=dict(item.calls), check_timing=False)
                if not with_calls.accepted:
                    return Outcome(item, "rejected", "the segments fit, but no run gives the "
                                   "results the kernel's calls gave after the RST")
    except TcpcheckError as err:
        return Outcome(item, "unreadable", "; ".join(d.message for d in err.diagnostics))
    if r.verdict is not Verdict.ACCEPTED:     # (a run untimely is accepted but rejected)
        return Outcome(item, r.verdict.value, _reason(replay_lines(r, show_run=False)))
    if item.kind is not None and r.kind != item.kind:
        return Outcome(item, "accepted", f"a {r.kind} close, expected.toml says {item.kind}")
    return Outcome(item, "accepted", "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(outcomes: Iterable[Outcome]) -> list[str]:
    """The Markdown: counts by source, then every rejection with its reason."""
    outcomes = list(outcomes)
    by_source = {s: [o for o in outcomes if o.shipped.source == s] for s in SOURCES}
    unknown = sorted({o.shipped.source for o in outcomes} - set(SOURCES))
    by_source.update({s: [o for o in outcomes if o.shipped.source == s] for s in unknown})
    lines = [("| source | captures | accepted | rejected, as expected | rejected, not expected "
              "| no verdict |"), "|---|---:|---:|---:|---:|---:|"]
    total = [0] * 5
    for source, rows in by_source.items():
        if not rows:
            continue
        counts = [len(rows), sum(o.verdict == "accepted" for o in rows),
                  sum(o.verdict == "rejected" and o.as_expected for o in rows),
                  sum(o.verdict == "rejected" and not o.as_expected for o in rows),
                  sum(o.verdict not in ("accepted", "rejected") for o in rows)]
        total = [a + b for a, b in zip(total, counts)]
        lines.append(f"| {SOURCES.get(source, source)} | " + " | ".join(map(str, counts)) + " |")
    lines.append("| **all** | " + " | ".join(f"**{n}**" for n in total) + " |")
    rejected = [o for o in outcomes if o.verdict != "accepted"]
    if rejected:
        lines += ["", "| capture | expected | why not accepted |", "|---|---|---|"]
        lines += [f"| `{o.shipped.name}` | {_expected(o.shipped)} | {_cell(o.reason)} |"
                  for o in rejected]
    surprises = [o for o in outcomes if o.verdict == "accepted" and not o.as_expected]
    if surprises:
        lines += ["", "Accepted, but not as expected.toml says:", ""]
        lines += [f"- `{o.shipped.name}`: {o.reason or 'expected to be rejected'}"
                  for o in surprises]
    return lines


def _expected(item: Shipped) -> str:
    return item.expected + (f" (needs the {item.needs})" if item.needs else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="replay only this capture or script (its name in expected.toml)")
    args = ap.parse_args(argv)
    items = [s for s in shipped() if args.only is None or s.name in args.only]
    if args.only and len(items) != len(set(args.only)):
        missing = sorted(set(args.only) - {s.name for s in items})
        print(f"capture_figures: not in any expected.toml: {', '.join(missing)}",
              file=sys.stderr)
        return ExitStatus.BAD_INPUT
    print("\n".join(table(replay_one(s) for s in items)))
    return ExitStatus.OK


if __name__ == "__main__":
    sys.exit(main())
