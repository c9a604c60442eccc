"""How event ids are checked on the wire (the WebSocket and the JSON API); event
messages themselves are :meth:`jobq.models.Event.to_message`."""

from __future__ import annotations

from jobq.events import parse_event_id


def check_event_id(value: str | None, name: str = "since") -> str | None:
    """``value`` if it is a stream event id (``<ms>-<seq>``); ValidationFailed if not."""
    if value is not None and value != "0":
        parse_event_id(value, name)
    return value
