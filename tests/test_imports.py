"""The package's import structure: no cycle between its modules, and its own modules imported at
the top of a module, except where a heavy library is deferred on purpose.

An import inside a function hides a cycle from Python (the import runs late, when both modules
are loaded) but not from a reader, so both tests read every import, at the top or inside a
function, from the source with `ast`.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tcpcheck"
MODULES = {p.stem for p in PACKAGE.glob("*.py")}
HEAVY = ("z3", "networkx", "graphviz", "dpkt", "rich", "ray")

# Function-local imports of the package's own modules: (importer, imported) -> why. A module that
# loads a heavy library when imported is imported by the command or step that needs it, so that
# the others start without it; the test checks that the library named is really loaded.
DEFERRED = {
    ("cli", "graph"): "networkx",
    ("cli", "cluster"): "ray",
    ("cli", "verify"): "z3",
    ("cli", "cli_symbolic"): "z3",
    ("cli", "render"): "graphviz",
    ("cli", "ladder"): "graphviz",
    ("cli", "simulate"): "z3",
    ("cli", "behaviour"): "z3",
    ("cli_io", "render"): "graphviz",
    ("cli_conform", "render"): "graphviz",
    ("cli_conform", "replay_report"): "graphviz",
    ("conform", "replay_report"): "graphviz",
    ("conform", "query"): "z3",
    ("conform", "timing"): "z3",
    ("replay", "timing"): "z3",
    ("replay", "timeline"): "z3",
    ("oneside", "timing"): "z3",
    ("audit", "timing"): "z3",
    ("cli_audit", "replay_report"): "graphviz",
    ("cli_report", "report"): "z3",
    ("cli_report", "render"): "graphviz",
    ("cli_diagrams", "render"): "graphviz",
    ("cli_report", "verify"): "z3",
    ("cli_report", "behaviour"): "z3",
    ("cli_edit", "verify"): "z3",
    ("cli_fmt", "render"): "graphviz",
    ("cli_list", "verify"): "z3",
    ("render", "graph"): "networkx",
}
# Function-local imports that keep the kernel side (captures, replay, live scenarios) out of the
# model commands' start-up: (importer, imported) -> why. The test checks that `import
# tcpcheck.cli` really leaves them unloaded.
STARTUP = {
    ("cli_conform", "capture"): "only replay and conform read captures",
    ("cli_conform", "replay"): "only replay and conform replay captures",
    ("cli_conform", "conform"): "only conform runs the live scenarios",
    ("cli_conform", "oneside"): "only replay judges one side of a capture",
    ("cli_conform", "packetdrill"): "only replay reads packetdrill scripts",
    ("cli_conform", "cli_audit"): "only replay --all audits a whole capture",
    ("cli_edit", "lsp"): "only lsp loads pygls",
    ("cli_edit", "watch"): "only watch loads watchfiles",
}
# Edges that close a cycle, kept (inside a function) until the code they wait for lands; each
# must still be a cycle, so an entry is deleted once its cycle is gone.
PENDING_CYCLES: dict[tuple[str, str], str] = {}


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported name, line, inside a function) for every import in a module of the package:
    package modules by their name (`__init__` for the package itself), others by their top
    name (`z3`)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(), f"{module}.py")
    out = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    parts = alias.name.split(".")
                    name = (parts[1] if len(parts) > 1 else "__init__") \
                        if parts[0] == "tcpcheck" else parts[0]
                    out.append((name, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                own = child.level > 0 or (child.module or "").split(".")[0] == "tcpcheck"
                if not own:
                    out.append((child.module.split(".")[0], child.lineno, in_function))
                    continue
                path = (child.module or "").split(".")
                if child.level == 0:
                    path = path[1:]         # `from tcpcheck.x import y`
                if path and path[0]:
                    out.append((path[0], child.lineno, in_function))
                else:                       # `from . import x`: a module, or a name of __init__
                    for alias in child.names:
                        name = alias.name if alias.name in MODULES else "__init__"
                        out.append((name, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return out


def _graph(top_level_only: bool = False) -> dict[str, set[str]]:
    return {m: {name for name, _line, local in _imports(m)
                if name in MODULES and name != m and not (top_level_only and local)}
            for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through every strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def connect(v: str) -> None:      # Tarjan's algorithm; the package is small enough to recurse
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_cycle_in(graph, set(c)) for c in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, as a path back to it."""
    start = min(component)
    paths = {start: [start]}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                todo.append(w)
    raise AssertionError(f"no cycle in {component}")


