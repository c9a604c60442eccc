"""WebSocket fan-out benchmark: one ``jobq api`` process, 500 clients subscribed to one
job; p50/p99 from the state change (the event's stream id is the Redis server time of the
change) to its arrival at each client (target p99 < 50 ms).

The clients are minimal WebSocket protocols (no compression, frames parsed in
``data_received``), so the arrival time is taken when the loop hands over the bytes;
they share the machine with the server, so the figures are a ceiling.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest

from jobq.broker import Broker
from jobq.models import WorkerCapabilities
from jobq_testing.api import API_KEY, ApiProcess
from jobq_testing.bench import summary_ms

SUBSCRIBERS = 500
EVENTS = 30
SPACING = 0.1

pytestmark = pytest.mark.timeout(300)


class RawWebSocket(asyncio.Protocol):
    """A minimal WebSocket client: records (arrival time, message) of every text frame."""

    def __init__(self, path: str, host: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nx-api-key: {API_KEY}\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.upgraded = asyncio.Event()
        self.buffer = bytearray()
        self.messages: list[tuple[float, bytes]] = []
        self.changed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.upgraded.is_set():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            assert self.buffer.startswith(b"HTTP/1.1 101"), bytes(self.buffer[:200])
            del self.buffer[: end + 4]
            self.upgraded.set()
        while len(self.buffer) >= 2:
            opcode, size = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            offset = 2
            if size == 126:
                if len(self.buffer) < 4:
                    return
                size, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif size == 127:
                if len(self.buffer) < 10:
                    return
                size, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < offset + size:
                return
            payload = bytes(self.buffer[offset : offset + size])
            del self.buffer[: offset + size]
            if opcode == 0x1:
                self.messages.append((now, payload))
                self.changed.set()
            elif opcode == 0x9:
                self.send(payload, opcode=0xA)

    def send(self, payload: bytes, *, opcode: int = 0x1) -> None:
        """Send one masked frame (payloads under 126 bytes)."""
        assert self.transport is not None
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)


async def connect(url: str) -> RawWebSocket:
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: RawWebSocket("/ws", f"{host}:{port}"), host, int(port)
    )
    await asyncio.wait_for(client.upgraded.wait(), 30)
    return client


async def wait_for_messages(client: RawWebSocket, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(client.messages) < count:
        client.changed.clear()
        await asyncio.wait_for(client.changed.wait(), max(0.01, deadline - time.monotonic()))


async def test_websocket_fan_out_to_500_subscribers(
    api_process: ApiProcess, broker: Broker, bench_record: Callable[..., None]
) -> None:
    job_id = (await broker.submit({"type": "simulation"})).job_id
    clients: list[RawWebSocket] = []
    for start in range(0, SUBSCRIBERS, 50):
        clients += await asyncio.gather(*(connect(api_process.url) for _ in range(50)))
        assert len(clients) == start + 50
    subscribe = json.dumps({"type": "subscribe_job", "job_id": job_id}).encode()
    for client in clients:
        client.send(subscribe)
    await asyncio.gather(*(wait_for_messages(client, 1) for client in clients))
    worker = WorkerCapabilities(worker_id="bench", capabilities=["simulation"])
    claimed = (await broker.claim(worker)).jobs[0]
    for step in range(EVENTS):
        await broker.progress(job_id, step + 1, token=claimed.token)
        await asyncio.sleep(SPACING)
    expected = 2 + EVENTS  # ack, job_assigned, progress events
    await asyncio.gather(*(wait_for_messages(client, expected) for client in clients))
    samples: list[float] = []
    for client in clients:
        events: list[dict[str, Any]] = []
        for arrived, payload in client.messages[1:]:
            message = json.loads(payload)
            if message["type"] != "job_progress":
                continue
            events.append(message)
            changed = int(message["event_id"].split("-")[0]) / 1000
            samples.append(arrived - changed)
        assert [e["progress"] for e in events] == list(range(1, EVENTS + 1))
    for client in clients:
        assert client.transport is not None
        client.transport.close()
    stats = summary_ms(samples)
    scenario = (
        f"{SUBSCRIBERS} WebSocket clients subscribed to one job, {EVENTS} progress events "
        f"{SPACING * 1000:.0f} ms apart; from the event's Redis time to arrival; one API process"
    )
    bench_record("api.ws_fanout_p50", stats["p50"], "ms", scenario=scenario)
    bench_record(
        "api.ws_fanout_p99", stats["p99"], "ms", target="< 50", met=stats["p99"] < 50,
        scenario=scenario,
    )  # fmt: skip
