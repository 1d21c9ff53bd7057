"""Secrets (issue 17): a configured session or lead-id secret shorter than 32 characters is refused, and no error
about a secret or a token repeats it (a token entry without `role:` used to be echoed at start)."""

from __future__ import annotations

import pytest

from connector.errors import SettingsError
from connector.settings import load_settings
from leadrelay.api.auth import parse_tokens
from leadrelay.console.session import ConsoleAuth
from worker import lead_ids

TOKEN = "Zq8s9dJk2Lm4Np6Qr8St0Uv2Wx4Yz6Ab"


def _echoes(text: str, secret: str) -> bool:
    """Any six characters of the secret in a row appear in the text."""
    return any(secret[i:i + 6].lower() in text.lower() for i in range(len(secret) - 5))


@pytest.mark.parametrize("entry", [TOKEN, f"{TOKEN}:x", f"{TOKEN[:12]}:{TOKEN[12:]}"])
def test_a_token_entry_without_a_role_is_refused_without_echoing_it(entry: str) -> None:
    with pytest.raises(SettingsError) as refused:
        parse_tokens(["viewer:" + "v" * 20, entry])
    text = f"{refused.value.message} {refused.value.hint or ''}"
    assert "LEADRELAY_API_TOKENS entry 2" in text and "role:token" in text
    assert not _echoes(text, TOKEN), text


async def test_a_short_lead_id_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as refused:
        await lead_ids.load_secret(None, "lr:", "short-but-set-0123")
    text = f"{refused.value.message} {refused.value.hint or ''}"
    assert "LEADRELAY_LEAD_ID_SECRET" in text and "32" in text and "short-but" not in text


def test_a_short_session_secret_is_refused_without_echoing_it() -> None:
    settings = load_settings({}, session_secret="short-but-set-0123")
    with pytest.raises(SettingsError) as refused:
        ConsoleAuth(settings, ())
    text = f"{refused.value.message} {refused.value.hint or ''}"
    assert "LEADRELAY_SESSION_SECRET" in text and "32" in text and "short-but" not in text
