"""`tcpcheck check` as a library: which specs go with which model, explore once, check all.

The command line only prints what this returns.
"""
from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import load
from . import spec as S
from .diagnostics import Diagnostic, TcpcheckError
from .explore import Deadline, Exploration, StopReason, explore
from .params import ParamSetting
from .query import PropertyResult, check_property, prepare
from .workers import in_order
from .transitions import TransitionSystem

DEFAULT_SPEC_DIR = Path("specs")


@dataclass
class ModelCheck:
    model_path: Path
    spec_paths: list[Path]
    exploration: Exploration
    params: list[str] = field(default_factory=list)
    verdicts: list[PropertyResult] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def model_error(self) -> bool:
        """The model failed while exploring: every property is then inconclusive, and the
        check fails (exit 1) until the model is fixed."""
        return self.exploration.stop_reason is StopReason.MODEL_ERROR


def spec_files(files: list[Path], spec_dir: Path) -> tuple[list[Path], Path | None]:
    """Split command-line files into specs and (at most one) model; default: specs/*.spec."""
    specs = [f for f in files if f.suffix != ".tcpm"]
    models = [f for f in files if f.suffix == ".tcpm"]
    if len(models) > 1:
        raise TcpcheckError([Diagnostic("TCP400", "give at most one model (.tcpm) to check; "
                                        "got " + ", ".join(map(str, models)))])
    if not specs:
        found = sorted(spec_dir.glob("*.spec")) if spec_dir.is_dir() else []
        if not found:
            raise TcpcheckError([Diagnostic("TCP401", f"no spec files given and none in {spec_dir}/")])
        specs = found
    return specs, (models[0] if models else None)


def group_by_model(specs: list[Path], override: Path | None, default_model: Path,
                   cli_params: list[str] = ()):
    """Parse every spec (all errors at once) and group them by the model they are about and
    the parameter values they choose (`model "..." with name = value`, then `cli_params`,
    --param, over them): each group is explored once, and proved once (the symbolic
    engine's facts and Houdini). Two specs that choose the same values in another order or
    place share a group; the key is the first one's (model, `with` settings)."""
    groups: dict[tuple[Path, tuple[str, ...]], list[tuple[Path, S.SpecFile]]] = {}
    first_of: dict[tuple, tuple[Path, tuple[str, ...]]] = {}
    diags: list[Diagnostic] = []
    for path in specs:
        try:
            sf = S.parse_spec_file(path)
        except TcpcheckError as err:
            diags.extend(err.diagnostics)
            continue
        model = Path(override or S.model_path_of(sf) or default_model)
        key = first_of.setdefault((model, _choice(sf.params, cli_params)), (model, sf.params))
        groups.setdefault(key, []).append((path, sf))
    if diags:
        raise TcpcheckError(diags)
    return groups


def _choice(spec_params: tuple[ParamSetting, ...], cli_params) -> tuple:
    """What a spec's settings and --param choose, in a form that compares equal however
    and wherever it was written (`D = 5` in a spec, `D=5` on the command line)."""
    chosen = []
    for p in merge_params(spec_params, list(cli_params)):
        text = p.text if isinstance(p, ParamSetting) else p
        name, eq, value = text.partition("=")
        chosen.append((name.strip(), eq, value.strip()))
    return tuple(sorted(chosen))


def merge_params(spec_params: tuple[ParamSetting, ...], cli_params: list[str]
                 ) -> list[ParamSetting | str]:
    """The spec's `with` settings, overridden by --param on the command line (a --param
    without `=` or a lone `*` is passed on as written, for parse_param_overrides to judge)."""
    merged: dict[str, ParamSetting | str] = {p.name: p for p in spec_params}
    for p in cli_params:
        merged[p.split("=", 1)[0].strip()] = p
    return list(merged.values())


def _located_at_the_spec(err: TcpcheckError, named: list[S.SpecFile]) -> TcpcheckError:
    """A model the spec names that cannot be read at all (a device, a directory, too large):
    the error has no place in the model, so it is put where the spec names it."""
    if not named:
        return err
    return TcpcheckError([
        Diagnostic(d.code, d.message, named[0].model_span, d.notes + ("named by this spec",))
        if d.code == "TCP401" and d.span is None else d
        for d in err.diagnostics])


