"""``jobq worker`` as a real process: runs jobs, logs JSON, reads its config and the
GPUs nvidia-smi reports, drains on SIGTERM, and its jobs survive a SIGKILL."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from pathlib import Path

from jobq.broker import Broker
from jobq.models import JobStatus
from jobq_testing.worker import WorkerProcessFactory, eventually, jobq_executable

IN_FLIGHT = {JobStatus.ASSIGNED, JobStatus.RUNNING}


def sim(duration: float, **fields: object) -> dict[str, object]:
    return {"type": "simulation", "parameters": {"duration": duration, "steps": 2}, **fields}


async def test_a_simulating_worker_runs_jobs_and_logs_json_lines(
    broker: Broker, worker_process: WorkerProcessFactory
) -> None:
    worker = worker_process("--simulate", "--concurrency", "4", worker_id="sim-1")
    ids = [r.job_id for r in await broker.submit_many([sim(0.05)] * 20)]
    for job_id in ids:
        job = await broker.wait_for(job_id, timeout=30)
        assert (job.status, job.worker_id) == (JobStatus.COMPLETED, "sim-1")
    [info] = await broker.list_workers()
    assert info.capabilities.capabilities == ["simulation"]
    assert info.capabilities.concurrency == 4
    assert await asyncio.to_thread(worker.terminate) == 0
    records = worker.records()
    assert records, worker.log()
    assert all(r["worker_id"] == "sim-1" for r in records)
    assert {"ts", "level", "logger", "message"} <= set(records[0])
    stopped = [r for r in records if r["message"] == "worker stopped"]
    assert stopped
    assert stopped[0]["completed"] == 20
    assert await broker.list_workers() == []  # deregistered


async def test_sigterm_during_work_finishes_or_hands_back_and_fails_nothing(
    broker: Broker, worker_process: WorkerProcessFactory
) -> None:
    draining = worker_process("--simulate", "--concurrency", "8", "--grace", "2", worker_id="d1")
    short = [r.job_id for r in await broker.submit_many([sim(1.0, priority=90)] * 4)]
    long = [r.job_id for r in await broker.submit_many([sim(3.0, priority=10)] * 4)]

    async def all_in_flight() -> bool:
        jobs = await broker.get_jobs([*short, *long])
        return all(job is not None and job.status in IN_FLIGHT for job in jobs)

    await eventually(all_in_flight)
    assert await asyncio.to_thread(draining.terminate) == 0
    jobs = {job.id: job for job in await broker.get_jobs([*short, *long]) if job is not None}
    assert {jobs[i].status for i in short} == {JobStatus.COMPLETED}  # finished within grace
    assert {jobs[i].status for i in long} == {JobStatus.PENDING}  # handed back
    assert all(jobs[i].retry_count == 0 and not jobs[i].attempts for i in long)
    worker_process("--simulate", "--concurrency", "8", worker_id="d2")
    for job_id in long:
        job = await broker.wait_for(job_id, timeout=30)
        assert (job.status, job.worker_id, job.retry_count) == (JobStatus.COMPLETED, "d2", 0)
    assert (await broker.count_by_status()).get("failed", 0) == 0


async def test_jobs_of_a_killed_worker_come_back_when_its_lease_expires(
    broker: Broker, worker_process: WorkerProcessFactory
) -> None:
    short_lease = {"JOBQ_LEASE_SECONDS": "1"}
    doomed = worker_process("--simulate", "--concurrency", "2", worker_id="k1", env=short_lease)
    ids = [r.job_id for r in await broker.submit_many([sim(1.5, retry_backoff=0.1)] * 2)]

    async def both_claimed() -> bool:
        return len((await broker.list_jobs(worker_id="k1")).jobs) == 2

    await eventually(both_claimed)
    await asyncio.to_thread(doomed.kill)
    worker_process("--simulate", "--concurrency", "2", worker_id="k2", env=short_lease)
    for job_id in ids:
        job = await broker.wait_for(job_id, timeout=30)
        assert (job.status, job.worker_id, job.retry_count) == (JobStatus.COMPLETED, "k2", 1)
        assert job.attempts[0].error == "lease expired (worker k1 lost)"


async def test_capabilities_come_from_the_config_file_flags_and_nvidia_smi(
    broker: Broker, worker_process: WorkerProcessFactory, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text('#!/bin/sh\necho "NVIDIA A10, 23028"\n')
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    config = tmp_path / "worker.toml"
    config.write_text(
        '[worker]\npool = "heavy"\ncapabilities = ["text-to-image"]\n'
        'model_types = ["stable-diffusion"]\nconcurrency = 2\n\n'
        '[handlers.text-to-image]\nconnector = "simulation"\nduration = 0.05\nsteps = 1\n'
    )
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    worker_process(
        "--config", str(config), "--capability", "upscale", "--model-type", "flux",
        worker_id="gpu-1", env={"PATH": path},
    )  # fmt: skip
    [info] = await broker.list_workers()
    caps = info.capabilities
    assert (caps.gpu_memory, caps.gpu_name, caps.pool_type) == (22.5, "NVIDIA A10", "heavy")
    assert caps.capabilities == ["text-to-image", "upscale"]
    assert caps.model_types == ["flux", "stable-diffusion"]
    submitted = await broker.submit(
        {"type": "text-to-image", "prompt": "a fox",
         "requirements": {"capabilities": ["text-to-image"], "gpu_memory": 20}}
    )  # fmt: skip
    job = await broker.wait_for(submitted.job_id, timeout=30)
    assert (job.status, job.worker_id) == (JobStatus.COMPLETED, "gpu-1")
    assert job.result is not None
    assert job.result["duration"] == 0.05


def test_a_bad_config_is_a_clear_error_not_a_traceback(
    tmp_path: Path, worker_env: dict[str, str]
) -> None:
    config = tmp_path / "worker.toml"
    config.write_text("[worker]\nconcurency = 2\n")
    done = subprocess.run(
        [jobq_executable(), "worker", "--config", str(config)],
        env=worker_env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "worker.concurency: Extra inputs are not permitted" in done.stderr
    assert "Traceback" not in done.stderr
