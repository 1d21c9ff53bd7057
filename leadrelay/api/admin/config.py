"""/api/admin/config: read, validate, drafts, publish, roll back, versions — and the CRM fields for the dropdowns.

Publishing checks the whole bundle first (``ConfigStore.publish``): an invalid one raises ConfigError (422, naming
file, line and field, with the words `leadrelay config validate` prints) and nothing is written; a stale base
raises PublishConflict (409). This process serves the new version at once; every other one within config_poll_s.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
import structlog
from litestar import delete, get, post, put
from litestar.params import FromPath, JSONBody, Parameter

from adapters.crm import registry
from connector.config import Config
from connector.mapping.paths import KEYED, TARGETS
from leadrelay.api.admin.common import (
    CHANGE,
    CHECK,
    READ,
    TAGS,
    Changes,
    Req,
    author,
    build,
    build_within_budget,
    configs,
    current_version,
    draft_bundle,
    iso,
)
from leadrelay.api.auth import admin, viewer
from leadrelay.api.problems import NotFound
from worker.configs import ConfigVersion

log = structlog.get_logger("leadrelay.admin")


class Bundle(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changed files (bundle key -> YAML text; null or "" drops the file), merged over the current version."""

    files: Changes = {}


class DraftIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    files: Changes = {}
    base: int | None = None  # the version edited from; default: the current one


class PublishIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    files: Changes = {}
    base: int | None = None  # refuse (409) when another version was published since; null: publish over any
    message: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RollbackIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    number: int
    message: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class Version(msgspec.Struct, kw_only=True):
    number: int
    hash: str
    author: str
    at: str | None
    message: str
    restored_from: int | None = None
    diff: str = ""
    files: dict[str, str] | None = None


class Valid(msgspec.Struct, kw_only=True):
    ok: bool
    hash: str


class DraftOut(msgspec.Struct, kw_only=True):
    files: Changes
    base: int
    author: str
    at: str | None


class CrmField(msgspec.Struct, kw_only=True):
    name: str
    label: str
    type: str
    options: list[str] = []


def version_out(v: ConfigVersion, *, files: bool = False) -> Version:
    return Version(number=v.number, hash=v.hash, author=v.author, at=iso(v.at), message=v.message,
                   restored_from=v.restored_from, diff=v.diff, files=dict(v.files) if files else None)


def canonical_fields() -> list[str]:
    """Every canonical lead path a source mapping may write (the mapping table's dropdown)."""
    return [*sorted(TARGETS), "events", *(f"{k}.*" for k in KEYED)]


def describe(config: Config) -> dict[str, Any]:
    """The parts of a config the console's forms choose from."""
    rules = [{"name": r.name, "kind": "routing", "strategy": type(r).__struct_config__.tag}
             for r in config.routing.rules]
    s = config.scoring
    rules += [{"name": r.name, "kind": "scoring", "strategy": group}
              for group, rs in (("fit", s.fit), ("behaviour", s.behaviour), ("intent", s.intent),
                                ("negative", s.negative)) for r in rs]
    rules += [{"name": r.name, "kind": "tags", "strategy": "tag"} for r in config.tags.rules]
    rules += [{"name": r.name, "kind": "tags", "strategy": "segment"} for r in config.tags.segments]
    return {
        "sources": sorted(config.sources),
        "crms": sorted(config.crm),
        "canonical_fields": canonical_fields(),
        "crm_fields": {name: mapping_fields(config, name) for name in sorted(config.crm)},
        "reps": [{"id": r.id, "name": r.name, "active": r.active, "role": r.role} for r in config.team.reps],
        "pools": sorted(config.team.pools),
        "queues": sorted(config.team.queues),
        "rules": rules,
    }


def mapping_fields(config: Config, crm: str) -> list[str]:
    """The CRM fields a CRM mapping writes (its own and its matched sections'), in order."""
    m = config.crm[crm]
    names = [f.to for f in m.fields] + [f.to for sec in m.matched.values() for f in sec.fields]
    return list(dict.fromkeys(names))


@get("/config", summary="The published config: its files and what the console's forms choose from",
     guards=[viewer], tags=TAGS, responses=READ)
async def read_config(request: Req) -> dict[str, Any]:
    current = await current_version(request)
    config: Config = request.app.state.config
    if current is not None and current.hash != config.version:  # published a moment ago: this process catches up
        config = build(request, current.files)
    head = version_out(current, files=True) if current else Version(number=0, hash=config.version,
                                                                        author="", at=None, message="", files={})
    return {**msgspec.to_builtins(head), **describe(config)}


@get("/config/versions", summary="Published versions, newest first (with each one's diff)", guards=[viewer],
     tags=TAGS, responses=READ)
async def versions(request: Req, limit: Annotated[int, Parameter(ge=1, le=500)] = 50) -> list[Version]:
    return [version_out(v) for v in await configs(request).history(limit)]


@get("/config/versions/{number:int}", summary="One published version with its files", guards=[viewer],
     tags=TAGS, responses=CHECK)
