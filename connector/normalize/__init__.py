"""Normalize and validate a canonical lead with each field's own library.

email-validator (syntax only, no DNS), phonenumbers (E.164), pycountry (ISO 3166 codes), nameparser,
disposable-email-domains plus a free-mail list, and the identity keys from ``connector.keys``.

Rules every field follows:
- A bad value is never an exception and never silently dropped: the field is cleared, the value the
  sender gave is kept in ``extra["raw.<field path>"]`` (e.g. ``raw.identity.phone``) and a flag is added
  (``email_invalid``, ``phone_invalid``, ``country_unknown``, ``region_unknown``, ``domain_invalid``: not a
  domain, or a free-mail provider's, which stands for no company).
  A value that is merely re-written into its canonical form ("(415) 555-2671" -> "+14155552671",
  "United Kingdom" -> "GB") is replaced without a copy: it is the same information.
- Informational flags keep the value: ``email_free``, ``email_disposable``, ``email_role``,
  ``phone_unverified`` (a national number with no country to read it in; kept as written).
- ``normalize`` is idempotent: normalizing a normalized lead changes nothing. Every slow-path result
  is checked to be a fixed point of its own normalizer, and is rejected (flagged) when it is not.

Modules: ``emails``, ``phones``, ``places`` (country and region), ``people`` (name case, seniority and
department from a title), and ``lead`` (``normalize`` itself, which applies them and collects the flags).

Speed: the per-value functions are pure and cached (``lru_cache``); emails with a plain ASCII local part
skip email-validator and only the domain goes through it (once per domain, cached) — a full
``validate_email`` costs ~18 µs, the fast path ~1 µs with the same verdicts. nameparser (~100 µs)
only runs when first/last are missing or need their case fixed.
"""

from connector.normalize.emails import ROLE_LOCAL_PARTS, email_domain_flags, normalize_email
from connector.normalize.lead import normalize, warm_up
from connector.normalize.people import DEPARTMENTS, SENIORITIES, department_of, fix_name_case, seniority_of
from connector.normalize.phones import normalize_phone
from connector.normalize.places import country_code, region_code

__all__ = [
    "DEPARTMENTS",
    "ROLE_LOCAL_PARTS",
    "SENIORITIES",
    "country_code",
    "department_of",
    "email_domain_flags",
    "fix_name_case",
    "normalize",
    "normalize_email",
    "normalize_phone",
    "region_code",
    "seniority_of",
    "warm_up",
]
