"""The sandbox as ``leadrelay demo`` runs it: both CRMs knowing the team's reps, their webhooks pointed at the
demo's API, and the settings that point leadrelay at them. The demo imports this inside its function only."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from connector.team import Team
from sandbox.roster import sandbox_options, seed_hubspot
from sandbox.server import SandboxServer

HUBSPOT_TOKEN = "sandbox-hubspot-token"
HUBSPOT_RATE_PER_10S = 190  # the portal's tier, and what leadrelay's limiter is told


def start_demo_sandbox(team: Team, *, api_url: str, crm: str, rules: Path) -> tuple[SandboxServer, dict[str, Any]]:
    """Start the sandbox; returns it and the settings (``load_settings`` overrides) that use it. The HubSpot portal
    is seeded with ``samples/crm_records.jsonl`` (when present and the demo writes to HubSpot)."""
    hubspot_secret = secrets.token_hex(16)
    roster = sandbox_options(team)  # the sandbox CRM knows the team's reps as users
    sandbox = SandboxServer(
        hubspot={**roster["hubspot"], "webhook_url": f"{api_url}/webhooks/hubspot", "client_secret": hubspot_secret,
                 "webhook_properties": ["hubspot_owner_id", "lifecyclestage"],
                 "rate_limit_per_10s": HUBSPOT_RATE_PER_10S},
        salesforce={**roster["salesforce"], "outbound_url": f"{api_url}/webhooks/salesforce"},
    ).start()
    seeds = rules / "samples" / "crm_records.jsonl"
    if seeds.is_file() and crm == "hubspot":  # the portal already knows some companies and people
        seed_hubspot(sandbox, [json.loads(x) for x in seeds.read_text(encoding="utf-8").splitlines() if x.strip()])
    settings = dict(
        hubspot_token=HUBSPOT_TOKEN, hubspot_base_url=sandbox.url,
        hubspot_webhook_secret=hubspot_secret, hubspot_app_id=sandbox.hubspot.app_id,
        hubspot_rate_per_10s=HUBSPOT_RATE_PER_10S,
        salesforce_instance_url=sandbox.url, salesforce_domain=sandbox.url,
        salesforce_client_id="leadrelay-sandbox-client", salesforce_client_secret="leadrelay-sandbox-secret",
        salesforce_user_id=sandbox.salesforce.integration_user["Id"],
        salesforce_org_ids=(sandbox.salesforce.org_id,),
        ca_bundle=str(sandbox.ca_path),
    )
    return sandbox, settings
