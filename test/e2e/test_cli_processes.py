"""The ``jobq`` console command as a real process: submit, inspect, clean errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from jobq.settings import CoreSettings


@pytest.fixture
def jobq_env(core_settings: CoreSettings) -> dict[str, str]:
    return {
        **os.environ,
        "JOBQ_REDIS_URL": core_settings.redis_url,
        "JOBQ_NAMESPACE": core_settings.namespace,
    }


def jobq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("jobq")
    assert command is not None, "the jobq console script is not installed"
    return subprocess.run(
        [command, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_submit_then_status_across_processes(jobq_env: dict[str, str]) -> None:
    submitted = jobq(jobq_env, "submit", "simulation", "--param", "steps=2", "--priority", "90")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    shown = jobq(jobq_env, "status", job_id)
    assert shown.returncode == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert (job["id"], job["status"], job["priority"]) == (job_id, "pending", 90)


def test_bad_input_is_a_clear_error_not_a_traceback(jobq_env: dict[str, str]) -> None:
    bad = jobq(jobq_env, "submit", "upscale", "--param", "scale_factor=99")
    assert bad.returncode == 1
    assert "VALIDATION_ERROR" in bad.stderr
    assert "scale_factor" in bad.stderr
    assert "Traceback" not in bad.stderr
