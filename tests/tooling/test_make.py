"""The Makefile and the install path, run for real with ``make`` (in temporary copies, so that
nothing here touches the repository's own .venv): ``make help`` lists every target and every
variable with its default; ``make clean`` removes what the Makefile and the tests create and
keeps .data; a Python older than 3.11 is one clear line; a .venv made by another Python is
rebuilt; the stamps make ``make run`` after ``make test`` install nothing and ``make test``
after ``make run`` install only the dev set; the lock files pin every package with hashes, the
runtime lock inside the dev lock at the same versions; the Dockerfile installs the runtime lock
alone, hash-checked; a missing Chromium or promtool fails with ``CI=true`` and skips without.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "Makefile"
RUN_LOCK, DEV_LOCK, UV_LOCK = "requirements.lock", "requirements-dev.lock", "requirements-uv.lock"
MAKE = shutil.which("make") or "make"
TIMEOUT = 60

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "CI"}
    }
    environment.update(env or {})
    return subprocess.run(
        [MAKE, "--no-print-directory", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def variables() -> dict[str, str]:
    """Each ``NAME ?= default`` of the Makefile."""
    text = MAKEFILE.read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z_]+) \?= ?(.*)$", text, flags=re.MULTILINE))


def fake_bin(directory: Path, **scripts: str) -> Path:
    """A directory for PATH holding ``id`` and shell scripts named after the keywords."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in ("id",):
        found = shutil.which(tool)
        assert found is not None, tool
        (directory / tool).symlink_to(found)
    for name, body in scripts.items():
        script = directory / name
        script.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
        script.chmod(0o755)
    return directory


# A Python 3.10 as far as the Makefile asks: its version, and whether it is older than 3.11.
PYTHON_310 = 'case "$2" in *sys.exit*) exit 1 ;; *) echo 3.10.12 ;; esac'


