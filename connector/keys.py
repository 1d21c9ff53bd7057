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
_DOMAIN_LIKE = re.compile(r"^(?:https?://)?(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+/?$")

# Free-mail providers: their domain says nothing about the sender's company, so it never matches an
# account and never stands for a company. The one list for normalize (the "email_free" flag) and match.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com", "outlook.com", "hotmail.com",
        "live.com", "msn.com", "passport.com", "icloud.com", "me.com", "mac.com", "aol.com", "aim.com",
        "proton.me", "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tutanota.de", "tuta.io",
        "zoho.com", "zohomail.com", "yandex.com", "yandex.ru", "ya.ru", "mail.ru", "bk.ru", "inbox.ru", "list.ru",
        "rambler.ru", "web.de", "t-online.de", "freenet.de", "arcor.de", "posteo.de", "mailbox.org", "fastmail.com",
        "fastmail.fm", "hushmail.com", "gmx.com", "gmx.net", "gmx.de", "mail.com", "email.com", "usa.com",
        "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "tiscali.it",
        "alice.it", "seznam.cz", "wp.pl", "o2.pl", "onet.pl", "interia.pl", "btinternet.com", "sky.com",
        "virginmedia.com", "ntlworld.com", "talktalk.net", "comcast.net", "verizon.net", "att.net", "sbcglobal.net",
        "bellsouth.net", "cox.net", "charter.net", "earthlink.net", "optonline.net", "frontier.com", "shaw.ca",
        "rogers.com", "sympatico.ca", "bigpond.com", "optusnet.com.au", "xtra.co.nz", "qq.com", "163.com",
        "126.com", "sina.com", "naver.com", "daum.net", "hanmail.net", "rediffmail.com", "bol.com.br",
        "uol.com.br", "terra.com.br", "hey.com", "duck.com", "skiff.com",
    }
)  # fmt: skip
# Providers with a domain per country (gmx.at, yahoo.co.uk, hotmail.fr): matched on the registrable label.
FREE_MAIL_LABELS = frozenset({"gmx", "yahoo", "hotmail", "outlook", "live", "windowslive", "yandex"})
_FREE_MAIL_MOST_LABELS = max(d.count(".") + 1 for d in FREE_MAIL_DOMAINS)  # "optusnet.com.au": 3


def fold(text: str) -> str:
    """Lower-case ASCII fold: "Müller" -> "muller"."""
    if text.isascii():
        return text.lower()  # NFKD leaves ASCII as it is and there is no combining mark to drop
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


# cleanco's legal-form terms ("inc", "gmbh", "s a r l", ...), indexed by length. cleanco.basename scans all of
# them for every name (~50 µs); a set lookup per trailing word run gives the same stripping in ~2 µs.
_LEGAL_TERMS: dict[int, frozenset[tuple[str, ...]]] = {}
for _size, _parts in cleanco.clean.prepare_default_terms():
    _LEGAL_TERMS.setdefault(_size, frozenset())
    _LEGAL_TERMS[_size] = _LEGAL_TERMS[_size] | {tuple(_parts)}
_LEGAL_SIZES = sorted(_LEGAL_TERMS, reverse=True)


def _strip_tail(text: str) -> str:
    r"""``text`` without its trailing run of characters that are neither a word character nor ".".

    What ``re.sub(r"[^.\w]+$", "", text)`` returns, in time linear in the run: that pattern is searched from every
    position of a run that does not reach the end ("a" + " -" * 20_000 + "x"), each attempt scanning to the run's
    end, so it took quadratic time (19.5 s for a 40 KB company name). ``\w`` is ``str.isalnum()`` or "_".
    """
    end = len(text)
    while end and not (text[end - 1].isalnum() or text[end - 1] in "._"):
        end -= 1
    return text[:end]


def strip_legal_suffixes(text: str) -> str:
    """Remove trailing legal forms, layer by layer ("acme holdings, inc." -> "acme holdings")."""
    words = _strip_tail(text).split()
    bare = [w.replace(".", "").replace(",", "").replace("-", "") for w in words]
    stripped = True
    while stripped and len(bare) > 1:
        stripped = False
        for size in _LEGAL_SIZES:
            if size < len(bare) and tuple(bare[-size:]) in _LEGAL_TERMS[size]:
                del bare[-size:], words[-size:]
                stripped = True
                break
    return _strip_tail(" ".join(words))


_ACRONYM = re.compile(r"\b((?:[a-z]\.){2,})")


def _undot(m: re.Match[str]) -> str:
    return m.group(1).replace(".", "")


