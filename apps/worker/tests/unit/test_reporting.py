"""Progress coalescing and batched completions, against a recording stand-in broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from jobq.broker import Broker
from jobq.errors import JobqError, LeaseLost
from jobq_worker.completions import Completer
from jobq_worker.progress import ProgressReporter


class RecordingBroker:
    """Records calls; ``fail_next`` errors are raised by the next calls, in order."""

    def __init__(self) -> None:
        self.progress_calls: list[tuple[str, int, int | None, str | None]] = []
        self.batches: list[list[str]] = []
        self.single: list[tuple[str, bool]] = []
        self.fail_next: list[BaseException] = []
        self.refuse: set[str] = set()
        self.gate: asyncio.Event | None = None

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    async def progress(
        self, job_id: str, progress: int, *, token: int | None = None, message: str | None = None
    ) -> str:
        self._maybe_fail()
        self.progress_calls.append((job_id, progress, token, message))
        return "running"

    async def complete_many(
        self, items: Sequence[tuple[str, int, Mapping[str, Any]]]
    ) -> list[bool | JobqError]:
        if self.gate is not None:
            await self.gate.wait()
        self._maybe_fail()
        self.batches.append([job_id for job_id, _, _ in items])
        return [LeaseLost("gone") if i in self.refuse else True for i, _, _ in items]

    async def complete(
        self, job_id: str, result: Mapping[str, Any], *, token: int, idempotent: bool = False
    ) -> bool:
        self._maybe_fail()
        self.single.append((job_id, idempotent))
        if job_id in self.refuse:
            raise LeaseLost("gone")
        return True


async def eventually(check: Callable[[], bool]) -> None:
    """Let the loop run until ``check()`` holds (bounded)."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


@pytest.fixture
def fake() -> RecordingBroker:
    return RecordingBroker()


def broker(fake: RecordingBroker) -> Broker:
    return cast(Broker, fake)


async def test_many_reports_are_coalesced_into_the_latest(fake: RecordingBroker) -> None:
    reporter = ProgressReporter(broker(fake), interval=0.01)
    task = asyncio.create_task(reporter.run())
    for percent in range(100):
        reporter.report("a", 1, percent, None)
    reporter.report("b", 2, 5, "five")
    await eventually(lambda: len(fake.progress_calls) >= 2)
    task.cancel()
    assert sorted(fake.progress_calls) == [("a", 99, 1, None), ("b", 5, 2, "five")]
    assert reporter.sent == 2


async def test_the_last_report_is_sent_before_completion_but_not_the_auto_start(
    fake: RecordingBroker,
) -> None:
    reporter = ProgressReporter(broker(fake), interval=10)
    reporter.started("a", 1)
    await reporter.finish("a")
    assert fake.progress_calls == []
    reporter.started("b", 2)
    reporter.report("b", 2, 60, "late")
    reporter.started("b", 2)  # never replaces a handler's report
    await reporter.finish("b")
    assert fake.progress_calls == [("b", 60, 2, "late")]
    reporter.report("c", 3, 10, None)
    reporter.forget("c")
    await reporter.finish("c")
    assert len(fake.progress_calls) == 1


async def test_refused_and_undeliverable_reports(fake: RecordingBroker) -> None:
    reporter = ProgressReporter(broker(fake), interval=0)
    fake.fail_next = [LeaseLost("job finished")]
    reporter.report("a", 1, 10, None)
    await reporter.finish("a")  # refused: dropped, no error
    assert fake.progress_calls == []
    fake.fail_next = [RedisConnectionError("down")]
    reporter.report("b", 2, 20, None)
    await reporter.finish("b")  # not sent: kept for the next round
    task = asyncio.create_task(reporter.run())
    await eventually(lambda: bool(fake.progress_calls))
    task.cancel()
    assert fake.progress_calls == [("b", 20, 2, None)]


async def test_completions_that_arrive_together_share_a_round_trip(fake: RecordingBroker) -> None:
    completer = Completer(broker(fake))
    fake.gate = asyncio.Event()
    first = asyncio.create_task(completer.complete("j0", 1, {}))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(completer.complete(f"j{i}", 1, {})) for i in range(1, 6)]
    await asyncio.sleep(0)
    fake.gate.set()
    assert await asyncio.gather(first, *rest) == [True] * 6
    assert fake.batches == [["j0"], ["j1", "j2", "j3", "j4", "j5"]]
    await completer.wait_idle()


async def test_a_refused_completion_reports_false(fake: RecordingBroker) -> None:
    fake.refuse = {"lost"}
    completer = Completer(broker(fake))
    assert await asyncio.gather(
        completer.complete("ok", 1, {}), completer.complete("lost", 1, {})
    ) == [True, False]


async def test_an_interrupted_batch_is_finished_one_by_one_idempotently(
    fake: RecordingBroker,
) -> None:
    fake.refuse = {"lost"}
    fake.fail_next = [RedisConnectionError("reset"), RedisConnectionError("still down")]
    completer = Completer(broker(fake))
    outcomes = await asyncio.gather(
        completer.complete("a", 1, {}), completer.complete("lost", 1, {})
    )
    assert outcomes == [True, False]
    assert fake.single == [("a", True), ("lost", True)]


async def test_completions_are_given_up_when_redis_stays_away(fake: RecordingBroker) -> None:
    completer = Completer(broker(fake), retry_for=0.05)
    fake.fail_next = [RedisConnectionError("down")] * 1000
    assert await completer.complete("a", 1, {}) is False


async def test_an_unexpected_completion_error_releases_the_waiting_jobs(
    fake: RecordingBroker, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next = [ResponseError("OOM command not allowed")]
    completer = Completer(broker(fake))
    assert await completer.complete("a", 1, {}) is False  # not stuck: the lease will expire
    assert "completions failed" in caplog.text


async def test_an_unexpected_progress_error_is_logged_and_dropped(
    fake: RecordingBroker, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next = [ResponseError("OOM command not allowed")]
    reporter = ProgressReporter(broker(fake), interval=0)
    reporter.report("a", 1, 10, None)
    await reporter.finish("a")
    assert "progress not sent" in caplog.text
    assert fake.progress_calls == []