def copy_of_the_makefile(directory: Path) -> Path:
    """The Makefile and what its install stamps depend on, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("Makefile", "pyproject.toml", RUN_LOCK, DEV_LOCK, UV_LOCK, "package-lock.json"):
        shutil.copy2(ROOT / name, directory / name)
    return directory


# make help


def test_make_help_lists_every_target_and_every_variable_with_its_default() -> None:
    result = make("help")
    assert result.returncode == 0, result.stderr

    listed = set(re.findall(r"^  make (\S+)", result.stdout, flags=re.MULTILINE))
    targets = set(re.findall(r"^([a-z][a-z_-]*):(?!=)", MAKEFILE.read_text(), re.MULTILINE))
    assert listed == targets
    # The reference's target names, so that muscle memory works.
    aliases = {
        "dev_env", "data_generation", "run_api_local", "reset_dev_env",
        "run_all_docker_compose", "delete_dev_env",
    }  # fmt: skip
    assert aliases <= listed
    assert {"help", "dev-env", "data", "reset", "delete-dev-env", "run", "test"} <= listed

    shown = dict(re.findall(r"^  ([A-Z_]+)\s+(\S+)", result.stdout, flags=re.MULTILINE))
    expected = variables()
    assert {"PYTHON", "PORT", "HOST", "DB_PORT", "DATA_DIR", "RECORDS", "YES"} <= set(expected)
    assert {"SOAK_SECONDS"} <= set(expected)
    for name, default in expected.items():
        assert name in shown, f"make help does not list {name}"
        if name == "PYTHON":
            assert shown[name] == "python3.11|python3"
        else:
            assert shown[name] == (default or "(unset)"), name
    assert "CI" in shown


def test_make_help_says_clean_keeps_the_data() -> None:
    result = make("help")
    clean = re.search(r"^  make clean +(.*)$", result.stdout, flags=re.MULTILINE)
    assert clean is not None
    assert "keeps .data" in clean.group(1)


# make clean


def test_make_clean_removes_what_make_and_the_tests_create_and_keeps_the_data(
    tmp_path: Path,
) -> None:
    work = copy_of_the_makefile(tmp_path / "repo")
    created = [
        ".venv/bin", "node_modules/dynalite", "build/bench-quick", ".reliability",
        "src/deploystatus.egg-info", ".lock-venv/bin", ".mypy_cache", ".ruff_cache",
        ".pytest_cache", ".hypothesis/examples", "src/deploystatus/__pycache__",
        "tests/__pycache__",
    ]  # fmt: skip
    for name in created:
        (work / name).mkdir(parents=True)
        (work / name / "file").write_text("x")
    (work / "src/deploystatus/app.py").write_text("kept")
    (work / ".data").mkdir()
    (work / ".data/local-db.log").write_text("kept")

    result = make("clean", cwd=work)

    assert result.returncode == 0, result.stdout + result.stderr
    left = [name for name in created if (work / name).exists()]
    assert left == []
    assert not (work / ".venv").exists() and not (work / "node_modules").exists()
    assert (work / ".data/local-db.log").read_text() == "kept"
    assert (work / "src/deploystatus/app.py").read_text() == "kept"


# The Python check


def test_a_python_older_than_3_11_on_path_is_one_clear_line(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path / "bin", python3=PYTHON_310)  # and no python3.11
    work = copy_of_the_makefile(tmp_path / "repo")

    result = make("run", cwd=work, env={"PATH": str(bin_dir)})

    assert result.returncode != 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    assert f"{bin_dir / 'python3'} is Python 3.10.12" in lines[0]
    assert "3.11 or newer" in lines[0]
    assert "make run PYTHON=" in lines[0]
    assert not (work / ".venv").exists()


def test_python_may_be_passed_and_is_checked_too(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path / "bin", python=PYTHON_310)
    work = copy_of_the_makefile(tmp_path / "repo")

    result = make("dev-env", f"PYTHON={bin_dir / 'python'}", cwd=work)

    assert result.returncode != 0
    assert result.stdout.splitlines() == [
        f"deploystatus needs Python 3.11 or newer, and {bin_dir / 'python'} is Python 3.10.12: "
        "pass another, e.g. make dev-env PYTHON=/path/to/python3.11"
    ]


def test_no_python_at_all_is_one_clear_line(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path / "bin")
    work = copy_of_the_makefile(tmp_path / "repo")

    result = make("run", cwd=work, env={"PATH": str(bin_dir)})

    assert result.returncode != 0
    assert result.stdout.splitlines() == [
        "deploystatus needs Python 3.11 or newer, and found neither python3.11 nor python3 on "
        "PATH: install one, or pass it: make run PYTHON=/path/to/python3.11"
    ]


def test_no_npm_is_one_clear_line_before_anything_is_installed(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path / "bin")
    (bin_dir / "python3").symlink_to(sys.executable)  # a Python 3.11+, and no npm
    work = copy_of_the_makefile(tmp_path / "repo")

    result = make("run", cwd=work, env={"PATH": str(bin_dir)})

    assert result.returncode != 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("npm is missing"), result.stdout
    assert not (work / ".venv").exists()


def _stamped_venv(work: Path, version: str) -> None:
    """A .venv whose pyvenv.cfg says ``version``, both stamps newer than what they install."""
    for name in ("pyproject.toml", RUN_LOCK, DEV_LOCK, UV_LOCK, "package-lock.json"):
        (work / name).write_text("")
    (work / ".venv/bin").mkdir(parents=True)
    (work / ".venv/pyvenv.cfg").write_text(f"home = /nowhere\nversion = {version}\n")
    later = time.time() + 60
    for stamp in (".venv/.installed", ".venv/.installed-dev"):
        (work / stamp).touch()
        os.utime(work / stamp, (later, later))


def _this_python() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def test_a_venv_made_by_another_python_is_rebuilt_saying_so(tmp_path: Path) -> None:
    work = copy_of_the_makefile(tmp_path / "repo")
    _stamped_venv(work, "3.10.4")
    # The uv bootstrap fails at once (no hash): the rebuild is what is under test.
    (work / UV_LOCK).write_text("uv\n")

    result = make(".venv/.installed", f"PYTHON={sys.executable}", cwd=work)

    lines = result.stdout.splitlines()
    assert lines[0] == (
        f".venv was made by Python 3.10.4, and {sys.executable} is Python {_this_python()}: "
        "rebuilding .venv"
    ), result.stdout
    assert lines[1].startswith(f"creating .venv with {sys.executable}")
    assert f"version = {_this_python()}" in (work / ".venv/pyvenv.cfg").read_text()
    assert result.returncode != 0  # the empty lock
    assert "Hashes are required" in result.stderr or "hash" in result.stderr.lower()


def test_a_venv_made_by_this_python_is_kept(tmp_path: Path) -> None:
    work = copy_of_the_makefile(tmp_path / "repo")
    _stamped_venv(work, _this_python())

    result = make(".venv/.installed", ".venv/.installed-dev", f"PYTHON={sys.executable}", cwd=work)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "rebuilding" not in result.stdout
    assert "is up to date" in result.stdout


# The stamps: what each target installs


def _recipes(work: Path, *args: str) -> str:
    result = make("-n", *args, f"PYTHON={sys.executable}", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_make_run_after_make_test_installs_nothing(tmp_path: Path) -> None:
    work = copy_of_the_makefile(tmp_path / "repo")
    _stamped_venv(work, _this_python())

    planned = _recipes(work, "run")

    assert "uv pip install" not in planned and "npm ci" not in planned
    assert "deploystatus dev" in planned


def test_make_run_installs_the_runtime_set_alone_and_make_test_adds_only_the_dev_set(
    tmp_path: Path,
) -> None:
    work = copy_of_the_makefile(tmp_path / "repo")
    _stamped_venv(work, _this_python())
    (work / ".venv/.installed").unlink()
    (work / ".venv/.installed-dev").unlink()

    planned = _recipes(work, "run")
    assert f"--require-hashes -r {RUN_LOCK}" in planned
    assert "npm ci" in planned
    assert DEV_LOCK not in planned

    (work / ".venv/.installed").touch()  # make run has run
    later = time.time() + 60
    os.utime(work / ".venv/.installed", (later, later))
    planned = _recipes(work, "lint", "typecheck")
    assert f"--require-hashes -r {DEV_LOCK}" in planned
    assert f"-r {RUN_LOCK}" not in planned and "npm ci" not in planned


# The lock files


def _pins(name: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of each requirement in a lock file (names normalized)."""
    text = (ROOT / name).read_text(encoding="utf-8")
    pins: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=\S)", text):
        if block.startswith("#") or not block.strip():
            continue
        requirement = block.split()[0]
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([^ ;\\]+)", requirement)
        assert match is not None, f"{name}: not an exact pin: {requirement}"
        key = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        pins[key] = (match.group(2), hashes)
    return pins


