"""Notifications of routed leads (``rules/notify.yaml``): queued once the lead's CRM write has landed, one arq job
per channel and person, each retried on its own.

- ``landed`` is the write path's one hook (``worker.write_back``): for the leads a write_back job wrote with a new
  owner, who is told (``connector.notify.recipients``) is queued as ``notify`` jobs — once per lead, event, channel
  and person: the lead's field ``notice:{event}:{channel}:{audience}:{target}`` is set in the same step, so a write
  that lands twice (a retried job, a second form) tells nobody twice. It touches Redis only, after the write is
  recorded, and never raises: a notification can neither fail nor hold up a CRM write. Skipped and counted: a
  channel whose URL or SMTP server is not set (``unconfigured``), a lead held for after hours (``held``: no
  notification until it is released, as rules/routing.yaml says).
- ``run`` is the ``notify`` job: the notice is built from the lead's decision (the link from the CRM plugin's
  ``record_url``) and sent. A failure for now (5xx, 429, a timeout, SMTP 4xx) -> ``arq.Retry``: 1 s doubling up to
  LEADRELAY_NOTIFY_RETRY_MAX_S, at least what the receiver asked for (Retry-After). After LEADRELAY_NOTIFY_MAX_TRIES,
  or at once for what no wait mends (4xx, a revoked hook, SMTP 5xx, a bug): a dead letter of kind ``notification``
  (``leadrelay dlq replay`` sends it again), the lead's field says ``failed: ...`` and it is counted ``failed``.
  Sent: the field says ``sent <time>``; the first notice of the lead's routing sent (not a reminder) sets the lead's
  ``notified_at`` (unix time) and is observed as ``leadrelay_notified_seconds`` (received -> notified).
- ``tell`` is follow-through's port (``worker.sla.Notifier``): an SLA step's notice, queued the same way.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime

import httpx
import msgspec
import structlog
from arq import Retry
from arq.jobs import serialize_job

from adapters.crm import registry
from adapters.notify import webhook
from adapters.notify.email import SmtpSettings, send_email
from adapters.notify.notice import Notice, notice_from_decision
from adapters.notify.slack import send_slack
from adapters.notify.webhook import send_webhook
from connector.config import Config
from connector.decision import Decision, decision_from_json
from connector.errors import FatalError, RetryableError
from connector.notify import Channel, EmailChannel, Recipient, SlackChannel, WebhookChannel, recipients
from connector.settings import Settings
from worker.dead_letters import dead_letter_notification
from worker.metrics import Recorder
from worker.queue import NOTIFY, job_serializer
from worker.store import Store
from worker.store.keys import Keys

log = structlog.get_logger("leadrelay.worker")

ROUTED = "routed"  # the event of a lead's first assignment
HOLD_RELEASED = "hold_released"
FOLLOW_THROUGH = "follow-through"  # queue_notices' landed list for notices no write queued (its trim is a no-op)
METRIC = "leadrelay_notifications_total"
# what a follow-through notice is, as its email subject and Slack text open (the SLA steps say the rest)
TAGS = {"sla_reminder": "Reminder", "sla_escalation": "Escalation", "sla_reassigned": "Reassigned"}
# its type on an outbound webhook: a notice of its own, which a receiver deduping on webhook-id keeps
EVENT_TYPES = {"sla_reminder": webhook.SLA_REMINDER, "sla_escalation": webhook.SLA_ESCALATED,
               "sla_reassigned": webhook.REASSIGNED}


class NotifyJob(msgspec.Struct, kw_only=True, frozen=True):
    """One notification: ``event`` of a lead, on ``channel`` (of ``kind``), to ``audience`` (``rep``/``queue``)."""

    lead_id: str
    event: str
    channel: str
    kind: str
    audience: str
    route: str = ""  # the rules/notify.yaml route that asked for it
    rep: str | None = None
    queue: str | None = None
    detail: str = ""  # follow-through (an SLA step, a release): said first, before the lead's card
    tag: str = ""  # follow-through: what kind of notice it is (TAGS)
    event_type: str = ""  # follow-through: its outbound webhook type (EVENT_TYPES); "" is lead.routed

    @property
    def target(self) -> str:
        return self.rep or self.queue or "-"

    @property
    def field(self) -> str:
        """The lead's field recording this notification (queued / sent / failed)."""
        return f"notice:{self.event}:{self.channel}:{self.audience}:{self.target}"


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(NotifyJob)


def encode_job(job: NotifyJob) -> bytes:
    return _encoder.encode(job)


