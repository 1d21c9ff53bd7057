"""docker-compose.yml (issue 11, point 4): the sandbox is never published beyond loopback, and the API and
workers get every secret the shipped mappings and settings name."""

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


def test_every_secret_the_mappings_and_settings_name_reaches_api_and_worker() -> None:
    needed = set()
    for path in (ROOT / "mappings" / "sources").glob("*.yaml"):
        inbound = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("inbound") or {}
        needed |= {v for k, v in inbound.items() if k.endswith("_env") and v}
    needed |= {f"LEADRELAY_{name.upper()}" for name in Settings.__struct_fields__
               if any(w in name for w in SECRET_WORDS)}
    needed.add("LEADRELAY_API_TOKENS")
    assert len(needed) >= 8
    for name in ("api", "worker"):
        env = COMPOSE["services"][name]["environment"]
        missing = sorted(needed - set(env))
        assert not missing, f"{name} lacks {missing}"
        with_default = [k for k in needed if any(w in k.lower() for w in SECRET_WORDS)
                        and not (str(env[k]) in (f"${{{k}:-}}", f"${{{k}}}") or str(env[k]).startswith(f"${{{k}:?"))]
        assert not with_default, f"secrets with a default value in docker-compose.yml: {with_default}"
