"""Capability detection: the GPUs of this machine, from ``nvidia-smi`` when it exists."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger("jobq_worker.detect")

QUERY = ["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]


@dataclass(frozen=True)
class Gpu:
    """One GPU: its name and total memory in MiB (as nvidia-smi reports it)."""

    name: str
    memory_mib: float

    @property
    def memory_gb(self) -> float:
        """Total memory in GB (GiB), to one decimal: what ``gpu_memory`` is compared with."""
        return round(self.memory_mib / 1024, 1)


def parse_nvidia_smi(output: str) -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits``
    output (``NVIDIA GeForce RTX 4090, 24564`` per line). Lines that do not parse are
    skipped with a warning."""
    gpus: list[Gpu] = []
    for line in output.splitlines():
        if not line.strip():
            continue
        name, sep, memory = line.rpartition(",")
        try:
            if not sep or not name.strip():
                raise ValueError("expected 'name, memory'")
            gpus.append(Gpu(name.strip(), float(memory.strip())))
        except ValueError as exc:
            log.warning("unreadable nvidia-smi line", extra={"line": line, "error": str(exc)})
    return gpus


def detect_gpus(*, timeout: float = 10.0) -> list[Gpu]:
    """The GPUs ``nvidia-smi`` lists; empty when it is missing or fails."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return []
    try:
        done = subprocess.run(
            [binary, *QUERY], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("nvidia-smi did not run", extra={"error": str(exc)})
        return []
    if done.returncode != 0:
        log.warning(
            "nvidia-smi failed",
            extra={"returncode": done.returncode, "stderr": done.stderr.strip()[:500]},
        )
        return []
    return parse_nvidia_smi(done.stdout)


def summarize(gpus: list[Gpu]) -> tuple[float, str | None]:
    """``(gpu_memory, gpu_name)`` for a worker: the memory of its largest GPU (a job runs
    on one GPU) and a name such as ``NVIDIA A100 80GB`` or ``2 x NVIDIA L4``."""
    if not gpus:
        return 0.0, None
    largest = max(gpus, key=lambda gpu: gpu.memory_mib)
    counts = Counter(gpu.name for gpu in gpus)
    name = ", ".join(f"{n} x {gpu}" if n > 1 else gpu for gpu, n in counts.items())
    return largest.memory_gb, name
