"""docker-compose.yml (issue 11, point 4; issue 17, Build 4): the sandbox is never published beyond loopback; the API
and workers get every setting (secrets without a default) through .env, documented by .env.example; every service
restarts; the ha profile; the licence."""

from __future__ import annotations

from pathlib import Path

import yaml

from connector.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SECRET_WORDS = ("token", "secret", "private_key", "client_id")


def _published_hosts(service: dict) -> list[str]:
    hosts = []
    for port in service.get("ports", []):
        text = str(port)
        parts = text.split(":")
        hosts.append(parts[0] if len(parts) == 3 else "0.0.0.0")  # "8443:8443" binds every interface
    return hosts


def test_the_sandbox_is_published_on_loopback_only() -> None:
    sandbox = COMPOSE["services"]["sandbox"]
    assert sandbox.get("profiles") == ["sandbox"]
    assert all(h in {"127.0.0.1", "[::1]"} for h in _published_hosts(sandbox)), sandbox.get("ports")


def _documented(text: str) -> dict[str, str]:
    """The variables .env.example names (set or commented out) and the value each line shows."""
    out = {}
    for line in text.splitlines():
        line = line.lstrip("# ").strip()
        name, sep, value = line.partition("=")
        if sep and name.isidentifier() and name.isupper():
            out[name] = value.strip()
    return out


ENV_EXAMPLE = _documented((ROOT / ".env.example").read_text(encoding="utf-8"))


def _needed() -> set[str]:
    """Every variable the API and the workers read: each Settings field, and the env names the mappings give."""
    needed = {f"LEADRELAY_{name.upper()}" for name in Settings.__struct_fields__}
    for path in (ROOT / "mappings" / "sources").glob("*.yaml"):
        inbound = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("inbound") or {}
        needed |= {v for k, v in inbound.items() if k.endswith("_env") and v}
    return needed


def test_every_setting_reaches_api_and_worker_through_the_env_file() -> None:
    needed = _needed()
    assert {"LEADRELAY_SLACK_WEBHOOK_URL", "LEADRELAY_SMTP_HOST", "LEADRELAY_HUBSPOT_PORTAL_ID",
            "LEADRELAY_SALESFORCE_REQUIRE_SESSION_ID", "LEADRELAY_REDIS_SENTINELS"} <= needed
    undocumented = sorted(needed - set(ENV_EXAMPLE))
    assert not undocumented, f".env.example does not name {undocumented}"
    for name in ("api", "worker"):
        service = COMPOSE["services"][name]
        assert service.get("env_file") == [".env"], f"{name} does not read .env"
        # compose's own environment wins over the env file: only what compose itself decides may be there
        overridden = sorted(set(service.get("environment") or {}) - {"REDIS_URL", "LEADRELAY_CONFIG_DIR"})
        assert not overridden, f"{name} sets {overridden} itself, over .env"


def test_no_secret_has_a_value_in_the_example() -> None:
    secrets = [k for k in _needed() if any(w in k.lower() for w in (*SECRET_WORDS, "password", "webhook_url"))]
    assert len(secrets) >= 10
    with_value = [k for k in secrets if ENV_EXAMPLE.get(k)]
    assert not with_value, f"secrets with a value in .env.example: {with_value}"


def test_every_service_restarts_unless_stopped() -> None:
    never = [name for name, s in COMPOSE["services"].items() if s.get("restart") != "unless-stopped"]
    assert not never, never


def test_the_ha_profile_is_a_primary_two_replicas_and_three_sentinels() -> None:
    ha = {name: s for name, s in COMPOSE["services"].items() if "ha" in s.get("profiles", [])}
    replicas = [n for n, s in ha.items() if "--replicaof" in s.get("command", [])]
    sentinels = [n for n, s in ha.items() if "--sentinel" in str(s.get("command"))]
    assert len(replicas) == 2 and len(sentinels) == 3, sorted(ha)
    assert all("sentinel monitor mymaster redis 6379 2" in str(COMPOSE["services"][n]["command"]) for n in sentinels)
    # what .env.example tells the API and the workers to set for the ha profile names these sentinels
    assert sorted(h.split(":")[0] for h in ENV_EXAMPLE["LEADRELAY_REDIS_SENTINELS"].split(",")) == sorted(sentinels)


def test_the_project_has_a_licence() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith(("MIT License", "Apache License"))
    assert project.get("license") in ("MIT", "Apache-2.0", {"text": "MIT"}, {"text": "Apache-2.0"})
