"""Sign in (an API token, or a user and password from LEADRELAY_ADMIN_USERS) and sign out.

The login form is protected against login CSRF with a double-submit token: a random value in a SameSite=Strict
cookie and in the form must match. A successful sign-in sets the signed session cookie (HttpOnly, SameSite=Strict,
Secure unless LEADRELAY_DEV_MODE) and answers 303 to the page asked for. Failures are throttled per user name and
client address (``leadrelay.console.throttle``): past the limit, 429 with Retry-After and no password checked.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.params import FromQuery

from leadrelay.api.auth import role_of
from leadrelay.api.problems import PROBLEM_JSON, problem
from leadrelay.console.html import html_template
from leadrelay.console.passwords import check_login
from leadrelay.console.session import COOKIE, LOGIN_CSRF_COOKIE, Session, auth_of, sign
from leadrelay.console.throttle import throttle_of

Req = Request[Any, Any, State]


def _safe_next(target: str | None) -> str:
    """Only a console page of this site: never another host (``//evil``) or a scheme."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin"


def _cookie(request: Req, name: str, value: str, max_age: int, path: str = "/") -> Cookie:
    secure = not request.app.state.settings.dev_mode
    return Cookie(key=name, value=value, max_age=max_age, path=path, httponly=True, samesite="strict", secure=secure)


def _login_page(request: Req, next_: str, error: str | None = None, status: int = 200) -> Response[Any]:
    token = secrets.token_urlsafe(24)
    response = html_template("login.html", {"form_token": token, "next": next_, "error": error}, status)
    response.set_cookie(_cookie(request, LOGIN_CSRF_COOKIE, token, 1800, path="/admin/login"))
    return response


@get("/admin/login", include_in_schema=False, sync_to_thread=False)
def login_form(request: Req, next: FromQuery[str | None] = None) -> Response[Any]:  # the query parameter's name
    if request.scope.get("leadrelay_session") is not None:
        return Response("", status_code=303, headers={"Location": _safe_next(next)})
    return _login_page(request, _safe_next(next))


def _user_named(form: Any) -> str | None:
    """The user name a password sign-in is for (its failures are counted per name); None for a token sign-in."""
    return None if (form.get("token") or "").strip() else (form.get("username") or "").strip()


def _throttled(request: Req, next_: str, wait: int) -> Response[Any]:
    """429 with Retry-After: problem details, or the sign-in page for a browser's form post."""
    detail = f"Too many failed sign-in attempts; try again in {wait} seconds."
    if request.accept.best_match([PROBLEM_JSON, "text/html"], default=PROBLEM_JSON) == "text/html":
        page = _login_page(request, next_, detail, 429)
        page.headers["Retry-After"] = str(wait)
        return page
    window = request.app.state.settings.signin_window_s
    return problem(429, "Too many sign-in attempts", detail, retry_after=wait,
                   hint=f"failures are counted per user name and per client address over {window} s")


async def _authenticate(request: Req, form: Any) -> tuple[str, str, str] | None:
    """(user shown, role, credential) for the token or the user and password in the form, else None."""
    auth = auth_of(request.app.state)
    token = (form.get("token") or "").strip()
    if token:
        role = role_of(auth.tokens, f"Bearer {token}")
        if role is None:
            return None
        raw = next(t for r, t in auth.tokens if r == role and hmac.compare_digest(t, token.encode()))
        return f"token:{role}", role, auth.credential_of_token(role, raw)
    name, password = (form.get("username") or "").strip(), form.get("password") or ""
    if not name or not password:
        return None
    from anyio import to_thread  # scrypt takes tens of milliseconds: not on the event loop

    limiter = throttle_of(request.app.state).hashing
    user = await to_thread.run_sync(check_login, auth.users, name, password, limiter=limiter)
    return (user.name, user.role, auth.credential_of_user(user)) if user else None


@post("/admin/login", include_in_schema=False, status_code=303)
async def login(request: Req) -> Response[Any]:
    form = await request.form()
    next_ = _safe_next(form.get("next"))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    given = form.get("csrf_token") or ""
    if not expected or not hmac.compare_digest(expected.encode(), str(given).encode()):
        return _login_page(request, next_, "The sign-in form expired; please try again.", 403)
    throttle, name = throttle_of(request.app.state), _user_named(form)
    address = request.client.host if request.client else ""
    wait = await throttle.attempt(address, name)
    if wait:
        return _throttled(request, next_, wait)
    found = await _authenticate(request, form)
    if found is None:
        return _login_page(request, next_, "That token, user or password is not valid.", 401)
    await throttle.succeeded(address, name)
    user, role, credential = found
    auth = auth_of(request.app.state)
    secret = await auth.secret(request.app.state.store.r)
    session = auth.new_session(secret, user, role, credential)
    response: Response[Any] = Response("", status_code=303, headers={"Location": next_, "Cache-Control": "no-store"})
    response.set_cookie(_cookie(request, COOKIE, sign(session, secret), request.app.state.settings.session_ttl_s))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/admin/login")
    return response


@post("/admin/logout", include_in_schema=False, status_code=303)
async def logout(request: Req) -> Response[Any]:
    session: Session | None = request.scope.get("leadrelay_session")
    if session is not None:
        await auth_of(request.app.state).revoke(request.app.state.store.r, session)
    response: Response[Any] = Response("", status_code=303, headers={"Location": "/admin/login"})
    response.delete_cookie(COOKIE, path="/")
    return response


ROUTES = [login_form, login, logout]
