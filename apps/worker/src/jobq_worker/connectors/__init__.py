"""Built-in connectors: ready-made handlers that run a job somewhere.

- ``simulation``: sleeps through ``parameters.duration`` seconds in ``parameters.steps``
  steps, reporting progress, failing with probability ``parameters.fail_rate``;
- ``http``: calls a REST service, synchronously or submit-then-poll;
- ``openai``: an OpenAI-compatible server (chat completions, image generations);
- ``comfyui``: a ComfyUI-style server (queue a prompt, follow it over its WebSocket).

A worker config names one per job type::

    [handlers.text-to-image]
    connector = "comfyui"
    url = "http://127.0.0.1:8188"

Connector modules are imported only when used (a worker starts faster without them).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from jobq_worker.connectors.base import Connector
from jobq_worker.errors import ConfigError

#: connector name -> "module:class" (each class has ``from_options``).
CONNECTORS: dict[str, str] = {
    "simulation": "jobq_worker.connectors.simulation:SimulationConnector",
    "http": "jobq_worker.connectors.http:HttpConnector",
    "openai": "jobq_worker.connectors.openai:OpenAIConnector",
    "comfyui": "jobq_worker.connectors.comfyui:ComfyUIConnector",
}


def build_connector(name: str, options: Mapping[str, Any] | None = None) -> Connector:
    """The connector ``name`` configured with ``options``; :class:`ConfigError` naming the
    problem when the name is unknown or an option is invalid."""
    target = CONNECTORS.get(name)
    if target is None:
        known = ", ".join(sorted(CONNECTORS))
        raise ConfigError(f"unknown connector {name!r} (known: {known})")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        connector: Connector = cls.from_options(dict(options or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'options'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise ConfigError(f"connector {name!r}: {problems}") from None
    return connector


__all__ = ["CONNECTORS", "Connector", "build_connector"]
