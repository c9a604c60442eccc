"""Recording benchmark figures into ``reports/bench.json`` (read by ``nox -s bench``).

Each figure is ``{"value": x, "unit": "...", "target": "...", "met": bool | None,
"scenario": "..."}``; files written by several processes are merged, last write wins.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

REPORT = Path(os.environ.get("JOBQ_BENCH_REPORT", "reports/bench.json"))


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean of latencies given in seconds, in milliseconds."""
    return {
        "p50": percentile(samples, 50) * 1000,
        "p99": percentile(samples, 99) * 1000,
        "mean": statistics.fmean(samples) * 1000,
    }


def record(
    name: str,
    value: float,
    unit: str,
    *,
    target: str = "",
    met: bool | None = None,
    scenario: str = "",
    report: Path = REPORT,
) -> None:
    """Add or replace one figure in the report file."""
    report.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    data[name] = {
        "value": round(value, 3),
        "unit": unit,
        "target": target,
        "met": met,
        "scenario": scenario,
    }
    report.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"BENCH {name}: {value:.3f} {unit} (target {target or '-'}, met={met})")


@pytest.fixture
def bench_record() -> Callable[..., None]:
    """The :func:`record` function, as a fixture for benchmark tests."""
    return record
