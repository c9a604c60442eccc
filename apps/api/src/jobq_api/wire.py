"""How events look on the wire (WebSocket messages and webhook bodies).

Event messages are :meth:`jobq.models.Event.to_message` and event ids are parsed by
:func:`jobq.events.parse_event_id`, shared with the monitor; this module adds the
compact JSON encoding."""

from __future__ import annotations

import json
from typing import Any

from jobq.events import parse_event_id
from jobq.models import Event

__all__ = ["dumps", "event_message", "parse_event_id"]


def event_message(event: Event) -> dict[str, Any]:
    """An event as one flat JSON object (see :meth:`jobq.models.Event.to_message`)."""
    return event.to_message()


def dumps(message: Any) -> str:
    """Compact JSON text."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
