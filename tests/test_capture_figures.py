"""scripts/capture_figures.py, the README's figures of the shipped captures by source: it counts
every capture and script the project ships, replays each as its expected.toml says, and the
README shows its table. Replaying all of them takes a minute, so the test replays one of each
way of replaying (a conform scenario, a link type, a hand-made capture, a one-sided capture
of another stack, a packetdrill script) and checks the README's table counts every capture."""
from __future__ import annotations

import re
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import capture_figures as figures  # noqa: E402  (a script, not a module of the package)

README = (ROOT / "README.md").read_text(encoding="utf-8")
SHIPPED = {s.name: s for s in figures.shipped()}
SUBSET = ["so_linger_zero.pcap", "links/pppoe.pcap", "invalid/data_after_rst.pcap",
          "oneside/linux_server_peer_resets.pcap", "four_way_close.pkt"]


def test_every_shipped_capture_and_script_is_counted_once_with_its_source():
    captures = figures.CAPTURES
    on_disk = ({str(p.relative_to(captures)) for p in captures.rglob("*.pcap*")}
               | {p.name for p in figures.PKT.glob("*.pkt")})
    assert set(SHIPPED) == on_disk
    assert {s.source for s in SHIPPED.values()} == set(figures.SOURCES)
    # the one-sided capture is counted for its --side verdict, not the two-sided rejection
    oneside = SHIPPED["oneside/linux_server_peer_resets.pcap"]
    assert oneside.side == "server" and oneside.expected == "accepted"


@pytest.fixture(scope="module")
def outcomes():
    return [figures.replay_one(SHIPPED[name]) for name in SUBSET]


def test_a_capture_of_each_source_replays_as_its_expected_file_says(outcomes):
    for o in outcomes:
        assert o.as_expected, (o.shipped.name, o.verdict, o.reason)
    rejected = next(o for o in outcomes if o.shipped.name == "invalid/data_after_rst.pcap")
    assert rejected.reason.startswith("rejected at segment #2: ")   # expected.toml's failed_at


def test_the_table_counts_by_source_and_gives_each_rejection_its_reason(outcomes):
    lines = figures.table(outcomes)
    rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in lines[2:] if ln.startswith("| ")}
    assert rows[figures.SOURCES["conform"]].endswith("| 1 | 1 | 0 | 0 | 0 |")
    assert rows[figures.SOURCES["hand-made"]].endswith("| 1 | 0 | 1 | 0 | 0 |")
    assert rows["**all**"] == "| **all** | **5** | **4** | **1** | **0** | **0** |"
    assert ("| `invalid/data_after_rst.pcap` | rejected | rejected at segment #2: no run of "
            "model teardown sends client DATA(ack=0)") in "\n".join(lines)


def test_the_readme_shows_the_table_for_every_shipped_capture_and_how_to_remake_it():
    assert "python scripts/capture_figures.py" in README
    header = figures.table([])[0]
    assert header in README
    total = re.search(r"^\| \*\*all\*\* \| \*\*(\d+)\*\* \|", README, re.M)
    assert total and int(total.group(1)) == len(SHIPPED), \
        "the README's capture figures are out of date: run python scripts/capture_figures.py"
