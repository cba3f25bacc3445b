"""One registry of diagnostic codes: every code the package raises is declared and documented.

The codes are scanned from the source rather than collected by running the tool, so that a
code raised only on a rare path (a corrupt pcapng block, a range error in generated search
code) is checked too.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from tcpcheck.diagnostics import CODES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tcpcheck"
LANGUAGE_PAGE = ROOT / "docs" / "language.md"
CODE = re.compile(r"\bTCP\d{3}\b")


def _codes_in_source() -> dict[str, list[str]]:
    """Every TCPnnn in a string literal of the package (outside the registry), with where.

    All string literals count, not only the first argument of Diagnostic(...): codes also
    travel through helpers (`_bad`, `self.error`), conditional expressions, and the text of
    generated code (`raise Bad(vid, 'TCP500', ...)`).
    """
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "diagnostics.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for code in CODE.findall(node.value):
                    found.setdefault(code, []).append(f"{path.name}:{node.lineno}")
    return found


def test_the_scan_sees_the_raise_sites():
    found = _codes_in_source()
    # one code of each stage, raised through a different route each
    for code in ("TCP100", "TCP201", "TCP302", "TCP400", "TCP500", "TCP600"):
        assert code in found, code


def test_every_code_raised_is_registered():
    unregistered = {c: where for c, where in _codes_in_source().items() if c not in CODES}
    assert not unregistered, f"codes used but not in diagnostics.CODES: {unregistered}"


def test_every_registered_code_is_raised():
    unused = sorted(set(CODES) - set(_codes_in_source()))
    assert not unused, f"codes in diagnostics.CODES that nothing raises: {unused}"


def test_registry_codes_are_well_formed():
    for code, meaning in CODES.items():
        assert CODE.fullmatch(code), code
        assert meaning and "\n" not in meaning, code


def test_every_registered_code_is_documented():
    text = LANGUAGE_PAGE.read_text()
    section = text[text.index("## Diagnostics"):]
    rows = dict(re.findall(r"^\| (TCP\d{3}) \| (.+?) \|$", section, re.MULTILINE))
    missing = sorted(set(CODES) - set(rows))
    assert not missing, f"codes not in the Diagnostics table of docs/language.md: {missing}"
    stale = sorted(set(rows) - set(CODES))
    assert not stale, f"codes documented in docs/language.md but not registered: {stale}"
    wrong = {c: (rows[c], CODES[c]) for c in CODES if rows[c] != CODES[c]}
    assert not wrong, f"documented meaning differs from diagnostics.CODES: {wrong}"
