"""The webhook outbox in Redis: durable deliveries, claimed by one API instance at a time.

Keys (all in :class:`jobq.keys.Keys`, in the namespace's hash slot):

- ``webhooks:deliveries`` (hash): delivery id -> delivery JSON (url, body, attempts);
- ``webhooks:retry`` (sorted set): delivery id -> the time (ms) it is due. A claim moves
  the score to the end of a lease, so an instance that dies mid-attempt hands the
  delivery to another one when the lease runs out; the score is also the owner's token;
- ``webhooks:log:<job or workflow id>`` (list, newest first): the delivery log.

Events become deliveries through a consumer group on the core's event stream: each event
is read by one instance, which enqueues its delivery and acknowledges the event in one
transaction (so a crash in between loses nothing and enqueues nothing twice).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis.commands.core import AsyncScript

from jobq.connection import RedisClient
from jobq.keys import Keys

#: The consumer group of the webhook dispatchers on the event stream.
GROUP = "jobq-api-webhooks"

_CLAIM = """
-- Claim up to ARGV[2] due deliveries for ARGV[1] ms.
-- KEYS[1] retry zset  KEYS[2] deliveries hash
-- Returns { lease_until, id1, json1, id2, json2, ... } (ids whose record is gone are dropped)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local lease = now + tonumber(ARGV[1])
local out = { lease }
for _, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[2], id)
  if record then
    redis.call('ZADD', KEYS[1], lease, id)
    out[#out + 1] = id
    out[#out + 1] = record
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

_FINISH = """
-- Finish an attempt, if the caller still owns the delivery (its lease is the score).
-- KEYS[1] retry zset  KEYS[2] deliveries hash  KEYS[3] log list
-- ARGV[1] id  ARGV[2] lease  ARGV[3] 'done' | 'retry'  ARGV[4] delay (ms, retry)
-- ARGV[5] new record ('' = keep)  ARGV[6] log entry ('' = none)  ARGV[7] log size
-- ARGV[8] log ttl (ms)
-- Returns 1, or 0 when the lease was lost (nothing written).
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == 'done' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[5]) end
end
if ARGV[6] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[6])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[7]) - 1)
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end
return 1
"""


@dataclass
class Delivery:
    """One webhook to deliver: an event's body to a URL."""

    id: str
    url: str
    subject_id: str
    event_id: str
    event_type: str
    body: str
    attempts: int = 0

    def to_json(self) -> str:
        """The stored record."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Delivery:
        """Decode a stored record."""
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Claimed:
    """A delivery this instance holds until ``lease`` (ms, the owner token)."""

    delivery: Delivery
    lease: int


class Outbox:
    """Redis operations on the webhook outbox of one namespace."""

    def __init__(self, redis: RedisClient, keys: Keys, *, log_size: int, log_ttl_ms: int) -> None:
        self.redis = redis
        self.keys = keys
        self.log_size = log_size
        self.log_ttl_ms = log_ttl_ms
        self._claim: AsyncScript = redis.register_script(_CLAIM)
        self._finish: AsyncScript = redis.register_script(_FINISH)

    async def enqueue(self, deliveries: Sequence[Delivery], acks: Sequence[str]) -> None:
        """Add deliveries (due now; an id already queued is kept) and acknowledge the
        events they came from, in one transaction."""
        keys = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            for delivery in deliveries:
                pipe.hsetnx(keys.webhook_deliveries, delivery.id, delivery.to_json())
                pipe.zadd(keys.webhook_retry, {delivery.id: 0}, nx=True)
            if acks:
                pipe.xack(keys.events, GROUP, *acks)
            await pipe.execute()

    async def claim(self, lease_ms: int, limit: int) -> list[Claimed]:
        """Claim up to ``limit`` due deliveries for ``lease_ms``."""
        keys = [self.keys.webhook_retry, self.keys.webhook_deliveries]
        reply: list[Any] = await self._claim(keys=keys, args=[lease_ms, limit])
        lease = int(reply[0])
        return [
            Claimed(Delivery.from_json(str(reply[i + 1])), lease) for i in range(1, len(reply), 2)
        ]

    async def finish(
        self,
        claimed: Claimed,
        *,
        done: bool,
        delay_ms: int = 0,
        record: Delivery | None = None,
        log_entry: dict[str, Any] | None = None,
    ) -> bool:
        """Settle an attempt: ``done`` removes the delivery, else it is due again after
        ``delay_ms`` (with ``record`` stored in its place). False if the lease was lost."""
        delivery = claimed.delivery
        keys = [
            self.keys.webhook_retry,
            self.keys.webhook_deliveries,
            self.keys.webhook_log(delivery.subject_id),
        ]
        args: list[str | int] = [
            delivery.id,
            claimed.lease,
            "done" if done else "retry",
            max(0, delay_ms),
            record.to_json() if record is not None else "",
            json.dumps(log_entry, separators=(",", ":")) if log_entry else "",
            self.log_size,
            self.log_ttl_ms,
        ]
        return bool(await self._finish(keys=keys, args=args))

    async def log(self, subject_id: str) -> list[dict[str, Any]]:
        """The delivery log of a job or workflow, oldest first."""
        raw: list[Any] = await self.redis.lrange(self.keys.webhook_log(subject_id), 0, -1)
        return [json.loads(entry) for entry in reversed(raw)]

    async def pending(self) -> int:
        """How many deliveries wait (or are in flight)."""
        return int(await self.redis.zcard(self.keys.webhook_retry))
