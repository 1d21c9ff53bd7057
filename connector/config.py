"""The config bundle: every mapping and rule file, validated together, with one version.

A bundle is text: ``{"rules/team.yaml": "...", "mappings/sources/website.yaml": "...", ...}``. The files on disk
(``load_config(root)``), the versions the console publishes to Redis and ``config export/import`` are all bundles,
read by one function, ``config_from_texts``, so a draft is checked exactly as a file is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TypeVar

import msgspec

from connector.errors import ConfigError
from connector.mapping import CrmMapping, SourceMapping
from connector.mapping.crm import crm_mapping_from_text
from connector.mapping.sources import source_mapping_from_text
from connector.match import MatchConfig
from connector.match.config import match_config_from_text
from connector.notify import NotifyConfig, notify_from_text
from connector.recycle import RecyclingConfig, recycling_from_text
from connector.routing import RoutingConfig
from connector.routing.config import routing_from_text
from connector.score import ScoringConfig, scoring_from_text
from connector.sla import SlaConfig, sla_from_text
from connector.tags import TagsConfig, tags_from_text
from connector.team import Team, team_from_text

RULE_FILES = ("team.yaml", "scoring.yaml", "tags.yaml", "routing.yaml", "matching.yaml", "notify.yaml",
              "recycling.yaml", "sla.yaml")
REQUIRED = RULE_FILES[:4]
SOURCES, CRMS = "mappings/sources/", "mappings/crm/"

Files = Mapping[str, str]
T = TypeVar("T")


class Config(msgspec.Struct, kw_only=True, frozen=True, dict=True):
    """Everything the core needs to decide, and the version every decision records."""

    version: str
    sources: dict[str, SourceMapping]
    crm: dict[str, CrmMapping]
    scoring: ScoringConfig
    tags: TagsConfig
    routing: RoutingConfig
    team: Team
    matching: MatchConfig
    notify: NotifyConfig = NotifyConfig()  # who is told of a routed lead (rules/notify.yaml, optional)
    recycling: RecyclingConfig = RecyclingConfig()  # optional file: without it nothing is recycled
    sla: SlaConfig | None = None  # rules/sla.yaml: first-contact deadlines and escalation (none: no SLA)


def resolve_dirs(path: str | Path, mappings: str | Path | None = None) -> tuple[Path, Path]:
    """(rules dir, mappings dir) from a project root (holding rules/ and mappings/) or a rules dir."""
    p = Path(path)
    if (p / "rules").is_dir():
        return p / "rules", Path(mappings) if mappings else p / "mappings"
    return p, Path(mappings) if mappings else p.parent / "mappings"


def config_files(rules_dir: Path, mappings_dir: Path) -> list[Path]:
    """Every file that makes up the config, in a stable order."""
    files = [rules_dir / name for name in RULE_FILES]
    files += sorted((mappings_dir / "sources").glob("*.yaml")) + sorted((mappings_dir / "crm").glob("*.yaml"))
    return files


def is_config_file(name: str) -> bool:
    """A bundle key the config reads: ``rules/<known>.yaml`` or ``mappings/{sources,crm}/<name>.yaml``."""
    if name.startswith("rules/"):
        return name[len("rules/"):] in RULE_FILES
    return any(name.startswith(d) and name.endswith(".yaml") and "/" not in name[len(d):] for d in (SOURCES, CRMS))


def read_files(path: str | Path = ".", mappings: str | Path | None = None) -> dict[str, str]:
    """The bundle on disk: each config file's text under its bundle key, in a stable order."""
    rules_dir, mappings_dir = resolve_dirs(path, mappings)
    if not rules_dir.is_dir():
        raise ConfigError("not a directory (expected rules/ with team.yaml, scoring.yaml, ...)", file=str(rules_dir))
    out: dict[str, str] = {}
    for f in config_files(rules_dir, mappings_dir):
        if not f.exists():
            continue
        key = f"rules/{f.name}" if f.parent == rules_dir else f"mappings/{f.parent.name}/{f.name}"
        try:
            out[key] = f.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", file=str(f)) from exc
    return out


