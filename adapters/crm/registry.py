"""The CRMs leadrelay can write to: one line each. A plugin module is imported when first asked for."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.crm.plugin import CrmPlugin
from connector.config import Config
from connector.ports import CrmClient
from connector.settings import Settings

# name -> the module holding its PLUGIN
PLUGINS: dict[str, str] = {
    "hubspot": "adapters.hubspot.plugin",
    "salesforce": "adapters.salesforce.plugin",
}


class UnknownCrm(ValueError):
    """A CRM name no plugin answers to."""


def names() -> tuple[str, ...]:
    """The known CRMs, in registry order."""
    return tuple(PLUGINS)


def is_crm(name: str) -> bool:
    """True when ``name`` is a CRM (a delivery from it is one of that CRM's own webhooks)."""
    return name in PLUGINS


def plugin(name: str) -> CrmPlugin:
    """The plugin of one CRM; UnknownCrm names the known ones."""
    module = PLUGINS.get(name)
    if module is None:
        raise UnknownCrm(f"no CRM named {name!r}; known: {', '.join(PLUGINS)}")
    found: CrmPlugin = importlib.import_module(module).PLUGIN
    return found


def plugins() -> list[CrmPlugin]:
    return [plugin(n) for n in PLUGINS]


def read_only_fields() -> dict[str, frozenset[str]]:
    """Per CRM, the fields it computes itself (a CRM mapping that writes one is a config error)."""
    return {p.name: p.read_only for p in plugins()}


def write_window_ms(settings: Settings, crm: str) -> int:
    """The write batch window for this CRM: LEADRELAY_WRITE_BATCH_WINDOW_MS, else the CRM's own."""
    return settings.write_batch_window_ms or plugin(crm).write_window_ms


def build_client(settings: Settings, redis: Any) -> CrmClient:
    """The configured CRM's client (``settings.crm``); its retries stop at 80 % of the job timeout."""
    return plugin(settings.crm).build_client(settings, redis, deadline_s=float(settings.job_timeout_s) * 0.8)


def any_configured(settings: Settings) -> bool:
    """True when the settings hold credentials for any CRM."""
    return any(p.configured(settings) for p in plugins())


def load_config(path: str | Path = ".", *, mappings: str | Path | None = None) -> Config:
    """The config as the service loads it: ``connector.config.load_config`` told each CRM's read-only fields."""
    from connector.config import load_config as load

    return load(path, mappings=mappings, crm_read_only=read_only_fields())


def config_from_texts(files: Mapping[str, str]) -> Config:
    """A config bundle (bundle key -> YAML text), checked as the service checks files (CRM read-only fields too)."""
    from connector.config import config_from_texts as build

    return build(files, crm_read_only=read_only_fields())
