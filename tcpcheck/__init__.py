"""tcpcheck: a model checker for TCP connection teardown.

The pipeline, one module per concept (docs/architecture.md has them all, by stage):
    parse -> typecheck -> compile (with liveness: dead variables; emit: every step stated
    once; successors and searchloop: the engines built from those steps) -> explore ->
    query (with timing: z3) -> run, trace, graph -> ladder, render
and the command line over them (cli, cli_conform; what both share is in cli_io). Against the
real kernel: capture -> replay, and conform (live scenarios); simulate walks random runs.
`load` below runs the pipeline up to a transition system in one call.
"""
from __future__ import annotations

import functools
from pathlib import Path

from .compile import compile_model
from .params import parse_param_overrides
from .parse import parse_text, read_source
from .typecheck import check

__version__ = "0.1.0"

# The default model: models/teardown.tcpm beside the package (a source checkout).
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "teardown.tcpm"


def load(path: str | Path, params: list | None = None, *, reduce: bool = True,
         keep: frozenset[str] = frozenset(), min_capacity: int = 0, text: str | None = None):
    """Parse, check and compile a model file; raises TcpcheckError on bad input.

    `params` are `--param name=value` strings or params.ParamSetting values.

    `reduce=False` keeps dead variables in the states (see tcpcheck.liveness); `keep` names
    variables ("client.rcvd") the reduction must never clear; `min_capacity` deepens the
    channels (see compile_model); `text` is the file's text when an editor holds a newer one
    than the disk (tcpcheck.lsp)."""
    model = _checked(read_source(path) if text is None else text, str(path))
    return compile_model(model, parse_param_overrides(model, params or []), keep=keep,
                         reduce=reduce, min_capacity=min_capacity)


@functools.lru_cache(maxsize=1)
def _checked(text: str, path: str):
    """The checked model of a model's text, kept for the next load of the same text: `check`
    loads one model once per spec group (each with its own parameters), and parsing is the
    larger half of a load. The model is immutable (frozen dataclasses and tuples), so every
    compile may share it; one entry is enough, and an editor's changing text (tcpcheck.lsp)
    holds no more than the last one."""
    return check(parse_text(text, path))
