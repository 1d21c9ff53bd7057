"""Settings: one typed object read from the environment (secrets only ever come from here)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

import msgspec

from connector.errors import SettingsError


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    redis_url: str | None = None  # None: localhost:6379 if it answers, else an embedded server; rediss:// for TLS
    # Redis behind Sentinel (high availability): "host:port" of each sentinel, and the name they know the primary by;
    # set, these win over redis_url and every client follows the primary the sentinels name, through a failover
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_master: str = "mymaster"
    redis_tls: bool = False  # TLS to the sentinels and the primary (a URL says it with rediss://)
    redis_ca_file: str | None = None  # CA file to trust for Redis' TLS (unset: the system's)
    redis_username: str | None = None  # ACL user (a URL's own user wins)
    redis_password: str | None = None  # the primary's password (a URL's own password wins)
    # a 2xx to a sender, and a worker's commit, wait until this many replicas hold the write (WAIT): a failover then
    # loses no accepted lead. 0: no wait (one Redis, or losing the last moments of writes is acceptable)
    redis_min_replicas: Annotated[int, msgspec.Meta(ge=0)] = 0
    # longer than this: 503 with Retry-After (the sender sends it again); never 0, which WAIT takes as "for ever"
    redis_wait_timeout_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 500
    key_prefix: str = "leadrelay:"  # every Redis key leadrelay touches starts with this
    config_dir: str = "."  # holds mappings/ and rules/
    crm: str = "hubspot"  # which CRM leads are written to: "hubspot" | "salesforce"
    # HubSpot (private app token); base URL is the sandbox's or https://api.hubapi.com
    hubspot_token: str | None = None
    hubspot_base_url: str = "https://api.hubapi.com"
    hubspot_webhook_secret: str | None = None  # app client secret, signs X-HubSpot-Signature-v3
    hubspot_rate_per_10s: int = 100  # 100 (Free/Starter) or 190 (Pro/Enterprise)
    hubspot_app_id: int | None = None  # our app's id: webhooks for changes we made carry it (echo suppression)
    hubspot_portal_id: int | None = None  # the account (Hub ID): links to a record in notifications need it
    hubspot_app_url: str = "https://app.hubspot.com"  # where people open records (app-eu1.hubspot.com in the EU)
    # Salesforce
    salesforce_instance_url: str | None = None
    salesforce_domain: str = "login"  # "login" | "test" | a My Domain host
    salesforce_client_id: str | None = None
    salesforce_client_secret: str | None = None
    salesforce_username: str | None = None
    salesforce_private_key_file: str | None = None  # JWT bearer flow
    salesforce_session_id: str | None = None
    salesforce_api_version: str = "62.0"
    salesforce_org_ids: tuple[str, ...] = ()  # allow-list for Outbound Messages
    # refuse Outbound Messages without a SessionId (tick "Send Session ID" on the outbound message); one that
    # carries a SessionId is verified with the org either way
    salesforce_require_session_id: bool = False
    salesforce_user_id: str | None = None  # the integration user: its own edits come back as Outbound Messages
    ca_bundle: str | None = None  # CA file to trust (the sandbox's throwaway CA)
    # access: "role:token" entries (roles viewer, admin); nothing but webhooks and /health answers without one
    api_tokens: tuple[str, ...] = ()
    dev_mode: bool = False  # `leadrelay serve` may start without tokens (it makes an admin token and prints it)
    # lead ids are an HMAC of the person's identity under this secret (they are the CRM upsert key, so keep it
    # stable); required by `leadrelay worker` (at least SECRET_MIN_CHARS); only in development is one made once and
    # kept in Redis (lost with Redis' data)
    lead_id_secret: str | None = None
    # the console (/admin): people who sign in with a password, "name:role:scrypt$N$r$p$salt$hash" entries (hashed,
    # never plain: `leadrelay admin hash-password` makes one); the session cookie's HMAC secret (required by
    # `leadrelay serve`, like the lead id secret; in development one is kept in Redis) and how long a session lasts
    admin_users: tuple[str, ...] = ()
    session_secret: str | None = None
    session_ttl_s: int = 8 * 3600
    # the admin API's previews, validation, backtests and decision search run off the event loop: each may take
    # this long (else 422 naming this setting) and answer at most this many bytes
    admin_work_s: float = 30.0
    admin_answer_bytes: int = 20_000_000
    # console sign-in failures allowed per user name and per client address within the window; past either, sign-in
    # answers 429 (no password is checked) until the window that began with the first failure ends
    signin_failures_per_user: int = 5
    signin_failures_per_address: int = 20
    signin_window_s: int = 900
    ready_check_interval_s: int = 30  # /ready asks the CRM at most once per interval, across every API process
    # inbound
    max_body_bytes: int = 1_000_000
    replay_window_s: int = 300
    public_base_url: str | None = None  # as HubSpot sees us (signature v3 covers the full URI)
    # how often every process looks for a newly published config version (the console's publish and rollback)
    config_poll_s: float = 0.25
    # worker
    poll_delay_s: float = 0.02  # arq's poll: a new job or a due write batch starts at most this late
    lookup_window_ms: float = 20.0  # concurrent jobs share one CRM lookup within this window
    lookup_inflight: int = 1  # CRM lookups one worker has out at once; the rest wait and join one batch
    max_jobs: int = 50  # jobs one worker runs at once (they mostly wait on Redis and the CRM)
    write_batch_window_ms: int = 0  # 0: the CRM's own (its plugin's write_window_ms)
    job_timeout_s: int = 120
    max_tries: int = 8
    # CRM circuit breaker (one per CRM, its state in Redis so every worker shares it): after this many retryable
    # CRM failures in a row it opens; while open, leads are parked (not tried, not dead-lettered); after the
    # cool-down the sweep probes the CRM and, when it answers, closes it and writes every parked lead.
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    # retention (Redis is not an archive; the CRM is the record). Each period counts from the last change:
    lead_retention_days: int = 90  # a lead's decision record and write result (GET /api/leads/{id}), its echo link
    identity_retention_days: int = 365  # email/phone -> lead, since the person was last seen: one person, one
    # assignment within it (longer than leads: a person coming back after 90 days keeps their owner)
    payload_retention_days: int = 30  # a sender's raw payload kept aside: a delivery parked longer goes to the
    # dead-letter list, a dead-lettered delivery lives at most this long (the arq job of a queued delivery lives as
    # long as its idempotency key, 7 days)
    # the console's mapping preview: the last raw payloads of each source, kept this long (at most
    # payload_retention_days) and at most this many per source
    recent_payload_retention_days: int = 7
    recent_payloads_max: int = 50  # 0: keep none
    dead_letter_retention_days: int = 30  # a dead letter: replay it (or let it go) within this
    dead_letter_max: int = 10_000  # the newest kept; older ones are dropped and counted
    dead_letter_warn_at: int = 1_000  # a warning is logged while the list grows past this
    # notifications (rules/notify.yaml): a channel's url_env / secret_env naming one of these LEADRELAY_* settings is
    # read from here, any other name from the environment. An unset channel is skipped (counted "unconfigured").
    slack_webhook_url: str | None = None  # the default Slack channel (incoming webhook) of rules/notify.yaml
    slack_managers_webhook_url: str | None = None  # the managers' channel: "no rep available" alerts
    smtp_host: str | None = None  # email notifications: unset, email channels are skipped
    smtp_port: int = 587
    smtp_sender: str = "leadrelay@localhost"  # the From address
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout_s: float = 15.0
    # a notification failing for now is tried again (each channel and person on its own: a down Slack never holds
    # the CRM write or another channel), 1 s doubling to at most notify_retry_max_s, this many tries in all
    # (12: about 6 minutes), then it goes to the dead-letter list (`leadrelay dlq replay` sends it again)
    notify_max_tries: int = 12
    notify_retry_max_s: float = 60.0
    log_json: bool = True
    log_level: str = "INFO"


# An environment variable a config file names for a secret or a URL (``secret_env``, ``url_env``, ...): only
# leadrelay's own, so a published config cannot point a signing key or a webhook URL at another secret of the
# process; and the two names the shipped mappings used before, which versions published then still hold
ENV_NAME_PATTERN = "^(LEADRELAY_[A-Z0-9_]+|HUBSPOT_CLIENT_SECRET|SALESFORCE_ALLOWED_ORG_IDS)$"
EnvName = Annotated[str, msgspec.Meta(pattern=ENV_NAME_PATTERN)]

# the HMAC keys leadrelay signs with (LEADRELAY_SESSION_SECRET, LEADRELAY_LEAD_ID_SECRET): 32 characters of
# `secrets.token_urlsafe` are 192 bits
SECRET_MIN_CHARS = 32
MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def checked_secret(name: str, value: str | None) -> bytes | None:
    """The configured HMAC secret ``name`` (a Settings field) as bytes, None when unset; one shorter than
    SECRET_MIN_CHARS is a SettingsError naming its variable (never its value)."""
    if not value:
        return None
    if len(value) < SECRET_MIN_CHARS:
        raise SettingsError(f"LEADRELAY_{name.upper()} is shorter than {SECRET_MIN_CHARS} characters",
                            hint=f"make one with: {MAKE_SECRET}")
    return value.encode()


def _parse(value: str, default: object) -> object:
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, tuple):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``LEADRELAY_*`` environment variables (and ``REDIS_URL``), then overrides."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    defaults = Settings()
    for name in Settings.__struct_fields__:
        raw = env.get(f"LEADRELAY_{name.upper()}")
        if raw is not None:
            values[name] = _parse(raw, getattr(defaults, name))
    if "redis_url" not in values and env.get("REDIS_URL"):
        values["redis_url"] = env["REDIS_URL"]
    values.update(overrides)
    return msgspec.convert(values, Settings, strict=False)


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``LEADRELAY_*`` variables that reproduce these settings in another process (serve, worker)."""
    env: dict[str, str] = {}
    for name in Settings.__struct_fields__:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, tuple):
            text = ",".join(value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        env[f"LEADRELAY_{name.upper()}"] = text
    return env
