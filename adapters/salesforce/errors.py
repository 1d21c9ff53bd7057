"""How the Salesforce adapter reads simple-salesforce's failures: one of ``connector.errors`` for each.

401 -> AuthError (the caller refreshes the session once first); 403 REQUEST_LIMIT_EXCEEDED -> RetryableError (a
long wait for the daily ``TotalRequests`` allocation, a short one for ``ConcurrentPerOrgLongTxn``); other 4xx ->
``SalesforceRefusal`` (a FatalError keeping Salesforce's error code); 5xx/timeouts -> RetryableError.
Error codes: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
"""

from __future__ import annotations

from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connector.errors import AuthError, CrmUnavailable, FatalError, LeadrelayError


class SalesforceRefusal(FatalError):
    """Salesforce refused the whole request (4xx other than 401/limits); ``error_code`` is Salesforce's."""

    def __init__(self, message: str, *, error_code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.error_code = error_code


def _errors_of(exc: SalesforceError) -> list[dict[str, Any]]:
    content = exc.content
    if isinstance(content, list):
        return [e for e in content if isinstance(e, dict)]
    if isinstance(content, dict):
        return [content]
    return []


# A Composite subrequest's failure as simple-salesforce raises the same status for a request of its own.
_SUB_ERRORS: dict[int, type[SalesforceError]] = {
    400: SalesforceMalformedRequest, 401: SalesforceExpiredSession, 403: SalesforceRefusedRequest,
    404: SalesforceResourceNotFound,
}


def classify(exc: Exception, *, daily_retry_after: float = 900.0) -> LeadrelayError:
    """A simple-salesforce / requests failure as one of connector.errors (what to do next included)."""
    if isinstance(exc, requests.Timeout):
        return CrmUnavailable("Salesforce did not answer in time", retry_after=2.0)
    if isinstance(exc, requests.ConnectionError):
        return CrmUnavailable("Salesforce could not be reached", retry_after=2.0)
    if not isinstance(exc, SalesforceError):
        return FatalError(f"unexpected Salesforce failure: {type(exc).__name__}")
    errors = _errors_of(exc)
    code = str(errors[0].get("errorCode", "")) if errors else ""
    message = str(errors[0].get("message", "")) if errors else str(exc.content)[:300]
    detail = f"{code}: {message}" if code else message
    if isinstance(exc, SalesforceExpiredSession):
        return AuthError(f"Salesforce session refused ({detail})", hint="check the connected app and integration user")
    if isinstance(exc, SalesforceRefusedRequest):
        if code == "REQUEST_LIMIT_EXCEEDED":
            if "TotalRequests" in message:
                return CrmUnavailable(
                    f"Salesforce daily API allocation used up ({detail})",
                    retry_after=daily_retry_after,
                    hint="the org's 24-hour API allocation is exhausted; writes resume as it frees up",
                )
            return CrmUnavailable(f"Salesforce request limit ({detail})", retry_after=1.0)
        return SalesforceRefusal(
            f"Salesforce refused the request ({detail})",
            error_code=code or None,
            hint="check the integration user's permissions",
        )
    if isinstance(exc, SalesforceMalformedRequest | SalesforceResourceNotFound):
        return SalesforceRefusal(f"Salesforce rejected the request ({detail})", error_code=code or None)
    status = int(getattr(exc, "status", 0) or 0)
    if status >= 500 or status in (408, 429):
        return CrmUnavailable(f"Salesforce answered {status} ({detail})", retry_after=1.0)
    return SalesforceRefusal(f"Salesforce answered {status} ({detail})", error_code=code or None)
