"""The ``openai`` connector: an OpenAI-compatible server (vLLM, llama.cpp, LocalAI,
OpenAI itself).

``mode = "chat"``: ``POST {base_url}/chat/completions`` with the job's prompt as the
user message (or ``parameters.messages``); the result is ``{"text", "model",
"finish_reason", "usage"}``. ``mode = "images"``: ``POST {base_url}/images/generations``;
the result is ``{"images": [{"url" | "b64_json", ...}], "created"}``. Without a mode,
``text-to-image`` jobs generate images and every other type chats.

Sampling parameters in the job (``temperature``, ``max_tokens``, ``size``, ``n``, ...)
are passed through; ``parameters.model`` overrides the configured model.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field

from jobq_worker.connectors.base import ConnectorError, ConnectorOptions, FromOptions
from jobq_worker.connectors.web import WebClient
from jobq_worker.context import JobContext
from jobq_worker.errors import PermanentError

CHAT_PARAMETERS = frozenset(
    {"temperature", "max_tokens", "top_p", "stop", "seed", "presence_penalty",
     "frequency_penalty", "response_format"}
)  # fmt: skip
IMAGE_PARAMETERS = frozenset({"n", "size", "quality", "style", "response_format", "seed"})


class OpenAIOptions(ConnectorOptions):
    """Options of the ``openai`` connector."""

    base_url: str = Field(pattern=r"^https?://", description="e.g. http://localhost:8000/v1")
    model: str = Field(min_length=1)
    mode: Literal["chat", "images"] | None = None
    api_key: str | None = Field(None, description="sent as a bearer token")
    api_key_env: str | None = Field(None, description="read the key from this variable")
    system_prompt: str | None = None
    timeout: float = Field(300.0, gt=0)


class OpenAIConnector(FromOptions):
    """Chat completions or image generations on an OpenAI-compatible server."""

    Options = OpenAIOptions
    options: OpenAIOptions

    def __init__(self, options: OpenAIOptions) -> None:
        super().__init__(options)
        key = options.api_key or (os.environ.get(options.api_key_env or "") or None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.web = WebClient(headers=headers, timeout=options.timeout)
        self.base_url = options.base_url.rstrip("/")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.web.aclose()

    async def __call__(self, ctx: JobContext) -> dict[str, Any]:
        """Run the job on the server."""
        mode = self.options.mode or ("images" if ctx.type == "text-to-image" else "chat")
        if mode == "images":
            return await self.images(ctx)
        return await self.chat(ctx)

    def _model(self, ctx: JobContext) -> str:
        return str(ctx.parameters.get("model") or self.options.model)

    async def chat(self, ctx: JobContext) -> dict[str, Any]:
        """One chat completion."""
        messages = ctx.parameters.get("messages")
        if messages is None:
            if not ctx.prompt:
                raise PermanentError("openai chat: the job needs a prompt or parameters.messages")
            messages = [{"role": "user", "content": ctx.prompt}]
            if self.options.system_prompt:
                messages.insert(0, {"role": "system", "content": self.options.system_prompt})
        body = {"model": self._model(ctx), "messages": messages, **_pick(ctx, CHAT_PARAMETERS)}
        answer = await self.web.request("POST", f"{self.base_url}/chat/completions", json=body)
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ConnectorError(f"unexpected chat answer: {str(answer)[:300]}") from None
        return {
            "text": text,
            "model": answer.get("model"),
            "finish_reason": choice.get("finish_reason"),
            "usage": answer.get("usage") or {},
        }

    async def images(self, ctx: JobContext) -> dict[str, Any]:
        """One image generation request."""
        if not ctx.prompt:
            raise PermanentError("openai images: the job needs a prompt")
        body = {"model": self._model(ctx), "prompt": ctx.prompt, **_pick(ctx, IMAGE_PARAMETERS)}
        answer = await self.web.request("POST", f"{self.base_url}/images/generations", json=body)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise ConnectorError(f"unexpected images answer: {str(answer)[:300]}")
        return {"images": data, "created": answer.get("created"), "model": body["model"]}


def _pick(ctx: JobContext, names: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in ctx.parameters.items() if name in names}
