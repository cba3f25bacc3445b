"""Golden diagnostics for spec files: what a user sees for each common mistake (exit 2)."""
from __future__ import annotations

import pytest

from conftest import FIXTURES, ROOT, run_tcpcheck

BAD = sorted((FIXTURES / "bad_specs").glob("*.spec"))


@pytest.mark.parametrize("spec", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_gives_located_diagnostics_and_exit_2(spec, golden):
    rel = spec.relative_to(ROOT)
    result = run_tcpcheck("check", str(rel), "--no-progress")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"{rel}:" in result.stderr  # every diagnostic names the file, line and column
    golden(f"spec_diagnostics/{spec.stem}.txt", result.stderr)


def test_several_errors_are_reported_at_once():
    result = run_tcpcheck("check", "tests/fixtures/bad_specs/several_errors.spec", "--no-progress")
    assert result.stderr.count("error[") >= 3
