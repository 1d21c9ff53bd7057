"""Who is told about a routed lead, and how: the model of ``rules/notify.yaml`` and ``recipients``. Pure, no I/O.

``channels`` are where a notification can go (a Slack incoming webhook, a signed outbound webhook, email), each
with a name; their secrets (webhook URLs, signing secrets) are named by environment variable, never written here.
``routes`` say which channels a decision goes to and who on them is told:

- ``owner``: the rep the lead was assigned to (nothing when it went to a queue);
- ``manager``: that rep's manager (from the team roster, when one is given);
- ``pool``: the channel as a whole (a shared Slack channel, a fixed mailing list), named by the queue if any.

A route applies when every filter it has matches: ``grades`` (the score grade), ``rules`` (the routing rule that
decided) and ``segments`` (any one of the lead's segments). Every route that applies is used; the same channel
and target twice is told once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from connector.decision import Decision
from connector.settings import EnvName
from connector.team import Team
from connector.yamlconf import Where, from_text, load_yaml

Audience = Literal["owner", "manager", "pool"]


class SlackChannel(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, tag="slack",
                   tag_field="kind"):
    name: str
    url_env: EnvName  # environment variable holding the incoming-webhook URL (LEADRELAY_...)


class WebhookChannel(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, tag="webhook",
                     tag_field="kind"):
    name: str
    url_env: EnvName
    secret_env: EnvName  # environment variable holding the Standard Webhooks secret (whsec_...)


class EmailChannel(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, tag="email",
                   tag_field="kind"):
    name: str
    to: tuple[str, ...] = ()  # fixed addresses for the `pool` audience; reps' own addresses come from the roster


Channel = SlackChannel | WebhookChannel | EmailChannel


class Route(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    grades: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    channels: tuple[str, ...]
    tell: tuple[Audience, ...] = ("owner",)


class NotifyConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    channels: tuple[Channel, ...] = ()
    routes: tuple[Route, ...] = ()


class Recipient(msgspec.Struct, kw_only=True, frozen=True):
    """One notification to send: on ``channel`` (of ``kind``), to ``audience``; ``rep`` is the rep id for
    owner/manager, ``queue`` the queue for pool, ``route`` the route that asked for it."""

    channel: str
    kind: str
    audience: str
    route: str
    rep: str | None = None
    queue: str | None = None


def _check(config: NotifyConfig, where: Where) -> None:
    seen: set[str] = set()
    for i, channel in enumerate(config.channels):
        if channel.name in seen:
            where.fail(f"channels[{i}].name", f"channel {channel.name!r} is defined twice")
        seen.add(channel.name)
    routes: set[str] = set()
    for i, route in enumerate(config.routes):
        if route.name in routes:
            where.fail(f"routes[{i}].name", f"route {route.name!r} is defined twice")
        routes.add(route.name)
        for j, name in enumerate(route.channels):
            if name not in seen:
                where.fail(f"routes[{i}].channels[{j}]",
                           f"no channel named {name!r} (channels: {', '.join(sorted(seen)) or 'none'})")


def notify_from_text(text: str, *, file: str) -> NotifyConfig:
    return from_text(text, NotifyConfig, file=file, check=_check)


def load_notify(path: str | Path) -> NotifyConfig:
    """Read ``rules/notify.yaml``; a typo raises ConfigError naming file, line and field."""
    return load_yaml(path, NotifyConfig, check=_check)


def applies(route: Route, decision: Decision) -> bool:
    if route.grades and decision.score.grade not in route.grades:
        return False
    if route.rules and decision.route.assignment.rule not in route.rules:
        return False
    return not route.segments or any(s in route.segments for s in decision.tags.segments)


def _kind(channel: Channel) -> str:
    if isinstance(channel, SlackChannel):
        return "slack"
    return "webhook" if isinstance(channel, WebhookChannel) else "email"


def _target(audience: str, decision: Decision, team: Team | None) -> tuple[str | None, str | None] | None:
    """(rep, queue) for ``audience``, or None when there is nobody to tell."""
    owner = decision.route.assignment.owner
    if audience == "owner":
        return (owner, None) if owner else None
    if audience == "manager":
        rep = next((r for r in team.reps if r.id == owner), None) if team and owner else None
        return (rep.manager, None) if rep and rep.manager else None
    return (None, decision.route.assignment.queue)


def recipients(config: NotifyConfig, decision: Decision, team: Team | None = None) -> tuple[Recipient, ...]:
    """Every (channel, target) ``decision`` is told to, in route order, each once. Without ``team`` nobody is
    known to be the owner's manager, so ``manager`` targets are left out."""
    kinds = {c.name: _kind(c) for c in config.channels}
    out: list[Recipient] = []
    seen: set[tuple[str, str, str | None, str | None]] = set()
    for route in config.routes:
        if not applies(route, decision):
            continue
        for audience in route.tell:
            target = _target(audience, decision, team)
            if target is None:
                continue
            for name in route.channels:
                key = (name, audience, *target)
                if key in seen:
                    continue
                seen.add(key)
                out.append(Recipient(channel=name, kind=kinds[name], audience=audience, route=route.name,
                                     rep=target[0], queue=target[1]))
    return tuple(out)