def version_of_texts(files: Files) -> str:
    """A short content hash: the same texts give the same version on every machine and in every store."""
    digest = hashlib.sha256()
    for key in sorted(files):
        digest.update(key.rsplit("/", 1)[-1].encode() + b"\0" + files[key].encode() + b"\0")
    return digest.hexdigest()[:12]


def config_from_texts(
    files: Files,
    *,
    crm_read_only: Mapping[str, Collection[str]] | None = None,
    label: Callable[[str], str] = str,
) -> Config:
    """Parse and cross-check a bundle; the first problem raises ConfigError with file:line and field.

    ``label`` turns a bundle key into the file name errors show (the path on disk for ``load_config``).
    """
    for key in files:
        if not is_config_file(key):
            raise ConfigError("not a config file (expected rules/<name>.yaml or mappings/sources|crm/<name>.yaml)",
                              file=label(key))
    for name in REQUIRED:
        if f"rules/{name}" not in files:
            raise ConfigError(f"missing {name}", file=label(f"rules/{name}"))

    def rule(name: str) -> tuple[str, str]:
        return files[f"rules/{name}"], label(f"rules/{name}")

    text, file = rule("team.yaml")
    team = team_from_text(text, file=file)
    routing_text, routing_file = rule("routing.yaml")
    routing = routing_from_text(routing_text, file=routing_file, team=team)
    sources = {}
    for key in sorted(k for k in files if k.startswith(SOURCES)):
        mapping = source_mapping_from_text(files[key], file=label(key))
        sources[mapping.name] = mapping
    crm = {key[len(CRMS):-5]: crm_mapping_from_text(files[key], file=label(key), read_only=crm_read_only)
           for key in sorted(k for k in files if k.startswith(CRMS))}
    matching = MatchConfig()
    if "rules/matching.yaml" in files:
        text, file = rule("matching.yaml")
        matching = match_config_from_text(text, file=file)
    notify = NotifyConfig()
    if "rules/notify.yaml" in files:
        text, file = rule("notify.yaml")
        notify = notify_from_text(text, file=file)
    recycling = RecyclingConfig()
    if "rules/recycling.yaml" in files:
        text, file = rule("recycling.yaml")
        recycling = recycling_from_text(text, file=file, team=team, routing=routing)
    scoring_text, scoring_file = rule("scoring.yaml")
    tags_text, tags_file = rule("tags.yaml")
    return Config(
        version=version_of_texts(files),
        sources=sources,
        crm=crm,
        scoring=scoring_from_text(scoring_text, file=scoring_file),
        tags=tags_from_text(tags_text, file=tags_file),
        routing=routing,
        team=team,
        matching=matching,
        notify=notify,
        recycling=recycling,
        sla=_optional(files, "sla.yaml", label, lambda text, file: sla_from_text(text, file=file, team=team)),
    )


def _optional(files: Files, name: str, label: Callable[[str], str], parse: Callable[[str, str], T]) -> T | None:
    """An optional rules file, parsed when the bundle has it."""
    key = f"rules/{name}"
    return parse(files[key], label(key)) if key in files else None


def load_config(
    path: str | Path = ".",
    mappings: str | Path | None = None,
    *,
    crm_read_only: Mapping[str, Collection[str]] | None = None,
) -> Config:
    """Load and cross-check every file; the first problem raises ConfigError with file:line and field.

    ``crm_read_only`` (CRM name -> the fields that CRM computes itself, from the CRM adapters) refuses a CRM
    mapping that writes one; without it only each mapping's own ``read_only`` list is checked.
    """
    rules_dir, mappings_dir = resolve_dirs(path, mappings)
    files = read_files(rules_dir, mappings_dir)

    def label(key: str) -> str:
        return str(rules_dir / key[len("rules/"):]) if key.startswith("rules/") else str(mappings_dir / key[9:])

    return config_from_texts(files, crm_read_only=crm_read_only, label=label)
