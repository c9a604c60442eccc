"""Loading the Redis Functions library (``lua/``) into Redis, versioned.

The library source is every ``*.lua`` file shipped in the ``jobq.lua`` package
folder: helper files (``_*.lua``) first, then the others, each group in name
order. Its version is a hash of that source; a process loads it with
``FUNCTION LOAD REPLACE`` when the server runs another version (or none). On a Redis
Cluster the library is checked and loaded on every primary.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from redis.exceptions import ResponseError

from jobq.connection import RedisClient, on_every_primary

LIBRARY_NAME = "jobq"


@dataclass(frozen=True)
class Library:
    """The assembled library: its version and the source ``FUNCTION LOAD`` takes."""

    version: str
    source: str
    files: tuple[str, ...]


def _order(name: str) -> tuple[bool, str]:
    return (not name.startswith("_"), name)


@cache
def library() -> Library:
    """Assemble the library from the packaged Lua files (cached per process)."""
    folder = files("jobq") / "lua"
    names = sorted((f.name for f in folder.iterdir() if f.name.endswith(".lua")), key=_order)
    if not names:
        raise RuntimeError("the jobq Lua library is missing from the installed package")
    bodies = [f"-- ==== {name}\n" + (folder / name).read_text(encoding="utf-8") for name in names]
    body = "\n".join(bodies)
    version = hashlib.sha256(body.encode()).hexdigest()[:16]
    source = "\n".join(
        [
            f"#!lua name={LIBRARY_NAME}",
            body,
            "-- jobq_version: the version of this library. KEYS: none. ARGV: none.",
            "-- Returns: the version string (a hash of the source).",
            "redis.register_function{function_name='jobq_version', "
            f"callback=function() return '{version}' end, flags={{'no-writes'}}}}",
        ]
    )
    return Library(version=version, source=source, files=tuple(names))


async def loaded_versions(redis: RedisClient) -> list[str | None]:
    """The version of the jobq library each primary runs (None where there is none)."""
    versions: list[str | None] = []
    for reply in await on_every_primary(redis, "FCALL_RO", "jobq_version", 0):
        if isinstance(reply, ResponseError):
            if "not found" not in str(reply).lower():
                raise reply
            versions.append(None)
        else:
            versions.append(reply.decode() if isinstance(reply, bytes) else str(reply))
    return versions


async def loaded_version(redis: RedisClient) -> str | None:
    """The version of the jobq library the server runs (on a cluster: the one every
    primary runs), or None if it has none (or the primaries disagree)."""
    versions = set(await loaded_versions(redis))
    return versions.pop() if len(versions) == 1 else None


async def ensure_library(redis: RedisClient, *, force: bool = False) -> bool:
    """Load the library unless the server (every primary) already runs this version.
    True if it loaded."""
    lib = library()
    if not force and all(v == lib.version for v in await loaded_versions(redis)):
        return False
    for reply in await on_every_primary(redis, "FUNCTION LOAD", "REPLACE", lib.source):
        if isinstance(reply, ResponseError):
            raise reply
    return True


def is_missing_function(error: ResponseError) -> bool:
    """True for the error Redis gives when a function is unknown (e.g. after a restart)."""
    return "function not found" in str(error).lower()
