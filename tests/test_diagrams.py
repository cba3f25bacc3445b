"""`tcpcheck diagrams`: the pictures the README and docs/ show are redrawn by one command, and
`--check` names every committed picture that has gone stale (so they cannot rot unseen)."""
from __future__ import annotations

import shutil
from pathlib import Path

from conftest import ROOT, run_tcpcheck
from tcpcheck.verdicts import ExitStatus


def test_check_names_exactly_the_stale_pictures(tmp_path: Path):
    # a copy of the committed DOT sources with one changed, one gone and one left over: every
    # other one must equal what tcpcheck draws today, or it is named too and the test fails
    shutil.copytree(ROOT / "out", tmp_path / "out", ignore=shutil.ignore_patterns("*.svg"))
    changed = tmp_path / "out" / "three_way_close_is_possible.ladder.dot"
    changed.write_text(changed.read_text(encoding="utf-8").replace("FIN", "SYN"),
                       encoding="utf-8")
    (tmp_path / "out" / "endpoint.dot").unlink()
    (tmp_path / "out" / "a_property_since_renamed.ladder.dot").write_text("digraph {}\n")
    r = run_tcpcheck("diagrams", "--check", "-o", str(tmp_path))
    assert r.returncode == ExitStatus.VIOLATED, r.stderr
    assert r.stdout.splitlines() == [
        "stale: out/endpoint.dot (missing)",
        "stale: out/three_way_close_is_possible.ladder.dot (differs)",
        "stale: out/a_property_since_renamed.ladder.dot (no longer drawn)",
    ]
    assert "3 stale picture(s); run `tcpcheck diagrams`" in r.stderr
    assert not list(tmp_path.rglob("*.svg")), "--check wrote a picture"


def test_help_says_what_is_drawn_and_how_it_is_compared():
    r = run_tcpcheck("diagrams", "--help")
    assert r.returncode == 0
    said = " ".join(r.stdout.split())
    for words in ("check --out out/", "graph --view endpoint", "docs/report.png",
                  "compares the .dot sources only", "1: --check found stale pictures"):
        assert words in said, words
