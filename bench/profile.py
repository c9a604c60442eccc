"""Profile a hot core path with pyinstrument, and split its time between the client
(Python) and the server (Redis Functions).

    uv run --with pyinstrument python bench/profile.py submit|cycle|roundtrip|status
        [--jobs N] [--redis-url redis://...] [--html out.html]

Without ``--redis-url`` it starts its own ``redis-server`` on a free port in a temp dir
(and stops it after); with it, it writes under a fresh namespace ``profile-<random>``
and resets the server's command statistics. The path runs twice, without and with the
profiler (whose overhead roughly halves the rate); it prints both rates, how busy the
server was (``INFO commandstats`` of the commands the client sent), the server time per
command and the pyinstrument call tree of the client.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

from jobq.broker import Broker
from jobq.models import WorkerCapabilities

WORKER = WorkerCapabilities(worker_id="profile", capabilities=["simulation"], gpu_memory=8)


@contextmanager
def own_redis() -> Iterator[str]:
    """A throwaway redis-server on a free port; its URL."""
    if shutil.which("redis-server") is None:
        sys.exit("redis-server not on PATH; pass --redis-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", folder,
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(timeout=10)


async def path_submit(broker: Broker, jobs: int) -> int:
    await broker.submit_many([{"type": "simulation", "parameters": {"i": i}} for i in range(jobs)])
    return jobs


async def path_cycle(broker: Broker, jobs: int) -> int:
    done = 0
    while batch := (await broker.claim(WORKER, max_jobs=200)).jobs:
        await broker.complete_many([(j.id, j.token, {}) for j in batch])
        done += len(batch)
    return done


async def path_roundtrip(broker: Broker, jobs: int) -> int:
    for _ in range(jobs):
        job_id = (await broker.submit({"type": "simulation"})).job_id
        claimed = (await broker.claim(WORKER)).jobs[0]
        await broker.complete(job_id, {"ok": True}, token=claimed.token)
        await broker.get_job(job_id)
    return jobs


async def path_status(broker: Broker, jobs: int) -> int:
    ids = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 10)]
    concurrency = 50

    async def reader(offset: int) -> None:
        for i in range(offset, jobs, concurrency):
            await broker.get_job(ids[i % len(ids)])

    await asyncio.gather(*(reader(k) for k in range(concurrency)))
    return jobs


#: path -> (the measured function, what to prepare with submit_many first, default jobs)
PATHS: dict[str, tuple[Callable[[Broker, int], Awaitable[int]], bool, int]] = {
    "submit": (path_submit, False, 50_000),
    "cycle": (path_cycle, True, 20_000),
    "roundtrip": (path_roundtrip, False, 2_000),
    "status": (path_status, False, 20_000),
}


async def server_usec(broker: Broker) -> tuple[float, dict[str, tuple[int, float]]]:
    """Seconds the server spent executing the client's commands (the top-level ones: the
    commands a function runs are counted both in FCALL and on their own), and per command
    (calls, µs per call)."""
    stats: dict[str, Any] = await broker.redis.info("commandstats")
    per_command = {
        name.removeprefix("cmdstat_"): (int(v["calls"]), float(v["usec_per_call"]))
        for name, v in stats.items()
        if isinstance(v, dict)
    }
    top = sum(float(v["usec"]) for name, v in stats.items() if name in TOP_LEVEL)
    return top / 1e6, per_command


#: Commands the broker sends itself (everything else runs inside its functions).
TOP_LEVEL = {f"cmdstat_{c}" for c in ("fcall", "fcall_ro", "hgetall", "xread", "xrevrange")}


async def profile(url: str, name: str, jobs: int) -> Profiler:
    """Run the path twice (plain, then profiled); print the figures; return the profile."""
    run, prepare, default_jobs = PATHS[name]
    jobs = jobs or default_jobs
    async with Broker.from_url(url, namespace=f"profile-{uuid.uuid4().hex[:8]}") as broker:
        await path_roundtrip(broker, 50)  # warm up: library, connections, shape cache
        # First without the profiler (its overhead would distort the rate), then with it.
        for profiler in (None, Profiler(async_mode="enabled", interval=0.0005)):
            if prepare:
                await broker.submit_many({"type": "simulation"} for _ in range(jobs))
            await broker.redis.config_resetstat()
            start = time.perf_counter()
            if profiler is None:
                done = await run(broker, jobs)
            else:
                with profiler:
                    done = await run(broker, jobs)
            wall = time.perf_counter() - start
            server, per_command = await server_usec(broker)
            label = "profiled" if profiler else "plain"
            print(
                f"{name} ({label}): {done:,} jobs in {wall:.3f} s = {done / wall:,.0f} jobs/s; "
                f"server busy {server:.3f} s ({100 * server / wall:.0f} % of wall time)"
            )
    assert profiler is not None
    print("server time per command (last run; calls, µs per call):")
    for command, (calls, usec) in sorted(per_command.items(), key=lambda kv: -kv[1][0] * kv[1][1]):
        print(f"  {command:<12} {calls:>9,} x {usec:8.2f} µs = {calls * usec / 1e6:7.3f} s")
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", choices=sorted(PATHS))
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--redis-url")
    parser.add_argument("--html")
    args = parser.parse_args()
    if args.redis_url:
        profiler = asyncio.run(profile(args.redis_url, args.path, args.jobs))
    else:
        with own_redis() as url:
            profiler = asyncio.run(profile(url, args.path, args.jobs))
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        Path(args.html).write_text(profiler.output_html())


if __name__ == "__main__":
    main()
