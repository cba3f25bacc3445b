"""`tcpcheck watch`: what it says when a check changes (tcpcheck.watch.changes), and the
command itself reacting to a saved edit and ending cleanly on Ctrl-C (SIGINT)."""
from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tcpcheck.diagnostics import Diagnostic, Span
from tcpcheck.explore import Deadline
from tcpcheck.verdicts import ExitStatus, Verdict

watch = pytest.importorskip("tcpcheck.watch", reason="tcpcheck watch needs watchfiles")

ROOT = Path(__file__).resolve().parent.parent
LOSSY = ROOT / "tests" / "fixtures" / "models" / "lossy.tcpm"

SPEC = '''model "../models/lossy.tcpm"
reachable fin_wait_2_reached "the client reaches FIN_WAIT_2":
    eventually client.state == FIN_WAIT_2
invariant never_closing "nobody in CLOSING": client.state != CLOSING
'''


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "specs").mkdir()
    shutil.copy(LOSSY, tmp_path / "models" / "lossy.tcpm")
    (tmp_path / "specs" / "a.spec").write_text(SPEC)
    return tmp_path


def _snapshot(workdir: Path) -> "watch.Snapshot":
    return watch.take_snapshot([workdir / "specs" / "a.spec"], None, LOSSY, workdir / "specs",
                               [], None, Deadline())


def test_a_flipped_verdict_then_a_new_diagnostic_then_its_fix(workdir):
    spec = workdir / "specs" / "a.spec"
    first = _snapshot(workdir)
    assert dict(first.verdicts) == {f"{spec}: fin_wait_2_reached": Verdict.HOLDS,
                                    f"{spec}: never_closing": Verdict.HOLDS}
    assert first.status is ExitStatus.OK
    assert set(first.files) == {spec, workdir / "models" / "lossy.tcpm"}

    spec.write_text(SPEC.replace("== FIN_WAIT_2", "== TIME_WAIT"))
    flipped = _snapshot(workdir)
    said = watch.changes(first, flipped)
    assert said == [f"flipped {spec}: fin_wait_2_reached: holds -> violated",
                    "= 1 holds, 1 violated (exit 1)"]

    spec.write_text(SPEC.replace("client.state != CLOSING", "client.stat != CLOSING"))
    broken = _snapshot(workdir)
    said = watch.changes(flipped, broken, flipped)
    assert said[0] == "properties not checked: the input has errors"
    assert said[1].startswith(f"new {spec}:4:") and "error[TCP201]" in said[1]
    assert said[-1] == "= 1 error (exit 2)"

    spec.write_text(SPEC)
    mended = _snapshot(workdir)
    # compared with the last check that had verdicts: one flipped back, none "new"
    said = watch.changes(broken, mended, flipped)
    assert said[0] == f"flipped {spec}: fin_wait_2_reached: violated -> holds"
    assert said[1].startswith("fixed ") and "TCP201" in said[1]
    assert watch.changes(mended, mended) == ["no change", "= 2 holds (exit 0)"]


def test_a_diagnostic_is_the_same_one_when_only_its_line_moved():
    span = Span("m.tcpm", 3, 1, 3, 5)
    moved = Span("m.tcpm", 4, 1, 4, 5)
    before = watch.Snapshot((), (Diagnostic("TCP201", "unknown variable 'x'", span),), (),
                            ExitStatus.BAD_INPUT)
    after = watch.Snapshot((), (Diagnostic("TCP201", "unknown variable 'x'", moved),), (),
                           ExitStatus.BAD_INPUT)
    assert watch.changes(before, after) == ["properties not checked: the input has errors",
                                            "= 1 error (exit 2)"]


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def _wait_for(lines: queue.Queue, seen: list[str], text: str, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return True
    return False


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT, as Ctrl-C does")
def test_the_command_reacts_to_a_save_and_ends_on_ctrl_c(workdir):
    spec = workdir / "specs" / "a.spec"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tcpcheck", "watch", "specs/a.spec"],
                            cwd=workdir, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out: queue.Queue = queue.Queue()
    err: queue.Queue = queue.Queue()
    for stream, into in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=_lines, args=(stream, into), daemon=True).start()
    seen: list[str] = []
    try:
        assert _wait_for(out, seen, "= 2 holds (exit 0)", 60), seen
        assert _wait_for(err, seen, "watching 2 files", 10), seen
        # the watcher may start a moment after it says so: save again until it reacts
        flipped = False
        for _ in range(10):
            spec.write_text(SPEC.replace("== FIN_WAIT_2", "== TIME_WAIT"))
            if _wait_for(out, seen, "flipped specs/a.spec: fin_wait_2_reached: holds -> "
                                    "violated", 3):
                flipped = True
                break
        assert flipped, seen
        assert _wait_for(out, seen, "= 1 holds, 1 violated (exit 1)", 10), seen
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == ExitStatus.VIOLATED   # the last check's status
        assert _wait_for(err, seen, "watch ended (SIGINT)", 5), seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_transcript_of_docs_editors_md_is_what_watch_prints(tmp_path, monkeypatch):
    # docs/editors.md shows `tcpcheck watch specs/teardown.spec` across three saves: `== 4`
    # made `== 3` in four_way_close_is_possible, a typo in an observation, both undone. The
    # same saves are made here to copies, and each check printed as the command prints it
    # (the first in full, then the changes); the page's `...` stands for verdicts left out.
    page = (ROOT / "docs" / "editors.md").read_text(encoding="utf-8")
    shown = page.split("$ tcpcheck watch specs/teardown.spec\n", 1)[1].split("```", 1)[0]
    shown_lines = shown.rstrip("\n").split("\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "models" / "teardown.tcpm", tmp_path / "models")
    original = (ROOT / "specs" / "teardown.spec").read_text(encoding="utf-8")
    spec = Path("specs/teardown.spec")
    monkeypatch.chdir(tmp_path)
    spec.write_text(original)

    def snapshot() -> "watch.Snapshot":
        return watch.take_snapshot([spec], None, Path("models/teardown.tcpm"), Path("specs"),
                                   [], None, Deadline())

    fewer = original.replace("count(sends(any, any)) == 4", "count(sends(any, any)) == 3", 1)
    typo = fewer.replace("    observed three_way_close\n", "    observed three_way_clos\n", 1)
    assert original != fewer != typo
    last = checked = snapshot()
    printed = watch.summary(last)
    for text in (fewer, typo, original):
        spec.write_text(text)
        now = snapshot()
        printed += ["-- saved: specs/teardown.spec", *watch.changes(last, now, checked)]
        last, checked = now, (now if now.status is not ExitStatus.BAD_INPUT else checked)
    cut = shown_lines.index("...")
    head, tail = shown_lines[:cut], shown_lines[cut + 1:]
    assert printed[:len(head)] == head
    assert printed[len(printed) - len(tail):] == tail
