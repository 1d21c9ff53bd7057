"""The thresholds of every match rule (``rules/matching.yaml``); every one has a default."""

from __future__ import annotations

from pathlib import Path

import msgspec

from connector.yamlconf import from_text, load_yaml


class PhoneRules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    confidence: float = 0.95
    require_compatible_name: bool = True


class PersonRules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    threshold: float = 0.88
    nickname_score: float = 0.95
    typo_score: float = 0.90
    initial_score: float = 0.85
    last_typo_score: float = 0.90
    last_part_score: float = 0.85
    max_confidence: float = 0.95


class AccountRules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    domain_confidence: float = 0.95
    name_threshold: float = 0.92
    name_max_confidence: float = 0.90
    name_min_length: int = 5


class ClusterRules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    max_block: int = 40


class MatchConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Thresholds of every match rule (``rules/matching.yaml``)."""

    phone: PhoneRules = PhoneRules()
    person: PersonRules = PersonRules()
    account: AccountRules = AccountRules()
    cluster: ClusterRules = ClusterRules()


def match_config_from_text(text: str, *, file: str) -> MatchConfig:
    return from_text(text, MatchConfig, file=file)


def load_match_config(path: str | Path) -> MatchConfig:
    """Read ``rules/matching.yaml``; a bad value raises ConfigError with file:line and field."""
    return load_yaml(path, MatchConfig)


DEFAULT = MatchConfig()
