"""Packaging: the Lua library ships inside the jobq-core wheel, one ``jobq`` command, and
subprocesses started by tests are measured by coverage."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: install it with `python3 -m pip install uv`")
    return uv


def test_core_wheel_carries_the_lua_library(tmp_path: Path) -> None:
    subprocess.run(
        [_uv(), "build", "--package", "jobq-core", "--wheel", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("jobq_core-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(
            next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    lua_files = {name for name in names if name.startswith("jobq/lua/")}
    expected = {f"jobq/lua/{path.name}" for path in (ROOT / "lua").glob("*.lua")}
    assert expected, "no Lua files found under lua/"
    assert lua_files == expected
    assert "jobq/py.typed" in names
    assert "jobq = jobq.cli:main" in entry_points


def test_lua_dir_is_the_one_shipped_in_the_package() -> None:
    assert (ROOT / "lua").resolve() == (ROOT / "packages/core/src/jobq/lua").resolve()


def test_coverage_follows_subprocesses(tmp_path: Path) -> None:
    """With the project's coverage settings (``patch = ["subprocess"]``) a Python child
    started by a measured process is measured too: the e2e tier relies on it."""
    rcfile = tmp_path / ".coveragerc"
    rcfile.write_text(
        "[run]\nbranch = true\nparallel = true\npatch = subprocess\n"
        f"data_file = {tmp_path / '.coverage'}\nsource_pkgs = jobq\n"
    )
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', "
        "'from jobq.matching import shape_of; import jobq.keys'], check=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV")}
    run = [sys.executable, "-m", "coverage"]
    subprocess.run([*run, "run", f"--rcfile={rcfile}", str(parent)], check=True, env=env)
    subprocess.run([*run, "combine", f"--rcfile={rcfile}"], check=True, env=env)
    report = subprocess.run(
        [*run, "report", f"--rcfile={rcfile}", "--include=*/jobq/keys.py"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    # parent.py never imports jobq itself: only the child can have measured keys.py.
    assert "keys.py" in report
