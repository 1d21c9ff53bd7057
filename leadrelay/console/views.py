"""The editor of each kind of config file: a macro of ``templates/editors.html`` drawn from the file's document
(``render(engine, view, key, doc, ctx)``), and the cards' specs it draws from.

The page re-asks for a section after a structural change (``/admin/fragment``), so this is the one place the
editors are drawn. Inputs carry their path in the file; validation errors are shown beside the input whose path
is the error's field (or the nearest one above it).
"""

from __future__ import annotations

from typing import Any

from connector.mapping import TRANSFORMS

Ctx = dict[str, Any]
STRATEGIES = ("named", "round_robin", "weighted", "skill", "territory", "account", "vip", "queue")
VIEWS = ("source_mapping", "crm_mapping", "scoring", "tags", "routing", "team", "territories")  # editors.html

Spec = tuple[tuple[str, str, str, dict[str, Any]], ...]  # (key, kind, label, options) of a card's inputs
NEW_WHEN = {"field": "", "op": "eq", "value": ""}
POINTS: Spec = (("name", "text", "Name", {"opt": False}), ("points", "num", "Points", {"cls": "narrow"}),
                ("reason", "text", "Reason shown", {"cls": "wide"}))
BEHAVIOUR: Spec = (("name", "text", "Name", {"opt": False}), ("events", "list", "Events", {}),
                   ("points", "num", "Points each", {"cls": "narrow"}),
                   ("within_days", "num", "Within days", {"cls": "narrow"}), ("reason", "text", "Reason", {}))
GRADES: Spec = (("grade", "text", "Grade", {"opt": False}), ("min_score", "num", "From score", {}),
                ("action", "text", "Action", {"cls": "wide"}))
TAG_RULE: Spec = (("name", "text", "Name", {"opt": False}), ("tags", "list", "Tags", {"list": "tag-names"}),
                  ("reason", "text", "Reason", {"cls": "wide"}))
SEGMENT: Spec = (("name", "text", "Name", {"opt": False}), ("description", "text", "Description", {"cls": "wide"}))
ROUTE: Spec = (("name", "text", "Name", {"opt": False}),
               ("strategy", "select", "Strategy", {"options": STRATEGIES}),
               ("pool", "text", "Pool", {"list": "pool-names", "cls": "t-pool"}),
               ("rep", "text", "Rep", {"list": "rep-ids", "cls": "t-rep"}),
               ("queue", "text", "Queue", {"list": "queue-names", "cls": "t-queue"}),
               ("description", "text", "Description", {"cls": "wide"}))
NEW = {"points": {"name": "new_rule", "points": 0, "when": NEW_WHEN},
       "behaviour": {"name": "new_rule", "events": [], "points": 0},
       "grade": {"grade": "", "action": ""},
       "tag_rule": {"name": "new_rule", "tags": [], "when": NEW_WHEN},
       "segment": {"name": "new_segment", "when": NEW_WHEN},
       "route": {"name": "new_rule", "strategy": "round_robin", "pool": "", "when": NEW_WHEN}}


def keys_of(spec: Spec, when: bool) -> tuple[str, ...]:
    """The keys a card shows as inputs (the rest go to its "other settings" box)."""
    return tuple(k for k, *_ in spec) + (("when",) if when else ())


def render(engine: Any, view: str, key: str, doc: Any, ctx: Ctx) -> str:
    """The section of one file's editor (``engine``: the app's template engine). KeyError for an unknown view."""
    if view not in VIEWS:
        raise KeyError(view)
    macro = getattr(engine.get_template("editors.html").module, view)
    return str(macro(key, doc if isinstance(doc, dict) else {}, ctx))


GLOBALS = {"TRANSFORMS": TRANSFORMS, "POINTS": POINTS, "BEHAVIOUR": BEHAVIOUR, "GRADES": GRADES,
           "TAG_RULE": TAG_RULE, "SEGMENT": SEGMENT, "ROUTE": ROUTE, "NEW": NEW, "keys_of": keys_of}