def decode_job(data: bytes) -> NotifyJob:
    return _decoder.decode(data)


def env_value(settings: Settings, name: str) -> str | None:
    """A channel's URL or secret by the variable rules/notify.yaml names: the LEADRELAY_* setting of that name,
    else the environment variable."""
    field = name.removeprefix("LEADRELAY_").lower()
    if name.startswith("LEADRELAY_") and field in Settings.__struct_fields__:
        value = getattr(settings, field)
        return str(value) if value else None
    return os.environ.get(name) or None


def job_id_of(keys: Keys, job: NotifyJob) -> str:
    """The arq job id of ``job``: the same notification never has two jobs at once."""
    return keys.notify_job(job.lead_id, job.event, job.channel, job.audience, job.target)


def smtp_settings(settings: Settings) -> SmtpSettings | None:
    if not settings.smtp_host:
        return None
    return SmtpSettings(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_sender,
                        starttls=settings.smtp_starttls, user=settings.smtp_user, password=settings.smtp_password,
                        timeout_s=settings.smtp_timeout_s)


def backoff(job_try: int, hint: float, cap: float) -> float:
    """1 s doubling with each try, at least what the receiver asked for, at most ``cap``."""
    return min(cap, max(hint, 2.0 ** (job_try - 1)))


def owner_label(decision: Decision) -> str:
    """The ``rep`` label of the speed-to-lead metrics: the owner's rep id, or "queue:<name>"."""
    a = decision.route.assignment
    return a.owner or f"queue:{a.queue}"


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or ("the send ran out of time" if isinstance(exc, TimeoutError) else "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Notifier:
    """Queues and sends one process's notifications. ``enabled`` when rules/notify.yaml routes to a channel the
    environment has set up (a Slack URL, an SMTP server, ...)."""

    def __init__(self, settings: Settings, config: Config, store: Store, metrics: Recorder) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.smtp = smtp_settings(settings)
        self._client: httpx.AsyncClient | None = None
        self.use_config(config)

    def use_config(self, config: Config) -> None:
        """Channels, routes and the roster of a (newly published) config version."""
        self.config = config
        self.channels: dict[str, Channel] = {c.name: c for c in config.notify.channels}
        # a route to a channel the environment has set up: else the write path does nothing for notifications
        self.enabled = any(self._set_up(self.channels[name]) for r in config.notify.routes for name in r.channels)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # made in the worker's event loop, on first use
            self._client = httpx.AsyncClient()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ---- queueing: after a write lands ------------------------------------------------------------------------
    def _addresses(self, channel: EmailChannel, rep: str | None) -> tuple[str, ...]:
        if rep is None:
            return channel.to
        person = self.config.team.by_id.get(rep)
        return (person.email,) if person is not None and person.email else ()

    def _set_up(self, channel: Channel | None) -> bool:
        """Whether the environment holds the channel's URL (and secret), or the SMTP server's host."""
        if isinstance(channel, SlackChannel):
            return env_value(self.settings, channel.url_env) is not None
        if isinstance(channel, WebhookChannel):
            return None not in (env_value(self.settings, channel.url_env), env_value(self.settings, channel.secret_env))
        return isinstance(channel, EmailChannel) and self.smtp is not None

    def configured(self, r: Recipient) -> bool:
        """Whether the environment says enough to send on ``r``'s channel to ``r``."""
        channel = self.channels.get(r.channel)
        if isinstance(channel, EmailChannel):
            return self.smtp is not None and bool(self._addresses(channel, r.rep))
        return self._set_up(channel)

    def notices(self, lead_id: str, decision: Decision, now: datetime) -> tuple[list[NotifyJob], list[Recipient],
                                                                                list[Recipient]]:
        """(the notifications to queue, those skipped as unconfigured, those held) for a lead just written."""
        hold = decision.route.assignment.hold_until
        held = hold is not None and (hold if hold.tzinfo else hold.replace(tzinfo=UTC)) > now
        jobs: list[NotifyJob] = []
        unconfigured: list[Recipient] = []
        later: list[Recipient] = []
        for r in recipients(self.config.notify, decision, self.config.team):
            if held:
                later.append(r)
            elif not self.configured(r):
                unconfigured.append(r)
            else:
                jobs.append(NotifyJob(lead_id=lead_id, event=ROUTED, channel=r.channel, kind=r.kind,
                                      audience=r.audience, route=r.route, rep=r.rep, queue=r.queue))
        return jobs, unconfigured, later

    async def landed(self, crm: str, job_id: str) -> None:
        """The write path's hook: queue the notifications of the leads this write_back job wrote. Never raises."""
        try:
            await self._queue(crm, job_id)
        except Exception as exc:  # the lead is written; its notifications are what is lost: say so loudly
            log.error("notifications_not_queued", crm=crm, job=job_id, reason=_why(exc))

    async def _queue(self, crm: str, job_id: str) -> None:
        ids = await self.store.landed_leads(crm, job_id)
        if not ids:
            return
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        jobs: list[NotifyJob] = []
        skipped: list[tuple[str, str]] = []
        for lead_id, stored in zip(ids, await self.store.leads(ids), strict=True):
            if "decision" in stored:
                todo, unconfigured, held = self.notices(lead_id, decision_from_json(stored["decision"]), now)
                jobs += todo
                skipped += [(r.channel, "unconfigured") for r in unconfigured] + [(r.channel, "held") for r in held]
        k = self.store.keys
        queued = await self.store.queue_notices(crm, job_id, len(ids), [
            (j.lead_id, j.field, job_id_of(k, j),
             serialize_job(NOTIFY, (encode_job(j),), {}, None, now_ms, serializer=job_serializer)) for j in jobs])
        for j, q in zip(jobs, queued, strict=True):
            if q:
                await self.metrics.inc(METRIC, {"channel": j.channel, "outcome": "queued"})
        for channel, outcome in skipped:
            await self.metrics.inc(METRIC, {"channel": channel, "outcome": outcome})

    # ---- follow-through: the SLA clock's and the hold release's port (``worker.sla.Notifier``) ---------------
    async def tell(self, lead_id: str, event: str, who: str, detail: str) -> None:
        """Tell the lead's owner (``owner``), the owner's manager (``manager``) or the rep a reassignment just gave
        it to (``new_owner``) about ``event``, on the channels rules/notify.yaml gives the lead's grade and rule;
        once per event and person. ``detail`` opens the notice.

        The owner is whose first-contact clock runs (a person may have changed it in the CRM); the new owner is the
        decision's, which the reassignment has stored by now. A reassignment's notice *is* the new owner's
        "routed" one, with why: it takes that field, so the owner write landing next tells them nothing twice."""
        if not self.enabled or event == HOLD_RELEASED:
            return  # a released lead's owner write lands like any other: its "routed" notice says it
        stored = await self.store.lead(lead_id)
        if "decision" not in stored:
            return
        decision = decision_from_json(stored["decision"])
        owner = decision.route.assignment.owner
        if who != "new_owner":
            owner = stored.get("sla_owner", b"").decode() or owner
        rep = self.config.team.by_id.get(owner) if owner else None
        target = (rep.manager if rep is not None else None) if who == "manager" else owner
        if target is None:
            log.info("follow_through_nobody_to_tell", lead=lead_id, event=event, who=who)
            return
        audience = "manager" if who == "manager" else "owner"
        found = recipients(self.config.notify, decision, self.config.team)
        # the channels meant for that audience; a manager with no channel of their own hears where the owner does
        chosen = [r for r in found if r.audience == audience] or [r for r in found if r.audience == "owner"]
        jobs = [NotifyJob(lead_id=lead_id, event=ROUTED if who == "new_owner" else event, channel=r.channel,
                          kind=r.kind, audience=audience, route=r.route, rep=target, detail=detail,
                          tag=TAGS.get(event, ""), event_type=EVENT_TYPES.get(event, ""))
                for r in chosen if self.configured(msgspec.structs.replace(r, rep=target))]
        if not jobs:
            return
        now_ms = int(time.time() * 1000)
        k = self.store.keys
        queued = await self.store.queue_notices(FOLLOW_THROUGH, lead_id, 0, [
            (j.lead_id, j.field, job_id_of(k, j),
             serialize_job(NOTIFY, (encode_job(j),), {}, None, now_ms, serializer=job_serializer)) for j in jobs])
        for j, q in zip(jobs, queued, strict=True):
            if q:
                await self.metrics.inc(METRIC, {"channel": j.channel, "outcome": "queued"})

    # ---- sending: the notify job ------------------------------------------------------------------------------
    def notice(self, decision: Decision, record: str, owner: str | None = None) -> Notice:
        """The notice of ``decision``; ``record`` is the lead's "crm:id" (its CRM link), "" before it is written;
        ``owner``: whose lead it is now, when a person changed it in the CRM since (else the decision's)."""
        crm, _, record_id = record.partition(":")
        url = registry.plugin(crm).record_url(self.settings, record_id) if registry.is_crm(crm) else ""
        owner = owner or decision.route.assignment.owner
        rep = self.config.team.by_id.get(owner) if owner else None
        return notice_from_decision(decision, url, owner_name=rep.name if rep is not None else None)

    async def send(self, job: NotifyJob) -> None:
        """Send one notification; the adapters' classified errors on failure."""
        stored = await self.store.lead(job.lead_id)
        if "decision" not in stored:
            raise FatalError("the lead is no longer stored (its retention ended)")
        notice = self.notice(decision_from_json(stored["decision"]), stored.get("record", b"").decode(),
                             stored.get("sla_owner", b"").decode() or None)
        if job.detail:
            notice = msgspec.structs.replace(notice, alert=job.detail, tag=job.tag)
        channel = self.channels.get(job.channel)
        if isinstance(channel, SlackChannel | WebhookChannel):
            url = env_value(self.settings, channel.url_env)
            if url is None:
                raise FatalError(f"channel {job.channel}: {channel.url_env} is not set")
            if isinstance(channel, SlackChannel):
                await send_slack(self.client, url, notice)
                return
            secret = env_value(self.settings, channel.secret_env)
            if secret is None:
                raise FatalError(f"channel {job.channel}: {channel.secret_env} is not set")
            await send_webhook(self.client, url, secret, notice, event=job.event_type or webhook.EVENT,
                               target=job.target)
        elif isinstance(channel, EmailChannel):
            if self.smtp is None:
                raise FatalError(f"channel {job.channel}: LEADRELAY_SMTP_HOST is not set")
            await send_email(self.smtp, self._addresses(channel, job.rep), notice)
        else:
            raise FatalError(f"no channel {job.channel!r} in rules/notify.yaml any more")

    async def run(self, data: bytes, job_try: int) -> str:
        """The ``notify`` job: send, retry (arq Retry) a failure for now, dead-letter the rest."""
        job = decode_job(data)
        limit = self.settings.notify_max_tries
        if job_try > limit:  # the last try never reported back: its worker was killed
            return await self._give_up(job, f"a worker stopped during try {job_try - 1} of {limit}", job_try - 1)
        try:
            async with asyncio.timeout(max(1.0, self.settings.job_timeout_s * 0.8)):
                await self.send(job)
        except (RetryableError, TimeoutError) as exc:
            if job_try >= limit:
                return await self._give_up(job, _why(exc), job_try)
            await self.metrics.inc(METRIC, {"channel": job.channel, "outcome": "retried"})
            defer = backoff(job_try, getattr(exc, "retry_after", 1.0), self.settings.notify_retry_max_s)
            log.info("notification_retry", lead=job.lead_id, channel=job.channel, to=job.target, tries=job_try,
                     defer_s=defer, reason=_why(exc))
            raise Retry(defer=defer) from exc
        except Exception as exc:  # refused for good, a revoked hook, a bug: a wait mends none of them
            return await self._give_up(job, _why(exc), job_try)
        now = time.time()
        # notified: the first notice of the lead's routing that went out (not a reminder about it)
        first = await self.store.mark_notice(job.lead_id, job.field, f"sent {now!r}",
                                             notified_at=now if job.event == ROUTED else None)
        await self.metrics.inc(METRIC, {"channel": job.channel, "outcome": "sent"})
        if first:
            await self._notified(job.lead_id, now)
        return f"sent {job.channel} {job.audience} {job.target}"

    async def _notified(self, lead_id: str, at: float) -> None:
        """received -> notified, by source, owner and the UTC hour the lead was received."""
        stored = await self.store.lead(lead_id)
        if "decision" not in stored or not stored.get("received_at"):
            return
        decision, received = decision_from_json(stored["decision"]), float(stored["received_at"])
        await self.metrics.observe("leadrelay_notified_seconds", max(0.0, at - received), {
            "source": decision.lead.origin.source, "rep": owner_label(decision),
            "hour": f"{time.gmtime(received).tm_hour:02d}"})

    async def _give_up(self, job: NotifyJob, why: str, tries: int) -> str:
        await dead_letter_notification(self.store, job.lead_id, job.channel, encode_job(job), why, tries)
        await self.store.mark_notice(job.lead_id, job.field, f"failed: {why}"[:500])
        await self.metrics.inc(METRIC, {"channel": job.channel, "outcome": "failed"})
        return "dead_letter"
