"""The ``comfyui`` connector: a ComfyUI-style server.

The job's workflow graph (API format) is ``parameters.workflow``, else the configured
``workflow`` (or ``workflow_file``); in its strings ``{{prompt}}`` is replaced with the
job's prompt, and a string that is exactly ``{{parameters.NAME}}`` becomes that
parameter's value. The connector opens the server's WebSocket (``/ws?clientId=...``),
queues the graph (``POST /prompt``), reports the ``progress`` messages of its prompt,
and when the prompt has run (``executing`` with node null, or ``execution_success``)
reads ``/history/{prompt_id}``. The result is ``{"prompt_id", "outputs", "images"}``
(each image with a ``/view`` URL). ``execution_error`` fails the attempt; a rejected
graph (400) fails the job for good. A cancelled job is interrupted on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pydantic import Field, model_validator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from jobq_worker.connectors.base import ConnectorError, ConnectorOptions, FromOptions
from jobq_worker.connectors.web import WebClient
from jobq_worker.context import JobContext
from jobq_worker.errors import PermanentError

log = logging.getLogger("jobq_worker.connectors.comfyui")

WHOLE_PARAMETER = re.compile(r"^\{\{parameters\.([A-Za-z0-9_.-]+)\}\}$")


class ComfyUIOptions(ConnectorOptions):
    """Options of the ``comfyui`` connector."""

    url: str = Field(pattern=r"^https?://", description="e.g. http://127.0.0.1:8188")
    workflow: dict[str, Any] | None = Field(None, description="the graph, API format")
    workflow_file: Path | None = Field(None, description="or a JSON file holding it")
    timeout: float = Field(60.0, gt=0, description="seconds per HTTP request")

    @model_validator(mode="after")
    def _one_workflow(self) -> ComfyUIOptions:
        if self.workflow is not None and self.workflow_file is not None:
            raise ValueError("give workflow or workflow_file, not both")
        return self


class ComfyUIConnector(FromOptions):
    """Queues a prompt graph and follows it over the server's WebSocket."""

    Options = ComfyUIOptions
    options: ComfyUIOptions

    def __init__(self, options: ComfyUIOptions) -> None:
        super().__init__(options)
        self.base_url = options.url.rstrip("/")
        self.ws_url = "ws" + self.base_url.removeprefix("http") + "/ws"
        self.web = WebClient(timeout=options.timeout)
        self.template = options.workflow
        if options.workflow_file is not None:
            self.template = json.loads(options.workflow_file.read_text(encoding="utf-8"))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.web.aclose()

    def graph(self, ctx: JobContext) -> dict[str, Any]:
        """The job's graph with its placeholders filled in."""
        template = ctx.parameters.get("workflow", self.template)
        if not isinstance(template, dict) or not template:
            raise PermanentError(
                "comfyui: the job needs parameters.workflow (or configure workflow)"
            )
        filled = fill(template, ctx.prompt or "", ctx.parameters)
        assert isinstance(filled, dict)
        return filled

    async def __call__(self, ctx: JobContext) -> dict[str, Any]:
        """Run the graph on the server."""
        graph = self.graph(ctx)
        client_id = uuid.uuid4().hex
        try:
            async with connect(f"{self.ws_url}?clientId={client_id}", max_size=2**24) as ws:
                answer = await self.web.request(
                    "POST",
                    f"{self.base_url}/prompt",
                    json={"prompt": graph, "client_id": client_id},
                )
                prompt_id = answer.get("prompt_id") if isinstance(answer, dict) else None
                if not prompt_id:
                    raise ConnectorError(f"the /prompt answer has no prompt_id: {answer!r}")
                try:
                    outputs = await self.follow(ws, str(prompt_id), ctx)
                except asyncio.CancelledError:
                    await self.interrupt(str(prompt_id))
                    raise
        except (OSError, WebSocketException) as exc:
            raise ConnectorError(f"{self.ws_url}: {type(exc).__name__}: {exc}") from None
        history = await self.web.request("GET", f"{self.base_url}/history/{prompt_id}")
        entry = history.get(str(prompt_id)) if isinstance(history, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("outputs"), dict):
            outputs = entry["outputs"]
        return {"prompt_id": prompt_id, "outputs": outputs, "images": self.images(outputs)}

    async def follow(self, ws: ClientConnection, prompt_id: str, ctx: JobContext) -> dict[str, Any]:
        """Read the WebSocket until the prompt has run; its outputs by node."""
        outputs: dict[str, Any] = {}
        async for raw in ws:
            if isinstance(raw, bytes):
                continue  # preview images
            message = json.loads(raw)
            kind, data = message.get("type"), message.get("data") or {}
            if data.get("prompt_id", prompt_id) != prompt_id:
                continue  # another client's prompt
            if kind == "progress" and data.get("max"):
                ctx.progress(min(99.0, 100 * float(data["value"]) / float(data["max"])))
            elif kind == "executed" and data.get("node") is not None:
                outputs[str(data["node"])] = data.get("output")
            elif (kind == "executing" and data.get("node") is None) or kind == "execution_success":
                return outputs
            elif kind == "execution_error":
                raise ConnectorError(
                    f"ComfyUI node {data.get('node_id')} ({data.get('node_type')}) failed: "
                    f"{data.get('exception_type')}: {data.get('exception_message')}"
                )
            elif kind == "execution_interrupted":
                raise ConnectorError(f"ComfyUI prompt {prompt_id} was interrupted")
        raise ConnectorError(f"the WebSocket closed before prompt {prompt_id} finished")

    async def interrupt(self, prompt_id: str) -> None:
        """Best effort: drop the prompt from the server's queue and stop it if it runs."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.web.request(
                    "POST", f"{self.base_url}/queue", json={"delete": [prompt_id]}
                )
                await self.web.request(
                    "POST", f"{self.base_url}/interrupt", json={"prompt_id": prompt_id}
                )
                log.info("interrupted", extra={"prompt_id": prompt_id})

    def images(self, outputs: dict[str, Any]) -> list[dict[str, Any]]:
        """Every image in the outputs, with the URL that serves it."""
        found: list[dict[str, Any]] = []
        for output in outputs.values():
            for image in (output or {}).get("images", []) if isinstance(output, dict) else []:
                query = urlencode({k: image.get(k, "") for k in ("filename", "subfolder", "type")})
                found.append({**image, "url": f"{self.base_url}/view?{query}"})
        return found


def fill(value: Any, prompt: str, parameters: dict[str, Any]) -> Any:
    """``value`` with ``{{prompt}}`` and ``{{parameters.NAME}}`` placeholders filled."""
    if isinstance(value, dict):
        return {key: fill(item, prompt, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, prompt, parameters) for item in value]
    if isinstance(value, str):
        whole = WHOLE_PARAMETER.match(value)
        if whole and whole.group(1) in parameters:
            return parameters[whole.group(1)]
        return value.replace("{{prompt}}", prompt)
    return value
