"""Schemathesis over the published OpenAPI document: generated valid and invalid requests
to every operation must never get a server error (and must match the documented
responses). The number of generated cases is printed and recorded as a JUnit property."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from jobq_testing.api import API_KEY, LiveApi

#: Generated cases per operation and generation mode (positive and negative).
EXAMPLES = int(os.environ.get("JOBQ_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class Fuzz:
    """Runs generated cases against a live API and keeps the tally."""

    def __init__(self, url: str, session: requests.Session) -> None:
        self.url = url
        self.session = session
        self.cases: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []

    def operation(self, operation: schemathesis.APIOperation, mode: GenerationMode) -> None:
        """Run up to EXAMPLES generated cases of one operation in one mode."""

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(
                base_url=self.url, session=self.session, headers={"x-api-key": API_KEY}
            )
            self.cases[operation.label] += 1
            self.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except AssertionError as exc:  # collect; all are reported at the end
                self.failures.append(f"{operation.label} ({mode.value}): {exc}"[:2000])

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (e.g. no parameters)
            assert mode is GenerationMode.NEGATIVE, operation.label


def test_no_generated_request_gets_a_server_error(
    api_thread_server: LiveApi, record_property: Callable[[str, Any], None]
) -> None:
    schema = schemathesis.openapi.from_url(
        f"{api_thread_server.url}/openapi.json", headers={"x-api-key": API_KEY}
    )
    with requests.Session() as session:
        fuzz = Fuzz(api_thread_server.url, session)
        for result in schema.get_all_operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz.operation(result.ok(), mode)
    total = sum(fuzz.cases.values())
    record_property("schemathesis_cases", total)
    print(f"\nschemathesis: {total} generated cases over {len(fuzz.cases)} operations; "
          f"statuses {dict(sorted(fuzz.statuses.items()))}")  # fmt: skip
    assert len(fuzz.cases) >= 18
    assert not fuzz.failures, "\n\n".join(fuzz.failures[:10])
    assert not [status for status in fuzz.statuses if status >= 500]
