"""The admin console (/admin): sign-in and session, the pages, their editors and their static files.

``create_app`` registers ``ROUTES``, ``SessionMiddleware`` and the pages' templates (``template_config()``);
``ConsoleAuth`` is made once per app (its users are checked at start: a plain-text password in
LEADRELAY_ADMIN_USERS is refused).
"""

from __future__ import annotations

from pathlib import Path

from litestar.static_files import create_static_files_router

from leadrelay.console import endpoints, login, pages, pages_data
from leadrelay.console.middleware import SessionMiddleware
from leadrelay.console.session import ConsoleAuth
from leadrelay.console.templating import template_config

STATIC = Path(__file__).parent / "static"

ROUTES = [
    *login.ROUTES, *pages.ROUTES, *pages_data.ROUTES, *endpoints.ROUTES,
    create_static_files_router(path="/admin/static", directories=[STATIC], include_in_schema=False,
                               name="console-static"),
]

__all__ = ["ROUTES", "ConsoleAuth", "SessionMiddleware", "template_config"]
