"""The sandbox as ``leadrelay demo`` runs it: both CRMs knowing the team's reps, their webhooks pointed at the
demo's API, and the settings that point leadrelay at them. The demo imports this inside its function only."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from connector.team import Team
from sandbox.roster import sandbox_options, seed_hubspot, seed_salesforce
from sandbox.server import SandboxServer

HUBSPOT_TOKEN = "sandbox-hubspot-token"
HUBSPOT_RATE_PER_10S = 190  # the portal's tier, and what leadrelay's limiter is told


def start_demo_sandbox(team: Team, *, api_url: str, crm: str, rules: Path) -> tuple[SandboxServer, dict[str, Any]]:
    """Start the sandbox; returns it and the settings (``load_settings`` overrides) that use it. The CRM the demo
    writes to already knows the people and companies of ``samples/crm_records.jsonl`` (when present): HubSpot as
    contacts and companies, Salesforce as Contacts and Accounts. Salesforce's Outbound Messages carry a session id
    ("Send Session ID"), and leadrelay refuses any message without one."""
    hubspot_secret = secrets.token_hex(16)
    roster = sandbox_options(team)  # the sandbox CRM knows the team's reps as users
    sandbox = SandboxServer(
        hubspot={**roster["hubspot"], "webhook_url": f"{api_url}/webhooks/hubspot", "client_secret": hubspot_secret,
                 "webhook_properties": ["hubspot_owner_id", "lifecyclestage"],
                 "rate_limit_per_10s": HUBSPOT_RATE_PER_10S},
        salesforce={**roster["salesforce"], "outbound_url": f"{api_url}/webhooks/salesforce",
                    "outbound_send_session_id": True},
    ).start()
    seeds = rules / "samples" / "crm_records.jsonl"
    if seeds.is_file():  # the portal / org already knows some companies and people
        known = [json.loads(x) for x in seeds.read_text(encoding="utf-8").splitlines() if x.strip()]
        if crm == "hubspot":
            seed_hubspot(sandbox, known)
        elif crm == "salesforce":
            seed_salesforce(sandbox, known, team)
    settings = dict(
        hubspot_token=HUBSPOT_TOKEN, hubspot_base_url=sandbox.url,
        hubspot_webhook_secret=hubspot_secret, hubspot_app_id=sandbox.hubspot.app_id,
        hubspot_portal_id=sandbox.hubspot.portal_id,  # notifications link to the record
        hubspot_rate_per_10s=HUBSPOT_RATE_PER_10S,
        salesforce_instance_url=sandbox.url, salesforce_domain=sandbox.url,
        salesforce_client_id="leadrelay-sandbox-client", salesforce_client_secret="leadrelay-sandbox-secret",
        salesforce_user_id=sandbox.salesforce.integration_user["Id"],
        salesforce_org_ids=(sandbox.salesforce.org_id,), salesforce_require_session_id=True,
        ca_bundle=str(sandbox.ca_path),
    )
    return sandbox, settings
