"""A process-local view of the namespace's requirement-shape registry.

Claims pass the ids of the shapes a worker can serve, with the registry version
they were computed from; the claim function rejects a stale version, the cache
refreshes and the claim is retried. Shapes are added rarely (a new combination of
requirements), so a worker recomputes its servable shapes rarely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from jobq.connection import RedisClient
from jobq.keys import Keys
from jobq.matching import match_tier
from jobq.models import Requirements, WorkerCapabilities


@dataclass
class ShapeCache:
    """Shapes known at ``version``, and per-worker lists of servable shape ids."""

    keys: Keys
    version: str | None = None
    shapes: dict[str, Requirements] = field(default_factory=dict)
    _servable: dict[str, list[str]] = field(default_factory=dict)

    async def refresh(self, redis: RedisClient) -> None:
        """Re-read the registry (version and shapes in one transaction)."""
        async with redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.shapes_version)
            pipe.hgetall(self.keys.shapes)
            version, raw = await pipe.execute()
        self.version = str(version or "0")
        self.shapes = {
            str(shape_id): Requirements.model_validate(json.loads(text))
            for shape_id, text in raw.items()
        }
        self._servable.clear()

    async def servable(
        self, redis: RedisClient, worker: WorkerCapabilities
    ) -> tuple[str, list[str]]:
        """The registry version and the ids of the shapes ``worker`` can serve."""
        if self.version is None:
            await self.refresh(redis)
        assert self.version is not None
        cache_key = worker.model_dump_json()
        ids = self._servable.get(cache_key)
        if ids is None:
            ids = [sid for sid, req in self.shapes.items() if match_tier(worker, req) is not None]
            self._servable[cache_key] = ids
        return self.version, ids
