"""What a user sees for common mistakes: `tcpcheck explore BAD.tcpm` against golden stderr.

Each tests/fixtures/bad/X.tcpm is a realistic mistake; tests/golden/diagnostics/X.txt is the
expected output (`pytest --update-golden` rewrites them; read the diff). Paths are relative to
the repository root, so the output is the same on every machine.
"""
from __future__ import annotations

import json
import re

import pytest

from conftest import FIXTURES, ROOT, run_tcpcheck

BAD = sorted(p.stem for p in (FIXTURES / "bad").glob("*.tcpm"))


def test_there_is_a_bad_model_for_each_common_mistake():
    assert len(BAD) >= 10


@pytest.mark.parametrize("name", BAD)
def test_bad_model_gives_plain_diagnostics(name, golden):
    path = f"tests/fixtures/bad/{name}.tcpm"
    result = run_tcpcheck("explore", path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    # every diagnostic starts with the relative path and a 1-based line:column
    heads = re.findall(r"^(\S+):(\d+):(\d+): error\[TCP\d{3}\]: ", result.stderr, re.M)
    assert heads and all(h[0] == path and int(h[1]) >= 1 and int(h[2]) >= 1 for h in heads)
    golden(f"diagnostics/{name}.txt", result.stderr)


def test_bad_model_as_json_lists_the_same_diagnostics():
    result = run_tcpcheck("explore", "--json", "tests/fixtures/bad/several_errors.tcpm")
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert [(d["code"], d["line"]) for d in doc["diagnostics"]] == [
        ("TCP205", 17), ("TCP202", 19), ("TCP201", 28)]


def test_missing_model_file(golden):
    result = run_tcpcheck("explore", "tests/fixtures/bad/no_such_model.tcpm")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    golden("diagnostics/no_such_model.txt", result.stderr)


def test_golden_files_have_no_absolute_paths():
    for path in (ROOT / "tests" / "golden" / "diagnostics").glob("*.txt"):
        assert str(ROOT) not in path.read_text(), path
