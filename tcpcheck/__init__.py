"""tcpcheck: a model checker for TCP connection teardown.

The pipeline, one module per stage:
    parse (tcpcheck.parse) -> typecheck (tcpcheck.typecheck) -> compile (tcpcheck.compile, with
    tcpcheck.liveness: dead variables) -> explore (tcpcheck.explore) -> query (tcpcheck.query, with tcpcheck.timing: z3)
    -> graph views (tcpcheck.graph) -> render (tcpcheck.render, tcpcheck.ladder)
and the command line over them (tcpcheck.cli, tcpcheck.cli_conform; what both share is in
tcpcheck.cli_io). Against the real kernel: tcpcheck.capture ->
tcpcheck.replay, and tcpcheck.conform (live scenarios); tcpcheck.simulate walks random runs.
"""
from __future__ import annotations

from pathlib import Path

from .compile import compile_model
from .params import parse_param_overrides
from .parse import parse_file
from .typecheck import check

__version__ = "0.1.0"

# The default model: models/teardown.tcpm beside the package (a source checkout).
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "teardown.tcpm"


def load(path: str | Path, params: list[str] | None = None, *, reduce: bool = True,
         keep: frozenset[str] = frozenset()):
    """Parse, check and compile a model file; raises TcpcheckError on bad input.

    `reduce=False` keeps dead variables in the states (see tcpcheck.liveness); `keep` names
    variables ("client.rcvd") the reduction must never clear."""
    model = check(parse_file(path))
    return compile_model(model, parse_param_overrides(model, params or []), keep=keep,
                         reduce=reduce)