@pytest.mark.parametrize("name", [RUN_LOCK, DEV_LOCK, UV_LOCK])
def test_every_pin_of_the_lock_files_has_hashes(name: str) -> None:
    pins = _pins(name)
    assert pins
    assert [package for package, (_, hashes) in pins.items() if not hashes] == []


def test_the_runtime_lock_is_the_dev_lock_s_versions_for_every_shared_package() -> None:
    runtime, dev = _pins(RUN_LOCK), _pins(DEV_LOCK)
    assert set(runtime) <= set(dev), set(runtime) - set(dev)
    assert {name: runtime[name][0] for name in runtime} == {name: dev[name][0] for name in runtime}
    # The dev tools are not in the runtime set.
    assert not {"pytest", "mypy", "ruff", "moto", "playwright"} & set(runtime)


def test_the_locks_hold_what_the_project_asks_for_and_its_build_backend() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

    def names(requirements: list[str]) -> set[str]:
        return {
            re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]).lower()
            for r in requirements
        }

    build = names(project["build-system"]["requires"])
    runtime = names(project["project"]["dependencies"])
    dev = names(project["project"]["optional-dependencies"]["dev"])
    assert runtime | build <= set(_pins(RUN_LOCK))
    assert runtime | dev | build <= set(_pins(DEV_LOCK))
    assert set(_pins(UV_LOCK)) == {"uv"}


# The Dockerfile: the runtime lock alone, hash-checked


def test_the_dockerfile_installs_the_runtime_lock_alone_with_hashes() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    runs = [line.strip() for line in text.splitlines() if line.startswith("RUN pip ")]
    assert runs == [
        f"RUN pip install --require-hashes -r {RUN_LOCK}",
        "RUN pip install --no-deps --no-build-isolation .",
    ]
    instructions = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert DEV_LOCK not in instructions and "[dev]" not in instructions
    assert re.search(rf"^COPY .*\b{re.escape(RUN_LOCK)}\b", text, flags=re.MULTILINE)


