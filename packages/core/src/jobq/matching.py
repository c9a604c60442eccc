"""Matching: which worker may run which job, and requirement "shapes".

Pending jobs are queued per *shape*: the part of their requirements that matching
looks at, in canonical form. A claim reads only the heads of the shape queues the
worker can serve, so its cost does not grow with pending jobs it cannot run.

This module is the reference implementation of the rules; ``lua/matching.lua``
applies the same rules inside Redis (a property test keeps the two in agreement).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from jobq.models import Requirements, WorkerCapabilities

#: Tier of a claimable job for a worker: 0 = pool match (or no preference), 1 = fallback.
POOL_MATCH = 0
POOL_FALLBACK = 1


@dataclass(frozen=True)
class Shape:
    """A canonical requirement shape and its id (a hash of the canonical JSON)."""

    id: str
    json: str
    requirements: Requirements


def shape_of(requirements: Requirements) -> Shape:
    """The shape of a job's requirements (``expected_duration`` is not part of it)."""
    canonical: dict[str, Any] = {
        "capabilities": sorted(set(requirements.capabilities)),
        "customer_id": requirements.customer_id,
        "gpu_memory": requirements.gpu_memory,
        "isolation": requirements.isolation,
        "model_type": requirements.model_type,
        "pool_preference": requirements.pool_preference,
        "pool_strict": requirements.pool_strict,
        "service": requirements.service,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
    return Shape(id=digest, json=text, requirements=requirements)


def match_tier(worker: WorkerCapabilities, req: Requirements) -> int | None:
    """The pool tier at which ``worker`` may run a job needing ``req``, or None if it may not.

    Rules (SPEC section 3): enough GPU memory; the model type offered; every capability
    offered; the service offered; customer rules (denied list, allowed list, dedicated
    isolation); pool rules (a strict pool preference is never broken; otherwise a job
    whose preferred pool differs from the worker's is a fallback).
    """
    if worker.gpu_memory < req.gpu_memory:
        return None
    if req.model_type is not None and req.model_type not in worker.model_types:
        return None
    if not set(req.capabilities) <= set(worker.capabilities):
        return None
    if req.service is not None and req.service not in worker.services:
        return None
    if not _customer_allows(worker, req):
        return None
    if req.pool_preference is None or worker.pool_type is None:
        return POOL_MATCH
    if req.pool_preference == worker.pool_type:
        return POOL_MATCH
    return None if req.pool_strict else POOL_FALLBACK


def can_run(worker: WorkerCapabilities, req: Requirements) -> bool:
    """True when ``worker`` may run a job needing ``req``."""
    return match_tier(worker, req) is not None


def _customer_allows(worker: WorkerCapabilities, req: Requirements) -> bool:
    customer = req.customer_id
    if customer is None:
        return req.isolation == "shared"
    if customer in worker.customers_denied:
        return False
    if req.isolation == "dedicated":
        return customer in worker.customers_allowed
    return not worker.customers_allowed or customer in worker.customers_allowed
