"""GPU detection through a fake ``nvidia-smi`` on PATH (a script answering the query)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jobq_worker.config import Flags, WorkerConfig, resolve
from jobq_worker.detect import QUERY, Gpu, detect_gpus


def fake_nvidia_smi(directory: Path, body: str) -> Path:
    """Write an executable ``nvidia-smi`` shell script into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory put first on PATH."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", f"{path}{os.pathsep}{os.environ.get('PATH', '')}")
    return path


def test_gpus_come_from_nvidia_smi(bin_dir: Path) -> None:
    args_file = bin_dir / "args"
    fake_nvidia_smi(
        bin_dir,
        f'echo "$@" > {args_file}\n'
        'echo "NVIDIA GeForce RTX 4090, 24564"\necho "NVIDIA GeForce RTX 4090, 24564"',
    )
    assert detect_gpus() == [Gpu("NVIDIA GeForce RTX 4090", 24564)] * 2
    assert args_file.read_text().split() == QUERY
    resolved = resolve(WorkerConfig(), Flags(simulate=True))
    assert resolved.capabilities.gpu_memory == 24.0
    assert resolved.capabilities.gpu_name == "2 x NVIDIA GeForce RTX 4090"


def test_a_failing_nvidia_smi_means_no_gpu(bin_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake_nvidia_smi(bin_dir, 'echo "NVIDIA-SMI has failed: no driver" >&2\nexit 9')
    assert detect_gpus() == []
    assert any(r.message == "nvidia-smi failed" for r in caplog.records)
    assert resolve(WorkerConfig(), Flags(simulate=True)).capabilities.gpu_memory == 0


def test_a_hanging_nvidia_smi_is_given_up(bin_dir: Path) -> None:
    fake_nvidia_smi(bin_dir, "exec sleep 30")
    assert detect_gpus(timeout=0.3) == []


def test_no_nvidia_smi_means_no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_gpus() == []


def test_an_nvidia_smi_that_cannot_run_means_no_gpu(bin_dir: Path) -> None:
    script = bin_dir / "nvidia-smi"
    script.write_text("not a program")
    script.chmod(0o755)
    assert detect_gpus() == []
