"""`tcpcheck list observations|params|calls|timers|properties [MODEL] [SPEC...]`: the names a
model and its specs offer, plain or as JSON (tcpcheck.catalog gathers them).

Registered on the main group by one `add_command` in tcpcheck/cli.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from . import catalog
from .cli_io import default_model, fail_input
from .diagnostics import TcpcheckError
from .facts import model_facts
from .parse import parse_file
from .spec import model_path_of, parse_spec_file
from .typecheck import check


@click.command("list")
@click.argument("kind", type=click.Choice(catalog.KINDS))
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document on stdout (the same bytes every run).")
def list_command(kind: str, files: tuple[Path, ...], as_json: bool) -> None:
    """List what a model offers a spec: its observations (with the transitions that record
    each), params, calls (with the transitions that answer each), timers, or the properties
    of specs (default: specs/*.spec). MODEL defaults to the model the first SPEC names, else
    models/teardown.tcpm.

    \b
    Examples:
      tcpcheck list observations
      tcpcheck list params --json
      tcpcheck list properties specs/teardown.spec
    """
    try:
        entries = _entries(kind, list(files))
    except TcpcheckError as err:
        fail_input(err, as_json)
    if as_json:
        click.echo(json.dumps({"kind": kind, "entries": [e.as_json() for e in entries]},
                              indent=2))
    else:
        click.echo("\n".join(catalog.text_lines(kind, entries)))


def _entries(kind: str, files: list[Path]) -> list[catalog.Entry]:
    if kind == "properties":
        from .verify import DEFAULT_SPEC_DIR, spec_files  # deferred: verify loads z3

        specs, _model = spec_files(files, DEFAULT_SPEC_DIR)
        return catalog.properties([parse_spec_file(p) for p in specs])
    models = [f for f in files if f.suffix != ".spec"]
    specs = [f for f in files if f.suffix == ".spec"]
    if not models and specs:  # the model the first spec names
        named = model_path_of(parse_spec_file(specs[0]))
        models = [named] if named is not None else []
    parsed = parse_file(models[0] if models else default_model())
    check(parsed)   # a model that does not check is refused (exit 2), as every command does
    return {"observations": catalog.observations, "params": catalog.params,
            "calls": catalog.calls, "timers": catalog.timers}[kind](model_facts(parsed))
