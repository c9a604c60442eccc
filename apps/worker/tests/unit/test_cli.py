"""``jobq worker`` argument and config errors, in process (they fail before any I/O)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from jobq.cli import main


def test_the_worker_command_is_registered_with_its_flags() -> None:
    result = CliRunner().invoke(main, ["worker", "--help"])
    assert result.exit_code == 0
    for flag in ("--config", "--id", "--capability", "--model-type", "--gpu-memory", "--pool",
                 "--concurrency", "--simulate", "--grace", "--log-level"):  # fmt: skip
        assert flag in result.output


def test_a_worker_with_nothing_to_run_is_refused() -> None:
    result = CliRunner().invoke(main, ["worker", "--capability", "upscale"])
    assert result.exit_code == 1
    assert "Error: the worker has nothing to run" in result.output


def test_bad_config_and_flags_are_one_line_errors(tmp_path: Path) -> None:
    config = tmp_path / "worker.toml"
    config.write_text('[handlers.x]\nconnector = "gpu"\n')
    result = CliRunner().invoke(main, ["worker", "--config", str(config)])
    assert result.exit_code == 1
    assert "Error: unknown connector 'gpu'" in result.output
    assert result.exception is not None
    assert isinstance(result.exception, SystemExit)
    bad_flag = CliRunner().invoke(main, ["worker", "--simulate", "--concurrency", "0"])
    assert bad_flag.exit_code == 2
    assert "--concurrency" in bad_flag.output
