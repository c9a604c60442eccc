"""The core commands of ``jobq``: submit and status."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from jobq.cli import main
from jobq.settings import CoreSettings


@pytest.fixture
def runner(core_settings: CoreSettings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("JOBQ_REDIS_URL", core_settings.redis_url)
    monkeypatch.setenv("JOBQ_NAMESPACE", core_settings.namespace)
    return CliRunner()


def test_submit_and_status(runner: CliRunner) -> None:
    submitted = runner.invoke(
        main,
        [
            "submit",
            "upscale",
            "--param",
            "scale_factor=2",
            "--param",
            "note=hi",
            "--priority",
            "70",
        ],
    )
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.output.strip()
    shown = runner.invoke(main, ["status", job_id])
    assert shown.exit_code == 0, shown.output
    job = json.loads(shown.output)
    assert (job["status"], job["priority"]) == ("pending", 70)
    assert job["parameters"] == {"scale_factor": 2, "note": "hi"}


def test_errors_are_clean(runner: CliRunner) -> None:
    bad = runner.invoke(main, ["submit", "text-to-image"])
    assert bad.exit_code == 1
    assert "VALIDATION_ERROR: validation failed" in bad.output
    missing = runner.invoke(main, ["status", "nope"])
    assert "JOB_NOT_FOUND: Job not found: nope" in missing.output
    param = runner.invoke(main, ["submit", "simulation", "--param", "novalue"])
    assert param.exit_code == 2
    assert "use KEY=VALUE" in param.output


def test_submit_wait_times_out_cleanly(runner: CliRunner) -> None:
    waited = runner.invoke(main, ["submit", "simulation", "--wait", "--timeout", "0.2"])
    assert waited.exit_code == 1
    assert "TIMEOUT" in waited.output
