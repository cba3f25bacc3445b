"""Markdown that shows tcpcheck at work, checked against tcpcheck: the README's examples and
the reference pages in docs/ (tests/test_readme.py, tests/test_docs.py).

What a page may show, and how each is checked:
  * a command and what it prints: in a ```console block, a line `$ tcpcheck ARGS` and the
    lines under it, up to the next `$ ` line or the end of the block, are what
    `python -m tcpcheck ARGS` prints from the repository root (stdout, then stderr); a last
    line `[exit N]` is its exit status, 0 when there is none;
  * a file of docs/examples/: a ```tcpm or ```spec block whose first line is
    `# docs/examples/NAME` is that whole file; one whose first line is
    `# from docs/examples/NAME` is lines of that file as they stand in it, in a row.
Times measured in seconds (`0.017 s`) differ from run to run and are read as `T s`.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT, run_tcpcheck

TIMING = re.compile(r"\d+\.\d+ s")
EXIT = re.compile(r"\[exit (\d+)\]")


def normalized(text: str) -> list[str]:
    """Lines as compared: trailing spaces and measured seconds left out."""
    return [TIMING.sub("T s", ln.rstrip()) for ln in text.splitlines()]


def shown(markdown: str, command: str) -> list[str]:
    """The lines a page shows under `$ tcpcheck COMMAND`, up to the end of its block."""
    block = markdown.split(f"$ tcpcheck {command}\n", 1)[1].split("```", 1)[0]
    assert block.strip(), f"the page shows no output for 'tcpcheck {command}'"
    return normalized(block)


def printed(*args: str) -> list[str]:
    """What `tcpcheck ARGS --no-progress` prints on stdout; it must succeed."""
    result = run_tcpcheck(*args, "--no-progress")
    assert result.returncode == 0, result.stderr
    return normalized(result.stdout)


@dataclass(frozen=True)
class Block:
    """A fenced block of a page: its info string ('console', 'tcpm', ...), text, first line."""

    info: str
    text: str
    line: int


def blocks(markdown: str) -> list[Block]:
    out, lines, i = [], markdown.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^```(\S*)", lines[i])
        if not m:
            i += 1
            continue
        end = next(k for k in range(i + 1, len(lines)) if lines[k].startswith("```"))
        out.append(Block(m.group(1), "\n".join(lines[i + 1:end]) + "\n", i + 2))
        i = end + 1
    return out


@dataclass(frozen=True)
class Command:
    """`$ tcpcheck ARGS` in a console block, with the output and exit status shown."""

    args: tuple[str, ...]
    output: tuple[str, ...]
    exit: int
    line: int


def commands(block: Block) -> list[Command]:
    out: list[Command] = []
    lines = block.text.rstrip("\n").split("\n")
    starts = [k for k, ln in enumerate(lines) if ln.startswith("$ ")]
    assert starts and starts[0] == 0, f"line {block.line}: a console block starts with '$ '"
    for k, stop in zip(starts, starts[1:] + [len(lines)]):
        words = shlex.split(lines[k][2:])
        assert words[0] == "tcpcheck", f"line {block.line + k}: only tcpcheck runs here"
        shown_lines = lines[k + 1:stop]
        status = 0
        if shown_lines and (m := EXIT.fullmatch(shown_lines[-1])):
            status, shown_lines = int(m.group(1)), shown_lines[:-1]
        out.append(Command(tuple(words[1:]), tuple(normalized("\n".join(shown_lines))), status,
                           block.line + k))
    return out


def run(command: Command) -> tuple[list[str], int]:
    """What the command prints (stdout, then stderr) and its exit status, from the root."""
    result = run_tcpcheck(*command.args)
    return normalized(result.stdout + result.stderr), result.returncode


def example_file(block: Block) -> tuple[Path, bool] | None:
    """The docs/examples file a tcpm or spec block shows, and whether it is the whole file."""
    m = re.match(r"# (from )?(docs/examples/[\w.-]+)\n", block.text)
    return (ROOT / m.group(2), not m.group(1)) if m else None


def check_example_file(block: Block) -> None:
    found = example_file(block)
    assert found, (f"line {block.line}: a {block.info} block names its file on its first "
                   "line: '# docs/examples/NAME' or '# from docs/examples/NAME'")
    path, whole = found
    text = path.read_text(encoding="utf-8")
    body = block.text.split("\n", 1)[1]
    if whole:
        assert body == text, f"line {block.line}: the block differs from {path.name}"
    else:
        assert ("\n" + body) in ("\n" + text), (
            f"line {block.line}: these lines are not in {path.name} as they stand there")


def rewritten(markdown: str) -> str:
    """The page with what each command of its console blocks prints now, and its exit
    status: `pytest tests/test_docs.py --update-golden` writes it (then read the diff)."""
    lines, out, inside = markdown.split("\n"), [], False
    for ln in lines:
        if ln.startswith("```"):
            inside = ln == "```console" and not inside
            out.append(ln)
        elif not inside:
            out.append(ln)
        elif ln.startswith("$ "):
            out.append(ln)
            result = run_tcpcheck(*shlex.split(ln[2:])[1:])
            body = (result.stdout + result.stderr).rstrip("\n")
            out += [x.rstrip() for x in body.split("\n")] if body else []
            if result.returncode:
                out.append(f"[exit {result.returncode}]")
    return "\n".join(out)
