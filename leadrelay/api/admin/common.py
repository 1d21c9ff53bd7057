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
from connector.yamlconf import MAX_CHARS
from leadrelay.api.admin import budget
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
    make reading them costly (size, YAML anchors and aliases) before anything parses them."""
    if changes:
        await budget.run(request, "checking the draft", check_texts, changes)
    current = await current_version(request)
    return merged(current.files if current else {}, changes), current.number if current else 0


def build(request: Req, files: Mapping[str, str]) -> Config:
    """Check a bundle as the service does (the same ConfigError `leadrelay config validate` prints)."""
    return configs(request).build(files)


async def build_within_budget(request: Req, files: Mapping[str, str]) -> Config:
    """``build`` off the event loop, within the admin work budget."""
    return await budget.run(request, "checking the config", configs(request).build, files)


async def draft_config(request: Req, changes: Mapping[str, str | None] | None) -> Config:
    """The config of a draft (changed files over the current version); the current config without changes."""
    if not changes:
        config: Config = request.app.state.config
        return config
    files, _ = await draft_bundle(request, changes)
    return await build_within_budget(request, files)


def check_texts(changes: Mapping[str, str | None]) -> None:
    """``check_text`` for each changed file."""
    for key, text in changes.items():
        check_text(key, text or "")


def check_text(key: str, text: str) -> None:
    """A ConfigError (422) for a changed file no person writes: an odd name, too long, or an anchor or alias
    (checked on drafts too, which are saved unparsed: a draft may be half typed, but never a bomb)."""
    if not key or len(key) > 200 or any(c in key for c in "\\\0\n\r"):
        raise ConfigError("not a config file name", file=key[:200].strip() or "(empty)")
    if len(text) > MAX_CHARS:
        raise ConfigError(f"the file is {len(text)} characters; at most {MAX_CHARS} are read", file=key)
    if ("&" in text or "*" in text) and (line := _anchor_line(text)) is not None:
        raise ConfigError("YAML anchors and aliases (&name, *name) are not read; write the value out", file=key,
                          line=line)


def _anchor_line(text: str) -> int | None:
    """The line of the first anchor or alias (the scanner only: linear, nothing is built)."""
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
                return int(token.start_mark.line) + 1
    except yaml.YAMLError:
        return None  # not YAML (yet): the loader says where when the draft is checked
    return None


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
