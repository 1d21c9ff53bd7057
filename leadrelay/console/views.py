"""The editor of each kind of config file, as HTML rendered from the file's document (``render(view, key, doc)``).

The page re-asks for a section after a structural change (``/admin/fragment``), so this is the one place the
editors are drawn. Inputs carry their path in the file; validation errors are shown beside the input whose path
is the error's field (or the nearest one above it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.mapping import TRANSFORMS
from leadrelay.console.html import attrs, esc
from leadrelay.console.widgets import (
    check_input,
    conditions,
    field_input,
    op_button,
    rest_box,
    select,
)

Ctx = dict[str, Any]
STRATEGIES = ("named", "round_robin", "weighted", "skill", "territory", "account", "vip", "queue")


def _row_ops(path: str, what: str) -> str:
    return (op_button("move", path, "↑", arg={"by": -1}, title=f"move this {what} up")
            + op_button("move", path, "↓", arg={"by": 1}, title=f"move this {what} down")
            + op_button("remove", path, "×", title=f"remove this {what}"))


def _section(key: str, view: str, title: str, body: str, *, note: str = "") -> str:
    small = f'<p class="muted small">{esc(note)}</p>' if note else ""
    return (f'<section class="editor"{attrs(data_key=key, data_view=view)}><h2>{esc(title)} '
            f'<code class="file">{esc(key)}</code></h2>{small}<fieldset class="edits">{body}</fieldset></section>')


# ---- field mappings ------------------------------------------------------------------------------------------------
def source_mapping(key: str, doc: dict[str, Any], ctx: Ctx) -> str:
    """A row per payload field: source path, transforms, canonical field, and the CRM fields it ends in."""
    crm_of: dict[str, list[str]] = ctx.get("crm_targets", {})
    rows = []
    for i, rule in enumerate(doc.get("fields") or []):
        here = f"fields[{i}]"
        to = rule.get("to", "")
        targets = crm_of.get(str(to), [])
        crm = "→ " + " · ".join(targets) if targets else ""
        source = field_input(f"{here}.from", rule.get("from"), "path", opt=True, placeholder="payload path")
        transform = field_input(f"{here}.transform", rule.get("transform"), "list", placeholder="none")
        rows.append(
            f'<tr{attrs(data_drag=here)}><td class="n" draggable="true" title="drag to reorder">{i + 1}</td>'
            f'<td class="src">{source}</td><td class="tf">{transform}</td>'
            f'<td class="to">{field_input(f"{here}.to", to, list_="canonical-fields", opt=False)}'
            f'<div class="crm"{attrs(title=chr(10).join(targets) or None)}>{esc(crm)}</div></td>'
            f'<td class="more">{rest_box(here, rule, ("from", "to", "transform"), label="")}</td>'
            f'<td class="ops">{op_button("remove", here, "×", title="remove this row")}</td></tr>')
    head = ("<tr><th>#</th><th>Source path</th><th>Transforms</th><th>Canonical field → CRM fields</th>"
            "<th>More</th><th></th></tr>")
    table = (f'<table class="grid mapping source"><thead>{head}</thead><tbody data-list="fields">{"".join(rows)}'
             f"</tbody></table>")
    add = op_button("add", "fields", "+ field", arg={"to": "", "from": ""}, cls="small")
    note = (f"Payloads from {doc.get('source', '?')}. Transforms: {', '.join(TRANSFORMS)}. A source path in [brackets] "
            "is a list: the first with a value wins.")
    return _section(key, "source_mapping", f"Source: {doc.get('name', key)}", table + add, note=note)


def crm_mapping(key: str, doc: dict[str, Any], ctx: Ctx) -> str:
    """A row per CRM field: the canonical field (or decision field) it is written from, and how."""
    crm = str(doc.get("crm", ""))
    rows = []
    for i, rule in enumerate(doc.get("fields") or []):
        here = f"fields[{i}]"
        rows.append(
            f'<tr{attrs(data_drag=here)}><td class="n" draggable="true" title="drag to reorder">{i + 1}</td>'
            f'<td class="to">{field_input(f"{here}.from", rule.get("from"), list_="canonical-fields", opt=False)}</td>'
            f'<td class="to">{field_input(f"{here}.to", rule.get("to"), list_=f"crm-fields-{crm}", opt=False)}</td>'
            f'<td class="more">{rest_box(here, rule, ("from", "to"), label="")}</td>'
            f'<td class="ops">{op_button("remove", here, "×", title="remove this row")}</td></tr>')
    head = "<tr><th>#</th><th>Canonical field</th><th>CRM field</th><th>Map / format / join</th><th></th></tr>"
    table = (f'<table class="grid mapping crm"><thead>{head}</thead><tbody data-list="fields">{"".join(rows)}'
             f"</tbody></table>")
    add = op_button("add", "fields", "+ field", arg={"from": "", "to": ""}, cls="small")
    note = f"Written to the {doc.get('object', '?')} object, upserted by {doc.get('upsert_key', '?')}."
    return _section(key, "crm_mapping", f"CRM: {crm}", table + add, note=note)


# ---- rules ---------------------------------------------------------------------------------------------------------
Spec = tuple[tuple[str, str, str, dict[str, Any]], ...]  # (key, kind, label, options)


def _card(path: str, item: dict[str, Any], spec: Spec, *, what: str, when: bool = True, title_key: str = "name",
          extra: str = "") -> str:
    fields = []
    for key, kind, label, opts in spec:
        if kind == "select":
            fields.append(select(f"{path}.{key}", item.get(key), opts["options"], label=label,
                                 opt=opts.get("opt", False)))
        elif kind == "bool":
            fields.append(check_input(f"{path}.{key}", item.get(key, opts.get("default", False)), label))
        else:
            cls = opts.get("cls", "") + (" has-value" if item.get(key) not in (None, "", []) else "")
            fields.append(field_input(f"{path}.{key}", item.get(key), kind, label=label, list_=opts.get("list"),
                                      cls=cls.strip(), opt=opts.get("opt", True)))
    keep = tuple(k for k, *_ in spec) + (("when",) if when else ())
    name = item.get(title_key, "")
    hits = f'<span class="hits"{attrs(data_hits=name)} title="leads this rule decided in the last days">…</span>'
    conds = f'<div class="when"><b>When</b>{conditions(f"{path}.when", item.get("when"))}</div>' if when else ""
    return (f'<article class="card"{attrs(data_drag=path, data_strategy=item.get("strategy"))}>'
            f'<header><span class="handle" draggable="true" title="drag to reorder">⋮⋮</span><b>{esc(name)}</b>{hits}'
            f'<span class="ops">{_row_ops(path, what)}</span></header>'
            f'<div class="fields">{"".join(fields)}</div>{conds}{extra}{rest_box(path, item, keep)}</article>')


def _cards(key: str, list_path: str, items: list[Any], spec: Spec, template: dict[str, Any], *, what: str,
           when: bool = True, title_key: str = "name") -> str:
    cards = "".join(_card(f"{list_path}[{i}]", item, spec, what=what, when=when, title_key=title_key)
                    for i, item in enumerate(items or []) if isinstance(item, dict))
    add = op_button("add", list_path, f"+ {what}", arg=template, cls="small")
    return f'<div class="cards"{attrs(data_list=list_path)}>{cards}</div>{add}'


POINTS: Spec = (("name", "text", "Name", {"opt": False}), ("points", "num", "Points", {"cls": "narrow"}),
                ("reason", "text", "Reason shown", {"cls": "wide"}))
NEW_POINTS = {"name": "new_rule", "points": 0, "when": {"field": "", "op": "eq", "value": ""}}


def scoring(key: str, doc: dict[str, Any], ctx: Ctx) -> str:
    parts = []
    for section, title in (("fit", "Fit"), ("intent", "Intent"), ("negative", "Negative")):
        parts.append(f"<h3>{title}</h3>" + _cards(key, section, doc.get(section) or [], POINTS, NEW_POINTS,
                                                  what="scoring rule"))
    behaviour: Spec = (("name", "text", "Name", {"opt": False}), ("events", "list", "Events", {}),
                       ("points", "num", "Points each", {"cls": "narrow"}),
                       ("within_days", "num", "Within days", {"cls": "narrow"}), ("reason", "text", "Reason", {}))
    parts.append("<h3>Behaviour</h3>" + _cards(key, "behaviour", doc.get("behaviour") or [], behaviour,
                                               {"name": "new_rule", "events": [], "points": 0},
                                               what="behaviour rule", when=False))
    grades: Spec = (("grade", "text", "Grade", {"opt": False}), ("min_score", "num", "From score", {}),
                    ("action", "text", "Action", {"cls": "wide"}))
    parts.append("<h3>Grades</h3>" + _cards(key, "grades", doc.get("grades") or [], grades,
                                            {"grade": "", "action": ""}, what="grade", when=False, title_key="grade"))
    keep = ("fit", "intent", "negative", "behaviour", "grades")
    parts.append("<h3>Stages and the rest</h3>" + rest_box("", doc, keep, label="stage_rules, stages, half-life"))
    return _section(key, "scoring", "Scoring", "".join(parts))


def tags(key: str, doc: dict[str, Any], ctx: Ctx) -> str:
    spec: Spec = (("name", "text", "Name", {"opt": False}), ("tags", "list", "Tags", {"list": "tag-names"}),
                  ("reason", "text", "Reason", {"cls": "wide"}))
    rules = _cards(key, "rules", doc.get("rules") or [], spec,
                   {"name": "new_rule", "tags": [], "when": {"field": "", "op": "eq", "value": ""}}, what="tag rule")
    seg_spec: Spec = (("name", "text", "Name", {"opt": False}), ("description", "text", "Description", {"cls": "wide"}))
    segments = _cards(key, "segments", doc.get("segments") or [], seg_spec,
                      {"name": "new_segment", "when": {"field": "", "op": "eq", "value": ""}}, what="segment")
    rest = rest_box("", doc, ("rules", "segments"), label="Taxonomy and lookups")
    return _section(key, "tags", "Tags", f"<h3>Tag rules</h3>{rules}<h3>Segments</h3>{segments}<h3>Taxonomy</h3>{rest}")


ROUTE: Spec = (("name", "text", "Name", {"opt": False}),
               ("strategy", "select", "Strategy", {"options": STRATEGIES}),
               ("pool", "text", "Pool", {"list": "pool-names", "cls": "t-pool"}),
               ("rep", "text", "Rep", {"list": "rep-ids", "cls": "t-rep"}),
               ("queue", "text", "Queue", {"list": "queue-names", "cls": "t-queue"}),
               ("description", "text", "Description", {"cls": "wide"}))


def routing(key: str, doc: dict[str, Any], ctx: Ctx) -> str:
    """Routing rules in order (first match wins), reordered by drag or the arrows."""
    rules = _cards(key, "rules", doc.get("rules") or [], ROUTE,
                   {"name": "new_rule", "strategy": "round_robin", "pool": "",
                    "when": {"field": "", "op": "eq", "value": ""}}, what="routing rule")
    fallback = field_input("fallback_queue", doc.get("fallback_queue"), label="Fallback queue (no rule assigns)",
                           list_="queue-names", opt=False, cls="medium")
    return _section(key, "routing", "Routing", f'<div class="fields">{fallback}</div>{rules}',
                    note="Rules are tried top to bottom; the first that matches and finds an available rep wins.")


RENDER: dict[str, Callable[[str, dict[str, Any], Ctx], str]] = {
    "source_mapping": source_mapping, "crm_mapping": crm_mapping, "scoring": scoring, "tags": tags,
    "routing": routing,
}


def render(view: str, key: str, doc: Any, ctx: Ctx) -> str:
    """The section of one file's editor."""
    from leadrelay.console.team_views import TEAM_RENDER

    fn = RENDER.get(view) or TEAM_RENDER.get(view)
    if fn is None:
        raise KeyError(view)
    return fn(key, doc if isinstance(doc, dict) else {}, ctx)
