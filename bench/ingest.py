"""Ingest speed: map (website form -> Lead) and normalize, on one core. Prints leads/s; asserts nothing.

    uv run python bench/ingest.py [N] [--seed S]

Payloads are varied like real traffic (Faker, fixed seed): full names vs first/last, phone formats,
free-mail and company emails, size ranges in several spellings, country names and codes.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import phonenumbers
from faker import Faker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.keys import fold  # noqa: E402
from connector.mapping import load_source_mapping, map_payload  # noqa: E402
from connector.normalize import normalize  # noqa: E402

SIZES = ["1-10", "11-50", "50-200", "201-500", "500-1,000", "1,000+", "10k", "5000", "10,001+", "250 employees", ""]
COUNTRIES = [("United States", "US", "en_US"), ("USA", "US", "en_US"), ("US", "US", "en_US"),
             ("United Kingdom", "GB", "en_GB"), ("UK", "GB", "en_GB"), ("Germany", "DE", "de_DE"),
             ("France", "FR", "fr_FR"), ("Canada", "CA", "en_CA"), ("Australia", "AU", "en_AU")]
TITLES = ["VP Sales", "Director of Marketing", "Sales Operations Manager", "Chief Revenue Officer", "Account Executive",
          "Head of RevOps", "Software Engineer", "CFO", "Marketing Coordinator", "IT Director", ""]
INTERESTS = ["demo", "pricing", "contact_sales", "Talk to sales", "newsletter", ""]
FREE = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.co.uk", "gmx.de"]


PHONE_FORMATS = [phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                 phonenumbers.PhoneNumberFormat.E164]


def phone(rnd: random.Random, region: str) -> str:
    """A valid number of the region written the way people type it (Faker's own numbers are mostly invalid:
    random area codes), with some junk mixed in."""
    if rnd.random() < 0.05:
        return rnd.choice(["n/a", "12345", "555-CALL-NOW", "+1 (000) 000-0000", "call me"])
    kind = rnd.choice([phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE])
    example = phonenumbers.example_number_for_type(region, kind)
    for _ in range(20):
        digits = str(example.national_number)
        candidate = phonenumbers.PhoneNumber(
            country_code=example.country_code,
            national_number=int(digits[:-4] + f"{rnd.randrange(10_000):04d}"),
        )
        if phonenumbers.is_valid_number(candidate):
            text = phonenumbers.format_number(candidate, rnd.choice(PHONE_FORMATS))
            return text.replace(" ", rnd.choice([" ", "-", "."])) if rnd.random() < 0.3 else text
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)


US_AREA = ["212", "415", "617", "312", "646", "303", "512", "206", "404", "214", "305", "702", "919", "503"]


def us_phone(rnd: random.Random) -> str:
    exchange = f"{rnd.randrange(2, 10)}{rnd.randrange(100):02d}"
    body = f"{rnd.choice(US_AREA)}{exchange}{rnd.randrange(10_000):04d}"
    a, b, c = body[:3], body[3:6], body[6:]
    return rnd.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}", f"1-{a}-{b}-{c}", body])


def payloads(n: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    fakers = {loc: Faker(loc) for _, _, loc in COUNTRIES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    companies = [fakers["en_US"].company() for _ in range(max(50, n // 8))]
    out: list[dict[str, Any]] = []
    for _ in range(n):
        country, code, loc = rnd.choice(COUNTRIES)
        fake = fakers[loc]
        first, last = fake.first_name(), fake.last_name()
        company = rnd.choice(companies)
        slug = "".join(c for c in company.lower() if c.isalnum())[:20] or "acme"
        domain = rnd.choice(FREE) if rnd.random() < 0.2 else f"{slug}.com"
        local = re.sub(r"[^a-z.]", "", fold(f"{first}.{last}"))  # addresses are ASCII even when names are not
        if rnd.random() < 0.02:
            local = rnd.choice([f"{first} {last}", f"{first}@{last}", ""])  # typed wrong
        p: dict[str, Any] = {
            "email": f"{local}@{domain}" if rnd.random() < 0.9 else f" {local.title()}@{domain.upper()}",
            "company": company,
            "website": f"https://www.{slug}.com/" if rnd.random() < 0.7 else "",
            "job_title": rnd.choice(TITLES),
            "company_size": rnd.choice(SIZES),
            "country": country,
            "interest": rnd.choice(INTERESTS),
            "consent": rnd.choice(["on", "", "yes", "true"]),
            "utm_source": rnd.choice(["google", "linkedin", "newsletter", ""]),
            "utm_medium": rnd.choice(["cpc", "paid_social", "email", ""]),
            "utm_campaign": rnd.choice(["q3-launch", "emea-demand", "retargeting", ""]),
            "page_url": "https://www.example.com/demo",
            "referrer": "https://www.google.com/",
        }
        if rnd.random() < 0.8:
            p["first_name"], p["last_name"] = (first.upper(), last.upper()) if rnd.random() < 0.05 else (first, last)
        else:
            p["name"] = f"{first} {last}"
        if rnd.random() < 0.7:
            p["phone"] = us_phone(rnd) if code == "US" and rnd.random() < 0.9 else phone(rnd, code)
        if code == "US":
            p["state"] = rnd.choice(["NY", "CA", "Texas", "MA", "Washington", "FL"])
            p["zip"] = fake.postcode()
        if rnd.random() < 0.3:
            p["message"] = fake.sentence()
        if rnd.random() < 0.2:
            p["gclid"] = fake.pystr(min_chars=20, max_chars=30)
        out.append(p)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    mapping = load_source_mapping(ROOT / "mappings" / "sources" / "website.yaml")
    data = payloads(args.n, args.seed)
    gc.disable()  # measure the code, not when the collector happens to run
    t0 = time.perf_counter()
    leads = [map_payload(p, mapping) for p in data]
    t1 = time.perf_counter()
    normalized = [normalize(lead) for lead in leads]
    t2 = time.perf_counter()
    gc.enable()
    flagged = sum(1 for lead in normalized if lead.flags)
    map_s, norm_s = t1 - t0, t2 - t1
    print(f"leads:      {args.n:,} website-form payloads (seed {args.seed}); {flagged:,} got at least one flag")
    print(f"map:        {args.n / map_s:>10,.0f} leads/s  ({map_s / args.n * 1e6:5.1f} µs/lead)")
    print(f"normalize:  {args.n / norm_s:>10,.0f} leads/s  ({norm_s / args.n * 1e6:5.1f} µs/lead)")
    print(f"together:   {args.n / (map_s + norm_s):>10,.0f} leads/s  ({(map_s + norm_s) / args.n * 1e6:5.1f} µs/lead)")


if __name__ == "__main__":
    main()
