"""Shared set-up for the service tests: a config folder, the sandbox seeded with the roster, settings, workers."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from adapters.sandbox.roster import sandbox_options
from adapters.sandbox.server import SandboxServer
from connector.config import load_config
from connector.ports import Delivery
from connector.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "t-lr:"


def config_dir(tmp: Path, *, team: dict[str, Any] | None = None, routing: dict[str, Any] | None = None) -> Path:
    """A copy of rules/ and mappings/, with team.yaml / routing.yaml replaced when given."""
    shutil.copytree(ROOT / "rules", tmp / "rules")
    shutil.copytree(ROOT / "mappings", tmp / "mappings")
    if team is not None:
        (tmp / "rules" / "team.yaml").write_text(yaml.safe_dump(team), encoding="utf-8")
    if routing is not None:
        (tmp / "rules" / "routing.yaml").write_text(yaml.safe_dump(routing), encoding="utf-8")
    load_config(tmp)  # fail here, loudly, if the test's config is wrong
    return tmp


def pool_team(weights: dict[str, int], *, strategy: str = "round_robin") -> tuple[dict[str, Any], dict[str, Any]]:
    """A team of reps in one pool, working around the clock, and a routing file sending every lead there."""
    reps = [{"id": rid, "name": f"Rep {rid.title()}", "email": f"{rid}@northwind.example", "role": "ae",
             "timezone": "UTC", "country": "US", "weight": w,
             "hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "23:59"},
             "owner_ids": {"hubspot": str(7000 + i), "salesforce": f"0058d00000{i:07d}AAA"[:18]}}
            for i, (rid, w) in enumerate(weights.items(), start=1)]
    team = {"reps": reps, "pools": {"inbound": {"members": list(weights), "strategy": strategy}},
            "queues": {"unassigned": {"owner_ids": {"hubspot": "7999"}}}}
    routing = {"fallback_queue": "unassigned",
               "rules": [{"name": "everyone", "strategy": strategy, "pool": "inbound"}]}
    return team, routing


def sandbox_for(cfg: Path, **hubspot: Any) -> SandboxServer:
    roster = sandbox_options(load_config(cfg).team)
    return SandboxServer(hubspot={**roster["hubspot"], **hubspot}, salesforce=roster["salesforce"])


def settings_for(sandbox: SandboxServer, redis_url: str, cfg: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(
        redis_url=redis_url, key_prefix=PREFIX, crm="hubspot", config_dir=str(cfg),
        hubspot_token="sandbox-hubspot-token", hubspot_base_url=sandbox.url, ca_bundle=str(sandbox.ca_path),
        hubspot_app_id=sandbox.hubspot.app_id, hubspot_rate_per_10s=190, write_batch_window_ms=50,
        job_timeout_s=20, log_json=True,
    )
    values.update(extra)
    return load_settings({}, **values)


def samples(n: int) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (ROOT / "samples" / "leads.jsonl").read_text().splitlines() if x.strip()]
    out = []
    for i in range(n):
        row = dict(rows[i % len(rows)])
        local, _, domain = str(row["email"]).partition("@")
        row["email"] = f"{local}.{i}@{domain}" if i >= len(rows) else row["email"]
        out.append(row)
    return out


def form_delivery(row: dict[str, Any], i: int) -> Delivery:
    return Delivery(source="form", delivery_id=f"d{i}", received_at=datetime.now(UTC), payload=row, form="website")


def hubspot_contacts(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return sandbox.hubspot.records()["contacts"]
