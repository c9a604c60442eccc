"""`jobq up`: the worker plan, the demo traffic's jobs and the banner (no processes)."""

from __future__ import annotations

import random
from pathlib import Path

from jobq.catalog import Catalog
from jobq_monitor.up import (
    PROFILES,
    Child,
    RedisHandle,
    Stack,
    UpOptions,
    demo_job,
    has_command,
    jobq_command,
    start_redis,
    worker_plan,
)


def test_workers_cycle_through_pools_and_capabilities() -> None:
    plan = worker_plan(4)
    assert [worker_id for worker_id, _ in plan] == [
        "demo-fast-lane-1", "demo-standard-1", "demo-heavy-1", "demo-fast-lane-2",
    ]  # fmt: skip
    assert {profile.pool for _, profile in plan} == {"fast-lane", "standard", "heavy"}
    assert worker_plan(0) == []
    heavy = PROFILES[2]
    args = heavy.args("w")
    assert args[:4] == ["worker", "--simulate", "--id", "w"]
    assert args[4:6] == ["--pool", "heavy"]
    assert args.count("--capability") == len(heavy.capabilities)
    assert args[-2:] == ["--gpu-memory", "80"]
    assert heavy.describe() == "heavy: simulation, upscale, text-to-image, 80 GB GPU"
    assert PROFILES[0].describe() == "fast-lane: simulation, text-generation"


def test_demo_jobs_are_valid_varied_simulations() -> None:
    rng = random.Random(7)
    catalog = Catalog.default()
    jobs = [demo_job(rng) for _ in range(200)]
    for job in jobs:
        spec, _shape = catalog.prepare(job)  # raises on anything invalid
        assert spec.type == "simulation"
    pools = {j.get("requirements", {}).get("pool_preference") for j in jobs}
    assert pools == {None, "fast-lane", "standard", "heavy"}
    assert any("fail_rate" in j["parameters"] for j in jobs)
    assert len({j["priority"] for j in jobs}) > 2


def test_an_external_redis_is_used_as_given(tmp_path: Path) -> None:
    handle = start_redis(tmp_path, {"JOBQ_REDIS_URL": "redis://example:6379/3"})
    assert (handle.url, handle.kind) == ("redis://example:6379/3", "JOBQ_REDIS_URL")
    handle.stop()  # nothing to stop


def test_the_banner_names_every_url_the_key_and_the_workers(tmp_path: Path) -> None:
    stack = Stack(UpOptions(workers=2, demo=True, host="0.0.0.0"), environ={}, workdir=tmp_path)  # noqa: S104
    stack.redis = RedisHandle("redis://127.0.0.1:7000/0", "redis-server (temporary)")
    stack.api_key = "the-key"
    stack.children = [
        Child("api", ["jobq", "api"], tmp_path / "api.log", 8000),
        Child("monitor", ["jobq", "monitor"], tmp_path / "monitor.log", 8001),
    ]
    text = "\n".join(stack.banner())
    assert "Monitor   http://127.0.0.1:8001/" in text
    assert "API       http://127.0.0.1:8000" in text
    assert "API key   the-key" in text
    assert "redis://127.0.0.1:7000/0" in text
    assert "demo-fast-lane-1" in text
    assert "demo-standard-1" in text
    assert "Demo" in text
    assert text.rstrip().endswith("Press Ctrl-C to stop.")
    assert stack.url("nothing") is None
    env = stack.child_env()
    assert (env["JOBQ_REDIS_URL"], env["JOBQ_API_KEYS"]) == ("redis://127.0.0.1:7000/0", "the-key")
    # Nothing was started: every child counts as exited.
    dead = stack.dead_essential()
    assert dead is not None
    assert dead.name == "api"
    assert dead.log_tail() == ""


def test_commands_are_found_through_entry_points() -> None:
    assert has_command("monitor")
    assert has_command("up")
    assert not has_command("no-such-command")
    assert "jobq" in " ".join(jobq_command())