def test_the_reader_sees_both_kinds_of_import():
    graph = _graph()
    assert "emit" in graph["compile"]               # `from .emit import ...` at the top
    assert "__init__" in graph["verify"]            # `from . import load`
    assert "model" in graph["compile"]              # `from . import model as c`
    local = {name for name, _line, inside in _imports("cli") if inside}
    assert "verify" in local                        # imported inside a command
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycle():
    graph = _graph()
    for importer, imported in PENDING_CYCLES:
        graph[importer].discard(imported)
    cycles = [" -> ".join(c) for c in _cycles(graph)]
    assert not cycles, "import cycles in tcpcheck/: " + "; ".join(cycles)


def test_every_pending_cycle_is_still_one():
    graph = _graph()
    for importer, imported in PENDING_CYCLES:
        reached, todo = {imported}, [imported]
        while todo:
            for w in graph[todo.pop()] - reached:
                reached.add(w)
                todo.append(w)
        assert importer in graph and imported in graph[importer] and importer in reached, (
            f"{importer} -> {imported} no longer closes a cycle: delete it from PENDING_CYCLES "
            "and import it at the top")


def test_own_modules_are_imported_at_the_top_unless_deferred_on_purpose():
    allowed = set(DEFERRED) | set(PENDING_CYCLES) | set(STARTUP)
    local = sorted((m, name, line) for m in MODULES for name, line, inside in _imports(m)
                   if inside and name in MODULES and (m, name) not in allowed)
    assert not local, ("imports of the package's modules inside functions (move them to the "
                       "top, or add them to DEFERRED with the heavy library they load): "
                       + ", ".join(f"{m}.py:{line} imports {name}" for m, name, line in local))


def test_every_deferred_import_defers_the_library_it_names():
    top = _graph(top_level_only=True)

    def loads(module: str) -> set[str]:
        """The libraries a module loads when imported: its own top-level imports and those
        of the package's modules it imports at the top."""
        seen, todo, libs = {module}, [module], set()
        while todo:
            m = todo.pop()
            libs |= {name for name, _line, inside in _imports(m) if not inside and name in HEAVY}
            for n in top[m] - seen:
                seen.add(n)
                todo.append(n)
        return libs

    for (importer, imported), library in DEFERRED.items():
        assert library in HEAVY, (importer, imported, library)
        assert library in loads(imported), f"{imported} does not load {library}: import it " \
                                           f"at the top of {importer}"
        still = [line for name, line, inside in _imports(importer) if inside and name == imported]
        assert still, f"{importer} no longer imports {imported} in a function: drop the entry"


def test_the_model_commands_start_without_the_kernel_side():
    import subprocess
    import sys

    code = ("import sys, tcpcheck.cli; "
            "print(' '.join(m for m in sys.modules if m.startswith('tcpcheck.')))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=PACKAGE.parent).stdout.split())
    assert "tcpcheck.cli" in loaded and "tcpcheck.compile" in loaded
    for _importer, imported in STARTUP:
        assert f"tcpcheck.{imported}" not in loaded, (
            f"tcpcheck.{imported} is loaded at start-up after all: drop it from STARTUP and "
            "import it at the top")


def test_the_command_line_starts_without_the_heavy_libraries():
    import subprocess
    import sys

    # every command pays for what `import tcpcheck.cli` loads: z3, networkx and graphviz come
    # with the command or step that needs them (DEFERRED), never with the start-up
    code = ("import sys, tcpcheck.cli; "
            "print(' '.join(m for m in ('z3', 'networkx', 'graphviz') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=PACKAGE.parent).stdout.split()
    assert not loaded, f"import tcpcheck.cli loads {loaded}"
