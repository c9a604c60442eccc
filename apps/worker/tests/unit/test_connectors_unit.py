"""Connectors without a network: building them, the simulation, ComfyUI placeholders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobq_worker.connectors import CONNECTORS, build_connector
from jobq_worker.connectors.comfyui import ComfyUIConnector, fill
from jobq_worker.connectors.simulation import SimulatedFailure
from jobq_worker.context import JobContext
from jobq_worker.errors import ConfigError, PermanentError

MakeCtx = Callable[..., JobContext]


def test_every_connector_builds_from_options(tmp_path: Path) -> None:
    workflow = tmp_path / "graph.json"
    workflow.write_text('{"1": {"class_type": "KSampler", "inputs": {}}}')
    options: dict[str, dict[str, Any]] = {
        "simulation": {"duration": 1},
        "http": {"url": "http://localhost:1/run"},
        "openai": {"base_url": "http://localhost:1/v1", "model": "m"},
        "comfyui": {"url": "http://localhost:1", "workflow_file": str(workflow)},
    }
    assert set(options) == set(CONNECTORS)
    for name, opts in options.items():
        connector = build_connector(name, opts)
        assert callable(connector)
    comfy = build_connector("comfyui", options["comfyui"])
    assert isinstance(comfy, ComfyUIConnector)
    assert comfy.template == {"1": {"class_type": "KSampler", "inputs": {}}}
    assert comfy.ws_url == "ws://localhost:1/ws"


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("gpu", {}, "unknown connector 'gpu' (known: comfyui, http, openai, simulation)"),
        ("http", {}, "connector 'http': url: Field required"),
        ("http", {"url": "http://x", "mode": "poll"}, "mode 'poll' needs status_url"),
        ("simulation", {"duraton": 1}, "duraton: Extra inputs are not permitted"),
        ("openai", {"base_url": "http://x"}, "model: Field required"),
        ("comfyui", {"url": "http://x", "workflow": {}, "workflow_file": "f"}, "not both"),
    ],
)
def test_bad_connector_config_is_a_clear_error(
    name: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        build_connector(name, options)
    assert message in str(raised.value)


async def test_simulation_reports_progress_after_each_step_but_the_last(
    make_ctx: MakeCtx, progress_log: list[Any]
) -> None:
    sim = build_connector("simulation")
    result = await sim(make_ctx(parameters={"duration": 0, "steps": 4}))
    assert result == {
        "simulated": True, "duration": 0.0, "steps": 4, "attempt": 1, "worker_id": "w1",
    }  # fmt: skip
    assert [(p, m) for _, _, p, m in progress_log] == [
        (25, "step 1/4"), (50, "step 2/4"), (75, "step 3/4"),
    ]  # fmt: skip


async def test_simulation_sleeps_its_duration(make_ctx: MakeCtx) -> None:
    sim = build_connector("simulation", {"duration": 0.01, "steps": 0})
    assert (await sim(make_ctx()))["duration"] == 0.01
    stepped = build_connector("simulation", {"duration": 0.01, "steps": 2})
    assert (await stepped(make_ctx()))["steps"] == 2


async def test_simulation_fails_at_its_fail_rate(make_ctx: MakeCtx) -> None:
    sim = build_connector("simulation")
    with pytest.raises(SimulatedFailure, match="simulated failure at step"):
        await sim(make_ctx(parameters={"duration": 0, "steps": 3, "fail_rate": 1}))
    with pytest.raises(SimulatedFailure, match="fail_rate 1"):
        await sim(make_ctx(parameters={"duration": 0, "steps": 0, "fail_rate": 1}))


async def test_a_seeded_simulation_repeats_per_attempt(make_ctx: MakeCtx) -> None:
    sim = build_connector("simulation")

    async def outcomes(seed: int) -> list[bool]:
        found = []
        for attempt in range(8):
            params = {"duration": 0, "steps": 1, "fail_rate": 0.5, "seed": seed}
            try:
                await sim(make_ctx(parameters=params, retry_count=attempt))
                found.append(True)
            except SimulatedFailure:
                found.append(False)
        return found

    first = await outcomes(11)
    assert first == await outcomes(11)
    assert True in first
    assert False in first


@pytest.mark.parametrize(
    "params",
    [{"duration": -1}, {"duration": "5"}, {"steps": True}, {"fail_rate": 2}, {"steps": 10**6}],
)
async def test_bad_simulation_parameters_fail_for_good(
    make_ctx: MakeCtx, params: dict[str, Any]
) -> None:
    with pytest.raises(PermanentError, match="simulation: parameters"):
        await build_connector("simulation")(make_ctx(parameters=params))


def test_comfyui_placeholders_are_filled() -> None:
    graph = {
        "3": {
            "inputs": {"text": "a photo of {{prompt}}, {{prompt}}", "seed": "{{parameters.seed}}"}
        },
        "4": {"inputs": {"steps": "{{parameters.missing}}", "list": ["{{prompt}}", 1]}},
    }
    assert fill(graph, "a fox", {"seed": 42}) == {
        "3": {"inputs": {"text": "a photo of a fox, a fox", "seed": 42}},
        "4": {"inputs": {"steps": "{{parameters.missing}}", "list": ["a fox", 1]}},
    }


async def test_comfyui_needs_a_workflow(make_ctx: MakeCtx) -> None:
    comfy = build_connector("comfyui", {"url": "http://localhost:1"})
    assert isinstance(comfy, ComfyUIConnector)
    with pytest.raises(PermanentError, match=r"parameters\.workflow"):
        comfy.graph(make_ctx())
    graph = comfy.graph(make_ctx(prompt="owl", parameters={"workflow": {"1": {"t": "{{prompt}}"}}}))
    assert graph == {"1": {"t": "owl"}}


def test_comfyui_image_urls() -> None:
    comfy = build_connector("comfyui", {"url": "http://h:8188/"})
    assert isinstance(comfy, ComfyUIConnector)
    outputs = {
        "9": {"images": [{"filename": "a b.png", "subfolder": "", "type": "output"}]},
        "10": {"text": ["x"]},
        "11": None,
    }
    assert comfy.images(outputs) == [
        {
            "filename": "a b.png", "subfolder": "", "type": "output",
            "url": "http://h:8188/view?filename=a+b.png&subfolder=&type=output",
        }
    ]  # fmt: skip
