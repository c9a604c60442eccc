"""The reference matching rules and requirement shapes."""

from __future__ import annotations

from typing import Any

import pytest

from jobq.matching import POOL_FALLBACK, POOL_MATCH, can_run, match_tier, shape_of
from jobq.models import Requirements, WorkerCapabilities


def w(**fields: Any) -> WorkerCapabilities:
    return WorkerCapabilities(worker_id="w", **fields)


def r(**fields: Any) -> Requirements:
    return Requirements(**fields)


@pytest.mark.parametrize(
    ("worker", "req", "tier"),
    [
        (w(), r(), POOL_MATCH),
        (w(gpu_memory=8), r(gpu_memory=12), None),
        (w(gpu_memory=12), r(gpu_memory=12), POOL_MATCH),
        (w(model_types=["sdxl"]), r(model_type="flux"), None),
        (w(model_types=["sdxl", "flux"]), r(model_type="flux"), POOL_MATCH),
        (w(capabilities=["a"]), r(capabilities=["a", "b"]), None),
        (w(capabilities=["a", "b", "c"]), r(capabilities=["b", "a"]), POOL_MATCH),
        (w(), r(service="comfyui"), None),
        (w(services=["comfyui"]), r(service="comfyui"), POOL_MATCH),
        (w(customers_denied=["acme"]), r(customer_id="acme"), None),
        (w(customers_allowed=["bank"]), r(customer_id="acme"), None),
        (w(customers_allowed=["acme"]), r(customer_id="acme"), POOL_MATCH),
        (w(), r(customer_id="acme", isolation="dedicated"), None),
        (w(customers_allowed=["acme"]), r(customer_id="acme", isolation="dedicated"), POOL_MATCH),
        (w(customers_allowed=["acme"]), r(isolation="dedicated"), None),
        (w(pool_type="fast-lane"), r(pool_preference="fast-lane"), POOL_MATCH),
        (w(pool_type="fast-lane"), r(pool_preference="heavy"), POOL_FALLBACK),
        (w(pool_type="fast-lane"), r(pool_preference="heavy", pool_strict=True), None),
        (w(), r(pool_preference="heavy", pool_strict=True), POOL_MATCH),
    ],
)
def test_match_tier(worker: WorkerCapabilities, req: Requirements, tier: int | None) -> None:
    assert match_tier(worker, req) == tier
    assert can_run(worker, req) is (tier is not None)


def test_shapes_are_canonical_and_ignore_expected_duration() -> None:
    a = shape_of(r(capabilities=["b", "a", "a"], expected_duration=30))
    b = shape_of(r(capabilities=["a", "b"]))
    assert a.id == b.id
    assert a.json == b.json
    assert shape_of(r(capabilities=["a"])).id != b.id
    assert len(a.id) == 16
