"""`tcpcheck diagrams`: regenerate the pictures the README and docs/ show (every run's ladder
and joint graph from `check --out`, the endpoint diagram, the report's screenshot) into their
committed places, or check that the committed ones are current.

Each picture is made by the same tcpcheck command a user would run, in a child process, into a
staging directory first: a failing step leaves every committed picture as it was. `--check`
compares the DOT sources, not the images: the DOT is tcpcheck's own deterministic output, while
the SVG carries the Graphviz version's layout noise and the PNG the browser's."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from .verdicts import ExitStatus

# the checkout the package runs from: where the README and docs/ find their pictures
ROOT = Path(__file__).resolve().parent.parent
LAPTOP = (1280, 2400)   # the report screenshot's window, as tests/test_report_browser.py takes it


@dataclass(frozen=True)
class Step:
    """One tcpcheck command that draws pictures into `out` (a path under the staging root)."""
    what: str
    argv: tuple[str, ...]


STEPS = (
    Step("every run's ladder and joint graph (check --out out/)",
         ("check", "--out", "{stage}/out", "--no-progress")),
    Step("the endpoint diagram (graph --view endpoint)",
         ("graph", "--view", "endpoint", "-o", "{stage}/out/endpoint.svg", "--no-progress")),
)
SCREENSHOT = Path("docs/report.png")


def _run(step: Step, stage: Path) -> None:
    argv = [a.format(stage=stage) for a in step.argv]
    done = subprocess.run([sys.executable, "-m", "tcpcheck", *argv], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        click.echo(f"tcpcheck: diagrams: {step.what} failed (exit {done.returncode}); nothing "
                   f"written\n{tail}", err=True)
        sys.exit(done.returncode if done.returncode in (2, 3) else ExitStatus.INCONCLUSIVE)


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshot(stage: Path, chromium: str) -> bool:
    """The report at laptop width, drawn by headless Chromium; False if it could not be."""
    page = stage / "report.html"
    made = subprocess.run([sys.executable, "-m", "tcpcheck", "report", "-o", str(page)],
                          cwd=ROOT, capture_output=True, text=True)
    if made.returncode != 0:
        return False
    shot = stage / SCREENSHOT
    shot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
                    f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, text=True, timeout=120)
    return shot.exists() and shot.stat().st_size > 0


def _pictures(stage: Path) -> list[Path]:
    """Every picture the steps drew, relative to the staging root, in a fixed order."""
    return sorted(p.relative_to(stage) for p in stage.rglob("*")
                  if p.is_file() and p.suffix in (".dot", ".svg", ".png"))


def _stale(stage: Path, committed: Path) -> list[str]:
    """The DOT sources that differ from the committed ones, are missing, or are left over."""
    made = {p for p in _pictures(stage) if p.suffix == ".dot"}
    there = {p.relative_to(committed) for p in (committed / "out").glob("*.dot")}
    stale = [f"{p} (missing)" for p in sorted(made - there)]
    stale += [f"{p} (differs)" for p in sorted(made & there)
              if (stage / p).read_bytes() != (committed / p).read_bytes()]
    stale += [f"{p} (no longer drawn)" for p in sorted(there - made)]
    return stale


def _install(stage: Path, into: Path) -> int:
    from .render import write_whole  # deferred: render loads graphviz and networkx
    pictures = _pictures(stage)
    for p in pictures:
        (into / p).parent.mkdir(parents=True, exist_ok=True)
        write_whole(into / p, (stage / p).read_bytes())
    return len(pictures)


@click.command()
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the pictures under this directory (as out/… and docs/…) instead of "
                   "their committed places in the checkout; with --check, compare with the "
                   "pictures there.")
@click.option("--check", is_flag=True,
              help="Write nothing: compare the DOT sources that would be written with the "
                   "committed ones and exit 1 naming the stale files.")
def diagrams(output, check):
    """Regenerate the pictures the README and docs/ show.

    \b
    tcpcheck diagrams                 # redraw out/*.ladder.*, out/*.graph.*, out/endpoint.*
                                      # and docs/report.png, in the checkout
    tcpcheck diagrams -o /tmp/pics    # the same pictures, under /tmp/pics/out and /tmp/pics/docs
    tcpcheck diagrams --check         # are the committed pictures current? (exit 1 if not)

    Every picture is drawn by the command a reader would run: `check --out out/` (the ladder
    and joint graph of every property's run, from the default model and specs) and `graph
    --view endpoint -o out/endpoint.svg`. The report screenshot (docs/report.png) needs
    headless Chromium; without it tcpcheck says the screenshot was skipped. --check compares
    the .dot sources only: SVG and PNG bytes vary with the Graphviz and browser versions.
    Exit 0: done (or current); 1: --check found stale pictures; 2/3: a step failed.
    """
    into = ROOT if output is None else output
    with tempfile.TemporaryDirectory(prefix="tcpcheck-diagrams-") as tmp:
        stage = Path(tmp)
        for step in STEPS:
            _run(step, stage)
        if check:
            stale = _stale(stage, into)
            for line in stale:
                click.echo(f"stale: {line}")
            click.echo(f"tcpcheck: {len(stale)} stale picture(s); run `tcpcheck diagrams`"
                       if stale else "the committed pictures are current", err=bool(stale))
            sys.exit(ExitStatus.VIOLATED if stale else ExitStatus.OK)
        chromium = _browser()
        shot = chromium is not None and _screenshot(stage, chromium)
        (stage / "report.html").unlink(missing_ok=True)
        n = _install(stage, into)
    click.echo(f"wrote {n} pictures under {into}")
    if not shot:
        click.echo(f"tcpcheck: skipped {SCREENSHOT}: " + (
            "no headless browser (install Debian's chromium)" if chromium is None
            else "headless Chromium could not draw the report"), err=True)
