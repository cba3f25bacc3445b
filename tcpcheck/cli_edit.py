"""The commands that help while editing models and specs: `tcpcheck lsp` (a language server
for editors, tcpcheck.lsp) and `tcpcheck watch` (check again on every save, tcpcheck.watch).

Registered on the main group by `register(main)` (one line in tcpcheck/cli.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_io import command_deadline, default_model
from .verdicts import ExitStatus


@click.command()
def lsp():
    """Run tcpcheck's language server on stdin and stdout, for editors.

    It checks models (.tcpm) and specs (.spec) as you type, with the codes and messages of
    `tcpcheck check`, and offers hover, completion, go to definition, the outline and a quick
    fix for "did you mean". docs/editors.md says how to use it from VS Code, Neovim and Emacs.
    """
    from .lsp import serve  # deferred: pygls is needed by this command only

    serve(default_model())


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Fix a model parameter (repeatable), as for `tcpcheck check`.")
@click.option("--max-states", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop each check after this many states (its verdicts are then partial).")
def watch(files, params, max_states):
    """Check the specs again each time a model or spec file is saved, and say what changed.

    FILES are as for `tcpcheck check`: spec files and at most one model (default: every spec
    in specs/, each against the model it names). The first check is printed in full; after
    each save, only what changed: a verdict that flipped, a property added or gone, a
    diagnostic that appeared or was fixed, then the counts.

    Ctrl-C ends it. Exit status: that of the last check (0 every property holds, 1 one is
    violated or the model failed, 2 bad input), or 3 when Ctrl-C stopped a check halfway.
    """
    from .verify import DEFAULT_SPEC_DIR  # deferred: z3, networkx
    from .watch import changes, saves, summary, take_snapshot

    deadline = command_deadline(None)   # Ctrl-C marks it: the check running stops, then the loop

    def snapshot():
        return take_snapshot(list(files), None, default_model(), DEFAULT_SPEC_DIR,
                             list(params), max_states, deadline)

    last = checked = snapshot()   # checked: the last check that reached verdicts
    for line in summary(last):
        click.echo(line)
    click.echo(f"watching {len(last.files)} files; Ctrl-C ends", err=True)
    for saved in saves(lambda: last.files, lambda: deadline.signal is not None):
        click.echo(f"-- saved: {', '.join(sorted(_shown(p) for p in saved))}")
        now = snapshot()
        for line in changes(last, now, checked):
            click.echo(line)
        last = now
        if now.status is not ExitStatus.BAD_INPUT:
            checked = now
    if deadline.signal is not None:
        click.echo(f"tcpcheck: watch ended ({deadline.signal})", err=True)
    sys.exit(last.status)


def _shown(path: Path) -> str:
    """A saved file as the user named it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def register(main: click.Group) -> None:
    main.add_command(lsp)
    main.add_command(watch)
