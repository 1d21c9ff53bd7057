"""The editors' two helpers on the server: a document back to YAML text, and a section redrawn after a change.

Both write nothing: the page sends the texts to the admin API (validate, preview, draft, publish).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import JSONBody

from adapters.inbound_json import check_nesting
from leadrelay.api.admin import budget
from leadrelay.api.auth import viewer
from leadrelay.console.bundle import context
from leadrelay.console.edit import EditError, apply_op, dump, header_of, resolve
from leadrelay.console.views import render

Req = Request[Any, Any, State]


class YamlBody(msgspec.Struct, forbid_unknown_fields=True):
    files: dict[str, Any]  # bundle key -> the page's document of that file


class FragmentBody(msgspec.Struct, forbid_unknown_fields=True):
    view: str
    key: str
    doc: dict[str, Any]
    op: str | None = None
    path: str = ""
    arg: Any = None


def _errors(key: str, exc: EditError) -> Response[Any]:
    return Response({"errors": [{"file": key, "line": None, "field": exc.path, "message": exc.message}]},
                    status_code=422)


async def _published(request: Req) -> dict[str, str]:
    current = await request.app.state.configs.current()
    return dict(current.files) if current else {}


class _InFile(Exception):
    """An EditError in one file of several (to name the file)."""

    def __init__(self, key: str, exc: EditError) -> None:
        super().__init__(exc.message)
        self.key, self.exc = key, exc


def _yaml(files: dict[str, Any], published: dict[str, str]) -> dict[str, Any]:
    out = {}
    for key, doc in files.items():
        try:
            out[key] = dump(resolve(doc), header_of(published.get(key, "")))
        except EditError as exc:
            raise _InFile(key, exc) from None
    return {"files": out}


@post("/admin/yaml", include_in_schema=False, guards=[viewer], status_code=200)
async def to_yaml(request: Req, data: JSONBody[YamlBody]) -> Response[Any]:
    """{"files": {key: document}} -> {"files": {key: YAML text}} (422 naming the input a value did not parse in)."""
    for key, doc in data.files.items():
        check_nesting(doc, f"files.{key}")
    published = await _published(request)
    try:
        return Response(await budget.answer(request, "writing the YAML", _yaml, data.files, published))
    except _InFile as failed:
        return _errors(failed.key, failed.exc)


def _fragment(engine: Any, data: FragmentBody, config: Any) -> dict[str, Any]:
    doc = resolve(data.doc)
    if data.op:
        doc = apply_op(doc, data.op, data.path, data.arg)
    return {"doc": doc, "html": render(engine, data.view, data.key, doc, context(config, {data.key: doc}))}


@post("/admin/fragment", include_in_schema=False, guards=[viewer], status_code=200)
async def fragment(request: Req, data: JSONBody[FragmentBody]) -> Response[Any]:
    """Apply one structural change to a document and redraw its section: {"doc", "html"} (off the event loop,
    within the admin budget: the answer is bounded too)."""
    check_nesting(data.doc, "doc")
    check_nesting(data.arg, "arg")
    try:
        body = await budget.answer(request, "redrawing the section", _fragment, request.app.template_engine, data,
                                   request.app.state.config)
    except EditError as exc:
        return _errors(data.key, exc)
    except KeyError:
        return Response({"errors": [{"file": data.key, "field": "", "message": f"no editor {data.view!r}"}]},
                        status_code=400)
    return Response(body)


ROUTES = [to_yaml, fragment]
