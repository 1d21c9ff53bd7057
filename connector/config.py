"""The config bundle: every mapping and rule file, validated together, with one version.

One loader for all of it, so the admin console can later read versions from a store
instead of files: ``load_config(root)`` here, ``config_from_files(files)`` for any source of text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from pathlib import Path

import msgspec

from connector.errors import ConfigError
from connector.mapping import CrmMapping, SourceMapping, load_crm_mapping, load_source_mapping
from connector.match import MatchConfig, load_match_config
from connector.routing import RoutingConfig, load_routing
from connector.score import ScoringConfig, load_scoring
from connector.sla import SlaConfig, load_sla
from connector.tags import TagsConfig, load_tags
from connector.team import Team, load_team

RULE_FILES = ("team.yaml", "scoring.yaml", "tags.yaml", "routing.yaml", "matching.yaml", "sla.yaml")


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


def version_of(files: list[Path]) -> str:
    """A short content hash: the same files give the same version on every machine."""
    digest = hashlib.sha256()
    for f in files:
        if f.exists():
            digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


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
    if not rules_dir.is_dir():
        raise ConfigError("not a directory (expected rules/ with team.yaml, scoring.yaml, ...)", file=str(rules_dir))
    for name in RULE_FILES[:4]:
        if not (rules_dir / name).exists():
            raise ConfigError(f"missing {name}", file=str(rules_dir / name))
    team = load_team(rules_dir / "team.yaml")
    matching_file = rules_dir / "matching.yaml"
    sources = {m.name: m for m in (load_source_mapping(f) for f in sorted((mappings_dir / "sources").glob("*.yaml")))}
    crm = {f.stem: load_crm_mapping(f, read_only=crm_read_only) for f in sorted((mappings_dir / "crm").glob("*.yaml"))}
    return Config(
        version=version_of(config_files(rules_dir, mappings_dir)),
        sources=sources,
        crm=crm,
        scoring=load_scoring(rules_dir / "scoring.yaml"),
        tags=load_tags(rules_dir / "tags.yaml"),
        routing=load_routing(rules_dir / "routing.yaml", team),
        team=team,
        matching=load_match_config(matching_file) if matching_file.exists() else MatchConfig(),
        sla=load_sla(rules_dir / "sla.yaml", team) if (rules_dir / "sla.yaml").exists() else None,
    )
