"""The API against its own OpenAPI document (schemathesis): whatever a client sends, no 5xx, and every answer
is one the document promises, with a problem-details body for the errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connector.settings import load_settings
from tests.integration.harness import FORM_SECRET, TYPEFORM_SECRET, ApiServer
from tests.tokens import ADMIN_TOKEN, API_TOKENS, VIEWER_TOKEN, bearer

ROOT = Path(__file__).resolve().parents[2]
# every status documented, with its content type and body schema (problem details for the errors)
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api(redis_server_url: str) -> Iterator[ApiServer]:
    mp = pytest.MonkeyPatch()
    mp.setenv("LEADRELAY_FORM_SECRET_WEBSITE", FORM_SECRET)
    mp.setenv("LEADRELAY_TYPEFORM_SECRET", TYPEFORM_SECRET)
    settings_ = load_settings({}, redis_url=redis_server_url, key_prefix="test-schema:", config_dir=str(ROOT),
                              hubspot_webhook_secret="schema-secret", salesforce_org_ids=("00D5e000000SCHEMA",),
                              max_body_bytes=20_000, api_tokens=API_TOKENS)
    with ApiServer(settings_) as server:
        yield server
    mp.undo()


AS_WHO = {"no token": {}, "viewer": bearer(VIEWER_TOKEN), "admin": bearer(ADMIN_TOKEN)}


@pytest.mark.parametrize("who", AS_WHO)
def test_no_input_makes_the_api_fail_or_break_its_document(api: ApiServer, who: str) -> None:
    # schemathesis' own pytest plugin does not run under pytest 9 (it reads a private node attribute), so each
    # operation's generated cases are driven by hypothesis here. Every operation is called with no token (the
    # guarded ones answer 401 with a problem body), a viewer's and an admin's (the handlers get the input).
    auth = AS_WHO[who]
    api_schema = schemathesis.openapi.from_url(f"{api.url}/schema/openapi.json", headers=bearer())
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/webhooks/forms/{form}", "/webhooks/hubspot", "/api/leads/{lead_id}",
                                              "/ready", "/health"}
    seen: list[tuple[str, str, int]] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)  # the same cases every run: CI fails on a regression, not on luck
        def check(case: schemathesis.Case) -> None:
            if case.headers:
                case.headers.pop("Authorization", None)  # who calls is this test's choice
            response = case.call(timeout=10, headers=auth)
            seen.append((case.method, case.path, response.status_code))
            where = f"{who}: {case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
            assert response.status_code < 500, where
            if response.status_code >= 400:
                assert response.headers.get("content-type", [""])[0].startswith("application/problem+json"), where
                body = response.json()
                assert {"title", "status"} <= set(body) and body["status"] == response.status_code, where
            case.validate_response(response, checks=CHECKS)

        check()
    statuses = {(method, path, status) for method, path, status in seen}
    print(f"\n{who}: {len(seen)} generated requests; answers: {sorted(statuses)}")
    assert len(seen) >= 5 * len(operations)  # hypothesis really generated cases for every operation
    if who == "no token":  # the token check really ran: the lead lookup was refused, with a problem body
        assert any(path == "/api/leads/{lead_id}" and status == 401 for _, path, status in seen)