def check_model(model_path: Path, specs: list[tuple[Path, S.SpecFile]],
                params: list[ParamSetting | str],
                max_states: int | None, time_limit: float | None, progress=None,
                deadline: Deadline | None = None, jobs: int = 1,
                core: str = "python") -> ModelCheck:
    """Load the model, resolve every property, explore once (on `core`) and check them all,
    `jobs` properties at once (tcpcheck.workers: forked after the search, each worker checks
    against the same graph and sends back its verdict; the results are one process's).

    `deadline` is the command's (several models share it; then `time_limit` is ignored):
    once it passes, the properties not yet checked are inconclusive."""
    if deadline is None:
        deadline = Deadline(time_limit)
    with _cyclic_gc_paused():
        return _check_model(model_path, specs, params, max_states, progress, deadline, jobs,
                            core)


@contextmanager
def _cyclic_gc_paused():
    """The cyclic garbage collector off while a model is checked: the graph, its labelled
    edges and each property's product are millions of tuples and lists that hold no cycle,
    and a full collection walks them all, again and again as more are made (it was half
    the time of the biggest spec file's properties). Whatever cycles a check leaves are
    collected once it is back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_model(model_path: Path, specs: list[tuple[Path, S.SpecFile]],
                 params: list[ParamSetting | str], max_states: int | None, progress,
                 deadline: Deadline, jobs: int, core: str) -> ModelCheck:
    ts, props = resolve_specs(model_path, specs, params)
    result_params = [p.text if isinstance(p, ParamSetting) else p for p in params]
    ex = explore(ts, max_states=max_states, progress=progress, deadline=deadline, core=core)
    result = ModelCheck(model_path, [p for p, _ in specs], ex, params=result_params)
    # the work every property shares (the edges labelled for their monitors), done before
    # the workers fork so that each inherits it
    prepared = prepare(ex, props, deadline)

    def timed(k: int) -> tuple[PropertyResult, float]:
        start = time.perf_counter()
        return check_property(ex, props[k], deadline, prepared), time.perf_counter() - start

    for k, found in enumerate(in_order(timed, len(props), jobs, deadline)):
        # None: the command stopped before this property's worker answered; checked here
        # under the passed deadline, it says so (inconclusive) as one process would
        verdict, seconds = timed(k) if found is None else found
        result.verdicts.append(verdict)
        result.seconds.append(seconds)
    return result


def resolve_specs(model_path: Path, specs: list[tuple[Path, S.SpecFile]],
                  params: list[ParamSetting | str], model_text: str | None = None
                  ) -> tuple[TransitionSystem, list[S.Property]]:
    """Load the model and resolve every property of the specs against it: what `check` does
    before it explores, and all that an editor checks as the user types (tcpcheck.lsp, with
    `model_text` the editor's text of the model). Raises TcpcheckError with every
    diagnostic."""
    named = [sf for _path, sf in specs
             if sf.model_span is not None and S.model_path_of(sf) == Path(model_path)]
    if model_text is None and not Path(model_path).exists() and named:
        raise TcpcheckError([Diagnostic(
            "TCP401", f"the model this spec names does not exist: {model_path}",
            named[0].model_span, ("a spec's model path is relative to the spec file",))])
    # the properties' variables stay in every state: the dead-variable reduction may only
    # clear what nothing reads
    read = frozenset().union(*(S.variables_read(sf) for _path, sf in specs))
    try:
        ts = load(model_path, params, keep=read, text=model_text)
    except TcpcheckError as err:
        raise _located_at_the_spec(err, named) from None
    props: list[S.Property] = []
    diags: list[Diagnostic] = []
    for _path, sf in specs:
        try:
            props.extend(S.resolve(sf, ts))
        except TcpcheckError as err:
            diags.extend(err.diagnostics)
    if diags:
        raise TcpcheckError(diags)
    return ts, props
