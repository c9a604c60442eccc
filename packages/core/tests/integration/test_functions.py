"""The function library loader: versioned, reloaded when missing or different."""

from __future__ import annotations

from redis.asyncio import Redis

from jobq.broker import Broker
from jobq.functions import ensure_library, library, loaded_version


async def test_loads_once_per_version(redis_url: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        await redis.function_flush()
        assert await loaded_version(redis) is None
        assert await ensure_library(redis) is True
        assert await loaded_version(redis) == library().version
        assert await ensure_library(redis) is False
        # Another version on the server is replaced.
        await redis.function_load(
            "#!lua name=jobq\nredis.register_function{function_name='jobq_version', "
            "callback=function() return 'old' end, flags={'no-writes'}}",
            replace=True,
        )
        assert await loaded_version(redis) == "old"
        assert await ensure_library(redis) is True
        assert await loaded_version(redis) == library().version
    finally:
        await redis.aclose()


async def test_broker_reloads_a_library_lost_by_the_server(broker: Broker) -> None:
    await broker.redis.function_flush()  # as after a restart without persistence
    result = await broker.submit({"type": "simulation"})
    assert (await broker.get_job(result.job_id)).type == "simulation"


async def test_lua_derives_the_key_names_of_keys_py(broker: Broker) -> None:
    flat = await broker.redis.fcall_ro("jobq_key_names", 1, broker.keys.base)
    derived = dict(zip(flat[::2], flat[1::2], strict=True))
    assert derived == broker.keys.lua_names()
