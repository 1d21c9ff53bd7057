"""Lead ids: ``"ld_"`` + an HMAC-SHA256 of the person's identity key under this installation's secret.

A lead id is the CRM upsert key and appears in logs and URLs, so it must be stable (every worker, every restart)
and must not be computable from an email address. The secret is ``LEADRELAY_LEAD_ID_SECRET`` (``leadrelay worker``
requires it outside development); unset, one is made once in Redis (``SET NX``: every worker reads the same one)
when a worker starts. One installation per process:
the worker loads it with ``use_secret`` and ``worker.decide.lead_id_for`` reads it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from connector.settings import checked_secret
from worker.store.keys import Keys

_secret: bytes | None = None


def lead_id(basis: str, secret: bytes) -> str:
    """The id of one identity key (``email:...``) or delivery under ``secret``."""
    return "ld_" + hmac.new(secret, basis.encode(), hashlib.sha256).hexdigest()[:20]


def use_secret(secret: bytes | None) -> None:
    """The secret this process's lead ids are made with (``None``: none loaded)."""
    global _secret
    _secret = secret


def loaded() -> bytes | None:
    return _secret


def current() -> bytes:
    """The loaded secret; never a silent fallback to an id anyone can compute."""
    if _secret is None:
        raise RuntimeError("no lead id secret loaded: a worker loads it at start (worker.lead_ids.load_secret)")
    return _secret


async def load_secret(redis: Any, prefix: str, configured: str | None) -> tuple[bytes, str]:
    """The installation's secret and where it came from ("environment" | "redis"): the setting, else the one kept
    in Redis, made now if there is none (``SET NX``, so concurrent workers agree on one)."""
    given = checked_secret("lead_id_secret", configured)
    if given is not None:
        return given, "environment"
    key = Keys(prefix).lead_id_secret
    await redis.set(key, secrets.token_urlsafe(32), nx=True)
    value = await redis.get(key)
    if not value:  # pragma: no cover - only if someone deleted it between the two calls
        raise RuntimeError(f"the lead id secret vanished from Redis ({key})")
    return bytes(value), "redis"
