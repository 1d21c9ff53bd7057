"""What an editing page starts from: the published version, the signed-in admin's draft over it, and the lists the
dropdowns offer (canonical fields, CRM fields, reps, pools, queues, tags)."""

from __future__ import annotations

from datetime import date
from typing import Any

from connector.config import Config
from connector.errors import ConfigError
from connector.yamlconf import safe_yaml
from leadrelay.api.auth import request_role
from leadrelay.console.widgets import canonical_fields, condition_fields


def author_of(request: Any) -> str:
    """Who a change is recorded as (and whose draft it is): the session's user, else ``token:<role>``."""
    user = request.scope.get("leadrelay_user")
    return str(user) if user else f"token:{request_role(request)}"


async def load(request: Any) -> dict[str, Any]:
    """{"number", "files" (published), "draft" (this admin's changed files), "base"} for a page."""
    configs = request.app.state.configs
    current = await configs.current()
    files = dict(current.files) if current else {}
    number = current.number if current else 0
    draft = await configs.draft(author_of(request))
    return {"number": number, "files": files, "draft": dict(draft.files) if draft else {},
            "base": draft.base if draft else number, "draft_at": draft.at if draft else None}


def docs_of(bundle: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Each file as the page edits it: the draft's text if there is one, else the published one, parsed."""
    out = {}
    for key in keys:
        text = bundle["draft"].get(key, bundle["files"].get(key))
        if text is None:
            continue
        try:
            out[key] = safe_yaml(text, key)[0] or {}
        except ConfigError:
            out[key] = {}  # a draft saved half-typed: the page shows the published file's fields empty
    return out


def context(config: Config, docs: dict[str, Any]) -> dict[str, Any]:
    """What the editors show beside the files: where a canonical field is written in each CRM, today's date."""
    crm_targets: dict[str, list[str]] = {}
    for crm, mapping in config.crm.items():
        for f in mapping.fields:
            crm_targets.setdefault(f.from_, []).append(f"{crm}: {f.to}")
    return {"crm_targets": crm_targets, "today": date.today().isoformat()}


def datalists(config: Config) -> list[tuple[str, list[str]]]:
    """The <datalist>s the inputs name, (id, values): fields, CRM fields per CRM (more come from the CRM itself),
    team names."""
    lists = [("canonical-fields", [*canonical_fields(), *(f"decision.{k}" for k in (
        "owner_id", "owner_name", "stage", "score", "grade", "tags", "segments", "explanation", "rule"))]),
             ("condition-fields", condition_fields()),
             ("rep-ids", [r.id for r in config.team.reps]),
             ("pool-names", list(config.team.pools)),
             ("queue-names", list(config.team.queues)),
             ("tag-names", [f"{c}:{t}" for c, ts in config.tags.taxonomy.items() for t in ts])]
    for crm, mapping in config.crm.items():
        lists.append((f"crm-fields-{crm}", sorted({f.to for f in mapping.fields})))
    return lists
