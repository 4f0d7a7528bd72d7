"""Schemathesis against the OpenAPI description the example service serves (``GET /openapi.json``): requests
generated from it, valid and invalid, never get a 5xx, and every response conforms to the description
(status codes, content types, bodies, headers). Bounded: a fixed number of examples per operation.

Schemathesis' Python API is used directly (not its pytest plugin), so the tests run with the plugin off."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from rel_settings import fuzz_settings

pytestmark = pytest.mark.reliability

DOCUMENT = json.loads(resources.files("example_service").joinpath("openapi.json").read_text())
OPERATIONS = [f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item]
WITH_PARAMETERS = [
    f"{method.upper()} {path}"
    for path, item in DOCUMENT["paths"].items()
    for method, op in item.items()
    if op.get("parameters") or op.get("requestBody")
]


@pytest.fixture(scope="module")
def schema(http_url: str) -> Any:
    """The description as the running service serves it."""
    import schemathesis

    return schemathesis.openapi.from_url(f"{http_url}/openapi.json")


def run(schema: Any, label: str, http_url: str, mode: str, checks: list[Any], examples: int) -> int:
    """Generate ``examples`` cases of ``label`` in ``mode`` and check each response; returns how many ran."""
    from schemathesis import GenerationMode

    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served description"
    ran = 0

    @fuzz_settings(max_examples=examples, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def check(case: Any) -> None:
        nonlocal ran
        ran += 1
        case.call_and_validate(base_url=http_url, checks=checks)

    check()
    assert ran > 0, f"no {mode} example of {label} was generated"
    return ran


def test_the_served_description_is_the_packaged_one(http_url: str) -> None:
    import requests

    served = requests.get(f"{http_url}/openapi.json", timeout=10)
    assert served.status_code == 200 and served.json() == DOCUMENT


@pytest.mark.parametrize("label", OPERATIONS)
def test_valid_requests_get_conforming_responses(
    schema: Any, http_url: str, http_server: Any, figures: Any, label: str
) -> None:
    from schemathesis import checks

    conformance = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
        checks.response_headers_conformance,
    ]
    ran = run(schema, label, http_url, "positive", conformance, 40)
    assert http_server.errors == []
    figures.add("fuzz", f"schemathesis, valid requests: {label}", examples=ran)


@pytest.mark.parametrize("label", WITH_PARAMETERS)
def test_invalid_requests_are_rejected_with_a_documented_4xx(
    schema: Any, http_url: str, http_server: Any, figures: Any, label: str
) -> None:
    from schemathesis import checks

    rejection = [
        checks.not_a_server_error,
        checks.negative_data_rejection,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    ran = run(schema, label, http_url, "negative", rejection, 40)
    assert http_server.errors == []
    figures.add("fuzz", f"schemathesis, invalid requests: {label}", examples=ran)


@pytest.mark.parametrize("label", ["POST /v1/suppressions"])  # a page token is valid only if issued
def test_every_schema_valid_request_is_accepted(schema: Any, http_url: str, figures: Any, label: str) -> None:
    """What the description allows, the service accepts (control characters in a reason used to get 400)."""
    from schemathesis import checks

    ran = run(schema, label, http_url, "positive", [checks.positive_data_acceptance], 40)
    figures.add("fuzz", f"schemathesis, schema-valid requests accepted: {label}", examples=ran)
