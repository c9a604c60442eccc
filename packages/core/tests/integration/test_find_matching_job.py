"""The seed's Redis Function cases (Day 3), through the findMatchingJob entry point
and the SDK instead of raw key writes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from jobq.broker import Broker
from jobq.models import JobStatus
from jobq.settings import CoreSettings

SD = {"gpu_memory": 8, "model_type": "stable-diffusion", "capabilities": ["text-to-image"]}


@pytest.fixture
async def default_broker(core_settings: CoreSettings, make_broker: Any) -> Broker:
    """findMatchingJob works on the default namespace (the test DB is ours alone)."""
    broker: Broker = await make_broker(namespace="default")
    return broker


async def find(broker: Broker, caps: dict[str, Any], max_scan: int = 1) -> dict[str, Any]:
    reply = await broker.redis.fcall("findMatchingJob", 0, json.dumps(caps), str(max_scan))
    result: dict[str, Any] = json.loads(reply)
    return result


async def test_finds_job_matching_worker_capabilities(default_broker: Broker) -> None:
    sd = await default_broker.submit({"type": "text-to-image", "prompt": "x", "requirements": SD})
    await default_broker.submit(
        {
            "type": "text-generation",
            "prompt": "x",
            "priority": 70,
            "requirements": {
                "gpu_memory": 16,
                "model_type": "llm",
                "capabilities": ["text-generation"],
            },
        }
    )
    worker = {
        "gpu_memory": 12,
        "model_types": ["stable-diffusion"],
        "capabilities": ["text-to-image", "image-to-image"],
    }
    result = await find(default_broker, worker)
    assert result["success"] is True
    assert result["jobId"] == sd.job_id
    assert result["job"]["status"] == "assigned"
    assert result["job"]["requirements"]["model_type"] == "stable-diffusion"
    job = await default_broker.get_job(sd.job_id)
    assert job.status is JobStatus.ASSIGNED
    stats = await default_broker.queue_stats()
    assert sum(s.pending for s in stats.shapes) == 1  # only the LLM job is still pending


async def test_no_match_says_so(default_broker: Broker) -> None:
    await default_broker.submit(
        {
            "type": "text-generation",
            "prompt": "x",
            "requirements": {"gpu_memory": 32, "model_type": "llm"},
        }
    )
    worker = {
        "gpu_memory": 4,
        "model_types": ["stable-diffusion"],
        "capabilities": ["text-to-image"],
    }
    result = await find(default_broker, worker)
    assert result == {"success": False, "reason": "No matching jobs found"}


async def test_highest_priority_first(default_broker: Broker) -> None:
    ids = {}
    for name, priority in (("low", 30), ("high", 80), ("medium", 50)):
        submitted = await default_broker.submit(
            {"type": "text-to-image", "prompt": name, "priority": priority, "requirements": SD}
        )
        ids[submitted.job_id] = name
    worker = {
        "gpu_memory": 16,
        "model_types": ["stable-diffusion"],
        "capabilities": ["text-to-image"],
    }
    order = [ids[(await find(default_broker, worker))["jobId"]] for _ in range(3)]
    assert order == ["high", "medium", "low"]


async def test_pool_aware_matching(default_broker: Broker) -> None:
    standard = await default_broker.submit(
        {
            "type": "text-to-image",
            "prompt": "x",
            "priority": 60,
            "requirements": {**SD, "pool_preference": "standard", "expected_duration": 300},
        }
    )
    fast = await default_broker.submit(
        {
            "type": "text-generation",
            "prompt": "x",
            "priority": 50,
            "requirements": {
                "gpu_memory": 4,
                "model_type": "ollama",
                "capabilities": ["text-generation"],
                "pool_preference": "fast-lane",
                "expected_duration": 30,
            },
        }
    )
    worker = {
        "gpu_memory": 8,
        "model_types": ["ollama", "stable-diffusion"],
        "capabilities": ["text-generation", "text-to-image"],
        "pool_type": "fast-lane",
    }
    # The pool match wins over a cross-pool job even of higher priority; then the fallback.
    assert (await find(default_broker, worker))["jobId"] == fast.job_id
    assert (await find(default_broker, worker))["jobId"] == standard.job_id


async def test_five_concurrent_claims_have_one_winner(default_broker: Broker) -> None:
    single = await default_broker.submit(
        {"type": "text-to-image", "prompt": "x", "priority": 70, "requirements": SD}
    )
    worker = {
        "gpu_memory": 16,
        "model_types": ["stable-diffusion"],
        "capabilities": ["text-to-image"],
    }
    results = await asyncio.gather(*(find(default_broker, worker) for _ in range(5)))
    winners = [r for r in results if r["success"]]
    assert len(winners) == 1
    assert winners[0]["jobId"] == single.job_id
    assert [r["reason"] for r in results if not r["success"]] == ["No matching jobs found"] * 4


async def test_invalid_capabilities_json_is_a_clear_failure(default_broker: Broker) -> None:
    reply = await default_broker.redis.fcall("findMatchingJob", 0, "not json", "1")
    assert json.loads(reply) == {"success": False, "reason": "Invalid worker capabilities JSON"}
