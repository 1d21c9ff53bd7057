"""Console users from the environment: ``LEADRELAY_ADMIN_USERS="name:role:scrypt$N$r$p$salt$hash,..."``.

Passwords are only ever kept as scrypt hashes (``leadrelay admin hash-password`` makes one); an entry that is not a
hash is refused at start, so a plain password in the environment is an error, not a login. A hash names its own
scrypt parameters, so they can rise without invalidating older hashes; one made before they were named
(``scrypt$salt$hash``) is read with the parameters of that time (N=2^14, r=8, p=1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from connector.errors import SettingsError
from leadrelay.api.auth import ROLES

SCHEME = "scrypt"
# RFC 7914 parameters for new hashes: N=2^17, r=8, p=1 is 128 MiB and a few hundred milliseconds per guess (OWASP's
# minimum for scrypt); hashes without parameters were made with N=2^14
N, R, P, _LEN = 2**17, 8, 1, 32
_OLD = (2**14, 8, 1)
# what a hash in the environment may ask for: at most 2^18 x 8 (256 MiB), never less than the old format
_MAX_COST, _MIN_N, _MAX_P = 2**18 * 8, 2**14, 4


class Params(NamedTuple):
    n: int
    r: int
    p: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, params: Params) -> bytes:
    n, r, p = params
    # scrypt's memory is 128·r·N for V plus 128·r·p for B; hashlib refuses anything over maxmem (default 32 MiB)
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_LEN, maxmem=maxmem)


def _params(n: str, r: str, p: str) -> Params | None:
    """The parameters a hash names, when they are sane: N a power of two, memory and time bounded."""
    if not (n.isdigit() and r.isdigit() and p.isdigit()):
        return None
    params = Params(int(n), int(r), int(p))
    if params.n < _MIN_N or params.n & (params.n - 1) or params.r < 1 or not 1 <= params.p <= _MAX_P:
        return None
    return params if params.n * params.r <= _MAX_COST else None


def decode(encoded: str) -> tuple[Params, bytes, bytes] | None:
    """(parameters, salt, hash) of ``scrypt$N$r$p$salt$hash`` or the old ``scrypt$salt$hash``; None if malformed."""
    parts = encoded.split("$")
    if parts[0] != SCHEME or len(parts) not in (3, 6) or not all(parts[1:]):
        return None
    params = Params(*_OLD) if len(parts) == 3 else _params(*parts[1:4])
    if params is None:
        return None
    try:
        return params, _unb64(parts[-2]), _unb64(parts[-1])
    except ValueError:
        return None


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$<salt>$<hash>`` (URL-safe base64), for LEADRELAY_ADMIN_USERS."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(_scrypt(password, salt, Params(N, R, P)))}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` hashes to ``encoded`` (compared in constant time)."""
    found = decode(encoded)
    if found is None:
        return False
    params, salt, expected = found
    return hmac.compare_digest(_scrypt(password, salt, params), expected)


@dataclass(frozen=True, slots=True)
class AdminUser:
    name: str
    role: str
    password_hash: str


def parse_users(entries: Iterable[str]) -> dict[str, AdminUser]:
    """``["ana:admin:scrypt$N$r$p$...$..."]`` -> {name: AdminUser}; a bad entry is a SettingsError naming it."""
    users: dict[str, AdminUser] = {}
    for n, entry in enumerate(entries, 1):
        name, _, rest = entry.strip().partition(":")
        role, _, encoded = rest.partition(":")
        where = f"LEADRELAY_ADMIN_USERS entry {n}"
        if not name or role not in ROLES:
            raise SettingsError(f"{where}: expected `name:role:scrypt$N$r$p$salt$hash` with role one of "
                                f"{', '.join(ROLES)}")
        if decode(encoded) is None:
            raise SettingsError(f"{where} ({name}): the password must be a scrypt hash (N a power of two from 2^14, "
                                f"N·r at most 2^21, p at most {_MAX_P}), never plain text",
                                hint="make one with: leadrelay admin hash-password")
        if name in users:
            raise SettingsError(f"{where}: user {name!r} is listed twice")
        users[name] = AdminUser(name, role, encoded)
    return users


@cache
def _dummy() -> str:
    """Checked when the name is unknown, so a wrong name costs as long as a wrong password (names are not revealed);
    made on first use, not at import (it takes as long as a sign-in)."""
    return hash_password("not a password", salt=b"leadrelay-dummy!")


def check_login(users: dict[str, AdminUser], name: str, password: str) -> AdminUser | None:
    """The user when name and password match, else None (same work either way)."""
    user = users.get(name)
    ok = verify_password(password, user.password_hash if user else _dummy())
    return user if ok and user is not None else None
