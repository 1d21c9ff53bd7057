"""One root error and the kinds every layer classifies failures into.

Adapters turn vendor answers into these (429/5xx -> Retryable, other 4xx -> Fatal,
401 -> Auth, one bad record -> SkipRecord); a job turns Retryable into
``arq.Retry(defer=retry_after)`` and anything else into a dead letter.
"""

from __future__ import annotations


class LeadrelayError(Exception):
    """Root of every error leadrelay raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint  # what to do next, shown to the admin or engineer

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class RetryableError(LeadrelayError):
    """Try again later: rate limits, 5xx, lock contention, timeouts."""

    def __init__(self, message: str, *, retry_after: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class CrmUnavailable(RetryableError):
    """The CRM did not answer, or answered "not now" (5xx, 429, time-outs, its API allocation used up): the one
    failure its circuit breaker counts. Our own "try again" (contention on routing state, a job's time budget, Redis)
    is a plain RetryableError: retried, never taken for the CRM being down."""


class FatalError(LeadrelayError):
    """Will fail the same way every time; goes to the dead-letter list."""


class AuthError(FatalError):
    """Credentials missing, expired or refused."""


class SkipRecord(LeadrelayError):
    """This one record is bad; the rest of the batch goes on."""


class ConfigError(LeadrelayError):
    """A config file is invalid. Carries where: file, line and field path."""

    def __init__(self, message: str, *, file: str, line: int | None = None, field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.field = field
        where = f"{file}:{line}" if line else file
        detail = f"{where}: {field}: {message}" if field else f"{where}: {message}"
        super().__init__(detail)
        self.reason = message


class SignatureError(LeadrelayError):
    """An inbound delivery's signature or timestamp does not verify (HTTP 401). Checked before parsing."""


class InputError(LeadrelayError):
    """Inbound payload is malformed; names the offending field (HTTP 400)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SettingsError(LeadrelayError):
    """A setting from the environment is missing or invalid; the message names the variable to set."""
