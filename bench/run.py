"""Turn ``reports/bench.json`` (written by the benchmark tests) into ``reports/bench.md``.

    uv run python bench/run.py [--json reports/bench.json] [--md reports/bench.md]
                               [--redis-url redis://...]

The Markdown report names the machine (CPU model and count, memory, OS) and the
versions (Python, Redis, redis-py, jobq), then has one table per scenario group:
figure | value | target | met?. A figure the suite is expected to produce but did not
is listed as missing. With ``--strict`` the command exits 1 when a target is missed or
an expected figure is missing (by default it only says so).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: Figures ``nox -s bench`` must produce, by the issue-7 scenario they answer.
EXPECTED: dict[str, list[str]] = {
    "seed Day 5: 50 concurrent HTTP submissions": ["seed.http_submit_50_total"],
    "seed Day 5: 200 status checks": ["seed.status_checks_rate"],
    "seed Day 5: 30 concurrent claims over 100 mixed jobs": ["seed.concurrent_claims_rate"],
    "batch submit": ["core.batch_submit"],
    "claim latency behind 100,000 unrunnable jobs": ["core.claim_p50_ratio"],
    "mixed fleet": ["fleet.drain_rate", "fleet.unrunnable_reported"],
    "drain of 10,000 no-op jobs, 2 worker processes": ["worker.drain_rate"],
    "submit-to-result round trip": ["worker.round_trip_p50", "worker.round_trip_p99"],
    "HTTP submit p99 at 50 concurrent clients": ["api.http_submit_p99"],
    "WebSocket fan-out p99 to 500 subscribers": ["api.ws_fanout_p99"],
}

#: Section titles of the figure-name prefixes.
GROUPS = {
    "seed": "Seed performance cases (Day 5)",
    "core": "Core broker",
    "fleet": "Mixed fleet",
    "api": "HTTP API and WebSocket",
    "worker": "Worker runtime",
}


@dataclass(frozen=True)
class Figure:
    """One measured figure as ``jobq_testing.bench.record`` wrote it."""

    name: str
    value: float
    unit: str
    target: str
    met: bool | None
    scenario: str

    @classmethod
    def from_json(cls, name: str, raw: Mapping[str, Any]) -> Figure:
        met = raw.get("met")
        return cls(
            name=name,
            value=float(raw["value"]),
            unit=str(raw.get("unit", "")),
            target=str(raw.get("target") or ""),
            met=None if met is None else bool(met),
            scenario=str(raw.get("scenario") or ""),
        )


def load(path: Path) -> list[Figure]:
    """The figures of a bench.json file, by name."""
    raw: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return [Figure.from_json(name, raw[name]) for name in sorted(raw)]


def _command(*args: str) -> str | None:
    if shutil.which(args[0]) is None:
        return None
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


async def _server_version(url: str) -> str | None:
    from jobq.connection import connect

    client = connect(url)
    try:
        info: dict[str, Any] = await client.info("server")
    except Exception:  # a report must not fail for want of a version number
        return None
    finally:
        await client.aclose()
    # A cluster client answers per node; all nodes run the same version here.
    if "redis_version" not in info:
        info = next(iter(info.values()))
    name = "Valkey" if "valkey_version" in info else "Redis"
    return f"{name} {info.get('valkey_version') or info['redis_version']}"


def redis_version(url: str | None) -> str:
    """The version of the server at ``url`` or, failing that, of redis-server on PATH."""
    if url:
        found = asyncio.run(_server_version(url))
        if found:
            return f"{found} (at {url.split('@')[-1]})"
    output = _command("redis-server", "--version")
    if output:
        fields = dict(part.split("=", 1) for part in output.split() if "=" in part)
        return f"Redis {fields.get('v', output)} (redis-server on PATH)"
    return "unknown"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gb() -> str:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    return "unknown"


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine(redis_url: str | None) -> dict[str, str]:
    """What the numbers were measured on."""
    return {
        "CPU": f"{_cpu_model()}, {os.cpu_count()} logical CPUs",
        "Memory": _memory_gb(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Redis": redis_version(redis_url),
        "redis-py": _package("redis"),
        "hiredis": _package("hiredis"),
        "jobq-core": _package("jobq-core"),
        "commit": _command("git", "rev-parse", "--short", "HEAD") or "none (not a git checkout)",
    }


def _value(figure: Figure) -> str:
    value = figure.value
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"{text} {figure.unit}".strip()


def _met(met: bool | None) -> str:
    return {True: "yes", False: "**NO**", None: "-"}[met]


def missing(figures: Sequence[Figure]) -> list[tuple[str, str]]:
    """(scenario, figure name) of every expected figure the report lacks."""
    names = {f.name for f in figures}
    return [
        (scenario, name)
        for scenario, wanted in EXPECTED.items()
        for name in wanted
        if name not in names
    ]


def render(figures: Sequence[Figure], facts: Mapping[str, str], *, generated: str) -> str:
    """The Markdown report."""
    lines = ["# jobq benchmarks", "", f"Generated {generated} by `bench/run.py`.", ""]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in facts.items()]
    targets = [f for f in figures if f.met is not None]
    met = sum(1 for f in targets if f.met)
    absent = missing(figures)
    lines += ["", "## Summary", ""]
    lines.append(f"{met} of {len(targets)} targets met; {len(figures)} figures.")
    if absent:
        lines.append(f"{len(absent)} expected figures missing (below).")
    grouped: dict[str, list[Figure]] = {}
    for figure in figures:
        grouped.setdefault(figure.name.split(".", 1)[0], []).append(figure)
    for prefix, members in sorted(grouped.items(), key=lambda item: _group_order(item[0])):
        lines += ["", f"## {GROUPS.get(prefix, prefix)}"]
        scenarios: dict[str, list[Figure]] = {}
        for figure in members:
            scenarios.setdefault(figure.scenario, []).append(figure)
        for scenario, rows in scenarios.items():
            lines += ["", f"*{scenario}*", ""] if scenario else [""]
            lines += ["| figure | value | target | met? |", "|---|---:|---|---|"]
            lines += [
                f"| `{f.name}` | {_value(f)} | {f.target or '-'} | {_met(f.met)} |" for f in rows
            ]
    if absent:
        lines += ["", "## Missing", "", "| scenario | figure |", "|---|---|"]
        lines += [f"| {scenario} | `{name}` |" for scenario, name in absent]
    return "\n".join(lines) + "\n"


def _group_order(prefix: str) -> tuple[int, str]:
    order = list(GROUPS)
    return (order.index(prefix) if prefix in order else len(order), prefix)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=Path("reports/bench.json"))
    parser.add_argument("--md", type=Path, default=Path("reports/bench.md"))
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("JOBQ_TEST_REDIS_URL"),
        help="the server the benchmarks used (default: JOBQ_TEST_REDIS_URL, else PATH)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 if a target is missed or a figure missing"
    )
    args = parser.parse_args(argv)
    figures = load(args.json)
    if not figures:
        print(f"{args.json}: no figures (run the benchmarks first: uvx nox -s bench)")
        return 1
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = render(figures, machine(args.redis_url), generated=generated)
    args.md.parent.mkdir(parents=True, exist_ok=True)
    args.md.write_text(report)
    print(report)
    failed = [f.name for f in figures if f.met is False]
    absent = missing(figures)
    if failed:
        print(f"targets missed: {', '.join(failed)}", file=sys.stderr)
    if absent:
        print(f"figures missing: {', '.join(name for _, name in absent)}", file=sys.stderr)
    return 1 if args.strict and (failed or absent) else 0


if __name__ == "__main__":
    sys.exit(main())
