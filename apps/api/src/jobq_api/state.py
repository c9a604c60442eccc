"""Per-application state: :class:`ApiState`, kept on ``app.state.jobq`` (no module
globals), so several apps (tests, two instances in one process) share nothing but Redis."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from jobq.broker import Broker
from jobq.connection import SOCKET_OPTIONS, RedisClient, connect, is_cluster_url
from jobq_api.auth import KeyRing
from jobq_api.hub import CLOSE_GOING_AWAY, EventHub
from jobq_api.metrics import Metrics
from jobq_api.outbox import Outbox
from jobq_api.settings import ApiSettings
from jobq_api.webhooks import WebhookDispatcher

log = logging.getLogger("jobq_api")
#: Seconds a shutdown waits for WebSocket clients to get their close frame.
CLOSE_WAIT = 5.0


class ApiState:
    """Everything one API application owns: settings, broker, event hub, webhooks, metrics."""

    def __init__(self, settings: ApiSettings, broker: Broker | None = None) -> None:
        self.settings = settings
        self._own_broker = broker is None
        self.broker = broker or Broker(redis_client(settings), settings=settings)
        self.keys = KeyRing(settings.api_keys)
        self.metrics = Metrics()
        self.hub = EventHub(self.broker)
        self.hub.listeners.append(self.metrics.observe)
        self.outbox = Outbox(
            self.broker.redis,
            self.broker.keys,
            log_size=settings.api_webhook_log_size,
            log_ttl_ms=round(settings.retention_seconds * 1000),
        )
        self.webhooks: WebhookDispatcher | None = None
        if settings.api_webhooks:
            self.webhooks = WebhookDispatcher(self.broker, self.outbox, settings, self.metrics)
        self._stopped = False

    async def start(self) -> None:
        """Connect (a Redis that is down is retried in the background) and start the hub
        and the webhook dispatcher."""
        try:
            await self.broker.connect()
        except RedisError as exc:
            log.warning("Redis is not reachable yet (%s); /ready says so until it is", exc)
        await self.hub.start()
        if self.webhooks is not None:
            await self.webhooks.start()

    async def stop(self) -> None:
        """Graceful stop: close WebSockets with a reason, hand webhook attempts back."""
        if self._stopped:
            return
        self._stopped = True
        self.hub.close_all(CLOSE_GOING_AWAY, "server shutting down")
        if not await self.hub.wait_disconnected(CLOSE_WAIT):
            log.warning("%d WebSocket connections did not close in time", self.hub.connections)
        if self.webhooks is not None:
            await self.webhooks.stop()
        await self.hub.stop()
        if self._own_broker:
            await self.broker.close()

    async def webhook_log(self, subject_id: str) -> list[dict[str, Any]]:
        """The webhook delivery log of a job or workflow, oldest first."""
        return await self.outbox.log(subject_id)


def redis_client(settings: ApiSettings) -> RedisClient:
    """The API's Redis client. A plain server gets a blocking pool of
    ``JOBQ_API_REDIS_CONNECTIONS``: a burst of requests waits for a free connection instead
    of failing (redis-py's default pool refuses the 101st concurrent command). A cluster
    client comes from :func:`jobq.connection.connect` as for every jobq process."""
    url = settings.redis_url
    if settings.redis_cluster or is_cluster_url(url):
        return connect(url, cluster=settings.redis_cluster)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.api_redis_connections,
        timeout=10,
        decode_responses=True,
        **SOCKET_OPTIONS,
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the pool


def api_state(request: Request) -> ApiState:
    """The :class:`ApiState` of the app serving ``request``."""
    state: ApiState = request.app.state.jobq
    return state
