"""`tcpcheck watch`: check a model and its specs again whenever one of their files is saved,
and say what changed: a verdict that flipped, a diagnostic that appeared or was fixed.

A check is `tcpcheck check`'s (tcpcheck.verify), summed up as a `Snapshot`; `changes` compares
two. Files are watched with watchfiles, through their directories: editors often save by
writing a new file and renaming it over the old one, which a watch on the file itself misses.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic, TcpcheckError
from .explore import Deadline
from .trace import model_error_diagnostic
from .verdicts import ExitStatus, Verdict, exit_status
from .verify import check_model, group_by_model, merge_params, spec_files


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One check: each property's verdict ("spec: name" -> verdict), every diagnostic (bad
    input, or the model's error while exploring), the files it read, and its exit status."""

    verdicts: tuple[tuple[str, Verdict], ...]
    diagnostics: tuple[Diagnostic, ...]
    files: tuple[Path, ...]
    status: ExitStatus


def take_snapshot(files: list[Path], model: Path | None, default_model: Path, spec_dir: Path,
                  params: list[str], max_states: int | None, deadline: Deadline) -> Snapshot:
    """Check as `tcpcheck check FILES` does (each spec against its model, or `model`)."""
    read: set[Path] = set(files) | ({model} if model else set())
    try:
        specs, model_arg = spec_files(list(files), spec_dir)
        read |= set(specs)
        groups = group_by_model(specs, model or model_arg, default_model, params)
        read |= {model_path for model_path, _params in groups}
        verdicts: list[tuple[str, Verdict]] = []
        diags: list[Diagnostic] = []
        model_error = False
        for (model_path, spec_params), group in groups.items():
            result = check_model(model_path, group, merge_params(spec_params, params),
                                 max_states, None, deadline=deadline)
            names = [(path, p.name) for path, sf in group for p in sf.properties]
            verdicts += [(f"{path}: {v.name}", v.verdict)
                         for (path, _name), v in zip(names, result.verdicts)]
            if result.model_error:
                ex = result.exploration
                diag, _ = model_error_diagnostic(ex.error, ex, ex.path_to(ex.error_state))
                diags.append(diag)
                model_error = True
            diags += [d for v in result.verdicts for d in v.diagnostics]
    except TcpcheckError as err:
        return Snapshot((), tuple(err.diagnostics), _sorted(read), ExitStatus.BAD_INPUT)
    status = exit_status((v for _k, v in verdicts), model_error=model_error,
                         interrupted=deadline.signal is not None)
    return Snapshot(tuple(verdicts), tuple(diags), _sorted(read), status)


def _sorted(paths: set[Path]) -> tuple[Path, ...]:
    return tuple(sorted({Path(p) for p in paths}, key=str))


def one_line(d: Diagnostic) -> str:
    where = f"{d.span}: " if d.span is not None else ""
    return f"{where}{d.severity}[{d.code}]: {d.message}"


def _key(d: Diagnostic) -> tuple:
    """A diagnostic's identity across edits: not its line, which moves as lines are added."""
    return (d.span.file if d.span else None, d.code, d.message, d.severity)


def summary(s: Snapshot) -> list[str]:
    """The first check, in full: every verdict and every diagnostic."""
    lines = [f"{name}: {verdict}" for name, verdict in s.verdicts]
    lines += [one_line(d) for d in s.diagnostics]
    return lines + [_counts(s)]


def changes(before: Snapshot, after: Snapshot, checked: Snapshot | None = None) -> list[str]:
    """What the second check says that the first did not: verdicts flipped, properties added
    or gone, diagnostics new or fixed; then the counts. Verdicts are compared with `checked`,
    the last check that got as far as verdicts (default `before`): an edit that breaks a spec
    for a while does not make every property look new when it is mended."""
    out: list[str] = []
    if after.status is ExitStatus.BAD_INPUT:
        out.append("properties not checked: the input has errors")
    else:
        base = checked if checked is not None else before
        old, new = dict(base.verdicts), dict(after.verdicts)
        for name, verdict in after.verdicts:
            if name not in old:
                out.append(f"new property {name}: {verdict}")
            elif old[name] != verdict:
                out.append(f"flipped {name}: {old[name]} -> {verdict}")
        out += [f"gone {name} (was {verdict})" for name, verdict in base.verdicts
                if name not in new]
    out += [f"new {one_line(d)}" for d in _beyond(after.diagnostics, before.diagnostics)]
    out += [f"fixed {one_line(d)}" for d in _beyond(before.diagnostics, after.diagnostics)]
    return (out or ["no change"]) + [_counts(after)]


def _beyond(these: tuple[Diagnostic, ...], those: tuple[Diagnostic, ...]) -> list[Diagnostic]:
    """The diagnostics of `these` that `those` does not have, counted: of three equal
    messages, one fixed leaves two, and the third is the one reported fixed."""
    budget = Counter(_key(d) for d in those)
    out = []
    for d in these:
        if budget[_key(d)]:
            budget[_key(d)] -= 1
        else:
            out.append(d)
    return out


def _counts(s: Snapshot) -> str:
    by: dict[str, int] = {}
    for _name, verdict in s.verdicts:
        by[str(verdict)] = by.get(str(verdict), 0) + 1
    parts = [f"{n} {v}" for v, n in sorted(by.items())]
    errors = sum(1 for d in s.diagnostics if d.severity == "error")
    if errors or not parts:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    return f"= {', '.join(parts)} (exit {int(s.status)})"


def saves(files: Callable[[], tuple[Path, ...]], stopped: Callable[[], bool],
          poll_ms: int = 300) -> Iterator[set[Path]]:
    """The watched files each time some of them change, until `stopped()` (checked at least
    every `poll_ms`). `files()` is asked again each time: a spec may name another model."""
    from watchfiles import watch  # deferred: only this command needs it

    while not stopped():
        wanted = {p.resolve() for p in files()}
        dirs = sorted({str(p.parent) for p in wanted if p.parent.is_dir()})
        if not dirs:
            return
        for batch in watch(*dirs, watch_filter=lambda _c, path: Path(path).resolve() in wanted,
                           rust_timeout=poll_ms, yield_on_timeout=True, raise_interrupt=False,
                           debounce=100, step=50):
            if stopped():
                return
            if batch:
                yield {Path(path) for _change, path in batch}
                break   # the files to watch may have changed with the check that follows
