"""structlog setup: JSON (or console) lines with emails, phone numbers and URL secrets redacted.

Redaction runs last before the renderer, so nothing a processor adds (exception text, stdlib
messages from uvicorn/arq) reaches the output unredacted.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import phonenumbers
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# Local part: RFC 5322 atext, dots and any Unicode letter; it must start where a word starts, so a
# match never begins mid local part (which would leave its head in the output).
_LOCAL = r"[\w!#$%&'*+/=?^`{|}~.-]"
_DOMAIN = r"[\w-]+(?:\.[\w-]+)+"
_EMAIL = rf"""
    (?<!{_LOCAL})(?P<local>{_LOCAL}+)@(?P<domain>{_DOMAIN})
  | (?P<qlocal>"[^"\r\n]{{1,64}}")@(?P<qdomain>{_DOMAIN})                     # "jane doe"@acme.com
  | (?<![\w.+-])(?!(?<=%)[0-9A-Fa-f]{{2}})                                     # jane%40acme.com (URL-encoded)
    (?P<ulocal>(?:[\w.+-]|%[0-9A-Fa-f]{{2}})+?)%40(?P<udomain>{_DOMAIN})
  | (?<=%)(?=[0-9A-Fa-f]{{2}})                                  # the same, from inside a %XX escape: "%2Cjo%40..."
    (?P<elocal>(?:[\w.+-]|%[0-9A-Fa-f]{{2}}){{1,64}}?)%40(?P<edomain>{_DOMAIN})
