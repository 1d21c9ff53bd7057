"""Normalize and validate a canonical lead with each field's own library.

email-validator (syntax only, no DNS), phonenumbers (E.164), pycountry (ISO 3166 codes), nameparser,
disposable-email-domains plus a free-mail list, and the identity keys from ``connector.keys``.

Rules every field follows:
- A bad value is never an exception and never silently dropped: the field is cleared, the value the
  sender gave is kept in ``extra["raw.<field path>"]`` (e.g. ``raw.identity.phone``) and a flag is added
  (``email_invalid``, ``phone_invalid``, ``country_unknown``, ``region_unknown``, ``domain_invalid``).
  A value that is merely re-written into its canonical form ("(415) 555-2671" -> "+14155552671",
  "United Kingdom" -> "GB") is replaced without a copy: it is the same information.
- Informational flags keep the value: ``email_free``, ``email_disposable``, ``email_role``,
  ``phone_unverified`` (a national number with no country to read it in; kept as written).
- ``normalize`` is idempotent: normalizing a normalized lead changes nothing. Every slow-path result
  is checked to be a fixed point of its own normalizer, and is rejected (flagged) when it is not.

Speed: the per-value functions are pure and cached (``lru_cache``); emails with a plain ASCII local part
skip email-validator and only the domain goes through it (once per domain, cached) — a full
``validate_email`` costs ~18 µs, the fast path ~1 µs with the same verdicts. nameparser (~100 µs)
only runs when first/last are missing or need their case fixed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import msgspec
import phonenumbers
import pycountry
from disposable_email_domains import blocklist as _DISPOSABLE
from email_validator import EmailNotValidError, validate_email
from nameparser import HumanName
from nameparser.config import CONSTANTS
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    REGION_CODE_FOR_NON_GEO_ENTITY,
    PhoneMetadata,
    country_code_for_valid_region,
    national_significant_number,
)
from phonenumbers.phonenumberutil import _is_number_matching_desc
from phonenumbers.re_util import re_compile

from connector.keys import company_key, fold, is_free_mail, registrable_domain
from connector.model import Company, Identity, Intent, Lead, Origin, Role
from connector.transforms import NAME_WORDS as _NAME_WORDS
from connector.transforms import split_name

# ---- email ------------------------------------------------------------------------------------------------------

ROLE_LOCAL_PARTS = frozenset(
    {"info", "sales", "admin", "contact", "hello", "support", "office", "marketing", "team", "noreply", "no-reply",
     "billing", "accounts", "enquiries", "inquiries", "hr", "jobs", "careers", "webmaster", "postmaster"}
)

_LOCAL_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


@lru_cache(maxsize=16384)
def _validated(address: str) -> str | None:
    # Cached: a normalized address is validated again to check it is a fixed point (~100 µs for Unicode).
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except (EmailNotValidError, ValueError, UnicodeError, IndexError):
        return None


# A plain ASCII domain email-validator is sure to accept unchanged (lower-case LDH labels, alphabetic TLD, not a
# special-use name): accepting it here skips a ~15 µs call. Anything else goes to email-validator, which decides.
_PLAIN_DOMAIN = re.compile(r"(?:(?!..--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
_SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


@lru_cache(maxsize=16384)
def _email_domain(domain: str) -> str | None:
    """The domain as email-validator normalizes it (lower-case, Unicode NFC), or None if invalid."""
    lowered = domain.lower()
    if len(lowered) <= 253 and _PLAIN_DOMAIN.match(lowered) and lowered.rpartition(".")[2] not in _SPECIAL_USE:
        return lowered
    first = _validated(f"a@{domain}")
    if first is None:
        return None
    normalized = first.partition("@")[2]
    return normalized if _validated(f"a@{normalized}") == first else None


@lru_cache(maxsize=65536)
def normalize_email(text: str) -> str | None:
    """Lower-cased, validated address; None if email-validator rejects it (syntax only, no DNS)."""
    address = text.strip()
    local, at, domain = address.rpartition("@")
    if at and len(local) <= 64 and len(address) <= 254 and _LOCAL_ATOM.match(local):
        normalized_domain = _email_domain(domain)
        return f"{local.lower()}@{normalized_domain}" if normalized_domain else None
    normalized = _validated(address)
    # Lower-casing can break an exotic Unicode address; only a fixed point is a normalized address.
    if normalized is None or _validated(normalized) != normalized:
        return None
    return normalized


@lru_cache(maxsize=16384)
def email_domain_flags(domain: str) -> tuple[str, ...]:
    """("email_free",) / ("email_disposable",) for a normalized email domain."""
    flags: list[str] = []
    # tldextract only for sub-domains and multi-part suffixes ("mail.gmx.co.uk"); "gmx.de" is its own registrable
    registrable = (registrable_domain(domain) or domain) if domain.count(".") > 1 else domain
    if is_free_mail(domain):
        flags.append("email_free")
    if domain in _DISPOSABLE or registrable in _DISPOSABLE:
        flags.append("email_disposable")
    return tuple(flags)


@lru_cache(maxsize=65536)
def company_domain(value: str) -> str | None:
    """Registrable domain of a website, host or email domain, only if it is its own fixed point."""
    domain = registrable_domain(value)
    if domain is None or (domain != value and registrable_domain(domain) != domain):
        return None
    return domain


# ---- phone ------------------------------------------------------------------------------------------------------


# phonenumbers compiles its metadata patterns with re.compile on every use, which leans on the re module's
# bounded cache (512 patterns, shared with every other library): keep them compiled instead. Same answers.
phonenumbers.enable_pattern_cache()



def _has_type(nsn: str, metadata: PhoneMetadata) -> bool:
    """``_number_type_helper(nsn, metadata) != UNKNOWN`` with fixed-line and mobile tried first.

    phonenumbers tries premium-rate, toll-free, ... before fixed-line and mobile; whether any matches does not
    depend on the order, and most numbers are fixed-line or mobile, so they are found after one or two patterns.
    """
    if not _is_number_matching_desc(nsn, metadata.general_desc):
        return False
    if _is_number_matching_desc(nsn, metadata.fixed_line):
        return True
    if not metadata.same_mobile_and_fixed_line_pattern and _is_number_matching_desc(nsn, metadata.mobile):
        return True
    return any(
        _is_number_matching_desc(nsn, desc)
        for desc in (metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
                     metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail)
    )


def _valid_for_region(number: phonenumbers.PhoneNumber, region: str | None) -> bool:
    """``phonenumbers.is_valid_number_for_region``, by ``_has_type``."""
    code = number.country_code
    if region is None or code is None:
        return False
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region.upper())
    if metadata is None or (region != REGION_CODE_FOR_NON_GEO_ENTITY and code != country_code_for_valid_region(region)):
        return False
    return _has_type(national_significant_number(number), metadata)


def _valid(number: phonenumbers.PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number``: valid for the region of the number (``region_code_for_number``)."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(number.country_code) if number.country_code is not None else None
    if regions is None:
        return False
    if len(regions) == 1:
        return _valid_for_region(number, regions[0])
    nsn = national_significant_number(number)
    for region in regions:  # _region_code_for_number_from_list
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re_compile(metadata.leading_digits).match(nsn):
                return _valid_for_region(number, region)
        elif _has_type(nsn, metadata):
            return _valid_for_region(number, region)
    return False


_NANP_REGIONS = frozenset({"US", "CA", "PR", "GU", "VI", "AS", "MP"})
_PHONE_PUNCT = str.maketrans("", "", " -.()/\u00a0")


@lru_cache(maxsize=65536)
def normalize_phone(text: str, region: str | None) -> tuple[str | None, str | None]:
    """(E.164, None), (text, "phone_unverified") without a region to read a national number in, or (None, flag)."""
    raw = text.strip()
    if not raw or len(raw) > 64:
        return None, "phone_invalid"
    nanp = _nanp(raw, region)
    if nanp is not None:
        return (nanp, None) if nanp else (None, "phone_invalid")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and not raw.startswith("+"):
            digits = sum(c.isdigit() for c in raw)
            if 7 <= digits <= 15:
                return raw, "phone_unverified"
        return None, "phone_invalid"
    if not _valid(number):
        return None, "phone_invalid"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def _nanp(raw: str, region: str | None) -> str | None:
    """North-American numbers written plainly ("(617) 555-0148", "+1 617.555.0148"): phonenumbers checks the
    number without its full parse (~4 µs instead of ~18), with the same verdict, since parse would read the
    same ten digits. Returns the E.164 number, "" when invalid, None when the general path must decide."""
    digits = raw.translate(_PHONE_PUNCT)
    plus = digits.startswith("+1")
    if plus:
        digits = digits[2:]
    elif region not in _NANP_REGIONS:
        return None
    if len(digits) == 11 and digits[0] == "1" and not plus:
        digits = digits[1:]
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return None
    number = phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))
    own = region if region in _NANP_REGIONS else "US"
    if _valid_for_region(number, own) or _valid(number):
        return "+1" + digits
    return ""


# ---- country and region -----------------------------------------------------------------------------------------

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


# ---- names ------------------------------------------------------------------------------------------------------


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    return text or None


# Words nameparser capitalizes in its own way ("McDonald", "van", "III"); every other plain ASCII word comes out
# of it as str.capitalize() does, which costs ~0.1 µs instead of ~85 µs.
_SPECIAL_WORDS = _NAME_WORDS | frozenset(CONSTANTS.capitalization_exceptions)


def _capitalized(part: str, last: bool) -> str:
    lowered = part.lower()
    if part.isascii() and part.isalpha() and not lowered.startswith(("mc", "mac", "fitz")) and (
        lowered not in _SPECIAL_WORDS
    ):
        return part.capitalize()
    return _capitalized_by_nameparser(part, last)


@lru_cache(maxsize=16384)
def _capitalized_by_nameparser(part: str, last: bool) -> str:
    try:
        human = HumanName(last=part) if last else HumanName(first=part)
        human.capitalize(force=True)
        fixed = str(human.last if last else human.first)
    except Exception:  # nameparser is heuristic; never let it stop a lead
        return part
    return fixed if fixed.strip() else part


def fix_name_case(part: str | None, *, last: bool = False) -> str | None:
    """ "JOHN" / "john" -> "John", "MCDONALD" -> "McDonald"; mixed case is left as the person wrote it."""
    if not part or not (part.isupper() or part.islower()):
        return part
    fixed = _capitalized(part, last)
    if (fixed.isupper() or fixed.islower()) and _capitalized(fixed, last) != fixed:
        return part  # no stable capitalisation: keep what was written
    return fixed


# ---- role -------------------------------------------------------------------------------------------------------

_SENIORITY = [
    ("vp", r"\b(?:vice[\s-]*president|s?e?vp|avp)\b"),
    ("c_level", r"\b(?:chief|c[aefimoprst]o|ciso|chro|founder|co-?founder|president|owner|managing director|"
                r"general manager|gm|executive director|partner|principal)\b"),
    ("director", r"\b(?:director|head of|head|directeur|direktor|leiter)\b"),
    ("manager", r"\b(?:manager|mgr|lead|supervisor|team lead|teamleiter)\b"),
]
_SENIORITY_RE = [(name, re.compile(pattern)) for name, pattern in _SENIORITY]
_OWNER_LIKE = re.compile(r"\b(?:product|process|data|service|account|content) owner\b")
SENIORITIES = frozenset({"c_level", "vp", "director", "manager", "individual"})

_DEPARTMENTS = [
    ("sales", r"\b(?:sales|account executive|business development|bdr|sdr|ae|revenue|cro|partnerships?)\b"),
    ("marketing", r"\b(?:marketing|cmo|growth|demand gen\w*|brand|content|seo|communications|pr)\b"),
    ("it", r"\b(?:cio|ciso|it|information technology|security|infrastructure|systems|sysadmin|network)\b"),
    ("engineering", r"\b(?:cto|engineer\w*|developer|software|devops|architect|programmer|r&d)\b"),
    ("product", r"\b(?:cpo|product)\b"),
    ("finance", r"\b(?:cfo|finance|financial|accounting|accountant|controller|treasurer|procurement)\b"),
    ("operations", r"\b(?:coo|operations|ops|revops|logistics|supply chain)\b"),
    ("hr", r"\b(?:chro|hr|human resources|people|talent|recruit\w*)\b"),
    ("customer_success", r"\b(?:customer success|customer support|support|customer service|cs)\b"),
    ("legal", r"\b(?:legal|counsel|compliance|attorney|lawyer|privacy)\b"),
    # last: "VP Engineering" is engineering, "Product Owner" is product
    ("executive", r"\b(?:ceo|chief executive|founder|co-?founder|president|owner|managing director|general manager)\b"),
]
_DEPARTMENT_RE = [(name, re.compile(pattern)) for name, pattern in _DEPARTMENTS]
DEPARTMENTS = frozenset(name for name, _ in _DEPARTMENTS)


@lru_cache(maxsize=16384)
def seniority_of(title: str) -> str | None:
    """Job title -> c_level / vp / director / manager / individual (None for an empty title)."""
    text = fold(title)
    if not text.strip():
        return None
    for name, pattern in _SENIORITY_RE:
        if pattern.search(text) and not (name == "c_level" and _OWNER_LIKE.search(text) and "chief" not in text):
            return name
    return "individual"


@lru_cache(maxsize=16384)
def department_of(title: str) -> str | None:
    text = fold(title)
    for name, pattern in _DEPARTMENT_RE:
        if pattern.search(text):
            return name
    return None


# ---- the lead ---------------------------------------------------------------------------------------------------


class _Notes:
    """Flags and displaced raw values collected while normalizing one lead."""

    __slots__ = ("_base", "extra", "flags")

    def __init__(self, lead: Lead) -> None:
        self.flags: list[str] = list(lead.flags)
        self.extra: dict[str, Any] | None = None
        self._base = lead.extra

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)

    def reject(self, path: str, raw: Any, flag: str) -> None:
        """Clear a field the value of which is unusable: keep it under raw.<path> and flag it."""
        self.flag(flag)
        if self.extra is None:
            self.extra = dict(self._base)
        key, n = f"raw.{path}", 2
        while key in self.extra and self.extra[key] != raw:
            key, n = f"raw.{path}[{n}]", n + 1
        self.extra[key] = raw


def _email(identity: Identity, notes: _Notes) -> str | None:
    raw = identity.email
    if raw is None or not raw.strip():
        return None
    email = normalize_email(raw)
    if email is None:
        notes.reject("identity.email", raw, "email_invalid")
        return None
    local, _, domain = email.rpartition("@")
    for flag in email_domain_flags(domain):
        notes.flag(flag)
    if local in ROLE_LOCAL_PARTS:
        notes.flag("email_role")
    return email


def _country(company: Company, notes: _Notes) -> str | None:
    raw = company.country
    if raw is None or not raw.strip():
        return None
    code = country_code(raw)
    if code is None or country_code(code) != code:
        notes.reject("company.country", raw, "country_unknown")
        return None
    return code


def _domain(company: Company, email: str | None, email_flags: tuple[str, ...], notes: _Notes) -> str | None:
    if company.domain and company.domain.strip():
        domain = company_domain(company.domain.strip().lower())
        if domain is not None:
            return domain
        notes.reject("company.domain", company.domain, "domain_invalid")  # then try the website and email
    if company.website and company.website.strip():
        domain = company_domain(company.website.strip().lower())
        if domain is not None:
            return domain
    if email is not None and not email_flags:
        return company_domain(email.rpartition("@")[2])
    return None


def normalize(lead: Lead, *, default_country: str | None = None) -> Lead:
    """Normalize every field the core decides on; bad values become flags (see the module docstring).

    ``default_country`` (ISO alpha-2) is the country assumed when the lead names none: the region to read
    a national phone number in, and the country of a bare state code ("NY") that resolves in it.
    """
    notes = _Notes(lead)
    identity, company, role = lead.identity, lead.company, lead.role

    email = _email(identity, notes)
    email_flags = email_domain_flags(email.rpartition("@")[2]) if email else ()

    country = _country(company, notes)
    region: str | None = None
    if company.region is not None and company.region.strip():
        region = region_code(company.region, country or default_country)
        if region is None and country is None and default_country:
            region = region_code(company.region, None)
        if region is None or region_code(region, region[:2]) != region:
            notes.reject("company.region", company.region, "region_unknown")
            region = None
        elif country is None:
            country = region.partition("-")[0]
        elif not region.startswith(country + "-"):
            notes.reject("company.region", company.region, "region_unknown")
            region = None

    phone: str | None = None
    if identity.phone is not None and identity.phone.strip():
        phone, flag = normalize_phone(identity.phone, country or default_country)
        if phone is None:
            notes.reject("identity.phone", identity.phone, flag or "phone_invalid")
        elif flag:
            notes.flag(flag)

    first, last, full = _clean(identity.first_name), _clean(identity.last_name), _clean(identity.full_name)
    if full and (first is None or last is None):
        parts = split_name(full)
        first = first or parts.first
        last = last or parts.last
    first, last = fix_name_case(first), fix_name_case(last, last=True)

    name = _clean(company.name)
    title = _clean(role.title)
    seniority = _clean(role.seniority)
    if seniority is not None and seniority not in SENIORITIES and seniority_of(seniority) != "individual":
        seniority = seniority_of(seniority)  # "VP" or "Director" written by hand; anything else is kept as written
    department = _clean(role.department) or (department_of(title) if title else None)

    new_identity = Identity(email=email, phone=phone, first_name=first, last_name=last, full_name=full)
    new_company = msgspec.structs.replace(
        company,
        name=name,
        normalized_name=company_key(name) if name else _clean(company.normalized_name),
        domain=_domain(company, email, email_flags, notes),
        website=_clean(company.website),
        industry=_clean(company.industry),
        country=country,
        region=region,
        postal_code=_clean(company.postal_code.upper()) if company.postal_code else None,
        city=_clean(company.city),
    )
    new_role = Role(
        title=title, seniority=seniority or (seniority_of(title) if title else None), department=department
    )
    return msgspec.structs.replace(
        lead,
        identity=new_identity,
        company=new_company,
        role=new_role,
        origin=_origin(lead.origin),
        intent=_intent(lead.intent),
        extra=notes.extra if notes.extra is not None else lead.extra,
        flags=tuple(notes.flags),
    )


def _origin(origin: Origin) -> Origin:
    return msgspec.structs.replace(
        origin,
        utm_source=_clean(origin.utm_source),
        utm_medium=_clean(origin.utm_medium),
        utm_campaign=_clean(origin.utm_campaign),
        utm_term=_clean(origin.utm_term),
        utm_content=_clean(origin.utm_content),
        referrer=_clean(origin.referrer),
    )


def _intent(intent: Intent) -> Intent:
    if not intent.requests and intent.message is None:
        return intent
    requests = tuple(dict.fromkeys(r for r in (_clean(x.lower()) for x in intent.requests) if r))
    return Intent(requests=requests, message=(intent.message.strip() or None) if intent.message else None)


def warm_up() -> None:
    """Load what the libraries load lazily on first use (every country's phone metadata, the IDNA tables), so a
    long-running worker pays it once at start rather than on its first leads."""
    import importlib

    from phonenumbers.phonemetadata import PhoneMetadata

    for module in ("idna.idnadata", "idna.uts46data"):  # email-validator's non-ASCII domains
        importlib.import_module(module)

    PhoneMetadata.load_all()
