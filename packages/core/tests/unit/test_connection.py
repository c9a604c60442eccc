"""Choosing the client from the URL (no I/O: clients connect on first use)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from jobq.broker import Broker
from jobq.connection import JobqCluster, connect, is_cluster_url
from jobq.settings import CoreSettings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+cluster://h:7000", True),
        ("REDISS+CLUSTER://h:7000", True),
        ("redis://h:6379/0", False),
        ("rediss://h:6379/0", False),
        ("unix:///tmp/redis.sock", False),
        ("redis+cluster", False),
    ],
)
def test_cluster_urls(url: str, expected: bool) -> None:
    assert is_cluster_url(url) is expected


async def test_connect_picks_the_client_by_url_or_flag() -> None:
    plain = connect("redis://h:6379/0")
    by_url = connect("redis+cluster://h:7000")
    by_flag = connect("redis://h:7000", cluster=True)
    tls = connect("rediss+cluster://h:7000")
    try:
        assert type(plain) is Redis
        for client in (by_url, by_flag, tls):
            assert isinstance(client, JobqCluster)
            assert client.get_encoder().decode_responses
        assert isinstance(tls, RedisCluster)
        assert plain.get_encoder().decode_responses
    finally:
        for client in (plain, by_url, by_flag, tls):
            await client.aclose()


async def test_settings_select_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQ_REDIS_URL", "redis://h:7000")
    monkeypatch.setenv("JOBQ_REDIS_CLUSTER", "true")
    broker = Broker.from_url(settings=CoreSettings())
    assert isinstance(broker.redis, RedisCluster)
    await broker.close()


def test_a_client_that_does_not_decode_is_refused() -> None:
    with pytest.raises(ValueError, match="decode_responses=True"):
        Broker(RedisCluster(host="h", port=7000))


async def test_function_calls_are_routed_by_their_keys_without_the_server() -> None:
    client = connect("redis+cluster://h:7000")
    assert isinstance(client, JobqCluster)
    slot = client.keyslot("jobq:{a}:")
    assert await client._determine_slot("FCALL", "jobq_claim", 1, "jobq:{a}:", "x") == slot
    assert await client._determine_slot("FCALL_RO", "jobq_key_names", "1", "jobq:{a}:") == slot
    default = client.keyslot("jobq:{default}:")
    assert await client._determine_slot("FCALL", "findMatchingJob", 0, "{}", "1") == default
    await client.aclose()
