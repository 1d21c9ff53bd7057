"""``normalize``: every field of a lead the core decides on, by its own normalizer, with bad values flagged."""

from __future__ import annotations

from typing import Any

import msgspec

from connector.keys import company_domain, company_key
from connector.model import Company, Identity, Intent, Lead, Origin, Role
from connector.normalize.emails import ROLE_LOCAL_PARTS, email_domain_flags, normalize_email
from connector.normalize.people import SENIORITIES, department_of, fix_name_case, seniority_of
from connector.normalize.phones import normalize_phone
from connector.normalize.places import country_code, region_code
from connector.transforms import split_name


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    return text or None


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
    """The company's domain (``keys.company_domain``): the one given, else the website's, else a company email's.

    A given domain that stands for no company (not a domain, or a free-mail provider's) is rejected.
    """
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
    """Normalize every field the core decides on; bad values become flags (see the package docstring).

    ``default_country`` (ISO alpha-2) is the country assumed when the lead names none: the region to read
    a national phone number in, and the country of a bare state code ("NY") that resolves in it.
    """
    notes = _Notes(lead)
    identity, company = lead.identity, lead.company

    email = _email(identity, notes)
    email_flags = email_domain_flags(email.rpartition("@")[2]) if email else ()
    country, region = _place(company, default_country, notes)
    phone = _phone(identity, country or default_country, notes)

    first, last, full = _clean(identity.first_name), _clean(identity.last_name), _clean(identity.full_name)
    if full and (first is None or last is None):
        parts = split_name(full)
        first = first or parts.first
        last = last or parts.last
    first, last = fix_name_case(first), fix_name_case(last, last=True)

    name = _clean(company.name)
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
    return msgspec.structs.replace(
        lead,
        identity=Identity(email=email, phone=phone, first_name=first, last_name=last, full_name=full),
        company=new_company,
        role=_role(lead.role),
        origin=_origin(lead.origin),
        intent=_intent(lead.intent),
        extra=notes.extra if notes.extra is not None else lead.extra,
        flags=tuple(notes.flags),
    )


def _place(company: Company, default_country: str | None, notes: _Notes) -> tuple[str | None, str | None]:
    """(country, region): a region names its country when none is given, and must lie in the one given."""
    country = _country(company, notes)
    if company.region is None or not company.region.strip():
        return country, None
    region = region_code(company.region, country or default_country)
    if region is None and country is None and default_country:
        region = region_code(company.region, None)
    if region is None or region_code(region, region[:2]) != region:
        notes.reject("company.region", company.region, "region_unknown")
        return country, None
    if country is None:
        return region.partition("-")[0], region
    if not region.startswith(country + "-"):
        notes.reject("company.region", company.region, "region_unknown")
        return country, None
    return country, region


def _phone(identity: Identity, region: str | None, notes: _Notes) -> str | None:
    if identity.phone is None or not identity.phone.strip():
        return None
    phone, flag = normalize_phone(identity.phone, region)
    if phone is None:
        notes.reject("identity.phone", identity.phone, flag or "phone_invalid")
    elif flag:
        notes.flag(flag)
    return phone


def _role(role: Role) -> Role:
    title = _clean(role.title)
    seniority = _clean(role.seniority)
    if seniority is not None and seniority not in SENIORITIES and seniority_of(seniority) != "individual":
        seniority = seniority_of(seniority)  # "VP" or "Director" written by hand; anything else is kept as written
    department = _clean(role.department) or (department_of(title) if title else None)
    return Role(title=title, seniority=seniority or (seniority_of(title) if title else None), department=department)


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
