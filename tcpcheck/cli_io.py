"""What every command shares about input and output: the model used when none is given, JSON
on stdout, bad input reported as located diagnostics (exit 2), and drawings written to files.

tcpcheck/cli.py and tcpcheck/cli_conform.py both import it (neither imports the other's
helpers).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import DEFAULT_MODEL
from .diagnostics import TcpcheckError, render_all
from .verdicts import ExitStatus


def default_model() -> Path:
    local = Path("models/teardown.tcpm")
    return local if local.exists() else DEFAULT_MODEL


def emit_json(doc: dict) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=False))


def fail_input(err: TcpcheckError, as_json: bool) -> None:
    """Print the diagnostics with their source lines (and as JSON when asked); exit 2."""
    sources = {}
    for d in err.diagnostics:
        if d.span is not None and d.span.file not in sources:
            try:
                sources[d.span.file] = Path(d.span.file).read_text(encoding="utf-8")
            except OSError:
                pass
    click.echo(render_all(err.diagnostics, sources), err=True)
    if as_json:
        emit_json({"error": "bad input", "diagnostics": [d.as_json() for d in err.diagnostics]})
    sys.exit(ExitStatus.BAD_INPUT)


def save_drawing(source: str, path: Path):
    """Write a drawing; a path that cannot be written is bad input (exit 2), not a crash."""
    from .render import write_drawing  # deferred: render loads graphviz and networkx

    try:
        return write_drawing(source, path)
    except OSError as err:
        click.echo(f"tcpcheck: cannot write {path}: {err.strerror or err}", err=True)
        sys.exit(ExitStatus.BAD_INPUT)