@lru_cache(maxsize=65536)
def company_key(name: str | None) -> str | None:
    """Company key: legal suffixes, punctuation and case removed, so "I.B.M.", "IBM Corp." and "ibm" agree."""
    if not name:
        return None
    text = _SPACES.sub(" ", fold(name)).strip()
    # Acronyms written with dots ("i.b.m.") fold to letters before suffix removal.
    text = _ACRONYM.sub(_undot, text)
    text = text.replace("&", " and ")
    if _DOMAIN_LIKE.match(text):
        # "acme.com" / "www.acme.io" written as the company name: the domain's label is the name.
        ext = _extract(text)
        if ext.domain and ext.suffix:
            return _NON_ALNUM.sub("", ext.domain) or None
    if text.startswith("the "):
        text = text[4:]
    base = strip_legal_suffixes(text)
    key = _NON_ALNUM.sub("", base)
    if not key or _DOMAIN_LIKE.match(base):
        # "Booking.com B.V." -> "booking.com" after the suffix: fold that like a domain too.
        ext = _extract(base)
        if ext.domain and ext.suffix:
            return _NON_ALNUM.sub("", ext.domain) or None
    return key or _NON_ALNUM.sub("", text) or None


# A bare host of ASCII letters, digits and hyphens (no scheme, port, path, IP literal or punycode): tldextract
# would split it on dots and look the labels up in its suffix trie, which is all _plain_registrable does.
_PLAIN_HOST = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+\Z")
_PLAIN_URL = re.compile(r"(?:https?://)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)/?\Z")  # the same, as a site's home page


def _plain_registrable(host: str) -> str | None:
    labels = host.split(".")
    found = _extract._get_tld_extractor().suffix_index(labels)
    if not found:
        return None
    start = found[0][0]
    if start <= 0 or start >= len(labels):  # no label before the suffix, or no suffix
        return None
    return labels[start - 1] + "." + ".".join(labels[start:])


@lru_cache(maxsize=65536)
def registrable_domain(value: str | None) -> str | None:
    """ "https://www.Acme.co.uk/about" or "jo@sales.acme.co.uk" -> "acme.co.uk" (offline suffix list)."""
    if not value:
        return None
    host = value.strip().lower()
    if "@" in host:
        host = host.rpartition("@")[2]
    plain = _PLAIN_URL.match(host)
    if plain is not None and "xn--" not in host:
        return _plain_registrable(plain[1])  # the same answer without tldextract's URL parsing (~1 µs, not ~4)
    ext = _extract(host)
    if not ext.domain or not ext.suffix:
        return None
    return f"{ext.domain}.{ext.suffix}"


@lru_cache(maxsize=65536)
def company_domain(value: str | None) -> str | None:
    """The domain standing for a company, from a website, host or email address; None when there is none.

    ``"https://www.Acme.co.uk/about"``, ``"jo@sales.acme.co.uk"`` -> ``"acme.co.uk"``. The one rule for normalize
    (a lead's ``company.domain``) and match (a lead's or a record's domain): the registrable domain, only when it is
    its own registrable domain (so normalizing twice changes nothing), and never a free-mail provider's (it says
    nothing about the sender's company). Before this was one function, normalize kept a free-mail domain given
    as the company's and match ignored it; only normalize checked the fixed point.
    """
    domain = registrable_domain(value)
    if domain is None or (domain != value and registrable_domain(domain) != domain) or is_free_mail(domain):
        return None
    return domain


@lru_cache(maxsize=16384)
def is_free_mail(domain: str | None) -> bool:
    """True for a free-mail provider's domain ("gmail.com", "yahoo.co.uk", "mail.gmx.at"); False for None."""
    if not domain:
        return False
    host = domain.strip().lower().rpartition("@")[2]
    if host in FREE_MAIL_DOMAINS:
        return True
    if _PLAIN_HOST.match(host) and "xn--" not in host:
        # the registrable domain of a plain host is made of its last labels: when no label is a free-mail
        # name and no tail of labels a free-mail domain, the answer is no without looking it up
        labels = host.split(".")
        # only the last few labels can spell a free-mail domain: joining every tail was quadratic in the labels
        first = max(1, len(labels) - _FREE_MAIL_MOST_LABELS)
        if FREE_MAIL_LABELS.isdisjoint(labels) and not any(
            ".".join(labels[i:]) in FREE_MAIL_DOMAINS for i in range(first, len(labels) - 1)
        ):
            return False
    registrable = registrable_domain(host) or host
    return registrable in FREE_MAIL_DOMAINS or registrable.partition(".")[0] in FREE_MAIL_LABELS
