"""The console's Jinja2 templates (``leadrelay/console/templates``), served through Litestar's template engine.

Autoescape is on for every template, so a value from a lead, a config file or a URL is text wherever it lands;
markup comes only from the templates and their macros. ``create_app`` passes ``template_config()`` to Litestar.
"""

from __future__ import annotations

from typing import Any

import msgspec
from jinja2 import Environment, PackageLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

from leadrelay.console import html, team_views, views, widgets


def _json(obj: Any, **_: Any) -> str:
    # msgspec, not json: the page's documents hold YAML dates, and their keys keep the file's order
    return msgspec.json.encode(obj).decode()


def environment() -> Environment:
    """The templates with autoescape on, strict about undefined names, and the editors' helpers as globals."""
    env = Environment(loader=PackageLoader("leadrelay.console", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.policies["json.dumps_function"] = _json  # |tojson: the scripts' data, escaped for <script> by Jinja
    env.policies["json.dumps_kwargs"] = {}
    env.globals.update(html.GLOBALS, **widgets.GLOBALS, **views.GLOBALS, **team_views.GLOBALS)
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The console's templates for ``Litestar(template_config=...)``."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
