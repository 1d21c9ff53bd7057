"""`leadrelay crm check` / `setup` against both sandbox CRMs over HTTPS, with the vendors' own client libraries
(hubspot-api-client's Properties API; simple-salesforce's describe, Tooling API and REST).

Each sandbox starts as a fresh portal / org: HubSpot's and Salesforce's own fields, none of leadrelay's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from typer.testing import CliRunner

from leadrelay.cli.main import app
from sandbox.salesforce import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TOKEN
from sandbox.server import SandboxServer
from tests.integration.harness import config_dir

HUBSPOT_TOKEN = "sandbox-hubspot-token"
HUBSPOT_OWN = ["leadrelay_score", "leadrelay_grade", "leadrelay_tags", "leadrelay_segments", "leadrelay_reason",
               "leadrelay_id"]
SALESFORCE_OWN = [("Lead", "Leadrelay_Id__c"), ("Lead", "Leadrelay_Score__c"), ("Lead", "Leadrelay_Tags__c"),
                  ("Lead", "Leadrelay_Reason__c"), ("Lead", "Matched_Account__c"), ("Contact", "Leadrelay_Score__c"),
                  ("Contact", "Leadrelay_Tags__c"), ("Contact", "Leadrelay_Reason__c")]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return config_dir(tmp_path_factory.mktemp("crm-fields"))


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as s:
        yield s


def env_for(server: SandboxServer, cfg: Path, crm: str = "hubspot") -> dict[str, str]:
    return {"LEADRELAY_CRM": crm, "LEADRELAY_CONFIG_DIR": str(cfg), "LEADRELAY_CA_BUNDLE": str(server.ca_path),
            "LEADRELAY_HUBSPOT_TOKEN": HUBSPOT_TOKEN, "LEADRELAY_HUBSPOT_BASE_URL": server.url,
            "LEADRELAY_SALESFORCE_INSTANCE_URL": server.url, "LEADRELAY_SALESFORCE_DOMAIN": server.url,
            "LEADRELAY_SALESFORCE_CLIENT_ID": DEFAULT_CLIENT_ID,
            "LEADRELAY_SALESFORCE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["crm", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def rows(output: str) -> dict[tuple[str, str], str]:
    """The check table: (object, field) -> status."""
    out = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 6 and cells[0] != "Object":
            out[(cells[0], cells[1])] = cells[5]
    return out


def hubspot(server: SandboxServer) -> HubSpot:
    return HubSpot(access_token=HUBSPOT_TOKEN, host=server.url, ssl_ca_cert=str(server.ca_path))


def salesforce(server: SandboxServer) -> Salesforce:
    session = requests.Session()
    session.verify, session.trust_env = str(server.ca_path), False
    return Salesforce(instance_url=server.url, session_id=DEFAULT_TOKEN, session=session, version="62.0")


def test_hubspot_check_lists_every_mapped_property_then_setup_creates_leadrelays_own(
        server: SandboxServer, cfg: Path) -> None:
    env = env_for(server, cfg)
    code, out = run(env, "check")
    table = rows(out)
    assert code == 1
    assert len(table) == 23  # every property hubspot.yaml writes, once
    assert {n for (o, n), status in table.items() if status == "missing"} == set(HUBSPOT_OWN)
    assert all(status == "ok" for (o, n), status in table.items() if n not in HUBSPOT_OWN)
    assert "contacts.leadrelay_score: missing — leadrelay crm setup creates it" in out
    assert "run `leadrelay crm setup`" in out.splitlines()[-1]
    contacts = hubspot(server).crm.contacts.basic_api
    with pytest.raises(ApiException) as refused:  # the portal refuses a write of a property it lacks
        contacts.create({"properties": {"email": "ada@example.com", "leadrelay_score": "80"}})
    assert "PROPERTY_DOESNT_EXIST" in str(refused.value.body)

    code, out = run(env, "setup", "--dry-run")
    assert code == 0
    assert [line.split(":")[0].strip() for line in out.splitlines() if "would create contacts." in line] == \
        [f"would create contacts.{n}" for n in HUBSPOT_OWN]
    assert run(env, "check")[0] == 1  # nothing was made

    code, out = run(env, "setup")
    assert code == 0
    assert "created string/text property leadrelay_id in group leadrelay" in out
    assert out.splitlines()[-1] == "check: 23 of 23 fields ok"
    code, out = run(env, "check")
    assert code == 0 and set(rows(out).values()) == {"ok"}
    assert out.splitlines()[-1] == "ok: all 23 fields are in hubspot, writable and fitting"
    props = {p.name: p for p in hubspot(server).crm.properties.core_api.get_all("contacts").results}
    assert props["leadrelay_id"].has_unique_value and props["leadrelay_id"].group_name == "leadrelay"
    assert props["leadrelay_score"].type == "number" and props["leadrelay_reason"].field_type == "textarea"
    made = contacts.create({"properties": {"email": "ada@example.com", "leadrelay_score": "80",
                                           "leadrelay_id": "lead-1", "leadrelay_reason": "fit: 1,000+ employees"}})
    assert made.properties["leadrelay_score"] == "80"
    assert run(env, "setup")[1].startswith("ok: all 23 fields are already in hubspot")  # a second run: nothing


def test_hubspot_setup_never_changes_a_property_of_the_wrong_type(server: SandboxServer, cfg: Path) -> None:
    groups = hubspot(server).crm.properties.core_api
    groups.create("contacts", {"name": "leadrelay_score", "label": "Score (by hand)", "type": "string",
                               "fieldType": "text", "groupName": "contactinformation"})
    env = env_for(server, cfg)
    code, out = run(env, "check")
    assert code == 1 and rows(out)[("contacts", "leadrelay_score")] == "wrong type"
    assert "contacts.leadrelay_score: wrong type — it is string/text; leadrelay writes number" in out
    code, out = run(env, "setup")
    assert code == 1  # the other five are made; this one stays as it is, with what to do
    assert "leadrelay does not change existing fields; an admin:" in out
    assert re.search(r"1\. Settings → Data Management → Properties → Contact properties → leadrelay_score", out)
    assert out.splitlines()[-1] == "check: 22 of 23 fields ok"
    kept = groups.get_by_name("contacts", "leadrelay_score")
    assert (kept.type, kept.label) == ("string", "Score (by hand)")


def test_salesforce_check_then_setup_creates_fields_the_integration_user_can_see_and_write(
        server: SandboxServer, cfg: Path) -> None:
    env = env_for(server, cfg, crm="hubspot")  # --crm picks the other CRM
    code, out = run(env, "check", "--crm", "salesforce")
    table = rows(out)
    assert code == 1 and len(table) == 27
    assert {k for k, status in table.items() if status == "missing"} == set(SALESFORCE_OWN)
    assert table[("Lead", "Status")] == "ok" and table[("Contact", "OwnerId")] == "ok"
    sf = salesforce(server)
    with pytest.raises(SalesforceMalformedRequest):  # No such column 'Leadrelay_Score__c'
        sf.Lead.create({"LastName": "Lovelace", "Company": "Acme", "Leadrelay_Score__c": 80})

    code, out = run(env, "setup", "--crm", "salesforce")
    assert code == 0, out
    assert "created Lookup field Lead.Matched_Account__c; Read/Edit granted to the integration user's profile" in out
    code, out = run(env, "check", "--crm", "salesforce")
    assert code == 0 and set(rows(out).values()) == {"ok"}
    lead = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert lead["Leadrelay_Id__c"]["externalId"] and lead["Leadrelay_Id__c"]["unique"]
    assert lead["Matched_Account__c"]["referenceTo"] == ["Account"] and lead["Leadrelay_Score__c"]["updateable"]
    made = sf.Lead.create({"LastName": "Lovelace", "Company": "Acme", "Leadrelay_Score__c": 80,
                           "Leadrelay_Id__c": "lead-1"})
    upserted = sf.Lead.upsert("Leadrelay_Id__c/lead-1", {"Leadrelay_Tags__c": "size:enterprise"})
    assert made["success"] and upserted == 200  # the new external id is an upsert key (200: updated)


def test_salesforce_setup_grants_a_field_that_exists_but_is_hidden(server: SandboxServer, cfg: Path) -> None:
    sf = salesforce(server)
    # an admin made it through the API and gave no profile field-level security: describe does not show it
    body: dict[str, Any] = {"FullName": "Lead.Leadrelay_Score__c",
                            "Metadata": {"label": "Score", "type": "Number", "precision": 18, "scale": 0}}
    assert sf.toolingexecute("sobjects/CustomField", method="POST", data=body)["success"]
    env = env_for(server, cfg, crm="salesforce")
    assert rows(run(env, "check")[1])[("Lead", "Leadrelay_Score__c")] == "missing"
    code, out = run(env, "setup")
    assert code == 0, out
    assert "found (hidden from the integration user) Number field Lead.Leadrelay_Score__c; Read/Edit granted" in out
    assert any(f["name"] == "Leadrelay_Score__c" for f in sf.Lead.describe()["fields"])


def test_salesforce_missing_picklist_values_are_reported_with_the_steps_not_changed(cfg: Path) -> None:
    from sandbox.salesforce_schema import F

    rating = F("picklist", values=("Hot",), restricted=True, label="Rating")  # an org without Warm and Cold
    with SandboxServer(salesforce={"leadrelay_fields": True, "custom_fields": {"Lead": {"Rating": rating}}}) as s:
        env = env_for(s, cfg, crm="salesforce")
        code, out = run(env, "check")
        assert code == 1 and rows(out)[("Lead", "Rating")] == "picklist values missing"
        assert "Lead.Rating: picklist values missing — add: Warm, Cold" in out
        code, out = run(env, "setup")
        assert code == 1
        assert "Setup → Object Manager → Lead → Fields & Relationships → Rating → Values → New: Warm, Cold" in out
        assert out.splitlines()[-1] == "check: 26 of 27 fields ok"


def test_check_says_in_one_line_when_the_crm_cannot_be_reached(cfg: Path) -> None:
    env = {**env_for_unreachable(cfg)}
    code, out = run(env, "check")
    assert code == 1
    assert "could not read the fields of hubspot" in out


def env_for_unreachable(cfg: Path) -> dict[str, str]:
    from worker.redis_server import free_port

    return {"LEADRELAY_CRM": "hubspot", "LEADRELAY_CONFIG_DIR": str(cfg), "LEADRELAY_HUBSPOT_TOKEN": HUBSPOT_TOKEN,
            "LEADRELAY_HUBSPOT_BASE_URL": f"https://127.0.0.1:{free_port()}", "LEADRELAY_JOB_TIMEOUT_S": "2"}
