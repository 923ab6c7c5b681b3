"""The import contracts of ``make lint`` (pyproject.toml, [tool.importlinter]) hold for the
tree, and a forbidden import breaks the contract it names: each case copies the package,
adds one import that crosses a wall, and runs the real ``lint-imports`` on the copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_copy(tmp_path: Path, module: str = "", line: str = "") -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on a copy of the package, with ``line`` added to ``module``."""
    package = tmp_path / "src" / "deploystatus"
    shutil.copytree(
        ROOT / "src" / "deploystatus", package, ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if module:
        path = package / module
        path.write_text(path.read_text() + f"\n{line}\n")
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", "pyproject.toml", "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_copy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "records.py",
            "from deploystatus.storage import store",
            "The domain knows neither HTTP nor storage",
        ),
        ("states.py", "import httptools", "The domain knows neither HTTP nor storage"),
        (
            "storage/store.py",
            "from deploystatus.web import problems",
            "Storage serves no HTTP, board or command",
        ),
        (
            "feed/tail.py",
            "from deploystatus.web import problems",
            "The feed serves no HTTP, board or command",
        ),
        (
            "web/api.py",
            "from deploystatus.board import views",
            "The API imports no board and no command",
        ),
        (
            "board/pages.py",
            "from deploystatus.web import api",
            "The board uses the API's plumbing, never its handlers",
        ),
        (
            "web/state.py",
            "from deploystatus.storage import _http1",
            "Only storage talks to DynamoDB",
        ),
        ("commands/generate.py", "import botocore.session", "Only storage talks to DynamoDB"),
        (
            "web/api.py",
            "import typer",
            "Only the commands use the command-line framework",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    result = lint_copy(tmp_path, module, line)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
    assert "1 broken" in result.stdout  # that contract, and no other
