"""The catalog of job types: a payload schema and default requirements per type.

The API and the SDK both validate submissions here. The catalog is configurable
by a TOML or JSON file (``JOBQ_CATALOG``)::

    [types.text-to-image]
    requirements = { capabilities = ["text-to-image"], gpu_memory = 8 }
    schema = { type = "object", required = ["prompt"] }

A type that names no requirements needs only the capability of its own name.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import fastjsonschema
from pydantic import BaseModel, ValidationError

from jobq.errors import ValidationFailed
from jobq.matching import Shape, shape_of
from jobq.models import JobSpec, Requirements

SpecT = TypeVar("SpecT", bound=BaseModel)
TYPE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")

_PROMPT = {"prompt": {"type": "string", "minLength": 1}}


def _schema(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


BUILTIN_TYPES: dict[str, dict[str, Any]] = {
    "text-to-image": {"schema": _schema(["prompt"], _PROMPT)},
    "image-to-image": {"schema": _schema(["prompt"], _PROMPT)},
    "text-generation": {"schema": _schema(["prompt"], _PROMPT)},
    "upscale": {
        "schema": _schema(
            ["parameters"],
            {
                "parameters": {
                    "type": "object",
                    "required": ["scale_factor"],
                    "properties": {
                        "scale_factor": {"type": "number", "exclusiveMinimum": 1, "maximum": 16}
                    },
                }
            },
        )
    },
    "simulation": {
        "schema": _schema(
            [],
            {
                "parameters": {
                    "type": "object",
                    "properties": {
                        "duration": {"type": "number", "minimum": 0, "maximum": 86400},
                        "steps": {"type": "integer", "minimum": 0, "maximum": 10000},
                        "fail_rate": {"type": "number", "minimum": 0, "maximum": 1},
                        "seed": {"type": "integer"},
                    },
                }
            },
        )
    },
}


@dataclass(frozen=True)
class JobType:
    """One job type: its name, the JSON Schema of its payload, its default requirements."""

    name: str
    schema: Mapping[str, Any]
    requirements: Requirements
    description: str = ""
    _validate: Callable[[Any], Any] = field(init=False, repr=False, compare=False)
    _shape: Shape = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not TYPE_NAME.match(self.name):
            raise ValueError(f"invalid job type name {self.name!r}: use letters, digits, _ . : -")
        object.__setattr__(self, "_validate", fastjsonschema.compile(dict(self.schema)))
        object.__setattr__(self, "_shape", shape_of(self.requirements))

    @property
    def shape(self) -> Shape:
        """The requirement shape of this type's default requirements (computed once)."""
        return self._shape

    def check_payload(self, payload: Mapping[str, Any]) -> None:
        """Raise :class:`ValidationFailed` naming the field when the payload breaks the schema."""
        try:
            self._validate(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            name = exc.name or "data"
            where = name.removeprefix("data").lstrip(".") or "body"
            detail = exc.message.removeprefix(name).strip()
            if exc.rule == "required" and isinstance(exc.value, dict):
                missing = [f for f in exc.rule_definition if f not in exc.value]
                detail = f"{', '.join(repr(f) for f in missing)} is a required property"
            raise ValidationFailed(
                f"validation failed for job type {self.name!r} at {where}: {detail}"
            ) from None


class Catalog:
    """The job types the broker accepts."""

    def __init__(self, types: Mapping[str, JobType]) -> None:
        self._types = dict(types)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Mapping[str, Any]]) -> Catalog:
        """Build from ``{name: {"schema": {...}, "requirements": {...}, "description": ...}}``."""
        types: dict[str, JobType] = {}
        for name, entry in raw.items():
            requirements = entry.get("requirements") or {"capabilities": [name]}
            types[name] = JobType(
                name=name,
                schema=entry.get("schema") or {"type": "object"},
                requirements=Requirements.model_validate(requirements),
                description=str(entry.get("description", "")),
            )
        return cls(types)

    @classmethod
    def default(cls) -> Catalog:
        """The built-in types: text-to-image, image-to-image, upscale, text-generation, ..."""
        return cls.from_mapping(BUILTIN_TYPES)

    @classmethod
    def from_file(cls, path: Path) -> Catalog:
        """Load a TOML or JSON catalog file; its ``types`` table replaces the built-ins."""
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        types = data.get("types")
        if not isinstance(types, dict) or not types:
            raise ValueError(f"{path}: a catalog needs a non-empty 'types' table")
        return cls.from_mapping(types)

    @classmethod
    def load(cls, path: Path | None) -> Catalog:
        """The catalog at ``path``, or the default one when ``path`` is None."""
        return cls.default() if path is None else cls.from_file(path)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Any:
        return iter(self._types.values())

    def get(self, name: str) -> JobType:
        """The job type ``name``; :class:`ValidationFailed` if unknown."""
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types))
            raise ValidationFailed(
                f"validation failed: unknown job type {name!r} (known types: {known})"
            ) from None

    def prepare(self, spec: JobSpec | Mapping[str, Any]) -> tuple[JobSpec, Shape]:
        """Validate a submission; return it with the shape of its effective requirements.

        Requirements given on submit override the type's defaults as a whole.
        """
        if not isinstance(spec, JobSpec):
            spec = parse_spec(JobSpec, spec)
        job_type = self.get(spec.type)
        payload: dict[str, Any] = {"parameters": spec.parameters}
        if spec.prompt is not None:
            payload["prompt"] = spec.prompt
        job_type.check_payload(payload)
        if spec.requirements is None:
            return spec, job_type.shape
        return spec, shape_of(spec.requirements)


def parse_spec(model: type[SpecT], raw: Mapping[str, Any]) -> SpecT:
    """Validate raw input into ``model``, turning pydantic errors into one precise message."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """A one-line message naming every invalid field: ``validation failed: priority: ...``."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "validation failed: " + "; ".join(parts)
