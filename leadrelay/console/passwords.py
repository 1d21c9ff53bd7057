"""Console users from the environment: ``LEADRELAY_ADMIN_USERS="name:role:scrypt$salt$hash,..."``.

Passwords are only ever kept as scrypt hashes (``leadrelay admin hash-password`` makes one); an entry that is not a
hash is refused at start, so a plain password in the environment is an error, not a login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from connector.errors import SettingsError
from leadrelay.api.auth import ROLES

SCHEME = "scrypt"
# RFC 7914 parameters (N=2^14, r=8, p=1: ~16 MB and tens of milliseconds per guess)
_N, _R, _P, _LEN = 2**14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN, maxmem=_MAXMEM)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$<salt>$<hash>`` (URL-safe base64), for LEADRELAY_ADMIN_USERS."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    return f"{SCHEME}${_b64(salt)}${_b64(_scrypt(password, salt))}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` hashes to ``encoded`` (compared in constant time)."""
    scheme, _, rest = encoded.partition("$")
    salt_text, _, hash_text = rest.partition("$")
    if scheme != SCHEME or not salt_text or not hash_text:
        return False
    try:
        salt, expected = _unb64(salt_text), _unb64(hash_text)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt), expected)


@dataclass(frozen=True, slots=True)
class AdminUser:
    name: str
    role: str
    password_hash: str


def parse_users(entries: Iterable[str]) -> dict[str, AdminUser]:
    """``["ana:admin:scrypt$...$..."]`` -> {name: AdminUser}; a bad entry is a SettingsError naming it."""
    users: dict[str, AdminUser] = {}
    for n, entry in enumerate(entries, 1):
        name, _, rest = entry.strip().partition(":")
        role, _, encoded = rest.partition(":")
        where = f"LEADRELAY_ADMIN_USERS entry {n}"
        if not name or role not in ROLES:
            raise SettingsError(f"{where}: expected `name:role:scrypt$salt$hash` with role one of {', '.join(ROLES)}")
        parts = encoded.split("$")
        if len(parts) != 3 or parts[0] != SCHEME or not all(parts[1:]):
            raise SettingsError(f"{where} ({name}): the password must be a scrypt hash, never plain text",
                                hint="make one with: leadrelay admin hash-password")
        if name in users:
            raise SettingsError(f"{where}: user {name!r} is listed twice")
        users[name] = AdminUser(name, role, encoded)
    return users


# checked when the name is unknown, so a wrong name costs as long as a wrong password (names are not revealed)
_DUMMY = hash_password("not a password", salt=b"leadrelay-dummy!")


def check_login(users: dict[str, AdminUser], name: str, password: str) -> AdminUser | None:
    """The user when name and password match, else None (same work either way)."""
    user = users.get(name)
    ok = verify_password(password, user.password_hash if user else _DUMMY)
    return user if ok and user is not None else None
