"""The README's promises, checked: its commands are the ones CI runs, its figures are real."""
from __future__ import annotations

import re

from conftest import ROOT, run_tcpcheck
from transcript import printed as _printed
from transcript import shown

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _first_block() -> list[str]:
    block = README.split("```sh", 1)[1].split("```", 1)[0]
    return [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def test_readme_starts_with_the_main_job_and_the_test_command():
    main_job, tests = _first_block()
    assert main_job.startswith("bash scripts/setup.sh &&") and "tcpcheck check --out out/" in main_job
    assert "graph --view endpoint -o out/endpoint.svg" in main_job
    assert tests.startswith("bash scripts/setup.sh --test &&") and "pytest" in tests


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = _first_block()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()


def _shown(command: str) -> list[str]:
    return shown(README, command)


def test_check_output_shown_in_readme_is_what_tcpcheck_prints():
    shown = _shown("check specs/teardown.spec")
    assert _printed("check", "specs/teardown.spec")[: len(shown)] == shown  # the table part


def test_map_output_shown_in_readme_is_what_tcpcheck_prints():
    assert _printed("map") == _shown("map")


def test_diagrams_shown_in_readme_are_committed():
    for name in re.findall(r"\(out/([\w.-]+\.svg)\)", README):
        assert (ROOT / "out" / name).is_file(), f"README shows out/{name}, which is missing"


def test_the_report_screenshot_is_committed_and_linked():
    # made by tests/test_report_browser.py with TCPCHECK_REPORT_SCREENSHOT=docs/report.png
    assert "](docs/report.png)" in README
    assert (ROOT / "docs" / "report.png").read_bytes().startswith(b"\x89PNG")


def test_the_error_example_is_what_a_misspelt_default_model_prints(tmp_path):
    # the README's broken.tcpm: 'state' misspelt in the shutdown(SHUT_WR) transition's guard
    # and in its assignment; the shown lines and columns must be the model's own
    lines = (ROOT / "models" / "teardown.tcpm").read_text(encoding="utf-8").split("\n")
    i = next(k for k, ln in enumerate(lines) if "on call shutdown(SHUT_WR) when state ==" in ln)
    lines[i] = lines[i].replace("when state ==", "when stat ==")
    j = next(k for k in range(i + 1, len(lines)) if "state := FIN_WAIT_1" in lines[k])
    lines[j] = lines[j].replace("state :=", "stat :=")
    (tmp_path / "broken.tcpm").write_text("\n".join(lines), encoding="utf-8")
    result = run_tcpcheck("explore", "broken.tcpm", cwd=tmp_path)
    assert result.returncode == 2
    shown = README.split("$ tcpcheck explore broken.tcpm", 1)[1].split("\n", 1)[1]
    shown = shown.split("```", 1)[0]
    assert result.stderr.strip().splitlines() == shown.strip().splitlines()


def test_the_summarised_graph_example_is_what_tcpcheck_prints(tmp_path):
    # the README's "Limits and failures": the whole model's joint graph is too big to lay out,
    # and is drawn folded onto the TCP states instead
    shown = README.split("$ tcpcheck graph --param '*' -o out/all.svg\n", 1)[1]
    shown = shown.split("```", 1)[0].strip().splitlines()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "teardown.tcpm").write_bytes((ROOT / "models" / "teardown.tcpm")
                                                        .read_bytes())
    result = run_tcpcheck("graph", "--param", "*", "-o", "out/all.svg", "--no-progress",
                          cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})  # this tcpcheck
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == shown
    assert (tmp_path / "out" / "all.dot").read_text(encoding="utf-8").startswith("digraph summary")


def test_the_replay_all_example_is_what_tcpcheck_prints():
    # "Checking the model against Linux": every connection of a capture, summary first
    command = ("replay tests/fixtures/six_connections.pcap --all --param lossy_network=false "
               "--param shared_socket=false --param more_calls=false")
    shown = README.split(f"$ tcpcheck {command}\n", 1)[1].split("```", 1)[0]
    result = run_tcpcheck(*command.split())
    assert result.returncode == 1, result.stderr        # one connection is rejected
    assert result.stdout.splitlines() == shown.rstrip("\n").splitlines()
