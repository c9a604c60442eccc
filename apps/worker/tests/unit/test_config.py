"""Worker configuration: the TOML file, flags and detection, merged."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobq_worker.config import (
    Flags,
    WorkerConfig,
    build_handlers,
    load_config,
    resolve,
)
from jobq_worker.connectors.comfyui import ComfyUIConnector
from jobq_worker.connectors.simulation import SimulationConnector
from jobq_worker.detect import Gpu
from jobq_worker.errors import ConfigError

FULL = """
[worker]
id = "gpu-box-1"
machine_id = "box-1"
pool = "standard"
concurrency = 3
capabilities = ["text-to-image"]
model_types = ["stable-diffusion"]
gpu_memory = 24
grace_period = 5
customers_denied = ["acme"]

[handlers.text-to-image]
connector = "comfyui"
url = "http://127.0.0.1:8188"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "worker.toml"
    path.write_text(text)
    return path


def no_gpus() -> list[Gpu]:
    return []


def test_a_full_file_gives_capabilities_options_and_handlers(tmp_path: Path) -> None:
    resolved = resolve(load_config(write(tmp_path, FULL)), Flags(), detect=no_gpus)
    caps = resolved.capabilities
    assert (caps.worker_id, caps.machine_id, caps.pool_type) == ("gpu-box-1", "box-1", "standard")
    assert (caps.capabilities, caps.model_types, caps.gpu_memory) == (
        ["text-to-image"], ["stable-diffusion"], 24,
    )  # fmt: skip
    assert caps.customers_denied == ["acme"]
    assert (caps.concurrency, resolved.options.concurrency) == (3, 3)
    assert resolved.options.grace_period == 5
    assert resolved.handlers == {
        "text-to-image": {"connector": "comfyui", "url": "http://127.0.0.1:8188"}
    }
    handlers, fallback = build_handlers(resolved)
    assert isinstance(handlers["text-to-image"], ComfyUIConnector)
    assert fallback is None


def test_flags_win_over_the_file_and_lists_are_merged(tmp_path: Path) -> None:
    flags = Flags(
        worker_id="flagged", capabilities=["upscale"], model_types=["llm"], gpu_memory=48,
        pool="heavy", concurrency=9, grace_period=1.5,
    )  # fmt: skip
    resolved = resolve(load_config(write(tmp_path, FULL)), flags, detect=no_gpus)
    caps = resolved.capabilities
    assert (caps.worker_id, caps.pool_type, caps.gpu_memory) == ("flagged", "heavy", 48)
    assert caps.capabilities == ["text-to-image", "upscale"]
    assert caps.model_types == ["llm", "stable-diffusion"]
    assert (resolved.options.concurrency, resolved.options.grace_period) == (9, 1.5)


def test_detection_fills_what_neither_file_nor_flags_say() -> None:
    calls: list[int] = []

    def two_gpus() -> list[Gpu]:
        calls.append(1)
        return [Gpu("NVIDIA L4", 23034), Gpu("NVIDIA L4", 23034)]

    resolved = resolve(WorkerConfig(), Flags(simulate=True), detect=two_gpus)
    assert (resolved.capabilities.gpu_memory, resolved.capabilities.gpu_name) == (
        22.5, "2 x NVIDIA L4",
    )  # fmt: skip
    assert resolved.gpus
    assert calls == [1]
    flagged = resolve(WorkerConfig(), Flags(simulate=True, gpu_memory=8), detect=two_gpus)
    assert (flagged.capabilities.gpu_memory, flagged.capabilities.gpu_name) == (8, "2 x NVIDIA L4")


def test_detection_can_be_turned_off(tmp_path: Path) -> None:
    def forbidden() -> list[Gpu]:
        raise AssertionError("detection ran")

    config = load_config(write(tmp_path, "[worker]\ndetect_gpu = false\nsimulate = true\n"))
    resolved = resolve(config, Flags(), detect=forbidden)
    assert (resolved.capabilities.gpu_memory, resolved.capabilities.gpu_name) == (0, None)


def test_simulate_runs_everything_on_the_simulation_connector(tmp_path: Path) -> None:
    resolved = resolve(load_config(write(tmp_path, FULL)), Flags(simulate=True), detect=no_gpus)
    assert resolved.simulate
    assert resolved.handlers == {}
    handlers, fallback = build_handlers(resolved)
    assert handlers == {}
    assert isinstance(fallback, SimulationConnector)


def test_without_capabilities_a_worker_offers_what_it_handles(tmp_path: Path) -> None:
    text = '[handlers.upscale]\nconnector = "http"\nurl = "http://localhost:1/up"\n'
    resolved = resolve(load_config(write(tmp_path, text)), Flags(), detect=no_gpus)
    assert resolved.capabilities.capabilities == ["upscale"]
    simulated = resolve(WorkerConfig(), Flags(simulate=True), detect=no_gpus)
    assert simulated.capabilities.capabilities == ["simulation"]


def test_the_simulation_capability_brings_its_handler() -> None:
    resolved = resolve(WorkerConfig(), Flags(capabilities=["simulation"]), detect=no_gpus)
    assert resolved.handlers == {"simulation": {"connector": "simulation"}}
    handlers, _ = build_handlers(resolved)
    assert isinstance(handlers["simulation"], SimulationConnector)


def test_a_worker_with_nothing_to_run_is_refused() -> None:
    with pytest.raises(ConfigError, match="nothing to run"):
        resolve(WorkerConfig(), Flags(capabilities=["upscale"]), detect=no_gpus)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[worker\n", "not valid TOML"),
        ("[worker]\nconcurency = 2\n", "worker.concurency: Extra inputs are not permitted"),
        ("[worker]\nconcurrency = 0\n", "worker.concurrency: Input should be greater than"),
        ("[handlers.upscale]\nurl = 'x'\n", 'needs connector = "<name>"'),
        ("[gpu]\n", "gpu: Extra inputs"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_invalid_merged_values_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="worker_id"):
        resolve(WorkerConfig(), Flags(worker_id="x" * 200, simulate=True), detect=no_gpus)


def test_bad_connector_options_are_a_config_error(tmp_path: Path) -> None:
    text = '[handlers.upscale]\nconnector = "http"\nurl = "ftp://x"\nmode = "poll"\n'
    resolved = resolve(load_config(write(tmp_path, text)), Flags(), detect=no_gpus)
    with pytest.raises(ConfigError, match="connector 'http': url: String should match"):
        build_handlers(resolved)
