"""Riding out a Redis that is briefly unreachable (restart, failover, network blip)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Errors after which the same call may succeed a moment later. (A BusyLoadingError,
#: Redis still loading its append-only file after a restart, is a ConnectionError.)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
)


@dataclass
class Backoff:
    """Exponential backoff with jitter: ``next()`` gives the next pause in seconds."""

    initial: float = 0.05
    maximum: float = 2.0
    attempt: int = 0

    def next(self) -> float:
        """The pause before the next attempt (grows until ``maximum``, with +-25 % jitter)."""
        base = min(self.maximum, self.initial * 2.0 ** min(self.attempt, 32))
        self.attempt += 1
        return base * random.uniform(0.75, 1.25)

    def reset(self) -> None:
        """Start over after a success."""
        self.attempt = 0
