"""Handlers: the callables that run jobs, registered per job type, and their results."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from jobq_worker.context import JobContext
from jobq_worker.errors import PermanentError, ResultTooLarge

#: A handler: ``async def h(ctx) -> dict`` or ``def h(ctx) -> dict`` (run in a thread).
HandlerFunc = Callable[[JobContext], Any]

#: One encoder for every size check (``json.dumps`` with options builds one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def is_async(func: Callable[..., Any]) -> bool:
    """True for a coroutine function, or an object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - callable objects (connectors)
    return call is not None and inspect.iscoroutinefunction(call)


@dataclass(frozen=True)
class Handler:
    """A registered handler and how to call it."""

    func: HandlerFunc
    is_async: bool

    @classmethod
    def wrap(cls, func: HandlerFunc) -> Handler:
        """Inspect ``func`` once, at registration."""
        if not callable(func):
            raise TypeError(f"a handler must be callable, not {func!r}")
        return cls(func, is_async(func))

    async def invoke(self, ctx: JobContext, executor: Callable[[], Executor]) -> Any:
        """Run the handler: awaited when async, in ``executor()`` (a thread pool) when sync."""
        if self.is_async:
            outcome: Awaitable[Any] = self.func(ctx)
            return await outcome
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor(), self.func, ctx)


class HandlerRegistry:
    """Handlers by job type, plus an optional fallback for every other type."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self.fallback: Handler | None = None

    def add(self, job_type: str, func: HandlerFunc) -> None:
        """Register ``func`` for ``job_type`` (replacing an earlier one)."""
        if not job_type:
            raise ValueError("a handler needs a job type")
        self._handlers[job_type] = Handler.wrap(func)

    def set_fallback(self, func: HandlerFunc | None) -> None:
        """Run ``func`` for job types that have no handler of their own."""
        self.fallback = Handler.wrap(func) if func is not None else None

    def get(self, job_type: str) -> Handler | None:
        """The handler for ``job_type`` (or the fallback), or None."""
        return self._handlers.get(job_type, self.fallback)

    @property
    def job_types(self) -> list[str]:
        """The job types with a handler of their own."""
        return sorted(self._handlers)

    def functions(self) -> list[HandlerFunc]:
        """Every registered callable (the fallback included), once each."""
        found: dict[int, HandlerFunc] = {}
        for handler in [*self._handlers.values(), self.fallback]:
            if handler is not None:
                found.setdefault(id(handler.func), handler.func)
        return list(found.values())


def to_result(value: Any, *, max_bytes: int) -> dict[str, Any]:
    """A handler's return value as a job result (a JSON object).

    A mapping is the result; None is ``{}``; any other JSON value ``v`` becomes
    ``{"value": v}``. Raises :class:`PermanentError` when it is not JSON and
    :class:`ResultTooLarge` when its JSON is longer than ``max_bytes``.
    """
    if value is None:
        result: dict[str, Any] = {}
    elif isinstance(value, Mapping):
        result = dict(value)
    else:
        result = {"value": value}
    if not result:
        return result
    try:
        text = _ENCODER.encode(result)
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"the handler's result is not JSON: {exc}") from None
    size = len(text) if text.isascii() else len(text.encode())
    if size > max_bytes:
        raise ResultTooLarge(
            f"the result is {size:,} bytes; this worker's limit is {max_bytes:,} bytes "
            "(max_result_bytes): store large outputs elsewhere and return a reference"
        )
    return result
