"""The editors' two helpers on the server: a document back to YAML text, and a section redrawn after a change.

Both write nothing: the page sends the texts to the admin API (validate, preview, draft, publish).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import JSONBody

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


@post("/admin/yaml", include_in_schema=False, guards=[viewer], status_code=200)
async def to_yaml(request: Req, data: JSONBody[YamlBody]) -> Response[Any]:
    """{"files": {key: document}} -> {"files": {key: YAML text}} (422 naming the input a value did not parse in)."""
    published = await _published(request)
    out = {}
    for key, doc in data.files.items():
        try:
            resolved = resolve(doc)
        except EditError as exc:
            return _errors(key, exc)
        out[key] = dump(resolved, header_of(published.get(key, "")))
    return Response({"files": out})


@post("/admin/fragment", include_in_schema=False, guards=[viewer], status_code=200)
async def fragment(request: Req, data: JSONBody[FragmentBody]) -> Response[Any]:
    """Apply one structural change to a document and redraw its section: {"doc", "html"}."""
    try:
        doc = resolve(data.doc)
        if data.op:
            doc = apply_op(doc, data.op, data.path, data.arg)
        html = render(request.app.template_engine, data.view, data.key, doc,
                      context(request.app.state.config, {data.key: doc}))
    except EditError as exc:
        return _errors(data.key, exc)
    except KeyError:
        return Response({"errors": [{"file": data.key, "field": "", "message": f"no editor {data.view!r}"}]},
                        status_code=400)
    return Response({"doc": doc, "html": html})


ROUTES = [to_yaml, fragment]
