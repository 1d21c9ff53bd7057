"""Identity keys: the normalized forms two records must share to be the same person or company.

Keys are for matching only; the lead keeps what the sender wrote.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import cleanco
import tldextract

# Offline: the suffix list bundled with tldextract, never fetched.
_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

# Providers where dots in the local part are ignored and "+tag" is an alias.
_DOT_FOLDING = frozenset({"gmail.com", "googlemail.com"})
_PLUS_ALIASING = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "icloud.com",
        "me.com",
        "fastmail.com",
        "proton.me",
        "protonmail.com",
        "yahoo.com",
    }
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case ASCII fold: "Müller" -> "muller"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def email_key(email: str | None) -> str | None:
    """Dedupe key of an email: lower-cased; Gmail dots and provider '+tags' folded."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    if not local or not domain:
        return None
    if domain == "googlemail.com":
        domain = "gmail.com"
    if domain in _PLUS_ALIASING:
        local = local.split("+", 1)[0]
    if domain in _DOT_FOLDING:
        local = local.replace(".", "")
    return f"{local}@{domain}"


@lru_cache(maxsize=65536)
def company_key(name: str | None) -> str | None:
    """Company key: legal suffixes, punctuation and case removed, so "I.B.M.", "IBM Corp." and "ibm" agree."""
    if not name:
        return None
    text = _SPACES.sub(" ", fold(name)).strip()
    # Acronyms written with dots ("i.b.m.") fold to letters before suffix removal.
    text = re.sub(r"\b((?:[a-z]\.){2,})", lambda m: m.group(1).replace(".", ""), text)
    text = text.replace("&", " and ")
    base = cleanco.basename(text)
    # cleanco strips one suffix layer at a time ("acme holdings inc")
    while True:
        nxt = cleanco.basename(base)
        if nxt == base or not nxt:
            break
        base = nxt
    key = _NON_ALNUM.sub("", base)
    return key or _NON_ALNUM.sub("", text) or None


@lru_cache(maxsize=65536)
def registrable_domain(value: str | None) -> str | None:
    """ "https://www.Acme.co.uk/about" or "jo@sales.acme.co.uk" -> "acme.co.uk" (offline suffix list)."""
    if not value:
        return None
    host = value.strip().lower()
    if "@" in host:
        host = host.rpartition("@")[2]
    ext = _extract(host)
    if not ext.domain or not ext.suffix:
        return None
    return f"{ext.domain}.{ext.suffix}"


def phone_key(e164: str | None) -> str | None:
    """Phones match on their E.164 digits."""
    if not e164:
        return None
    digits = re.sub(r"\D", "", e164)
    return digits if len(digits) >= 7 else None


def person_key(first: str | None, last: str | None) -> str:
    """Loose person key for fuzzy comparison: "first last", ASCII-folded."""
    return _SPACES.sub(" ", fold(f"{first or ''} {last or ''}")).strip()