"""
# The URL-encoded address starts where a word starts, or inside an escape (after a match that ended at its "%":
# "jo%40acme.com%2Cbob%40acme.com"). From inside an escape the local part is read for at most 64 units, the
# longest an address has (RFC 5321): unbounded, every "2" of "%2C%2C%2C..." started a scan of the rest of the
# run, quadratic in its length. A scan from a word start cannot run into another word start, so those are
# linear together.

# Phones need a "+", an international or trunk prefix, or phone-like grouping; a bare digit run (ids, epoch
# times, amounts) counts only when the phonenumbers library calls it a valid number.
_PHONE = r"""
(?<![\w+])(?<!\d[-:/.])          # not glued to a word, nor continuing a date, time, IP or id
(?P<phone>
    \+\d{7,15}                                              # +14155550123 (a number after it is not its part)
  | \+\d{1,4}(?:[ .-]?\(\d{1,5}\)\d{0,8}|[ .-]\d{1,8}){1,6}  # +44 20 7946 0958, +1 (415) 555-0123, +1.415.555.0123
  | (?:00|011)\d{1,4}(?:[ .-]\d{1,8}){1,6}                  # 0049 30 12345678 (international prefix)
  | (?:1[-. ])?\(\d{2,5}\)[ ]?\d{2,4}[ .-]?\d{3,4}           # (415) 555-0123
  | (?:1[-. ])?\d{3}(?P<sep>[-. ])\d{3}(?P=sep)\d{4}                      # 415-555-0123, 415.555.0123, 1-415-555-0123
  | 0\d(?:[ .]\d{2}){4}                                     # 06 12 34 56 78, 06.12.34.56.78
  | 0\d{1,4}(?:[ -]\d{2,4}){2,3}                            # 020 7946 0958
  | \d{3}-\d{4}                                             # 555-0123
)
(?!\w|[-:/.]\w)                   # nor followed by more of a date, decimal, path or id
| (?<![\w+.:/-])(?P<bare>\d{8,15})(?![\w.:/-])             # 4155550123: only if it is a valid number
"""

# One pass, email first: an email's digits (local part, domain) are never read as a phone.
_PII = re.compile(rf"{_EMAIL}|{_PHONE}", re.VERBOSE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# Secrets inside URLs. A Slack incoming webhook's (or workflow's) URL is the credential itself: its path is cut
# after the kind ("hooks.slack.com/services/***"), on Slack's host or in its shape elsewhere (a proxy, a test
# stand-in); so are a URL's user:password@ and the values of query parameters whose names say secret
# (token, api key, signature, password, session, OAuth code).
# a parameter whose name ends so: access_token, hapikey, api_key, X-Amz-Signature (not signup, design, keyboard)
_SECRET_PARAM = re.compile(r"(?:token|key|secret|sig|signature|pass|passwd|password|pwd|auth|credentials?|session|"
                           r"sessionid|sid|code)$", re.IGNORECASE)
# Every run is bounded (a scheme 32 characters, userinfo 256, a parameter's name 64), so a long run of letters,
# dots or "&" is read in linear time.
_URL_SECRET = re.compile(r"""
    (?P<keep>hooks\.slack\.com/[\w-]+/)[^\s"'<>]+
  | (?P<shape>/services/)T[A-Za-z0-9]+/B[A-Za-z0-9]+/[\w-]+
  | (?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,31}://)[^\s/?#@"'<>]{1,256}@
  | (?P<param>[?&](?P<name>[\w.-]{1,64})=)[^\s&#"'<>]+
""", re.VERBOSE)


def _key_kind(key: str) -> str | None:
    """What a key says its value is: ``*email*`` an email; ``*phone*``, ``*mobile*`` a phone number."""
    k = key.lower()
    if "email" in k:
        return "email"
    if "phone" in k or "mobile" in k:
        return "phone"
    return None


def _valid_bare_number(digits: str) -> bool:
    # as an international number without its "+", a US number, or a trunk-0 national one (GB, DE, FR): an epoch
    # time such as 1700000000 is none of these
    tries = [(f"+{digits}", None), (digits, "US")]
    if digits.startswith("0"):
        tries += [(digits, "GB"), (digits, "DE"), (digits, "FR")]
    for text, region in tries:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(text, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def mask_email(value: str) -> str:
    """"jane@acme.com" -> "j***@acme.com"; anything without an @ -> "***"."""
    local, at, domain = value.strip().rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str) -> str:
    """Any phone text -> "+***" and its last two digits."""
    digits = re.sub(r"\D", "", value)
    return f"+***{digits[-2:]}" if digits else "***"


def _replace(match: re.Match[str]) -> str:
    if match.group("local") is not None:
        return f"{match.group('local')[:1]}***@{match.group('domain')}"
    if match.group("qlocal") is not None:
        return f"***@{match.group('qdomain')}"
    if match.group("ulocal") is not None:
        return f"{match.group('ulocal')[:1]}***%40{match.group('udomain')}"
    if match.group("elocal") is not None:
        return f"{match.group('elocal')[:1]}***%40{match.group('edomain')}"
    if match.group("bare") is not None:
        bare = match.group("bare")
        return mask_phone(bare) if _valid_bare_number(bare) else bare
    phone = match.group("phone")
    digits = sum(c.isdigit() for c in phone)
    if digits < 7 or digits > 15 or _DATE.fullmatch(phone):
        return phone
    return mask_phone(phone)


def _replace_secret(match: re.Match[str]) -> str:
    if match.group("scheme") is not None:
        return f"{match.group('scheme')}***@"
    if match.group("param") is not None and not _SECRET_PARAM.search(match.group("name")):
        return match.group(0)
    return f"{match.group('keep') or match.group('shape') or match.group('param')}***"


def redact(text: str) -> str:
    """Mask every email and phone number in free text, and the secrets in URLs (a Slack hook's path, a
    user:password@, a token in a query string)."""
    text = _PII.sub(_replace, text)
    # after the PII pass: the email pattern would read "user:pass@host.example" as an address and half mask it
    if "/" in text or "=" in text:
        text = _URL_SECRET.sub(_replace_secret, text)
    return text


def _redact_value(value: Any, key: str | None = None) -> Any:
    kind = _key_kind(key) if key is not None else None
    if isinstance(value, str):
        if kind == "email":
            return mask_email(value)
        if kind == "phone":
            return mask_phone(value)
        return redact(value)
    if kind == "phone" and isinstance(value, int) and not isinstance(value, bool):
        return mask_phone(str(value))
    if isinstance(value, Mapping):
        return {k: _redact_value(v, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        # a list under "email" is a list of emails: keep the key's rule for its items
        items = [_redact_value(v, key) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    return value


def redact_processor(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redacts every string value, at any depth; keys naming an email or phone wholly."""
    return {k: _redact_value(v, k) for k, v in event_dict.items()}


_HANDLER_MARK = "_leadrelay_handler"
# Libraries that install their own handlers and stop propagation; we want them in our output instead.
_FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker", "arq.jobs")
# httpx logs every request's URL at INFO (and httpcore its connection steps at DEBUG): for a Slack hook the URL is
# the credential, and a line per CRM call is noise at hundreds of leads a second. Their warnings still come through.
_QUIET_LOGGERS = ("httpx", "httpcore")


def _level(level: str) -> int:
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    return number


def configure_logging(*, json: bool = True, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Set up structlog and route stdlib logging (uvicorn, arq) through the same processors.

    Safe to call again (replaces the previous setup). ``stream`` defaults to stdout. Run uvicorn with
    ``log_config=None`` so it does not re-install its own handlers afterwards.
    """
    out = stream if stream is not None else sys.stdout
    number = _level(level)
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    tail: list[Processor] = [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
    ]
    structlog.configure(
        processors=[*shared, *tail, redact_processor, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # not cached: a later configure_logging() (tests, CLI flags) must reach loggers already made
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            redact_processor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(number)
    for name in _FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        foreign.handlers.clear()
        foreign.propagate = True
        foreign.setLevel(logging.NOTSET)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.WARNING))
