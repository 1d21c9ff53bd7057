"""Domain errors -> RFC 9457 problem details, in one place."""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec

from connector.errors import AuthError, ConfigError, InputError, LeadrelayError, RetryableError, SignatureError
from leadrelay.api.auth import Forbidden
from worker.configs import PublishConflict

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("leadrelay.api")


class FieldProblem(msgspec.Struct, kw_only=True):
    """One invalid config field: where it is and what was expected (the words `leadrelay config validate` prints)."""

    file: str
    line: int | None = None
    field: str | None = None
    message: str


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 body. ``field`` names the offending input; ``hint`` says what to do next; ``errors`` lists the
    invalid config fields (422)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    field: str | None = None
    hint: str | None = None
    errors: list[FieldProblem] | None = None


class PayloadTooLarge(LeadrelayError):
    """The body is over ``LEADRELAY_MAX_BODY_BYTES``."""


class OverBudget(LeadrelayError):
    """An admin request's work took longer, or its answer was larger, than its budget (``api.admin.budget``)."""


class NotFound(LeadrelayError):
    """No such form, lead or dead letter."""


_WHY = {400: "Malformed input; `field` names what is wrong", 401: "Signature, timestamp, sender or token refused",
        403: "The token's role may not do this",
        404: "No such form, lead, version or dead letter",
        409: "Another config version was published since the draft's base version",
        413: "Body over LEADRELAY_MAX_BODY_BYTES",
        422: "The config is invalid (`errors` names each file, line and field; nothing was published), or the "
             "work was over its budget (the detail names the setting)",
        503: "Not ready or storage unavailable; try again after Retry-After"}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem-details answers a route can give (clients and schemathesis read them)."""
    return {s: ResponseSpec(data_container=Problem, description=_WHY[s], media_type=PROBLEM_JSON) for s in statuses}


def problem(status: int, title: str, detail: str | None = None, *, retry_after: float | None = None,
            **extra: Any) -> Response[bytes]:
    body = Problem(title=title, status=status, detail=detail, **extra)
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else None
    return Response(msgspec.json.encode(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


# first match wins (AuthError is a FatalError; anything unlisted is a 500)
_STATUS: tuple[tuple[type[LeadrelayError], int, str], ...] = (
    (SignatureError, 401, "Signature check failed"),
    (Forbidden, 403, "Forbidden"),
    (AuthError, 401, "Not authorised"),
    (PayloadTooLarge, 413, "Payload too large"),
    (NotFound, 404, "Not found"),
    (InputError, 400, "Malformed input"),
    (ConfigError, 422, "Invalid config"),
    (OverBudget, 422, "Over budget"),
    (PublishConflict, 409, "Publish conflict"),
    (RetryableError, 503, "Try again shortly"),
)


def _status(exc: LeadrelayError) -> tuple[int, str]:
    return next(((status, title) for kind, status, title in _STATUS if isinstance(exc, kind)), (500, "Internal error"))


def domain_error(request: Request[Any, Any, Any], exc: LeadrelayError) -> Response[bytes]:
    status, title = _status(exc)
    field = exc.field if isinstance(exc, InputError | ConfigError) else None
    kind = type(exc).__name__
    extra: dict[str, Any] = {}
    if isinstance(exc, ConfigError):  # detail: the line `config validate` prints; errors: the same, by part
        extra["errors"] = [FieldProblem(file=exc.file, line=exc.line, field=exc.field, message=exc.reason)]
        extra["hint"] = exc.hint or "fix that field and validate again; nothing was published"
    else:
        extra["hint"] = exc.hint
    return problem(status, title, exc.message, type=f"https://leadrelay.dev/problems/{kind}", field=field, **extra)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    detail = exc.detail if isinstance(exc.detail, str) else None
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    field = None
    errors = extra.get("errors") if isinstance(extra, dict) else None
    if isinstance(exc.extra, list) and exc.extra and isinstance(exc.extra[0], dict):
        field = exc.extra[0].get("key")
    elif errors:
        field = errors[0].get("key")
    return problem(exc.status_code, detail or "Error", detail, field=field)


def too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[bytes]:
    """A body nested too deeply to decode (every depth we read ourselves is checked, naming its field)."""
    return problem(400, "Malformed input", "the body is nested too deeply to read", field="body",
                   hint="send at most 32 levels of nesting")


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """An unexpected exception: logged with its traceback (redacted), answered 500 without internals."""
    log.error("unhandled_error", method=request.method, path=request.url.path, exc_info=exc)
    return problem(500, "Internal error", "the request failed unexpectedly; it was logged",
                   hint="retry later; if it persists, the operator finds the traceback in the API log")


def unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Redis is down: 503 with Retry-After. Nothing was accepted; a webhook sender keeps the delivery and retries
    (the same delivery id is accepted once)."""
    from worker import outage

    outage.REDIS.failed(exc, f"{request.method} {request.url.path}")  # one line per outage, not one per request
    return problem(503, "Service unavailable", "the service cannot take requests right now; nothing was accepted",
                   retry_after=5, hint="send it again shortly; a redelivery with the same id is accepted once")


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {LeadrelayError: domain_error, HTTPException: http_error}
