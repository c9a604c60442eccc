"""Each connector against a real local server that speaks its protocol (uvicorn on a free
port): REST (sync and submit-then-poll), OpenAI-compatible (chat, images), ComfyUI-style
(queue a prompt, follow it over the WebSocket, read the history)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from jobq.broker import Broker
from jobq.models import JobStatus
from jobq_testing.worker import eventually
from jobq_worker import JobContext, PermanentError, Worker
from jobq_worker.connectors import Connector, build_connector
from jobq_worker.connectors.base import ConnectorError, RemoteRejected

ServeApp = Callable[[Any], Awaitable[str]]
MakeCtx = Callable[..., JobContext]
StartWorker = Callable[..., Awaitable[Worker]]
Build = Callable[..., Connector]


@pytest_asyncio.fixture
async def build() -> AsyncIterator[Build]:
    """``build(name, options)``: a connector, closed after the test."""
    made: list[Connector] = []

    def factory(name: str, options: dict[str, Any] | None = None) -> Connector:
        made.append(build_connector(name, options))
        return made[-1]

    yield factory
    for connector in made:
        await connector.aclose()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- REST service
def rest_app() -> tuple[Starlette, dict[str, Any]]:
    """``POST /run`` answers at once; ``POST /jobs`` + ``GET /jobs/{id}`` run in polls."""
    state: dict[str, Any] = {"polls": {}, "headers": []}

    async def run(request: Request) -> Response:
        body = await request.json()
        state["headers"].append(request.headers.get("x-token"))
        mode = body["parameters"].get("mode")
        if mode == "crash":
            return PlainTextResponse("upstream exploded", status_code=503)
        if mode == "reject":
            return JSONResponse({"error": "scale_factor too large"}, status_code=422)
        if mode == "text":
            return PlainTextResponse("not json")
        if mode == "list":
            return JSONResponse([1, 2])
        return JSONResponse({"output": {"echo": body}, "took_ms": 3})

    async def submit(request: Request) -> Response:
        body = await request.json()
        remote = f"r{len(state['polls']) + 1}"
        state["polls"][remote] = {"seen": 0, "fail": body["parameters"].get("fail", False)}
        return JSONResponse({"id": remote}, status_code=202)

    async def status(request: Request) -> Response:
        remote = state["polls"][request.path_params["remote"]]
        remote["seen"] += 1
        if remote["seen"] < 3:
            return JSONResponse({"status": "running", "progress": 30 * remote["seen"]})
        if remote["fail"]:
            return JSONResponse({"status": "failed", "error": "model crashed"})
        return JSONResponse({"status": "succeeded", "result": {"url": "https://cdn/x.png"}})

    routes = [
        Route("/run", run, methods=["POST"]),
        Route("/jobs", submit, methods=["POST"]),
        Route("/jobs/{remote}", status),
    ]
    return Starlette(routes=routes), state


async def test_http_sync_posts_the_job_and_returns_the_answer(
    build: Build, serve: ServeApp, make_ctx: MakeCtx
) -> None:
    app, state = rest_app()
    url = await serve(app)
    http = build("http", {"url": f"{url}/run", "headers": {"x-token": "s3cret"}})
    ctx = make_ctx(type="upscale", prompt="p", parameters={"scale_factor": 2})
    result = await http(ctx)
    assert result["took_ms"] == 3
    assert result["output"]["echo"] == {
        "job_id": "job-1", "type": "upscale", "prompt": "p",
        "parameters": {"scale_factor": 2}, "metadata": {},
    }  # fmt: skip
    assert state["headers"] == ["s3cret"]
    picked = build("http", {"url": f"{url}/run", "result_field": "output"})
    assert (await picked(ctx))["echo"]["type"] == "upscale"
    assert await http(make_ctx(parameters={"mode": "list"})) == {"value": [1, 2]}


@pytest.mark.parametrize(
    ("mode", "error", "message"),
    [
        ("crash", ConnectorError, "answered 503: upstream exploded"),
        ("reject", RemoteRejected, "answered 422"),
        ("text", ConnectorError, "not JSON"),
    ],
)
async def test_http_errors_say_whether_a_retry_can_help(
    build: Build,
    serve: ServeApp,
    make_ctx: MakeCtx,
    mode: str,
    error: type[Exception],
    message: str,
) -> None:
    app, _ = rest_app()
    url = await serve(app)
    http = build("http", {"url": f"{url}/run"})
    with pytest.raises(error, match=message) as raised:
        await http(make_ctx(parameters={"mode": mode}))
    assert isinstance(raised.value, PermanentError) is (error is RemoteRejected)
    with pytest.raises(ConnectorError, match="missing"):
        await build("http", {"url": f"{url}/run", "result_field": "missing"})(make_ctx())


async def test_http_cannot_connect_is_retryable(build: Build, make_ctx: MakeCtx) -> None:
    http = build("http", {"url": "http://127.0.0.1:9/run", "timeout": 2})
    with pytest.raises(ConnectorError, match="ConnectError"):
        await http(make_ctx())


async def test_http_poll_submits_then_polls_with_progress(
    build: Build, serve: ServeApp, make_ctx: MakeCtx, progress_log: list[Any]
) -> None:
    app, _ = rest_app()
    url = await serve(app)
    options = {
        "url": f"{url}/jobs", "mode": "poll", "status_url": f"{url}/jobs/{{id}}",
        "result_field": "result", "poll_interval": 0.01,
    }  # fmt: skip
    http = build("http", options)
    assert await http(make_ctx()) == {"url": "https://cdn/x.png"}
    assert [p for _, _, p, _ in progress_log] == [30, 60]
    with pytest.raises(ConnectorError, match="remote job r2 failed: model crashed"):
        await http(make_ctx(parameters={"fail": True}))
    no_id = build("http", {**options, "url": f"{url}/run"})
    with pytest.raises(ConnectorError, match="has no 'id'"):
        await no_id(make_ctx())


# ---------------------------------------------------------------------- OpenAI-compatible
def openai_app() -> tuple[Starlette, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    async def chat(request: Request) -> Response:
        body = await request.json()
        seen.append({"auth": request.headers.get("authorization"), **body})
        if body["model"] == "broken":
            return JSONResponse({"choices": []})
        text = " / ".join(m["content"] for m in body["messages"])
        return JSONResponse({
            "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"echo: {text}"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
        })  # fmt: skip

    async def images(request: Request) -> Response:
        body = await request.json()
        seen.append(body)
        if not body.get("prompt"):
            return JSONResponse({"error": {"message": "prompt required"}}, status_code=400)
        data = [{"url": f"https://img/{i}.png", "revised_prompt": body["prompt"]}
                for i in range(body.get("n", 1))]  # fmt: skip
        return JSONResponse({"created": 1700000000, "data": data})

    routes = [
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/images/generations", images, methods=["POST"]),
    ]
    return Starlette(routes=routes), seen


async def test_openai_chat_sends_the_prompt_and_returns_the_text(
    build: Build, serve: ServeApp, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, seen = openai_app()
    url = await serve(app)
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test")
    llm = build(
        "openai",
        {"base_url": f"{url}/v1/", "model": "llama", "api_key_env": "TEST_OPENAI_KEY",
         "system_prompt": "be brief"},
    )  # fmt: skip
    ctx = make_ctx(type="text-generation", prompt="hi", parameters={"temperature": 0.2, "x": 1})
    result = await llm(ctx)
    assert result == {
        "text": "echo: be brief / hi", "model": "llama", "finish_reason": "stop",
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }  # fmt: skip
    assert seen[0]["auth"] == "Bearer sk-test"
    assert seen[0]["temperature"] == 0.2
    assert "x" not in seen[0]
    messages = [{"role": "user", "content": "given"}]
    assert (await llm(make_ctx(parameters={"messages": messages, "model": "other"})))[
        "text"
    ] == "echo: given"
    assert seen[1]["model"] == "other"
    with pytest.raises(PermanentError, match="needs a prompt"):
        await llm(make_ctx())
    with pytest.raises(ConnectorError, match="unexpected chat answer"):
        await llm(make_ctx(prompt="x", parameters={"model": "broken"}))


async def test_openai_images_for_text_to_image_jobs(
    build: Build, serve: ServeApp, make_ctx: MakeCtx
) -> None:
    app, seen = openai_app()
    url = await serve(app)
    images = build("openai", {"base_url": f"{url}/v1", "model": "sdxl", "api_key": "k"})
    ctx = make_ctx(type="text-to-image", prompt="a red fox", parameters={"n": 2, "size": "512x512"})
    result = await images(ctx)
    assert result["images"] == [
        {"url": "https://img/0.png", "revised_prompt": "a red fox"},
        {"url": "https://img/1.png", "revised_prompt": "a red fox"},
    ]
    assert (result["created"], result["model"]) == (1700000000, "sdxl")
    assert seen[0] == {"model": "sdxl", "prompt": "a red fox", "n": 2, "size": "512x512"}
    forced = build("openai", {"base_url": f"{url}/v1", "model": "m", "mode": "images"})
    with pytest.raises(PermanentError, match="needs a prompt"):
        await forced(make_ctx(type="text-generation"))


# ---------------------------------------------------------------------- ComfyUI-style
class FakeComfy:
    """Queues prompts and "runs" each: progress messages over the WebSocket of the
    client that queued it, an ``executed`` output, then ``executing`` with node null."""

    def __init__(self, steps: int = 4, delay: float = 0.0) -> None:
        self.steps = steps
        self.delay = delay
        self.sockets: dict[str, WebSocket] = {}
        self.history: dict[str, Any] = {}
        self.prompts: list[dict[str, Any]] = []
        self.interrupted: list[Any] = []
        self.deleted: list[Any] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/prompt", self.queue, methods=["POST"]),
                Route("/history/{prompt_id}", self.get_history),
                Route("/interrupt", self.interrupt, methods=["POST"]),
                Route("/queue", self.delete, methods=["POST"]),
                WebSocketRoute("/ws", self.ws),
            ]
        )

    async def ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        client_id = websocket.query_params["clientId"]
        self.sockets[client_id] = websocket
        await websocket.send_json({"type": "status", "data": {"status": {"exec_info": {}}}})
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            self.sockets.pop(client_id, None)

    async def queue(self, request: Request) -> Response:
        body = await request.json()
        graph = body["prompt"]
        if "bad" in json.dumps(graph):
            return JSONResponse(
                {"error": {"type": "prompt_outputs_failed_validation"}, "node_errors": {"3": "x"}},
                status_code=400,
            )
        prompt_id = f"p{len(self.prompts) + 1}"
        self.prompts.append(graph)
        task = asyncio.create_task(self.run(body["client_id"], prompt_id, graph))
        self.tasks.add(task)
        return JSONResponse(
            {"prompt_id": prompt_id, "number": len(self.prompts), "node_errors": {}}
        )

    async def run(self, client_id: str, prompt_id: str, graph: dict[str, Any]) -> None:
        ws = self.sockets[client_id]
        await ws.send_json({"type": "execution_start", "data": {"prompt_id": prompt_id}})
        await ws.send_json(
            {"type": "progress", "data": {"value": 1, "max": 1, "prompt_id": "other"}}
        )
        await ws.send_bytes(b"\x00\x00\x00\x01preview")
        for step in range(1, self.steps + 1):
            await asyncio.sleep(self.delay)
            await ws.send_json(
                {
                    "type": "progress",
                    "data": {"value": step, "max": self.steps, "prompt_id": prompt_id},
                }
            )
        if "explode" in json.dumps(graph):
            error = {
                "prompt_id": prompt_id, "node_id": "3", "node_type": "KSampler",
                "exception_type": "torch.OutOfMemoryError", "exception_message": "CUDA OOM",
            }  # fmt: skip
            await ws.send_json({"type": "execution_error", "data": error})
            return
        image = {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}
        output = {"images": [image]}
        await ws.send_json(
            {"type": "executed", "data": {"node": "9", "output": output, "prompt_id": prompt_id}}
        )
        self.history[prompt_id] = {
            "prompt": graph,
            "outputs": {"9": output},
            "status": {"completed": True},
        }
        await ws.send_json({"type": "executing", "data": {"node": None, "prompt_id": prompt_id}})

    async def get_history(self, request: Request) -> Response:
        prompt_id = request.path_params["prompt_id"]
        return JSONResponse(
            {prompt_id: self.history[prompt_id]} if prompt_id in self.history else {}
        )

    async def interrupt(self, request: Request) -> Response:
        self.interrupted.append(await request.json())
        return JSONResponse({})

    async def delete(self, request: Request) -> Response:
        self.deleted.append(await request.json())
        return JSONResponse({})


GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {"seed": "{{parameters.seed}}", "steps": 20}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}, high detail"}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}},
}


async def test_comfyui_queues_the_prompt_follows_progress_and_reads_the_outputs(
    build: Build, serve: ServeApp, make_ctx: MakeCtx, progress_log: list[Any]
) -> None:
    comfy = FakeComfy()
    url = await serve(comfy.app())
    connector = build("comfyui", {"url": url, "workflow": GRAPH})
    result = await connector(make_ctx(type="text-to-image", prompt="a fox", parameters={"seed": 7}))
    assert comfy.prompts[0]["6"]["inputs"]["text"] == "a fox, high detail"
    assert comfy.prompts[0]["3"]["inputs"]["seed"] == 7
    assert [p for _, _, p, _ in progress_log] == [25, 50, 75, 99]
    assert result["prompt_id"] == "p1"
    assert result["outputs"] == {"9": {"images": [
        {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}]}}  # fmt: skip
    assert result["images"][0]["url"] == (
        f"{url}/view?filename=ComfyUI_00001_.png&subfolder=&type=output"
    )


async def test_comfyui_errors(build: Build, serve: ServeApp, make_ctx: MakeCtx) -> None:
    comfy = FakeComfy()
    url = await serve(comfy.app())
    connector = build("comfyui", {"url": url})
    exploding = {"1": {"class_type": "explode", "inputs": {}}}
    with pytest.raises(ConnectorError, match=r"node 3 \(KSampler\) failed: torch.OutOfMemoryError"):
        await connector(make_ctx(prompt="x", parameters={"workflow": exploding}))
    with pytest.raises(RemoteRejected, match="answered 400"):
        await connector(make_ctx(prompt="x", parameters={"workflow": {"1": {"class_type": "bad"}}}))
    gone = build("comfyui", {"url": "http://127.0.0.1:9", "workflow": GRAPH})
    with pytest.raises(ConnectorError, match=r"ws://127\.0\.0\.1:9/ws"):
        await gone(make_ctx(prompt="x"))


async def test_cancelling_a_comfyui_job_interrupts_the_server(
    build: Build, serve: ServeApp, broker: Broker, start_worker: StartWorker
) -> None:
    comfy = FakeComfy(steps=100, delay=0.05)
    url = await serve(comfy.app())
    connector = build("comfyui", {"url": url, "workflow": GRAPH})
    since = await broker.last_event_id()
    await start_worker(
        handlers={"text-to-image": connector}, heartbeat_interval=0.1, progress_interval=0.05
    )
    submitted = await broker.submit({"type": "text-to-image", "prompt": "a fox"})

    async def progressing() -> bool:
        return any(e.type == "job_progress" for e in await broker.read_events(since))

    async def interrupted() -> bool:
        return bool(comfy.interrupted)

    await eventually(progressing)
    await broker.cancel(submitted.job_id)
    await eventually(interrupted)
    assert comfy.interrupted == [{"prompt_id": "p1"}]
    assert comfy.deleted == [{"delete": ["p1"]}]


async def test_a_worker_runs_comfyui_jobs_with_live_progress(
    build: Build, serve: ServeApp, broker: Broker, start_worker: StartWorker
) -> None:
    comfy = FakeComfy(steps=5, delay=0.1)
    url = await serve(comfy.app())
    since = await broker.last_event_id()
    await start_worker(
        handlers={"text-to-image": build("comfyui", {"url": url, "workflow": GRAPH})},
        progress_interval=0.02,
    )
    submitted = await broker.submit({"type": "text-to-image", "prompt": "a fox"})
    job = await broker.wait_for(submitted.job_id, timeout=30)
    assert job.status is JobStatus.COMPLETED
    assert job.result is not None
    assert job.result["images"][0]["filename"] == "ComfyUI_00001_.png"
    progress = [
        e.data["progress"] for e in await broker.read_events(since) if e.type == "job_progress"
    ]
    assert len(progress) >= 2
    assert progress == sorted(progress)