async def version(request: Req, number: FromPath[int]) -> Version:
    found = await configs(request).get(number) if 0 < number < 2**53 else None
    if found is None:
        raise NotFound(f"no config version {number}", hint="GET /api/admin/config/versions lists them")
    return version_out(found, files=True)


@post("/config/validate", status_code=200, summary="Check a draft (changed files over the current version)",
      guards=[viewer], tags=TAGS, responses=CHECK)
async def validate(request: Req, data: JSONBody[Bundle]) -> Valid:
    files, _ = await draft_bundle(request, data.files)
    return Valid(ok=True, hash=(await build_within_budget(request, files)).version)


@get("/config/draft", summary="Your saved draft", guards=[viewer], tags=TAGS, responses=CHECK)
async def read_draft(request: Req) -> DraftOut:
    found = await configs(request).draft(author(request))
    if found is None:
        raise NotFound("no saved draft", hint="PUT /api/admin/config/draft saves one")
    return DraftOut(files=dict(found.files), base=found.base, author=found.author, at=iso(found.at))


@put("/config/draft", summary="Save your draft (not checked: a draft may be half done)", guards=[admin],
     tags=TAGS, responses=CHANGE)
async def save_draft(request: Req, data: JSONBody[DraftIn]) -> DraftOut:
    await draft_bundle(request, data.files)  # the file names and sizes are checked; the contents are not
    base = data.base if data.base is not None else await configs(request).current_number()
    who = author(request)
    # a dropped file is kept as "" in the draft (the store holds texts): merged over a version, "" drops it
    saved = await configs(request).save_draft(who, {k: v or "" for k, v in data.files.items()}, author=who,
                                              base=base)
    return DraftOut(files=dict(saved.files), base=saved.base, author=saved.author, at=iso(saved.at))


@delete("/config/draft", summary="Drop your draft", guards=[admin], tags=TAGS, responses=CHANGE, status_code=204)
async def drop_draft(request: Req) -> None:
    await configs(request).drop_draft(author(request))


@post("/config/publish", status_code=201, summary="Publish a draft as the new version (all or nothing)",
      guards=[admin], tags=TAGS, responses=CHANGE)
async def publish(request: Req, data: JSONBody[PublishIn]) -> Version:
    files, _ = await draft_bundle(request, data.files)
    who = author(request)
    config = await build_within_budget(request, files)
    published = await configs(request).publish(files, author=who, message=data.message, base=data.base,
                                               config=config)
    await _follow(request)
    await configs(request).drop_draft(who)
    return version_out(published)


@post("/config/rollback", status_code=201, summary="Publish an earlier version's files again, as a new version",
      guards=[admin], tags=TAGS, responses=CHANGE)
async def rollback(request: Req, data: JSONBody[RollbackIn]) -> Version:
    store = configs(request)
    if not 0 < data.number < 2**53 or await store.get(data.number) is None:
        raise NotFound(f"no config version {data.number}", hint="GET /api/admin/config/versions lists them")
    restored = await store.rollback(data.number, author=author(request), message=data.message)
    await _follow(request)
    return version_out(restored)


async def _follow(request: Req) -> None:
    """Serve the new version in this process now (the others follow within config_poll_s)."""
    follower = request.app.state.get("follower")
    if follower is not None:
        await follower.refresh()


@get("/crm/fields", summary="A CRM's fields for the mapping dropdowns (from the CRM when it can say)",
     guards=[viewer], tags=TAGS, responses=CHECK)
async def crm_fields(request: Req, crm: Annotated[str, Parameter(max_length=100)]) -> list[CrmField]:
    config: Config = request.app.state.config
    if crm not in config.crm:
        raise NotFound(f"no CRM mapping named {crm!r}", hint=f"known: {', '.join(sorted(config.crm)) or 'none'}")
    described = await _described(request, config, crm)
    if described is not None:
        return described
    return [CrmField(name=name, label=name, type="unknown") for name in mapping_fields(config, crm)]


async def _described(request: Req, config: Config, crm: str) -> list[CrmField] | None:
    """The CRM's own field list through its plugin's ``describe_fields``, when the plugin has it and this process
    holds that CRM's client; None otherwise (or when the CRM does not answer: the mapping's list stands in)."""
    client = request.app.state.get("crm")
    plugin = registry.plugin(crm) if registry.is_crm(crm) else None
    describe_fields = getattr(plugin, "describe_fields", None)
    if client is None or describe_fields is None or request.app.state.settings.crm != crm:
        return None
    mapping = config.crm[crm]
    objects = list(dict.fromkeys([mapping.object, *(s.object for s in mapping.matched.values())]))
    try:
        found = await asyncio.to_thread(describe_fields, client, objects)
    except Exception as exc:  # the dropdown falls back to the mapping's fields; the reason is logged
        log.warning("crm_describe_failed", crm=crm, error=str(exc)[:300])
        return None
    return [CrmField(name=f.name, label=getattr(f, "label", None) or f.name,
                     type=str(getattr(f, "kind", None) or getattr(f, "vendor_type", "unknown")),
                     options=[str(o) for o in getattr(f, "options", ()) or ()]) for f in found]


HANDLERS = [read_config, versions, version, validate, read_draft, save_draft, drop_draft, publish, rollback,
            crm_fields]
