"""The port through which follow-through tells people things: "tell someone" about a lead.

The SLA clock and the hold release only decide *that* someone is told and what about; the notification jobs
(``adapters/notify`` with ``rules/notify.yaml``) decide how. Until those are wired in, ``LogNotifier`` logs.
"""

from __future__ import annotations

from typing import Literal, Protocol

import structlog

log = structlog.get_logger("leadrelay.sla")

Who = Literal["owner", "manager", "new_owner"]
# what happened: the owner has not worked the lead by its deadline; their manager is told; the lead went to a new
# owner; a held lead was released to its owner
Event = Literal["sla_reminder", "sla_escalation", "sla_reassigned", "hold_released"]


class Notifier(Protocol):
    """Tell ``who`` (the lead's owner, that owner's manager, the rep it was just given to) about ``event``."""

    async def tell(self, lead_id: str, event: str, who: str, detail: str) -> None:
        ...


class LogNotifier:
    """Logs what would be told (the default until the notification jobs are wired in)."""

    async def tell(self, lead_id: str, event: str, who: str, detail: str) -> None:
        log.info("sla_tell", lead=lead_id, event=event, who=who, detail=detail)
