"""The Redis client jobq talks to: one server or a Redis Cluster, chosen by the URL.

``redis://`` / ``rediss://`` (and ``unix://``) give a plain :class:`redis.asyncio.Redis`;
``redis+cluster://host:port`` / ``rediss+cluster://`` (or ``JOBQ_REDIS_CLUSTER=true``
with a plain URL) give a :class:`redis.asyncio.cluster.RedisCluster` that discovers
the other nodes from that one. Every difference between the two lives here:

- a command without keys that must reach every primary (loading and checking the
  function library) goes through :func:`on_every_primary`;
- the cluster client's connection pools are as unbounded as a plain client's;
- function calls are routed by their keys, computed here (:class:`JobqCluster`), and
  ``FCALL findMatchingJob 0 ...`` (the compatibility entry point, which names no key
  and works on the default namespace) goes to the node of ``{default}``;
- (in :mod:`jobq.broker`) batch submits are streamed on one raw connection of a plain
  client, and pipelined by a cluster client.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError
from redis.typing import EncodableT

#: The clients jobq accepts (created with ``decode_responses=True``).
RedisClient: TypeAlias = Redis | RedisCluster

#: URL schemes that mean "a Redis Cluster; this is one of its nodes".
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

#: No read timeout: jobq blocks on streams (XREAD BLOCK) for seconds at a time, longer
#: than redis-py 8's default 5 s socket timeout; dead peers are found by TCP keepalive
#: and by the connect timeout instead. A URL's own ``socket_timeout`` still wins.
SOCKET_OPTIONS: dict[str, Any] = {
    "socket_timeout": None,
    "socket_connect_timeout": 10,
    "socket_keepalive": True,
}

#: The namespace prefix findMatchingJob works on (see lua/claim.lua).
DEFAULT_NAMESPACE_PREFIX = "jobq:{default}:"


def is_cluster_url(url: str) -> bool:
    """True for a ``redis+cluster://`` or ``rediss+cluster://`` URL."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() in CLUSTER_SCHEMES


def connect(url: str, *, cluster: bool = False) -> RedisClient:
    """A client for ``url`` that decodes responses; a cluster client for a cluster URL
    or when ``cluster`` is set (``JOBQ_REDIS_CLUSTER``). No I/O happens here."""
    if is_cluster_url(url):
        scheme, _, rest = url.partition("://")
        url = f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}"
        cluster = True
    if cluster:
        # A plain client's pool is unbounded; redis-py's cluster client allows 100
        # connections per node and then fails (MaxConnectionsError), e.g. the 101st
        # concurrent blocking event read. Same limit as a plain client, then.
        return JobqCluster.from_url(
            url, decode_responses=True, max_connections=2**31, **SOCKET_OPTIONS
        )
    return Redis.from_url(url, decode_responses=True, **SOCKET_OPTIONS)


async def on_every_primary(redis: RedisClient, *args: EncodableT) -> list[Any]:
    """Run one command on every primary (on the one server of a plain client), in turn.

    A :class:`redis.exceptions.ResponseError` is returned in place of its node's reply,
    so a caller sees which nodes lack something without losing the others' answers.
    """
    targets: list[dict[str, Any]] = [{}]
    if isinstance(redis, RedisCluster):
        await redis.initialize()  # reads the node map on first use; a no-op after that
        targets = [{"target_nodes": node} for node in redis.get_primaries()]
    replies: list[Any] = []
    for target in targets:
        try:
            replies.append(await redis.execute_command(*args, **target))
        except ResponseError as exc:
            replies.append(exc)
    return replies


class JobqCluster(RedisCluster):
    """A :class:`RedisCluster` that routes function calls by their keys without asking
    the server.

    redis-py finds the keys of an ``FCALL`` with ``COMMAND GETKEYS`` (twice per call,
    each a round trip carrying the whole command): that tripled the cost of a batch
    submit. A jobq call names its keys up front, so the slot is computed here. The
    keyless ``findMatchingJob`` goes to the slot of the default namespace, which it
    works on (redis-py would pick a random node, where it could not reach its keys).
    """

    async def _determine_slot(self, command: str, *args: Any) -> int:
        if str(command).upper() in ("FCALL", "FCALL_RO") and len(args) >= 2:
            keys = args[2 : 2 + int(args[1])]
            if not keys and args[0] == "findMatchingJob":
                return self.keyslot(DEFAULT_NAMESPACE_PREFIX)
            slots = {self.keyslot(key) for key in keys}
            if len(slots) == 1:
                return slots.pop()
        return await super()._determine_slot(command, *args)
