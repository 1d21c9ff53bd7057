"""A labelled synthetic list of people, with the duplicates and near-misses real lead lists have.

    uv run python bench/synthetic_people.py OUT.csv [--rows N] [--seed S]

Every row carries ``entity_id``: rows with the same id are the same person. Reproducible (Faker and
``random`` with a fixed seed). Duplicates differ the way real ones do:

- a one-letter typo (substitution, deletion, insertion) or two swapped letters in a name or the email;
- a nickname ("Bob" for Robert, "Liz" for Elizabeth);
- Gmail dots and ``+tags``, upper case, stray whitespace;
- company-name variants ("Acme Inc." / "ACME" / "Acme Incorporated" / "acme.com");
- phone formats ("+1 415-555-2671", "(415) 555-2671", "415.555.2671"), and missing fields;
- a work address on one row and a personal one on the other.

Hard negatives are separate people who look alike: the same name at another company, another person
at the same company (often with the same surname), and family members sharing a surname, a home phone
and a free-mail provider.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from faker import Faker
from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.nicknames import FORMAL_NAMES  # noqa: E402

FIELDS = ("first_name", "last_name", "email", "phone", "company", "domain")
FREE_MAIL = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")
SUFFIXES = ("Inc.", "Inc", "Incorporated", "LLC", "Ltd", "Corp.", "Corporation", "Co.", "")
TLDS = (".com", ".com", ".com", ".io", ".co", ".net", ".co.uk")
LETTERS = "abcdefghijklmnopqrstuvwxyz"

# formal name -> its nicknames, from the table the matcher uses (the generator picks, the matcher must know)
_NICKS: dict[str, list[str]] = {}
for _nick, _formals in FORMAL_NAMES.items():
    for _formal in _formals:
        if _nick != _formal:
            _NICKS.setdefault(_formal, []).append(_nick)
for _v in _NICKS.values():
    _v.sort()


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _ascii(text).lower())


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used_emails: set[str] = set()
        fake = Faker(["en_US", "en_GB", "de_DE", "es_ES", "fr_FR"])
        fake.seed_instance(seed)
        self.first_names = sorted({fake.first_name() for _ in range(3000)} | {n.title() for n in _NICKS})
        self.last_names = sorted({fake.last_name() for _ in range(6000)})
        words = sorted({_ascii(fake.last_name()) for _ in range(4000)} | {_ascii(w.title()) for w in fake.words(400)})
        self.company_words = [w for w in words if w.isalpha() and len(w) >= 3]

    # --- base entities ---------------------------------------------------------------------------------------

    def company(self) -> tuple[str, str]:
        """(base name, domain): "Hartmann Kline" / "hartmannkline.com"."""
        rng = self.rng
        shape = rng.random()
        w = self.company_words
        if shape < 0.4:
            base = rng.choice(w)
        elif shape < 0.7:
            base = f"{rng.choice(w)} {rng.choice(['Labs', 'Systems', 'Health', 'Logistics', 'Software', 'Foods'])}"
        elif shape < 0.9:
            base = f"{rng.choice(w)}-{rng.choice(w)}"
        else:
            base = f"{rng.choice(w)}, {rng.choice(w)} and {rng.choice(w)}"
        label = _slug(base.replace(" and ", "and"))
        return base, label + rng.choice(TLDS)

    def phone(self) -> str:
        rng = self.rng
        return f"{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"

    def person(self, company: tuple[str, str] | None, *, first: str | None = None, last: str | None = None) -> dict[
        str, str
    ]:
        rng = self.rng
        first = first or rng.choice(self.first_names)
        last = last or rng.choice(self.last_names)
        f, la = _slug(first), _slug(last)
        if company and rng.random() < 0.8:
            pattern = rng.choice([f"{f}.{la}", f"{f[0]}{la}", f"{f}", f"{f}{la[0]}", f"{f}_{la}"])
            email = f"{pattern}@{company[1]}"
            while email in self.used_emails:  # a company gives each person their own address
                email = f"{pattern}{rng.randint(2, 99)}@{company[1]}"
        else:
            email = f"{rng.choice([f + '.' + la, f + la, f[0] + la, la + '.' + f])}{rng.randint(1, 999)}@" + rng.choice(
                FREE_MAIL
            )
        self.used_emails.add(email)
        name, domain = company if company else ("", "")
        if name:
            name = f"{name} {rng.choice(SUFFIXES)}".strip()
        return {
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": self.phone() if rng.random() < 0.8 else "",
            "company": name,
            "domain": domain if name and rng.random() < 0.5 else "",
        }

    # --- variations ------------------------------------------------------------------------------------------

    def typo(self, text: str) -> str:
        """One edit: substitute, delete or insert a letter, or swap two neighbours."""
        rng = self.rng
        if len(text) < 3:
            return text
        i = rng.randrange(1, len(text) - 1)  # first letters are rarely mistyped
        op = rng.random()
        if op < 0.3:
            return text[:i] + rng.choice(LETTERS) + text[i + 1 :]
        if op < 0.5:
            return text[:i] + text[i + 1 :]
        if op < 0.7:
            return text[:i] + rng.choice(LETTERS) + text[i:]
        return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]

    def fmt_phone(self, digits: str) -> str:
        a, b, c = digits[:3], digits[3:6], digits[6:]
        return self.rng.choice(
            [f"+1 {a}-{b}-{c}", f"({a}) {b}-{c}", f"{a}.{b}.{c}", digits, f"+1{digits}", f"1-{a}-{b}-{c}",
             f"{a} {b} {c}"]
        )

    def company_variant(self, row: dict[str, str]) -> None:
        base = re.sub(r"\s+(Inc\.?|Incorporated|LLC|Ltd|Corp\.?|Corporation|Co\.)$", "", row["company"])
        if not base:
            return
        choice = self.rng.random()
        if choice < 0.25:
            row["company"] = base.upper()
        elif choice < 0.5:
            row["company"] = f"{base} {self.rng.choice(SUFFIXES)}".strip()
        elif choice < 0.65 and row["email"].endswith(row["domain"] or "\0"):
            row["company"] = row["domain"]
        elif choice < 0.8:
            row["company"] = base.lower()
        else:
            row["company"] = f"The {base}" if not base.startswith("The ") else base[4:]

    def duplicate(self, base: dict[str, str]) -> dict[str, str]:
        rng = self.rng
        row = dict(base)
        ops = rng.sample(
            ["typo_first", "typo_last", "nickname", "email_variant", "case_ws", "company", "missing", "other_email",
             "typo_email"],
            k=rng.choice([1, 1, 2, 2, 3]),
        )
        for op in ops:
            if op == "typo_first":
                row["first_name"] = self.typo(row["first_name"])
            elif op == "typo_last":
                row["last_name"] = self.typo(row["last_name"])
            elif op == "nickname":
                nicks = _NICKS.get(_slug(row["first_name"]))
                if nicks:
                    row["first_name"] = rng.choice(nicks).title()
            elif op == "email_variant" and row["email"]:
                local, _, domain = row["email"].partition("@")
                if domain == "gmail.com":
                    if rng.random() < 0.5:
                        i = rng.randrange(1, len(local))
                        local = local[:i] + "." + local[i:]
                    else:
                        local = f"{local}+{rng.choice(['news', 'crm', 'webinar', 'x'])}"
                row["email"] = f"{local}@{domain}".upper() if rng.random() < 0.5 else f"{local}@{domain}"
            elif op == "case_ws":
                field = rng.choice(["first_name", "last_name", "company"])
                row[field] = rng.choice([row[field].upper(), row[field].lower(), f"  {row[field]} "])
            elif op == "company" and row["company"]:
                self.company_variant(row)
            elif op == "missing":
                row[rng.choice(["email", "phone", "company", "domain"])] = ""
            elif op == "other_email" and row["company"]:
                # the same person from their personal address
                f, la = _slug(row["first_name"]), _slug(row["last_name"])
                row["email"] = f"{f}.{la}{rng.randint(1, 99)}@{rng.choice(FREE_MAIL)}"
            elif op == "typo_email" and row["email"]:
                local, _, domain = row["email"].partition("@")
                row["email"] = f"{self.typo(local)}@{domain}"
        if row["phone"]:
            row["phone"] = self.fmt_phone(re.sub(r"\D", "", row["phone"])[-10:])
        return row


def generate(rows: int, *, seed: int = 7, duplicate_share: float = 0.35, hard_negative_share: float = 0.12) -> list[
    dict[str, str]
]:
    """``rows`` labelled rows (``entity_id`` plus ``FIELDS``), shuffled; the same seed gives the same list."""
    g = _Gen(seed)
    rng = g.rng
    companies = [g.company() for _ in range(max(20, rows // 6))]
    big = companies[: max(3, len(companies) // 50)]  # a few large employers: many people, same company
    out: list[dict[str, str]] = []
    entity = 0

    def add(person: dict[str, str]) -> None:
        nonlocal entity
        entity += 1
        base = dict(person)
        if base["phone"]:
            base["phone"] = g.fmt_phone(base["phone"])
        out.append({"entity_id": str(entity), **base})
        if rng.random() < duplicate_share:
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                out.append({"entity_id": str(entity), **g.duplicate(person)})

    while len(out) < rows:
        roll = rng.random()
        company = rng.choice(big) if rng.random() < 0.2 else rng.choice(companies)
        if rng.random() < 0.1:
            company = None  # a consumer sign-up with no company
        person = g.person(company)
        add(person)
        if roll < hard_negative_share / 3:
            # the same name at another company
            add(g.person(rng.choice(companies), first=person["first_name"], last=person["last_name"]))
        elif roll < 2 * hard_negative_share / 3 and company:
            # someone else at the same company, often a namesake's relative or a common surname
            last = person["last_name"] if rng.random() < 0.5 else None
            add(g.person(company, first=_other_first(g, person["first_name"]), last=last))
        elif roll < hard_negative_share:
            # family: same surname, a shared home phone and personal addresses
            relative = g.person(None, first=_other_first(g, person["first_name"]), last=person["last_name"])
            relative["phone"] = person["phone"] or g.phone()
            add(relative)
    rows_out = out[:rows]
    rng.shuffle(rows_out)
    return rows_out


def _other_first(g: _Gen, first: str) -> str:
    """A different given name: not a nickname of it and at least two edits away (so not a typo of it)."""
    mine = _slug(first)
    groups = FORMAL_NAMES.get(mine, frozenset({mine}))
    while True:
        other = g.rng.choice(g.first_names)
        slug = _slug(other)
        if groups.isdisjoint(FORMAL_NAMES.get(slug, frozenset({slug}))) and Levenshtein.distance(mine, slug) >= 2:
            return other


def iter_csv_rows(rows: list[dict[str, str]], *, labels: bool = True) -> Iterator[list[str]]:
    header = ["entity_id", *FIELDS] if labels else list(FIELDS)
    yield header
    for row in rows:
        yield [row[h] for h in header]


def write_csv(path: str | Path, rows: list[dict[str, str]], *, labels: bool = True) -> None:
    """Write rows as CSV with a header (``entity_id`` first when ``labels``)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(iter_csv_rows(rows, labels=labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write_csv(args.out, generate(args.rows, seed=args.seed))
    print(f"wrote {args.rows} labelled rows to {args.out}")


if __name__ == "__main__":
    main()
