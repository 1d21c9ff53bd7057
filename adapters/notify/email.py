"""Email notifications over SMTP with the standard library, run in a worker thread (``asyncio.to_thread``).

Settings come in as ``SmtpSettings`` (the caller reads them from the environment). SMTP answers are classified:
4xx replies, timeouts and lost connections -> ``RetryableError``; authentication refused -> ``AuthError``;
5xx (a recipient or sender refused) -> ``FatalError``.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

import msgspec

from adapters.notify.notice import Notice
from connector.errors import AuthError, FatalError, RetryableError

RETRY_AFTER = 30.0


class SmtpSettings(msgspec.Struct, kw_only=True, frozen=True):
    host: str
    port: int = 587
    sender: str  # the From address
    starttls: bool = True
    user: str | None = None
    password: str | None = None
    timeout_s: float = 15.0


def _points(value: float) -> str:
    return f"{value:+g}"


def render(notice: Notice) -> tuple[str, str]:
    """Subject and plain-text body for ``notice``."""
    who = notice.name or notice.email or notice.lead_id or "New lead"
    headline = f"{who} ({notice.company})" if notice.company else who
    grade = f" {notice.grade}" if notice.grade else ""
    if notice.tag:  # follow-through: a reminder, an escalation, a reassignment about a lead already routed
        subject = f"[{notice.tag}]{grade} lead: {headline}, score {notice.score:g}"
    else:
        subject = f"{'[No rep available] ' if notice.alert else ''}New{grade} lead: {headline}, score {notice.score:g}"
    lines = [*([notice.alert, ""] if notice.alert else []), headline,
             *([f"Title: {notice.title}"] if notice.title else []), f"Email: {notice.email}",
             f"Score: {notice.score:g}{f' ({notice.grade})' if notice.grade else ''}",
             f"Owner: {notice.owner_name or notice.queue or 'unassigned'}  (rule: {notice.rule})"]
    if notice.action:
        lines.append(f"Next step: {notice.action}")
    if notice.reasons:
        lines += ["", "Why it scored:", *(f"  - {r.text or r.rule} ({_points(r.points)})" for r in notice.reasons)]
    if notice.route_reason:
        lines += ["", f"Why this rep: {notice.route_reason}"]
    if notice.answers:
        lines += ["", "Form answers:", *(f"  - {k}: {v}" for k, v in notice.answers.items())]
    if notice.crm_url:
        lines += ["", f"CRM record: {notice.crm_url}"]
    return subject.replace("\n", " ")[:200], "\n".join(lines) + "\n"


def build_message(settings: SmtpSettings, to: Sequence[str], notice: Notice) -> EmailMessage:
    subject, text = render(notice)
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(text)
    return msg


def _deliver(settings: SmtpSettings, msg: EmailMessage) -> None:
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(msg)


def _classify(exc: Exception) -> Exception:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return AuthError(f"SMTP login refused: {exc.smtp_code}", hint="check the SMTP user and password")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        if all(400 <= c < 500 for c in codes):
            return RetryableError(f"SMTP recipients deferred: {codes}", retry_after=RETRY_AFTER)
        return FatalError(f"SMTP recipients refused: {sorted(exc.recipients)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"SMTP error {exc.smtp_code}"
        if 400 <= exc.smtp_code < 500:
            return RetryableError(text, retry_after=RETRY_AFTER)
        return FatalError(text, hint="the mail server refused this message")
    return RetryableError(f"SMTP: {type(exc).__name__}: {exc}", retry_after=RETRY_AFTER)


async def send_email(settings: SmtpSettings, to: Sequence[str], notice: Notice) -> None:
    """Send ``notice`` to ``to`` (addresses) through the SMTP server; classified errors on failure."""
    if not to:
        raise FatalError("email notification without recipients")
    msg = build_message(settings, to, notice)
    try:
        await asyncio.to_thread(_deliver, settings, msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise _classify(exc) from exc
