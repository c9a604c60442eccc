"""Handlers: sync/async detection, the registry, and turning return values into results."""

from __future__ import annotations

import math
from typing import Any

import pytest

from jobq_worker.context import JobContext
from jobq_worker.errors import PermanentError, ResultTooLarge
from jobq_worker.handlers import Handler, HandlerRegistry, is_async, to_result


async def async_handler(ctx: JobContext) -> dict[str, Any]:
    return {}


def sync_handler(ctx: JobContext) -> dict[str, Any]:
    return {}


class AsyncCallable:
    async def __call__(self, ctx: JobContext) -> dict[str, Any]:
        return {}


class SyncCallable:
    def __call__(self, ctx: JobContext) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        (async_handler, True),
        (sync_handler, False),
        (AsyncCallable(), True),
        (SyncCallable(), False),
    ],
)
def test_async_handlers_are_told_apart_from_sync_ones(func: Any, expected: bool) -> None:
    assert is_async(func) is expected
    assert Handler.wrap(func).is_async is expected


def test_a_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        Handler.wrap("not a function")  # type: ignore[arg-type]


def test_registry_falls_back_for_unknown_types() -> None:
    registry = HandlerRegistry()
    registry.add("upscale", sync_handler)
    assert registry.get("upscale") == Handler(sync_handler, False)
    assert registry.get("text-to-image") is None
    registry.set_fallback(async_handler)
    assert registry.get("text-to-image") == Handler(async_handler, True)
    assert registry.job_types == ["upscale"]
    registry.add("other", sync_handler)
    assert registry.functions() == [sync_handler, async_handler]
    registry.set_fallback(None)
    assert registry.get("text-to-image") is None


def test_registry_needs_a_job_type() -> None:
    with pytest.raises(ValueError, match="job type"):
        HandlerRegistry().add("", sync_handler)


@pytest.mark.parametrize(
    ("value", "result"),
    [
        (None, {}),
        ({}, {}),
        ({"url": "x", "n": 1}, {"url": "x", "n": 1}),
        ("hello", {"value": "hello"}),
        ([1, 2], {"value": [1, 2]}),
        (3.5, {"value": 3.5}),
    ],
)
def test_return_values_become_json_objects(value: Any, result: dict[str, Any]) -> None:
    assert to_result(value, max_bytes=1000) == result


def test_a_result_that_is_not_json_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="not JSON"):
        to_result({"when": object()}, max_bytes=1000)
    with pytest.raises(PermanentError, match="not JSON"):
        to_result({"x": math.nan}, max_bytes=1000)


def test_a_result_over_the_limit_says_its_size_and_the_limit() -> None:
    with pytest.raises(ResultTooLarge) as raised:
        to_result({"blob": "x" * 2000}, max_bytes=1024)
    message = str(raised.value)
    assert "2,011 bytes" in message
    assert "limit is 1,024 bytes" in message
    assert "max_result_bytes" in message
    assert isinstance(raised.value, PermanentError)
    assert to_result({"blob": "x" * 1000}, max_bytes=1024) == {"blob": "x" * 1000}
