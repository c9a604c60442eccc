"""Fixtures for the jobq core: brokers bound to the test's Redis and namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from jobq.broker import Broker
from jobq.client import Client
from jobq.settings import CoreSettings

BrokerFactory = Callable[..., Awaitable[Broker]]


@pytest.fixture
def core_settings(redis_url: str, namespace: str) -> CoreSettings:
    """Settings pointing at the test's Redis and namespace (short lease for fast tests)."""
    return CoreSettings(
        redis_url=redis_url,
        namespace=namespace,
        lease_seconds=30,
        events_maxlen=100_000,
    )


@pytest_asyncio.fixture
async def make_broker(core_settings: CoreSettings) -> AsyncIterator[BrokerFactory]:
    """A factory of brokers on the test's Redis; ``make_broker(lease_seconds=1)`` overrides
    settings. Every broker made is closed after the test."""
    made: list[Broker] = []

    async def factory(**overrides: Any) -> Broker:
        settings = core_settings.model_copy(update=overrides)
        broker = Broker.from_url(settings.redis_url, settings=settings)
        await broker.connect()
        made.append(broker)
        return broker

    yield factory
    for broker in made:
        await broker.close()


@pytest_asyncio.fixture
async def broker(make_broker: BrokerFactory) -> Broker:
    """A connected broker on the test's Redis and namespace."""
    return await make_broker()


@pytest_asyncio.fixture
async def client(core_settings: CoreSettings) -> AsyncIterator[Client]:
    """An SDK client on the test's Redis and namespace."""
    async with Client.from_url(core_settings.redis_url, settings=core_settings) as jobq:
        yield jobq
