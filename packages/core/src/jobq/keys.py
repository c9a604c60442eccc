"""Every Redis key jobq uses, in one place.

All keys of one namespace share the hash tag ``{<namespace>}`` so that they live
in one Redis Cluster slot. The Lua functions receive the namespace prefix as
their one ``KEYS`` entry and derive these same names from it (``lua/_base.lua``;
a test keeps the two lists equal); every derived key carries the prefix's hash
tag, hence lives in the same slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from jobq.models import JobStatus

NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Keys:
    """Key names of one namespace. ``Keys("default").job("abc")`` -> ``jobq:{default}:job:abc``."""

    namespace: str = DEFAULT_NAMESPACE
    base: str = field(init=False)

    def __post_init__(self) -> None:
        if not NAMESPACE_PATTERN.match(self.namespace):
            raise ValueError(
                f"invalid namespace {self.namespace!r}: use 1-64 letters, digits, '_', '-', '.'"
            )
        object.__setattr__(self, "base", f"jobq:{{{self.namespace}}}:")

    # ---- prefixes (an id is appended) ------------------------------------------------
    @property
    def job_prefix(self) -> str:
        """Job hashes: ``job:<id>``."""
        return self.base + "job:"

    @property
    def queue_prefix(self) -> str:
        """Pending queues, one sorted set per requirement shape: ``q:<shape>``."""
        return self.base + "q:"

    @property
    def index_prefix(self) -> str:
        """Listing indexes: ``idx:all``, ``idx:status:<s>``, ``idx:type:<t>``, ..."""
        return self.base + "idx:"

    @property
    def workflow_prefix(self) -> str:
        """Workflow hashes: ``wf:<id>``."""
        return self.base + "wf:"

    @property
    def worker_prefix(self) -> str:
        """Per-worker sets of held jobs: ``worker:<id>:jobs``."""
        return self.base + "worker:"

    @property
    def idempotency_prefix(self) -> str:
        """Idempotency keys: ``idem:<key>`` -> job id."""
        return self.base + "idem:"

    # ---- fixed keys ------------------------------------------------------------------
    @property
    def delayed(self) -> str:
        """Sorted set of delayed jobs (scheduled or backing off), scored by due time (ms)."""
        return self.base + "delayed"

    @property
    def leases(self) -> str:
        """Sorted set of claimed jobs, scored by lease expiry (ms)."""
        return self.base + "leases"

    @property
    def shapes(self) -> str:
        """Hash: shape id -> canonical requirements JSON."""
        return self.base + "shapes"

    @property
    def shapes_version(self) -> str:
        """Registry version: the id of the job that added the newest shape."""
        return self.base + "shapes:version"

    @property
    def seq(self) -> str:
        """Counter giving every job a global submission order (exact FIFO)."""
        return self.base + "seq"

    @property
    def tokens(self) -> str:
        """Counter issuing fencing tokens for leases."""
        return self.base + "tokens"

    @property
    def events(self) -> str:
        """The capped event stream (every state change appends one entry)."""
        return self.base + "events"

    @property
    def finished(self) -> str:
        """Sorted set of finished jobs and workflows, scored by purge time (ms)."""
        return self.base + "finished"

    @property
    def workers(self) -> str:
        """Hash: worker id -> registration JSON (capabilities)."""
        return self.base + "workers"

    @property
    def workers_seen(self) -> str:
        """Sorted set: worker id -> last heartbeat (ms)."""
        return self.base + "workers:seen"

    @property
    def workers_offline(self) -> str:
        """Set of workers already reported offline (so it is reported once)."""
        return self.base + "workers:offline"

    # ---- webhooks (used by jobq-api; not touched by the Lua library) -------------------
    @property
    def webhook_retry(self) -> str:
        """Sorted set: webhook delivery id -> next attempt time (ms)."""
        return self.base + "webhooks:retry"

    @property
    def webhook_deliveries(self) -> str:
        """Hash: webhook delivery id -> delivery JSON (url, body, attempts)."""
        return self.base + "webhooks:deliveries"

    def webhook_log(self, subject_id: str) -> str:
        """List: the delivery log of one job or workflow."""
        return self.base + "webhooks:log:" + subject_id

    def function_keys(self) -> list[str]:
        """``KEYS`` of every function: the namespace prefix alone (see lua/_base.lua, which
        derives the names above from it with the same suffixes)."""
        return [self.base]

    def lua_names(self) -> dict[str, str]:
        """The names lua/_base.lua derives, by its table's field names (for tests)."""
        return {
            "job": self.job_prefix,
            "q": self.queue_prefix,
            "delayed": self.delayed,
            "leases": self.leases,
            "shapes": self.shapes,
            "shapes_version": self.shapes_version,
            "seq": self.seq,
            "tokens": self.tokens,
            "events": self.events,
            "finished": self.finished,
            "idx": self.index_prefix,
            "wf": self.workflow_prefix,
            "worker": self.worker_prefix,
            "idem": self.idempotency_prefix,
            "workers": self.workers,
            "workers_seen": self.workers_seen,
            "workers_offline": self.workers_offline,
        }

    # ---- derived keys (for reads from Python) ----------------------------------------
    def job(self, job_id: str) -> str:
        """The hash of one job."""
        return self.job_prefix + job_id

    def queue(self, shape_id: str) -> str:
        """The pending queue of one requirement shape."""
        return self.queue_prefix + shape_id

    def workflow(self, workflow_id: str) -> str:
        """The hash of one workflow."""
        return self.workflow_prefix + workflow_id

    def worker_jobs(self, worker_id: str) -> str:
        """The set of jobs a worker holds leases on."""
        return self.worker_prefix + worker_id + ":jobs"

    def index_all(self) -> str:
        """Every live job, scored by submission order."""
        return self.index_prefix + "all"

    def index_status(self, status: JobStatus | str) -> str:
        """Jobs in one status, scored by submission order."""
        return self.index_prefix + "status:" + str(status)

    def index_type(self, job_type: str) -> str:
        """Jobs of one type, scored by submission order."""
        return self.index_prefix + "type:" + job_type

    def index_worker(self, worker_id: str) -> str:
        """Jobs a worker has claimed, scored by submission order."""
        return self.index_prefix + "worker:" + worker_id

    def index_workflow(self, workflow_id: str) -> str:
        """The steps of one workflow, scored by step index."""
        return self.index_prefix + "wf:" + workflow_id
