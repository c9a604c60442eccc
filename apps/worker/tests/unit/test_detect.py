"""Parsing nvidia-smi output and summarizing GPUs into capabilities."""

from __future__ import annotations

import logging

import pytest

from jobq_worker.detect import Gpu, parse_nvidia_smi, summarize


def test_each_line_is_a_gpu_with_its_memory() -> None:
    output = "NVIDIA GeForce RTX 4090, 24564\nNVIDIA A100-SXM4-80GB, 81920\n\n"
    assert parse_nvidia_smi(output) == [
        Gpu("NVIDIA GeForce RTX 4090", 24564),
        Gpu("NVIDIA A100-SXM4-80GB", 81920),
    ]


def test_names_may_contain_commas() -> None:
    assert parse_nvidia_smi("Vendor, Model X, 16384") == [Gpu("Vendor, Model X", 16384)]


def test_unreadable_lines_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jobq_worker.detect"):
        gpus = parse_nvidia_smi("garbage\n, 100\nTesla T4, [N/A]\nTesla T4, 15360")
    assert gpus == [Gpu("Tesla T4", 15360)]
    assert len(caplog.records) == 3


def test_memory_is_reported_in_gb() -> None:
    assert Gpu("x", 24564).memory_gb == 24.0
    assert Gpu("x", 15360).memory_gb == 15.0


def test_summary_takes_the_largest_gpu_and_names_them_all() -> None:
    assert summarize([]) == (0.0, None)
    assert summarize([Gpu("L4", 23034)]) == (22.5, "L4")
    assert summarize([Gpu("L4", 23034), Gpu("L4", 23034), Gpu("A100", 81920)]) == (
        80.0,
        "2 x L4, A100",
    )
