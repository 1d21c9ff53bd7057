"""The sandbox's control endpoints over HTTPS: faults on demand, records, call counts, reset."""

import httpx

from sandbox.server import SandboxServer


def test_faults_records_calls_and_reset_over_http() -> None:
    with SandboxServer() as s, httpx.Client(base_url=s.url, verify=str(s.ca_path)) as http:
        r = http.put("/_sandbox/faults/hubspot", json={"latency_ms": 5, "rate_limit_share": 0.5, "seed": 1})
        assert r.status_code == 200 and r.json()["rate_limit_share"] == 0.5
        assert s.faults["hubspot"].plan.latency_ms == 5
        assert http.put("/_sandbox/faults/zoho", json={}).status_code == 404
        bad = http.put("/_sandbox/faults/hubspot", json={"latency_msec": 5})  # a typo is refused, not ignored
        assert bad.status_code >= 400
        s.hubspot.seed("contacts", {"email": "ana@acme.example"})
        assert [c["properties"]["email"] for c in http.get("/_sandbox/records/hubspot").json()["contacts"]] == \
            ["ana@acme.example"]
        assert http.get("/_sandbox/records/nope").status_code == 404
        statuses = [http.get("/crm/v3/owners").status_code for _ in range(20)]
        assert set(statuses) == {401, 429}  # half the calls are the injected 429s; the rest HubSpot's 401 (no token)
        counted = {(c["endpoint"], c["status"]): c["count"] for c in http.get("/_sandbox/calls").json()}
        assert counted[("GET /crm/v3/owners", 401)] + counted[("GET /crm/v3/owners", 429)] == 20
        assert http.post("/_sandbox/reset").status_code == 204
        assert http.get("/_sandbox/records/hubspot").json()["contacts"] == []
        assert s.faults["hubspot"].plan.latency_ms == 0
