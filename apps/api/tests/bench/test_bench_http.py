"""HTTP benchmarks against one ``jobq api`` process (uvicorn) on the test's Redis:

- submit latency with 50 concurrent keep-alive clients at a steady offered load
  (target p99 < 10 ms), and the saturation throughput of the same clients;
- status reads per second (target >= 3,000/s).

The load comes from this process through :class:`jobq_testing.api.KeepAliveClient`
(httpx would spend more CPU than the server under test). Server and load generator share
the machine's cores, so the figures are a floor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from jobq.broker import Broker
from jobq_testing.api import API_KEY, ApiProcess, KeepAliveClient
from jobq_testing.bench import summary_ms

CLIENTS = 50
#: Offered load of the latency run: each client submits every INTERVAL seconds.
INTERVAL = 0.1
DURATION = 10.0

pytestmark = pytest.mark.timeout(300)


def client(api: ApiProcess, connections: int) -> KeepAliveClient:
    return KeepAliveClient(api.url, {"x-api-key": API_KEY}, connections)


JOB = {"type": "text-to-image", "prompt": "a benchmark", "priority": 60}


async def test_submit_latency_with_50_concurrent_clients(
    api_process: ApiProcess, broker: Broker, bench_record: Callable[..., None]
) -> None:
    samples: list[float] = []
    async with client(api_process, CLIENTS) as http:
        for _ in range(200):  # warm up
            status, _ = await http.request("POST", "/api/jobs/submit", JOB)
            assert status == 200

        async def one_client(offset: float) -> None:
            await asyncio.sleep(offset)
            deadline = time.perf_counter() + DURATION
            next_at = time.perf_counter()
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                status, body = await http.request("POST", "/api/jobs/submit", JOB)
                samples.append(time.perf_counter() - start)
                assert status == 200, body
                next_at += INTERVAL
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

        await asyncio.gather(*(one_client(i * INTERVAL / CLIENTS) for i in range(CLIENTS)))
    stats = summary_ms(samples)
    rate = len(samples) / DURATION
    scenario = (
        f"POST /api/jobs/submit, {CLIENTS} concurrent keep-alive clients, each every "
        f"{INTERVAL * 1000:.0f} ms (~{rate:.0f} req/s offered), {DURATION:.0f} s, one API process"
    )
    bench_record("api.http_submit_p50", stats["p50"], "ms", scenario=scenario)
    bench_record(
        "api.http_submit_p99", stats["p99"], "ms", target="< 10", met=stats["p99"] < 10,
        scenario=scenario,
    )  # fmt: skip
    assert (await broker.count_by_status())["pending"] == len(samples) + 200


async def test_submit_throughput_at_saturation(
    api_process: ApiProcess, bench_record: Callable[..., None]
) -> None:
    samples: list[float] = []
    total = 4000
    async with client(api_process, CLIENTS) as http:

        async def one_client(count: int) -> None:
            for _ in range(count):
                start = time.perf_counter()
                status, _ = await http.request("POST", "/api/jobs/submit", JOB)
                samples.append(time.perf_counter() - start)
                assert status == 200

        await one_client(200)
        samples.clear()
        start = time.perf_counter()
        await asyncio.gather(*(one_client(total // CLIENTS) for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - start
    stats = summary_ms(samples)
    scenario = f"{total} POST /api/jobs/submit from {CLIENTS} clients back to back (closed loop)"
    bench_record("api.http_submit_saturated_rate", total / elapsed, "req/s", scenario=scenario)
    bench_record("api.http_submit_saturated_p99", stats["p99"], "ms", scenario=scenario)


async def test_status_reads_per_second(
    api_process: ApiProcess, broker: Broker, bench_record: Callable[..., None]
) -> None:
    ids = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 10)]
    paths = [f"/api/jobs/{job_id}/status" for job_id in ids]
    total = 6000
    async with client(api_process, CLIENTS) as http:

        async def one_client(count: int, offset: int) -> None:
            for n in range(count):
                status, _ = await http.request("GET", paths[(n + offset) % len(paths)])
                assert status == 200

        await one_client(200, 0)
        rates = []
        for _ in range(3):
            start = time.perf_counter()
            await asyncio.gather(*(one_client(total // CLIENTS, i) for i in range(CLIENTS)))
            rates.append(total / (time.perf_counter() - start))
    best = max(rates)
    scenario = f"GET /api/jobs/{{id}}/status, {CLIENTS} keep-alive clients, best of 3 x {total}"
    bench_record(
        "api.status_reads_rate", best, "reads/s", target=">= 3,000", met=best >= 3000,
        scenario=scenario,
    )  # fmt: skip
