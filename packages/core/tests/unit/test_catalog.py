"""The job type catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobq.catalog import Catalog, parse_spec
from jobq.errors import ValidationFailed
from jobq.models import JobSpec, WorkflowSpec


def test_builtin_types_and_default_requirements() -> None:
    catalog = Catalog.default()
    names = {t.name for t in catalog}
    assert {"text-to-image", "image-to-image", "upscale", "text-generation", "simulation"} <= names
    assert "simulation" in catalog
    spec, shape = catalog.prepare({"type": "text-to-image", "prompt": "x"})
    assert spec.priority == 50
    assert shape.requirements.capabilities == ["text-to-image"]
    _, sim = catalog.prepare(JobSpec(type="simulation"))
    assert sim.requirements.capabilities == ["simulation"]


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(
        ValidationFailed, match=r"unknown job type 'x' \(known types: image-to-image"
    ):
        Catalog.default().get("x")


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_catalog_from_a_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"catalog{suffix}"
    if suffix == ".json":
        path.write_text(
            json.dumps(
                {
                    "types": {
                        "caption": {
                            "schema": {"type": "object", "required": ["prompt"]},
                            "requirements": {"capabilities": ["vision"], "gpu_memory": 8},
                        },
                        "ping": {},
                    }
                }
            )
        )
    else:
        path.write_text(
            '[types.caption]\nschema = { type = "object", required = ["prompt"] }\n'
            'requirements = { capabilities = ["vision"], gpu_memory = 8 }\n[types.ping]\n'
        )
    catalog = Catalog.load(path)
    req = catalog.prepare({"type": "caption", "prompt": "x"})[1].requirements
    assert (req.capabilities, req.gpu_memory) == (["vision"], 8)
    assert catalog.prepare({"type": "ping"})[1].requirements.capabilities == ["ping"]
    with pytest.raises(ValidationFailed, match="'prompt' is a required property"):
        catalog.prepare({"type": "caption"})
    with pytest.raises(ValidationFailed, match="unknown job type"):
        catalog.prepare({"type": "text-to-image", "prompt": "x"})


def test_a_catalog_file_needs_types(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("title = 'no types'\n")
    with pytest.raises(ValueError, match="non-empty 'types' table"):
        Catalog.from_file(path)
    assert Catalog.load(None).get("simulation").name == "simulation"


def test_parse_spec_names_every_bad_field() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_spec(WorkflowSpec, {"name": "", "steps": [{"type": "x", "priority": -1}]})
    message = info.value.message
    assert message.startswith("validation failed: ")
    assert "name:" in message
    assert "steps.0.priority:" in message
