"""Countries and regions to ISO 3166 codes (pycountry): "United Kingdom" -> "GB", "New York" in US -> "US-NY"."""

from __future__ import annotations

import re
from functools import lru_cache

import pycountry

from connector.keys import fold

_COUNTRY_ALIASES = {
    "usa": "US", "us": "US", "u s": "US", "u s a": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "u k": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "south korea": "KR", "korea": "KR", "republic of korea": "KR",
    "north korea": "KP", "russia": "RU", "iran": "IR", "vietnam": "VN", "czech republic": "CZ", "czechia": "CZ",
    "holland": "NL", "the netherlands": "NL", "nederland": "NL", "uae": "AE", "deutschland": "DE", "turkey": "TR",
    "ivory coast": "CI", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "syria": "SY", "laos": "LA",
    "moldova": "MD", "taiwan": "TW", "macau": "MO", "brasil": "BR", "espana": "ES", "schweiz": "CH",
    "suisse": "CH", "osterreich": "AT", "sverige": "SE", "norge": "NO", "danmark": "DK", "italia": "IT",
    "belgique": "BE", "belgie": "BE", "polska": "PL", "mexico": "MX", "the united states": "US",
    "the united kingdom": "GB", "hong kong sar": "HK", "palestine": "PS", "vatican": "VA", "micronesia": "FM",
}
_NOT_WORD = re.compile(r"[\s.,]+")


def _country_key(text: str) -> str:
    return _NOT_WORD.sub(" ", fold(text)).strip()


@lru_cache(maxsize=4096)
def country_code(text: str) -> str | None:
    """ "United Kingdom", "UK", "GBR", "gb" -> "GB"; None when pycountry does not know it."""
    key = _country_key(text)
    if not key:
        return None
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    try:
        return str(pycountry.countries.lookup(key).alpha_2)
    except LookupError:
        pass
    try:
        return str(pycountry.countries.lookup(text.strip()).alpha_2)
    except LookupError:
        return None


@lru_cache(maxsize=512)
def _subdivisions(country: str) -> dict[str, str]:
    table: dict[str, str] = {}
    try:
        found = pycountry.subdivisions.get(country_code=country) or []  # type: ignore[no-untyped-call]
    except (LookupError, KeyError):
        return table
    for sub in found:
        code = str(sub.code)
        table.setdefault(code.casefold(), code)
        table.setdefault(code.partition("-")[2].casefold(), code)
    for sub in found:
        table.setdefault(_country_key(str(sub.name)), str(sub.code))
    return table


@lru_cache(maxsize=8192)
def region_code(text: str, country: str | None) -> str | None:
    """ "NY" / "New York" / "US-NY" with country "US" -> "US-NY"; a full code also works without a country."""
    raw = text.strip()
    if not raw:
        return None
    if country:
        table = _subdivisions(country)
        return table.get(raw.casefold()) or table.get(_country_key(raw))
    prefix, dash, _ = raw.partition("-")
    if dash and len(prefix) == 2:
        return _subdivisions(prefix.upper()).get(raw.casefold())
    return None
