"""The reliability report rewrites its own section of docs/reliability.md and nothing else."""

from __future__ import annotations

from typing import Any

from tools.reliability_report import BEGIN, END, render, replace_section

TESTS: dict[str, Any] = {
    "started": "2026-01-01T00:00:00Z",
    "seconds": 1.0,
    "command": "pytest tests/reliability/test_faults.py",
    "python": "3.11.7",
    "machine": "Linux x86_64, 2 cores",
    "tests": {"t::a": {"outcome": "passed", "seconds": 0.5}},
    "entries": [
        {
            "area": "Hostile input",
            "case": "a | pipe",
            "cases": 1234,
            "detail": "400",
            "test": "t::a",
            "outcome": "passed",
            "seconds": 0.5,
        }
    ],
}


def test_the_section_is_rendered_and_replaced_in_place() -> None:
    section = render(TESTS, None)
    assert section.startswith(BEGIN) and section.rstrip().endswith(END)
    assert "| a \\| pipe | 1,234 | passed | 400 |" in section

    others = "# Reliability\n\n<!-- section: other -->\nmine\n<!-- end section: other -->\n"
    appended = replace_section(others, section)
    assert appended.startswith(others.rstrip("\n"))
    assert appended.count(BEGIN) == 1

    failing = {**TESTS, "tests": {**TESTS["tests"], "t::b": {"outcome": "failed", "seconds": 1}}}
    assert "- `t::b`: failed" in render(failing, None)

    again = replace_section(appended + "\ntail\n", render({**TESTS, "seconds": 2.0}, None))
    assert again.count(BEGIN) == 1
    assert "2.0 s" in again and "1.0 s" not in again
    assert again.startswith(others.rstrip("\n")) and again.endswith("\ntail\n")
