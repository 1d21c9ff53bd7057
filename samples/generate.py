"""Generate the bundled sample leads reproducibly (Faker, fixed seed).

    uv run python samples/generate.py            # writes samples/leads.jsonl and samples/leads.csv

Each line is a website-form payload as the marketing site posts it (see mappings/sources/website.yaml),
with the tracking snippet's behaviour events. The mix is chosen to exercise every scoring, tagging and
routing rule of the example company in rules/: every territory, the enterprise pod, the healthcare
specialist, VIP accounts, language skills, existing customers, free-mail and disposable addresses,
students and competitors, leads at night and on weekends, and broken values.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from faker import Faker

SEED = 20261122
N = 240
ANCHOR = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)  # a Monday; submissions spread over the week after it

US = {  # state -> (city, zip prefix, area code)
    "NY": ("New York", "100", "212"), "MA": ("Boston", "021", "617"), "PA": ("Philadelphia", "191", "215"),
    "NJ": ("Newark", "071", "973"), "CT": ("Hartford", "061", "860"), "GA": ("Atlanta", "303", "404"),
    "FL": ("Miami", "331", "305"), "NC": ("Charlotte", "282", "704"), "TN": ("Nashville", "372", "615"),
    "CA": ("San Francisco", "941", "415"), "WA": ("Seattle", "981", "206"), "OR": ("Portland", "972", "503"),
    "TX": ("Austin", "787", "512"), "IL": ("Chicago", "606", "312"), "CO": ("Denver", "802", "303"),
}
EMEA = {  # country -> (city, postal code, phone prefix)
    "United Kingdom": ("London", "EC1A 1BB", "+44 20 7946 "), "Germany": ("Berlin", "10115", "+49 30 "),
    "France": ("Paris", "75001", "+33 1 "), "Spain": ("Madrid", "28001", "+34 91 "),
    "Netherlands": ("Amsterdam", "1012", "+31 20 "), "Sweden": ("Stockholm", "111 22", "+46 8 "),
    "Ireland": ("Dublin", "D02", "+353 1 "), "United Arab Emirates": ("Dubai", "", "+971 4 "),
}
OTHER = {"Brazil": ("São Paulo", "01000", "+55 11 "), "Japan": ("Tokyo", "100-0001", "+81 3 "),
         "Australia": ("Sydney", "2000", "+61 2 "), "Mexico": ("Mexico City", "06000", "+52 55 "),
         "Canada": ("Toronto", "M5H", "+1 416 ")}
INDUSTRIES = ["Hospital & Health Care", "Healthcare", "Financial Services", "Banking", "Computer Software",
              "Retail", "Manufacturing", "Education", "Logistics", "Insurance", "Biotechnology", "Media"]
SIZES = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1,001-5,000", "5000+", "10k"]
TITLES = ["CEO", "Chief Revenue Officer", "VP Sales", "VP of Marketing", "Director of Revenue Operations",
          "Head of Sales Operations", "Marketing Manager", "Sales Ops Analyst", "Account Executive",
          "Software Engineer", "Student", "Founder", "CTO", "Demand Generation Manager", "Intern"]
INTERESTS = ["demo", "pricing", "contact sales", "free trial", "newsletter", "", ""]
VIP = [("Globex Corporation", "globex.com"), ("Initech", "initech.com"), ("Umbrella Corporation", "umbrella-corp.com")]
CUSTOMERS = [("Contoso Ltd", "contoso.com"), ("Fabrikam Inc", "fabrikam.com")]
COMPETITORS = [("LeanData", "leandata.com"), ("Chili Piper", "chilipiper.com")]
FREE = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.co.uk", "gmx.de"]
DISPOSABLE = ["mailinator.com", "10minutemail.com"]
UTM = [("google", "cpc", "q4-routing"), ("linkedin", "paid_social", "revops-leaders"), ("newsletter", "email", "nov"),
       ("g2", "referral", ""), ("", "", "")]
EVENT_KINDS = ["page_view", "pricing_visit", "download", "webinar", "email_click"]


def _events(rng: random.Random, at: datetime) -> list[dict[str, str]]:
    count = rng.choice([0, 0, 1, 2, 3, 5, 8])
    out = []
    for _ in range(count):
        ago = timedelta(days=rng.choice([0, 1, 3, 7, 14, 30, 60, 120]), hours=rng.randint(0, 23))
        kind = rng.choice(EVENT_KINDS)
        detail = {"download": "Lead routing playbook (PDF)", "webinar": "Speed-to-lead live"}.get(kind)
        event = {"kind": kind, "at": (at - ago).isoformat().replace("+00:00", "Z")}
        if detail:
            event["detail"] = detail
        out.append(event)
    return out


def _slug(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())[:18] or "company"


def generate(n: int = N, seed: int = SEED) -> list[dict[str, object]]:
    fake = Faker(["en_US", "en_GB", "de_DE", "es_ES"])
    Faker.seed(seed)
    rng = random.Random(seed)
    leads: list[dict[str, object]] = []
    for i in range(n):
        kind = rng.random()
        first, last = fake["en_US"].first_name(), fake["en_US"].last_name()
        company = fake["en_US"].company()
        domain = f"{_slug(company)}.com"
        if kind < 0.50:
            state = rng.choice(list(US))
            city, zip3, area = US[state]
            place = {"country": rng.choice(["United States", "US", "USA"]), "state": state, "city": city,
                     "zip": f"{zip3}{rng.randint(0, 99):02d}"}
            phone = f"({area}) 555-{rng.randint(100, 199):04d}"
        elif kind < 0.78:
            country = rng.choice(list(EMEA))
            city, postal, prefix = EMEA[country]
            loc = {"Germany": "de_DE", "Spain": "es_ES"}.get(country, "en_GB")
            first, last = fake[loc].first_name(), fake[loc].last_name()
            company = fake[loc].company()
            domain = f"{_slug(company)}.{ {'Germany': 'de', 'Spain': 'es', 'United Kingdom': 'co.uk'}.get(country, 'eu')}"
            place = {"country": country, "city": city, "zip": postal}
            phone = f"{prefix}{rng.randint(1000000, 9999999)}"
        else:
            country = rng.choice(list(OTHER))
            city, postal, prefix = OTHER[country]
            place = {"country": country, "city": city, "zip": postal}
            phone = f"{prefix}{rng.randint(1000000, 9999999)}"
        # special cases, so every rule has leads
        special = rng.random()
        if special < 0.06:
            company, domain = rng.choice(VIP)
        elif special < 0.10:
            company, domain = rng.choice(CUSTOMERS)
        elif special < 0.12:
            company, domain = rng.choice(COMPETITORS)
        email_domain = domain
        if rng.random() < 0.12:
            email_domain = rng.choice(FREE)
        elif rng.random() < 0.03:
            email_domain = rng.choice(DISPOSABLE)
        email = f"{first}.{last}@{email_domain}".lower().replace(" ", "").replace("'", "")
        at = ANCHOR + timedelta(minutes=rng.randint(0, 7 * 24 * 60 - 1))
        utm = rng.choice(UTM)
        industry = rng.choice(INDUSTRIES)
        size = rng.choice(SIZES)
        lead: dict[str, object] = {
            "email": email,
            "first_name": first,
            "last_name": last,
            "phone": phone,
            "company": company,
            "website": f"https://www.{domain}/" if rng.random() < 0.7 else "",
            "job_title": rng.choice(TITLES),
            "company_size": size,
            "industry": industry,
            **place,
            "interest": rng.choice(INTERESTS),
            "message": fake["en_US"].sentence(nb_words=10) if rng.random() < 0.4 else "",
            "consent": rng.choice(["on", "on", "true", ""]),
            "utm_source": utm[0], "utm_medium": utm[1], "utm_campaign": utm[2],
            "page_url": f"https://www.northwind-analytics.example/{rng.choice(['demo', 'pricing', 'contact'])}",
            "submitted_at": at.isoformat().replace("+00:00", "Z"),
            "events": _events(rng, at),
        }
        if place.get("country") in ("Germany", "Spain", "Mexico") and rng.random() < 0.7:
            lead["language"] = {"Germany": "de"}.get(str(place["country"]), "es")
        if rng.random() < 0.04:  # broken values a real form sends: they become flags, never errors
            lead["phone"] = rng.choice(["n/a", "12", "call me"])
        if rng.random() < 0.05:
            lead.pop("first_name")
            lead.pop("last_name")
            lead["name"] = f"{first} {last}".upper()
        leads.append(lead)
    return leads


# Records the CRM already has: two customer accounts with their owners, and a few known people.
# simulate indexes them as the service's identity index would; the demo seeds the sandbox CRM with them.
CRM_RECORDS = [
    {"crm": "hubspot", "id": "9001", "kind": "account", "company": "Contoso Ltd", "domain": "contoso.com",
     "owner_id": "51200011"},
    {"crm": "hubspot", "id": "9002", "kind": "account", "company": "Fabrikam Inc", "domain": "fabrikam.com",
     "owner_id": "51200014"},
]


def known_people(leads: list[dict[str, object]]) -> list[dict[str, object]]:
    """Every 25th sample lead is already a contact in the CRM, owned by the rep who has the account."""
    people = []
    for i, lead in enumerate(leads[::25]):
        people.append({"crm": "hubspot", "id": str(8000 + i), "kind": "contact", "email": lead["email"],
                       "first_name": lead.get("first_name"), "last_name": lead.get("last_name"),
                       "company": lead["company"], "owner_id": "51200013"})
    return people


def main() -> None:
    here = Path(__file__).parent
    leads = generate()
    with (here / "crm_records.jsonl").open("w", encoding="utf-8") as fh:
        for record in CRM_RECORDS + known_people(leads):
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    with (here / "leads.jsonl").open("w", encoding="utf-8") as fh:
        for lead in leads:
            fh.write(json.dumps(lead, ensure_ascii=False) + "\n")
    columns = sorted({k for lead in leads for k in lead})
    with (here / "leads.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for lead in leads:
            writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in lead.items()})
    print(f"wrote {len(leads)} leads to {here / 'leads.jsonl'} and {here / 'leads.csv'}")


if __name__ == "__main__":
    main()