# Chromium and promtool: skipped without them, except with CI=true


@pytest.mark.parametrize("tool", ["chromium", "promtool"])
def test_a_missing_debian_tool_is_a_skip_without_ci_and_an_error_with_it(
    tmp_path: Path, tool: str
) -> None:
    bin_dir = fake_bin(tmp_path / "bin")  # no chromium, no promtool, no apt-get
    work = copy_of_the_makefile(tmp_path / "repo")
    env = {"PATH": str(bin_dir), "DEPLOYSTATUS_CHROMIUM": "", "DEPLOYSTATUS_PROMTOOL": ""}

    skipped = make(tool, cwd=work, env=env)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "will be skipped" in skipped.stdout

    failed = make(tool, cwd=work, env={**env, "CI": "true"})
    assert failed.returncode != 0
    assert f"{tool} is missing" in failed.stdout
    assert "CI=true" in failed.stdout


def test_the_browser_tests_fail_without_chromium_with_ci_and_skip_without_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support import browsers

    monkeypatch.setattr(browsers, "CHROMIUM", "")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        browsers.require_chromium()  # at import: the module is skipped
    with pytest.raises(pytest.skip.Exception):
        browsers.check_chromium()  # in the browser fixture

    monkeypatch.setenv("CI", "true")
    browsers.require_chromium()  # the module is collected...
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        browsers.check_chromium()  # ...and each browser test fails


def test_ci_runs_make_test_with_ci_true() -> None:
    script = (ROOT / ".ci/run").read_text(encoding="utf-8")
    assert "export CI=true" in script
    assert script.index("export CI=true") < script.index("make test")


# make compose


def test_make_compose_without_the_compose_plugin_is_one_clear_line(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path / "bin", docker="exit 1")  # docker compose version fails
    work = copy_of_the_makefile(tmp_path / "repo")

    result = make("compose", cwd=work, env={"PATH": str(bin_dir)})

    assert result.returncode != 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and "needs Docker with the Compose plugin" in lines[0], result.stdout


# make dev-env


def test_make_dev_env_says_what_it_started_and_how_to_stop_it(tmp_path: Path) -> None:
    from deploystatus.commands.engines import free_port

    db_port, data_dir = free_port(), tmp_path / "data"
    where = (f"DB_PORT={db_port}", f"DATA_DIR={data_dir}", "--assume-old=.venv/.installed")
    try:
        for first in (True, False):
            result = make("dev-env", *where)
            assert result.returncode == 0, result.stdout + result.stderr
            pid = (data_dir / "local-db.pid").read_text().strip()
            said = (
                "started the local DynamoDB" if first else "the local DynamoDB was already running"
            )
            assert f"dev-env: {said}\n" in result.stdout, result.stdout
            assert f"engine: dynalite at http://127.0.0.1:{db_port}" in result.stdout
            assert f"pid {pid}, log {data_dir}/local-db.log" in result.stdout
            assert f"make delete-dev-env DATA_DIR={data_dir}" in result.stdout
    finally:
        stopped = make("delete-dev-env", *where)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not data_dir.exists()


# make soak and make bench-quick say what they are doing


def test_soak_prints_elapsed_over_total_requests_and_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = importlib.util.spec_from_file_location("soak_script", ROOT / "soak" / "soak.py")
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, soak)  # for its dataclasses
    spec.loader.exec_module(soak)

    assert 10 <= soak.PROGRESS_SECONDS <= 15
    tally = soak.Tally()
    tally.add("write", 0.01, None)
    tally.add("read /current", 0.02, "HTTP 503")
    assert tally.counts() == (2, 1)
    assert soak.progress_line(30.4, 180, 2, 1) == "soak: 30s/180s, 2 requests, 1 errors"
    assert soak.progress_line(181.0, 180, 2, 1).startswith("soak: 180s/180s")


def test_bench_quick_closes_saying_it_is_informational() -> None:
    from bench import run

    assert "informational" in run.QUICK_IS_INFORMATIONAL
    assert "NOT MET" in run.QUICK_IS_INFORMATIONAL
    assert "does not fail" in run.QUICK_IS_INFORMATIONAL
