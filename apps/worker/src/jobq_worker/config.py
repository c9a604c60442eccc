"""A worker's configuration: a TOML file, command-line flags and detection, merged.

    [worker]
    id = "gpu-box-1"              # default: <hostname>-<pid>
    pool = "standard"
    concurrency = 4
    capabilities = ["text-to-image", "upscale"]
    model_types = ["stable-diffusion"]
    gpu_memory = 24               # GB; default: detected with nvidia-smi
    grace_period = 30             # any WorkerOptions field may be set here

    [handlers.text-to-image]      # one connector per job type
    connector = "comfyui"
    url = "http://127.0.0.1:8188"

Precedence: flags, then the file, then detection. Capabilities and model types from the
file and the flags are merged. A worker that names no capabilities offers the job
types it has handlers for (and ``simulation`` with ``--simulate``).
"""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobq.catalog import describe_validation_error
from jobq.models import WorkerCapabilities
from jobq_worker.connectors import Connector, build_connector
from jobq_worker.detect import Gpu, detect_gpus, summarize
from jobq_worker.errors import ConfigError
from jobq_worker.options import WorkerOptions
from jobq_worker.worker import default_worker_id

SIMULATION = "simulation"


class WorkerSection(WorkerOptions):
    """The ``[worker]`` table: capabilities, detection, and the runtime options."""

    id: str | None = Field(None, min_length=1, max_length=128)
    machine_id: str | None = None
    pool: str | None = Field(None, min_length=1, max_length=128)
    capabilities: list[str] = Field(default_factory=list)
    model_types: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    customers_allowed: list[str] = Field(default_factory=list)
    customers_denied: list[str] = Field(default_factory=list)
    gpu_memory: float | None = Field(None, ge=0)
    gpu_name: str | None = None
    detect_gpu: bool = True
    simulate: bool = False


class WorkerConfig(BaseModel):
    """A worker config file."""

    model_config = ConfigDict(extra="forbid")

    worker: WorkerSection = Field(default_factory=WorkerSection)
    handlers: dict[str, dict[str, Any]] = Field(default_factory=dict)


def load_config(path: Path) -> WorkerConfig:
    """Read a worker config file; :class:`ConfigError` naming the file and the problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = WorkerConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None
    for job_type, options in config.handlers.items():
        if not isinstance(options.get("connector"), str):
            raise ConfigError(f'{path}: [handlers.{job_type}] needs connector = "<name>"')
    return config


@dataclass(frozen=True)
class Flags:
    """What the command line says (None / empty: not given)."""

    worker_id: str | None = None
    capabilities: Sequence[str] = ()
    model_types: Sequence[str] = ()
    gpu_memory: float | None = None
    pool: str | None = None
    concurrency: int | None = None
    simulate: bool = False
    grace_period: float | None = None


@dataclass(frozen=True)
class ResolvedWorker:
    """Everything a worker process needs to start."""

    capabilities: WorkerCapabilities
    options: WorkerOptions
    handlers: dict[str, dict[str, Any]]
    simulate: bool
    gpus: list[Gpu] = field(default_factory=list)


def resolve(
    config: WorkerConfig,
    flags: Flags,
    *,
    detect: Callable[[], list[Gpu]] = detect_gpus,
) -> ResolvedWorker:
    """Merge the config file, the flags and (when needed) GPU detection."""
    section = config.worker
    simulate = flags.simulate or section.simulate
    gpu_memory = flags.gpu_memory if flags.gpu_memory is not None else section.gpu_memory
    gpus: list[Gpu] = []
    if section.detect_gpu and (gpu_memory is None or section.gpu_name is None):
        gpus = detect()
    detected_memory, detected_name = summarize(gpus)
    handlers = {} if simulate else {k: dict(v) for k, v in config.handlers.items()}
    capabilities = sorted({*section.capabilities, *flags.capabilities})
    if not capabilities:
        capabilities = sorted({*handlers, *([SIMULATION] if simulate else [])})
    if not simulate and SIMULATION in capabilities and SIMULATION not in handlers:
        handlers[SIMULATION] = {"connector": SIMULATION}
    option_fields = set(WorkerOptions.model_fields)
    options = section.model_dump(include=option_fields)
    if flags.concurrency is not None:
        options["concurrency"] = flags.concurrency
    if flags.grace_period is not None:
        options["grace_period"] = flags.grace_period
    try:
        worker = WorkerCapabilities(
            worker_id=flags.worker_id or section.id or default_worker_id(),
            machine_id=section.machine_id or socket.gethostname(),
            gpu_memory=gpu_memory if gpu_memory is not None else detected_memory,
            gpu_name=section.gpu_name or detected_name,
            model_types=sorted({*section.model_types, *flags.model_types}),
            capabilities=capabilities,
            services=section.services,
            pool_type=flags.pool or section.pool,
            customers_allowed=section.customers_allowed,
            customers_denied=section.customers_denied,
            concurrency=options["concurrency"],
        )
        resolved_options = WorkerOptions.model_validate(options)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    if not simulate and not handlers:
        raise ConfigError(
            "the worker has nothing to run: configure [handlers.<job type>] in --config, "
            "offer the 'simulation' capability, or pass --simulate"
        )
    return ResolvedWorker(worker, resolved_options, handlers, simulate, gpus)


def build_handlers(resolved: ResolvedWorker) -> tuple[dict[str, Connector], Connector | None]:
    """The connectors of a resolved config: ``(handlers by job type, fallback)``. With
    ``simulate`` every job runs on the simulation connector (the fallback)."""
    if resolved.simulate:
        return {}, build_connector(SIMULATION)
    handlers = {
        job_type: build_connector(
            spec["connector"], {k: v for k, v in spec.items() if k != "connector"}
        )
        for job_type, spec in resolved.handlers.items()
    }
    return handlers, None
