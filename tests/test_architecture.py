"""docs/architecture.md and its drawing stay true to the code: every module has a stage and is
named on the page, the drawing is what scripts/architecture.py makes of today's imports, and
no stage imports a later one (the pipeline flows one way)."""
from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import architecture  # noqa: E402

PAGE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_every_module_has_one_stage():
    placed = [m for mods in architecture.STAGES.values() for m in mods]
    assert len(placed) == len(set(placed)), "a module is in two stages"
    assert set(architecture.modules()) <= set(placed), \
        f"no stage for {set(architecture.modules()) - set(placed)}: add them to STAGES"
    assert set(placed) <= set(architecture.modules()), \
        f"STAGES names modules that do not exist: {set(placed) - set(architecture.modules())}"


def test_the_page_names_every_module_and_every_stage():
    missing = [m for m in architecture.modules() if f"`{m}.py`" not in PAGE]
    assert not missing, f"docs/architecture.md does not say what these modules own: {missing}"
    for stage in architecture.STAGES:
        assert stage.lower() in PAGE.lower(), stage


def test_the_drawing_is_what_the_code_gives():
    assert architecture.main(["--check"]) == 0, \
        "docs/architecture.dot is out of date: run python scripts/architecture.py"


def test_no_stage_imports_a_later_stage():
    order = {s: k for k, s in enumerate(architecture.STAGES)}
    backwards = []
    for m in architecture.modules():
        for dep in architecture.imports(m):
            a, b = architecture.stage_of(m), architecture.stage_of(dep)
            if a == architecture.SHARED and b != architecture.SHARED:
                backwards.append(f"{m} (the shared vocabulary) imports {dep} ({b})")
            elif b != architecture.SHARED and order[b] > order[a]:
                backwards.append(f"{m} ({a}) imports {dep} ({b})")
    assert not backwards, backwards


def test_the_reader_of_imports_sees_both_forms():
    assert "emit" in architecture.imports("compile")        # from .emit import ...
    assert "model" in architecture.imports("compile")       # from . import model as c
