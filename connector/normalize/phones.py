"""Phone numbers to E.164 (phonenumbers), with the library's validity checks made cheaper and the same answers."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    REGION_CODE_FOR_NON_GEO_ENTITY,
    PhoneMetadata,
    country_code_for_valid_region,
    national_significant_number,
)
from phonenumbers.phonenumberutil import _is_number_matching_desc
from phonenumbers.re_util import re_compile

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
