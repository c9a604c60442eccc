"""``jobq worker``: run a worker process (registered in the ``jobq.commands`` group)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from jobq.broker import Broker
from jobq.settings import CoreSettings
from jobq_worker.config import Flags, WorkerConfig, build_handlers, load_config, resolve
from jobq_worker.errors import ConfigError
from jobq_worker.logs import configure_logging
from jobq_worker.worker import Worker

log = logging.getLogger("jobq_worker.cli")


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="worker config file (TOML): capabilities, options, handlers",
)
@click.option("--id", "worker_id", help="worker id (default: <hostname>-<pid>)")
@click.option("--capability", "capabilities", multiple=True, help="a capability (repeatable)")
@click.option("--model-type", "model_types", multiple=True, help="a model type (repeatable)")
@click.option(
    "--gpu-memory", type=click.FloatRange(min=0), help="GPU memory in GB (default: detected)"
)
@click.option("--pool", help='the pool this worker serves ("fast-lane", "standard", "heavy", ...)')
@click.option("--concurrency", type=click.IntRange(min=1), help="jobs run at the same time")
@click.option(
    "--simulate", is_flag=True, help="run every claimed job with the simulation connector"
)
@click.option("--grace", type=click.FloatRange(min=0), help="SIGTERM: seconds running jobs get")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
def worker(
    config_path: Path | None,
    worker_id: str | None,
    capabilities: tuple[str, ...],
    model_types: tuple[str, ...],
    gpu_memory: float | None,
    pool: str | None,
    concurrency: int | None,
    simulate: bool,
    grace: float | None,
    log_level: str,
) -> None:
    """Run a worker: claim the jobs this machine can run and run them. Logs are JSON
    lines on stderr. SIGTERM drains (running jobs finish or go back to pending)."""
    flags = Flags(
        worker_id=worker_id, capabilities=capabilities, model_types=model_types,
        gpu_memory=gpu_memory, pool=pool, concurrency=concurrency, simulate=simulate,
        grace_period=grace,
    )  # fmt: skip
    try:
        config = load_config(config_path) if config_path is not None else WorkerConfig()
        resolved = resolve(config, flags)
        handlers, fallback = build_handlers(resolved)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(log_level, static={"worker_id": resolved.capabilities.worker_id})
    if resolved.gpus:
        log.info("detected GPUs", extra={"gpus": [g.__dict__ for g in resolved.gpus]})
    settings = CoreSettings()
    runtime = Worker(
        Broker.from_url(settings=settings),
        resolved.capabilities,
        options=resolved.options,
        handlers=handlers,
        fallback=fallback,
        owns_broker=True,
    )
    asyncio.run(runtime.run(handle_signals=True))
