"""The ``jobq`` command. Core commands live here; the API, worker and monitor
distributions add theirs through the ``jobq.commands`` entry-point group."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

import click

from jobq.broker import Broker
from jobq.errors import JobqError
from jobq.settings import CoreSettings

T = TypeVar("T")


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine for a command, turning jobq errors into a clean exit."""
    try:
        return asyncio.run(factory())  # type: ignore[arg-type]
    except JobqError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None


def _parse_param(raw: str) -> tuple[str, Any]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{raw!r}: use KEY=VALUE", param_hint="--param")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


class JobqGroup(click.Group):
    """The root group; loads subcommands registered by other jobq distributions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for entry in entry_points(group="jobq.commands"):
            command = entry.load()
            if isinstance(command, click.Command):
                self.add_command(command, entry.name)


@click.group(cls=JobqGroup)
@click.version_option(package_name="jobq-core")
def main() -> None:
    """jobq: a Redis job broker for heterogeneous GPU fleets."""


@main.command()
@click.argument("job_type")
@click.option("--prompt", help="the job's prompt")
@click.option("--param", "params", multiple=True, help="a parameter KEY=VALUE (JSON values)")
@click.option("--priority", type=click.IntRange(0, 100), default=50, show_default=True)
@click.option("--wait", is_flag=True, help="wait for the job to finish and print it")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="with --wait")
def submit(
    job_type: str,
    prompt: str | None,
    params: tuple[str, ...],
    priority: int,
    wait: bool,
    timeout: float,
) -> None:
    """Submit a job of type JOB_TYPE and print its id (or, with --wait, the finished job)."""
    spec = {
        "type": job_type,
        "prompt": prompt,
        "parameters": dict(_parse_param(p) for p in params),
        "priority": priority,
    }

    async def go() -> str:
        async with Broker.from_url(settings=CoreSettings()) as broker:
            result = await broker.submit(spec)
            if not wait:
                return result.job_id
            job = await broker.wait_for(result.job_id, timeout=timeout)
            return job.model_dump_json(indent=2)

    click.echo(run_async(go))


@main.command()
@click.argument("job_id")
def status(job_id: str) -> None:
    """Print the status of job JOB_ID as JSON."""

    async def go() -> str:
        async with Broker.from_url(settings=CoreSettings()) as broker:
            return (await broker.get_job(job_id)).model_dump_json(indent=2)

    click.echo(run_async(go))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
