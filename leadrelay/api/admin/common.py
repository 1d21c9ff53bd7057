"""What every admin route shares: who is asking, the current bundle, a draft merged over it, and checking it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import yaml
from litestar import Request
from litestar.datastructures import State

from connector.config import Config
from connector.errors import ConfigError, InputError
from leadrelay.api.auth import request_role
from leadrelay.api.problems import problem_responses
from worker.configs import ConfigStore, ConfigVersion

Req = Request[Any, Any, State]
TAGS = ["admin"]
# the problem answers of a route that reads / that checks a bundle / that changes one
READ = problem_responses(400, 401, 403, 503)
CHECK = problem_responses(400, 401, 403, 404, 422, 503)
CHANGE = problem_responses(400, 401, 403, 404, 409, 422, 503)

# a draft's changed files: bundle key -> YAML text, or null to drop that file
Changes = dict[str, str | None]


def author(request: Req) -> str:
    """Who makes a change: the console session's user, else the token's role ("token:admin")."""
    user = request.scope.get("leadrelay_user")  # type: ignore[typeddict-item]
    if isinstance(user, str) and user:
        return user
    return f"token:{request_role(request) or 'anonymous'}"


def configs(request: Req) -> ConfigStore:
    store: ConfigStore = request.app.state.configs
    return store


async def current_version(request: Req) -> ConfigVersion | None:
    return await configs(request).current()


def merged(base: Mapping[str, str], changes: Mapping[str, str | None] | None) -> dict[str, str]:
    """The changed files over the base bundle (null or "" drops that file)."""
    out = dict(base)
    for key, text in (changes or {}).items():
        if not text:
            out.pop(key, None)
        else:
            out[key] = text
    return out


async def draft_bundle(request: Req, changes: Mapping[str, str | None] | None) -> tuple[dict[str, str], int]:
    """(the draft's whole bundle, the version it is merged over). The changed files are checked for what would
    make reading them costly (size, YAML aliases) before anything parses them."""
    for key, text in (changes or {}).items():
        check_text(key, text or "")
    current = await current_version(request)
    return merged(current.files if current else {}, changes), current.number if current else 0


def build(request: Req, files: Mapping[str, str]) -> Config:
    """Check a bundle as the service does (the same ConfigError `leadrelay config validate` prints)."""
    return configs(request).build(files)


async def draft_config(request: Req, changes: Mapping[str, str | None] | None) -> Config:
    """The config of a draft (changed files over the current version); the current config without changes."""
    if not changes:
        config: Config = request.app.state.config
        return config
    files, _ = await draft_bundle(request, changes)
    return build(request, files)


MAX_FILE_CHARS = 256_000
MAX_ALIASES = 100  # YAML aliases a file may hold: a few are handy, thousands expand into a huge document


def check_text(key: str, text: str) -> None:
    """A ConfigError (422) for a changed file no person writes: an odd name, too long, or alias upon alias."""
    if not key or len(key) > 200 or any(c in key for c in "\\\0\n\r"):
        raise ConfigError("not a config file name", file=key[:200].strip() or "(empty)")
    if len(text) > MAX_FILE_CHARS:
        raise ConfigError(f"the file is {len(text)} characters; at most {MAX_FILE_CHARS} are read", file=key)
    if text.count("*") > MAX_ALIASES and _aliases(text) > MAX_ALIASES:
        raise ConfigError(f"more than {MAX_ALIASES} YAML aliases (*name); write the values out", file=key)


def _aliases(text: str) -> int:
    try:
        return sum(isinstance(t, yaml.AliasToken) for t in yaml.scan(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return 0  # not YAML at all: the loader says where


def iso(at: float | datetime | None) -> str | None:
    if at is None:
        return None
    when = at if isinstance(at, datetime) else datetime.fromtimestamp(at, UTC)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def parse_time(value: str | None, field: str) -> float | None:
    """A query's time: unix seconds, an ISO date (its start, UTC) or an ISO date-time; InputError otherwise."""
    if value is None or value == "":
        return None
    try:
        return float(value) if value.replace(".", "", 1).isdigit() else _iso_time(value)
    except (ValueError, OverflowError) as exc:
        raise InputError(f"{field}: expected unix seconds or an ISO date/time, got {value[:40]!r}",
                         field=field) from exc


def _iso_time(value: str) -> float:
    when = datetime.fromisoformat(value)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def to_builtins(value: Any) -> Any:
    """A Struct (decision, lead, plan) as plain JSON data."""
    return msgspec.to_builtins(value)
