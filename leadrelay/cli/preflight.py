"""What ``serve``, ``worker`` and ``demo`` check before they start. Whatever is missing or wrong ends the command
with one line on stderr saying what to set, and exit code 1 — never a traceback.

Plain ``sys.stderr`` lines, not Rich: a Rich console wraps at 80 columns when stderr is not a terminal, and one
line must stay one line in a container log.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer

from adapters.crm import registry
from connector.errors import LeadrelayError
from connector.settings import MAKE_SECRET, SECRET_MIN_CHARS, Settings, checked_secret, load_settings

# the Settings fields of a CRM plugin that are its credentials (the rest have defaults or are optional)
_CREDENTIAL_SUFFIXES = ("_token", "_instance_url", "_client_id")


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 1."""
    sys.stderr.write(f"leadrelay: {' '.join(message.split())}\n")
    sys.stderr.flush()
    raise typer.Exit(1)


def shown_url(url: str) -> str:
    """A Redis URL as it may be printed: without its password."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def settings(**overrides: Any) -> Settings:
    """The settings from the environment; a malformed value is one line naming it."""
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except (ValueError, TypeError) as exc:  # msgspec.ValidationError is a ValueError
        for name in Settings.__struct_fields__:  # which one: each on its own
            variable = f"LEADRELAY_{name.upper()}"
            if variable in os.environ:
                try:
                    load_settings({variable: os.environ[variable]})
                except (ValueError, TypeError) as one:
                    fail(f"{variable} is malformed ({one})")
        fail(f"a setting is malformed: {exc}")


def need_installation_redis(s: Settings) -> None:
    """The installation's Redis (one URL, or the primary its sentinels name) answers a PING, else one line."""
    from worker import redis_clients

    if not redis_clients.configured(s):
        fail("no Redis configured: set REDIS_URL (or LEADRELAY_REDIS_URL, or LEADRELAY_REDIS_SENTINELS); "
             "`leadrelay demo` starts one")
    why = redis_clients.unreachable(s)
    if why is not None:
        variable = "LEADRELAY_REDIS_SENTINELS" if s.redis_sentinels else "REDIS_URL"
        fail(f"cannot reach Redis at {redis_clients.describe(s)} ({why}): set {variable} to a running Redis")


def need_redis(url: str, *, variable: str = "REDIS_URL") -> None:
    """The Redis at ``url`` answers a PING, else one line naming ``variable``."""
    from worker.redis_server import unreachable

    why = unreachable(url)
    if why is not None:
        fail(f"cannot reach Redis at {shown_url(url)} ({why}): set {variable} to a running Redis")


def need_crm(s: Settings) -> None:
    """The configured CRM has credentials and its client can be built (nothing is called yet)."""
    try:
        plugin = registry.plugin(s.crm)
    except registry.UnknownCrm as exc:
        fail(f"LEADRELAY_CRM: {exc}")
    if not plugin.configured(s):
        wanted = [f"LEADRELAY_{name.upper()}" for name in plugin.settings if name.endswith(_CREDENTIAL_SUFFIXES)]
        fail(f"no credentials for the CRM {s.crm!r} (LEADRELAY_CRM): set {' or '.join(wanted) or 'its settings'}")
    try:
        client = registry.build_client(s, None)
    except LeadrelayError as exc:
        fail(f"{exc.message}" + (f" ({exc.hint})" if exc.hint and exc.hint not in exc.message else ""))
    if hasattr(client, "close"):
        client.close()


def load_config(s: Settings) -> Any:
    try:
        return registry.load_config(s.config_dir)
    except LeadrelayError as exc:
        fail(f"the config in {s.config_dir} does not load: {exc}")


def missing_signing_secrets(s: Settings, config: Any) -> list[str]:
    """The environment variables naming a webhook signing secret that are unset: every form and Typeform source
    mapping's ``inbound.secret_env``, and the configured CRM's own webhooks' (or its ``<crm>_webhook_secret``)."""
    missing = []
    crm_source = registry.plugin(s.crm).source_mapping if registry.is_crm(s.crm) else None
    for name, source in sorted(config.sources.items()):
        env = source.inbound.secret_env
        if not env or os.environ.get(env):
            continue
        if source.source in ("form", "typeform"):
            missing.append(f"{env} (mappings/sources/{name}.yaml)")
        elif name == crm_source and not getattr(s, f"{s.crm}_webhook_secret", None):
            setting = f"LEADRELAY_{s.crm.upper()}_WEBHOOK_SECRET"
            named = f"{s.crm}_webhook_secret" in Settings.__struct_fields__ and setting != env
            missing.append(f"{env} or {setting}" if named else env)
    return missing


def need_signing_secrets(s: Settings, config: Any) -> None:
    missing = missing_signing_secrets(s, config)
    if missing:
        fail(f"no signing secret for inbound webhooks: set {'; '.join(missing)} — or remove the source mappings "
             "you do not take webhooks from (--dev starts without)")


def _kept_in_redis(url: str, key: str) -> bool:
    """A secret made earlier (in development, or before it was required) is kept in Redis at ``key``."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return bool(client.exists(key))
    except redis.RedisError:
        return False
    finally:
        client.close()


def need_secrets(s: Settings, names: tuple[str, ...], *, dev: bool, kept: dict[str, str] | None = None) -> None:
    """The HMAC secrets ``names`` (Settings fields) are set and long enough; in development an unset one is made and
    kept in Redis instead. ``kept``: the Redis key of a secret whose value must not change once used (lead ids are
    the CRM upsert key), so the line says to set that one rather than a new one. The value is never printed."""
    for name in names:
        try:
            given = checked_secret(name, getattr(s, name))
        except LeadrelayError as exc:
            fail(f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        if given is not None or dev:
            continue
        variable, key = f"LEADRELAY_{name.upper()}", (kept or {}).get(name)
        if key and s.redis_url and _kept_in_redis(s.redis_url, key):
            fail(f"no {variable}: this installation's secret so far is kept in Redis at {key}; set {variable} to that "
                 f"value (redis-cli GET {key}), not a new one, or every lead gets a new id")
        fail(f"no {variable}: set it to a random secret of at least {SECRET_MIN_CHARS} characters "
             f"(make one with {MAKE_SECRET}), or start with --dev")


def need_tokens(s: Settings) -> None:
    """The API tokens and the console's users (hashed passwords only) read, or a clear error."""
    from leadrelay.api.auth import parse_tokens
    from leadrelay.console.passwords import parse_users

    try:
        parse_tokens(s.api_tokens)
        parse_users(s.admin_users)
    except LeadrelayError as exc:
        fail(f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
