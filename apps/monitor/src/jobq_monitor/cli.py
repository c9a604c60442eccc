"""The ``jobq monitor`` command (added to ``jobq`` through the ``jobq.commands`` group)."""

from __future__ import annotations

import click

from jobq_monitor.settings import MonitorSettings


@click.command()
@click.option(
    "--host", default=None, help="address to listen on [default: JOBQ_MONITOR_HOST or 127.0.0.1]"
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="port [default: JOBQ_MONITOR_PORT or 8001]",
)
def monitor(host: str | None, port: int | None) -> None:
    """Serve the live web dashboard (sign in with a key from JOBQ_API_KEYS)."""
    import uvicorn

    from jobq_monitor.app import create_app

    settings = MonitorSettings()
    if not settings.api_keys:
        raise click.ClickException(
            "JOBQ_API_KEYS is empty: set at least one API key; the dashboard signs in with it"
        )
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.monitor_host,
        port=port or settings.monitor_port,
        log_level="info",
        proxy_headers=False,
        timeout_graceful_shutdown=5,  # open dashboards (WebSockets) must not hold up Ctrl-C
    )


@click.command()
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=3,
    show_default=True,
    help="simulation workers to start (pools and capabilities vary)",
)
@click.option(
    "--demo", is_flag=True, help="also submit a steady stream of demo jobs and a workflow"
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="address the API and monitor use"
)
@click.option(
    "--api-port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="API port (0 or busy: a free one)",
)
@click.option(
    "--monitor-port",
    type=click.IntRange(0, 65535),
    default=8001,
    show_default=True,
    help="monitor port (0 or busy: a free one)",
)
def up(workers: int, demo: bool, host: str, api_port: int, monitor_port: int) -> None:
    """The whole local stack: Redis, the API, the monitor and simulation workers.

    Uses JOBQ_REDIS_URL when set, else starts redis-server from PATH in a temp dir, else
    an embedded server. Prints the URLs and the API key (JOBQ_API_KEYS, or a new one).
    Ctrl-C stops every process.
    """
    import asyncio

    from jobq_monitor.up import Stack, UpOptions, run

    options = UpOptions(
        workers=workers, demo=demo, host=host, api_port=api_port, monitor_port=monitor_port
    )
    code = asyncio.run(run(Stack(options)))
    if code:
        raise SystemExit(code)
