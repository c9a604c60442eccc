"""jobq on a real 3-master Redis Cluster: namespaces are spread over the shards by their
hash tags, each works on its own shard, and one worker can serve several of them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from jobq.broker import SUBMIT_CHUNK, Broker
from jobq.connection import connect, on_every_primary
from jobq.functions import ensure_library, library, loaded_version, loaded_versions
from jobq.keys import Keys
from jobq.models import JobStatus, WorkerCapabilities
from jobq.settings import CoreSettings
from jobq_testing.cluster import LocalCluster, flush_cluster

WORKER = WorkerCapabilities(worker_id="w-multi", capabilities=["simulation"], gpu_memory=8)


@pytest.fixture
async def cluster_client(redis_cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    """One cluster client (flushed first) that several brokers can share."""
    await flush_cluster(redis_cluster)
    client = connect(redis_cluster.url)
    assert isinstance(client, RedisCluster)
    await client.initialize()
    yield client
    await client.aclose()


@pytest.fixture
async def node_clients(redis_cluster: LocalCluster) -> AsyncIterator[dict[int, Redis]]:
    """A plain client per node, by port (to look at one shard alone)."""
    clients = {
        port: Redis.from_url(url, decode_responses=True)
        for port, url in zip(redis_cluster.ports, redis_cluster.node_urls(), strict=True)
    }
    yield clients
    for client in clients.values():
        await client.aclose()


def spread_namespaces(client: RedisCluster, count: int = 3) -> dict[str, int]:
    """The first namespaces ``ns-0``, ``ns-1``, ... that cover ``count`` different
    primaries: namespace -> port of the node serving its hash tag."""
    chosen: dict[str, int] = {}
    for i in range(100):
        namespace = f"ns-{i}"
        node = client.get_node_from_key(Keys(namespace).base)
        assert node is not None
        port = int(node.port)
        if port not in chosen.values():
            chosen[namespace] = port
        if len(chosen) == count:
            return chosen
    raise AssertionError("100 namespaces all hashed to fewer than 3 nodes")


async def test_namespaces_live_on_different_shards_and_each_works(
    cluster_client: RedisCluster, node_clients: dict[int, Redis]
) -> None:
    placement = spread_namespaces(cluster_client)
    for namespace, port in placement.items():
        broker = Broker(cluster_client, namespace=namespace)
        ids = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 3)]
        batch = await broker.claim(WORKER, max_jobs=2)
        assert [j.id for j in batch.jobs] == ids[:2]
        await broker.start(ids[0], token=batch.jobs[0].token)
        assert await broker.complete(ids[0], {"ns": namespace}, token=batch.jobs[0].token)
        assert (await broker.wait_for(ids[0], timeout=5)).result == {"ns": namespace}
        assert not await broker.fail(ids[1], "boom", token=batch.jobs[1].token, retryable=False)
        assert (await broker.get_job(ids[1])).status == JobStatus.FAILED
        stats = await broker.queue_stats()
        assert stats.by_status["pending"] == 1
        assert (await broker.list_jobs(limit=10)).jobs[0].id == ids[2]
        # Every key of the namespace is on its own node, none on the others.
        for node_port, node in node_clients.items():
            found = [key async for key in node.scan_iter(match=f"jobq:{{{namespace}}}:*")]
            assert bool(found) == (node_port == port), (namespace, node_port)


async def test_one_worker_serves_several_namespaces(cluster_client: RedisCluster) -> None:
    namespaces = list(spread_namespaces(cluster_client))
    brokers = {ns: Broker(cluster_client, namespace=ns) for ns in namespaces}
    submitted: dict[str, list[str]] = {}
    for ns, broker in brokers.items():
        await broker.register_worker(WORKER)
        specs = [{"type": "simulation", "parameters": {"n": i}} for i in range(20)]
        results = await broker.submit_many(specs)
        submitted[ns] = [r.job_id for r in results]

    async def serve() -> dict[str, list[str]]:
        """A worker loop that claims from each namespace in turn until all are empty."""
        done: dict[str, list[str]] = {ns: [] for ns in brokers}
        while True:
            idle = True
            for ns, broker in brokers.items():
                batch = await broker.claim(WORKER, max_jobs=7)
                if batch.jobs:
                    idle = False
                    items = [(j.id, j.token, {"ns": ns}) for j in batch.jobs]
                    assert all(o is True for o in await broker.complete_many(items))
                    done[ns].extend(j.id for j in batch.jobs)
            if idle:
                return done

    done = await serve()
    assert done == submitted  # all of them, each namespace in FIFO order
    for broker in brokers.values():
        assert (await broker.count_by_status())["completed"] == 20
        workers = await broker.list_workers()
        assert [w.capabilities.worker_id for w in workers] == [WORKER.worker_id]


async def test_the_library_is_loaded_and_checked_on_every_primary(
    cluster_client: RedisCluster, node_clients: dict[int, Redis]
) -> None:
    version = library().version
    await cluster_client.function_flush()
    assert await loaded_versions(cluster_client) == [None, None, None]
    assert await ensure_library(cluster_client) is True
    assert await loaded_versions(cluster_client) == [version] * 3
    assert await ensure_library(cluster_client) is False
    # One primary loses the library (e.g. a restarted node): the others do not hide it.
    lonely = next(iter(node_clients.values()))
    await lonely.function_flush()
    assert await loaded_version(cluster_client) is None
    assert await ensure_library(cluster_client) is True
    assert await loaded_version(cluster_client) == version


async def test_a_broker_reloads_a_library_lost_by_its_shard(
    cluster_client: RedisCluster, node_clients: dict[int, Redis]
) -> None:
    namespace, port = next(iter(spread_namespaces(cluster_client).items()))
    broker = Broker(cluster_client, namespace=namespace)
    await broker.connect()
    await node_clients[port].function_flush()  # the shard restarted without persistence
    specs = [{"type": "simulation", "parameters": {"i": i}} for i in range(SUBMIT_CHUNK * 2 + 1)]
    ids = [r.job_id for r in await broker.submit_many(specs)]
    assert len(set(ids)) == len(specs)
    page = await broker.list_jobs(limit=3)  # newest first
    assert [j.id for j in page.jobs] == ids[::-1][:3]
    await node_clients[port].function_flush()
    assert len((await broker.claim(WORKER, max_jobs=5)).jobs) == 5


async def test_workflows_and_waiting_run_on_the_namespace_shard(
    cluster_client: RedisCluster,
) -> None:
    broker = Broker(cluster_client, namespace="wf-ns")
    created = await broker.create_workflow(
        {
            "name": "two",
            "steps": [{"type": "simulation"}, {"type": "simulation", "depends_on": [0]}],
        }
    )
    first = (await broker.claim(WORKER)).jobs[0]
    waiter = asyncio.create_task(broker.wait_for(first.id, timeout=5))
    await asyncio.sleep(0.05)
    await broker.complete(first.id, {"x": 1}, token=first.token)
    assert (await waiter).status == JobStatus.COMPLETED
    state = await broker.get_workflow(created.workflow_id)
    assert [s.status for s in state.steps] == [JobStatus.COMPLETED, JobStatus.PENDING]


async def test_find_matching_job_reaches_the_default_namespace(
    cluster_client: RedisCluster,
) -> None:
    broker = Broker(cluster_client, namespace="default")
    await broker.submit_many([{"type": "simulation"}] * 6)
    caps = json.dumps({"worker_id": "legacy", "capabilities": ["simulation"], "gpu_memory": 8})
    # A keyless FCALL would go to a random node; jobq's cluster client sends it to {default}.
    for _ in range(6):
        reply = json.loads(await cluster_client.fcall("findMatchingJob", 0, caps, "1"))
        assert reply["success"] is True
    reply = json.loads(await cluster_client.fcall("findMatchingJob", 0, caps, "1"))
    assert reply == {"success": False, "reason": "No matching jobs found"}


async def test_calls_are_routed_without_asking_the_server_for_their_keys(
    cluster_client: RedisCluster, node_clients: dict[int, Redis]
) -> None:
    for node in node_clients.values():
        await node.config_resetstat()
    for namespace in spread_namespaces(cluster_client):
        broker = Broker(cluster_client, namespace=namespace)
        await broker.submit_many([{"type": "simulation"}] * 3)
        batch = await broker.claim(WORKER, max_jobs=3)
        await broker.complete_many([(j.id, j.token, {}) for j in batch.jobs])
        await broker.complete(batch.jobs[0].id, {}, token=batch.jobs[0].token, idempotent=True)
    for node in node_clients.values():
        stats = await node.info("commandstats")
        assert "cmdstat_command|getkeys" not in stats  # redis-py's fallback: a round trip


async def test_more_blocking_readers_than_redis_py_allows_by_default(
    cluster_client: RedisCluster,
) -> None:
    broker = Broker(cluster_client, namespace="readers")
    since = await broker.last_event_id()
    readers = [broker.read_events(since, block=0.3) for _ in range(150)]  # default cap: 100
    assert await asyncio.gather(*readers) == [[]] * 150


async def test_from_url_and_settings_select_the_cluster(redis_cluster: LocalCluster) -> None:
    await flush_cluster(redis_cluster)
    async with Broker.from_url(redis_cluster.url, namespace="by-url") as by_url:
        assert isinstance(by_url.redis, RedisCluster)
        await by_url.submit({"type": "simulation"})
    plain_url = redis_cluster.node_urls()[1]
    settings = CoreSettings(redis_url=plain_url, redis_cluster=True, namespace="by-setting")
    async with Broker.from_url(settings=settings) as by_setting:
        assert isinstance(by_setting.redis, RedisCluster)
        await by_setting.submit({"type": "simulation"})
        assert (await by_setting.count_by_status())["pending"] == 1
        replies = await on_every_primary(by_setting.redis, "PING")
        assert replies == [True, True, True]
