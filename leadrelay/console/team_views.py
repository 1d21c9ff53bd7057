"""The team editor: reps (hours, skills, caps, out of office, one click for "out today"), pools, territories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadrelay.console.html import attrs, esc
from leadrelay.console.widgets import check_input, field_input, op_button, rest_box, select

Ctx = dict[str, Any]
REP_ROLES = ("ae", "sdr", "manager")
REP_KEYS = ("id", "name", "email", "role", "timezone", "country", "weight", "daily_cap", "skills", "languages",
            "active", "hours", "out_of_office")
NEW_REP = {"id": "new_rep", "name": "New Rep", "email": "", "role": "ae", "timezone": "UTC", "country": "US",
           "owner_ids": {}}


def _away(path: str, rep: dict[str, Any], today: str) -> str:
    rows = []
    for i, o in enumerate(rep.get("out_of_office") or []):
        here = f"{path}.out_of_office[{i}]"
        now = isinstance(o, dict) and str(o.get("start")) <= today <= str(o.get("end"))
        first = attrs(type="date", value=str(o.get("start", "")), data_k="text", data_path=f"{here}.start",
                      aria_label="first day away")
        last = attrs(type="date", value=str(o.get("end", "")), data_k="text", data_path=f"{here}.end",
                     aria_label="last day away")
        note = field_input(f"{here}.note", o.get("note"), placeholder="note", cls="note")
        remove = op_button("remove", here, "×", title="remove this absence")
        rows.append(f'<div class="ooo{" now" if now else ""}"><input{first}><input{last}>{remove}{note}</div>')
    add = op_button("add", f"{path}.out_of_office", "+ dates", arg={"start": today, "end": today}, cls="small")
    return "".join(rows) + add


def _is_away(rep: dict[str, Any], today: str) -> bool:
    return any(isinstance(o, dict) and str(o.get("start")) <= today <= str(o.get("end"))
               for o in rep.get("out_of_office") or [])


def local_today(rep: dict[str, Any], fallback: str) -> str:
    """The rep's own date ("out today" is the rep's today, wherever the admin is)."""
    try:
        return datetime.now(ZoneInfo(str(rep.get("timezone")))).date().isoformat()
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def _details(here: str, rep: dict[str, Any]) -> str:
    """Who the rep is, where, and their CRM owner ids: opened when needed."""
    fields = "".join((
        field_input(f"{here}.name", rep.get("name"), label="Name", opt=False),
        field_input(f"{here}.email", rep.get("email"), label="Email", opt=False),
        field_input(f"{here}.timezone", rep.get("timezone"), label="Time zone", opt=False),
        field_input(f"{here}.country", rep.get("country"), label="Country", opt=False),
    ))
    return (f'<details><summary>details</summary><div class="fields">{fields}</div>'
            f'{rest_box(here, rep, REP_KEYS, label="Manager, holidays, CRM owner ids")}</details>')


def rep_row(i: int, rep: dict[str, Any], today: str) -> str:
    """One rep: the things changed most (caps, skills, hours, out of office) in one row; the rest folded away."""
    here = f"reps[{i}]"
    today = local_today(rep, today)
    hours = rep.get("hours") or {}
    away = _is_away(rep, today)
    badges = ('<span class="badge away">out today</span>' if away else "") + (
        '<span class="badge off">inactive</span>' if rep.get("active") is False else "")
    name = rep.get("name") or rep.get("id")
    one_click = "" if away else op_button("out_today", "reps", "Out today", arg={"id": rep.get("id"), "day": today},
                                          cls="small warn", title=f"{name} is away today: publish now",
                                          data_publish=f"{name} out today")
    cells = (
        f'<td class="who"><b>{esc(name)}</b><br><code>{esc(rep.get("id", ""))}</code> {badges}'
        f"{_details(here, rep)}</td>",
        f'<td>{select(f"{here}.role", rep.get("role"), REP_ROLES)}</td>',
        f'<td>{field_input(f"{here}.weight", rep.get("weight"), "num", placeholder="1")}'
        f'{field_input(f"{here}.daily_cap", rep.get("daily_cap"), "num", placeholder="no cap")}</td>',
        f'<td>{field_input(f"{here}.skills", rep.get("skills"), "list", placeholder="no skills")}'
        f'{field_input(f"{here}.languages", rep.get("languages"), "list", placeholder="en")}</td>',
        f'<td>{field_input(f"{here}.hours.days", hours.get("days"), "list", placeholder="mon–fri")}'
        f'<span class="hours">{field_input(f"{here}.hours.start", hours.get("start"), placeholder="09:00")}–'
        f'{field_input(f"{here}.hours.end", hours.get("end"), placeholder="17:00")}</span></td>',
        f'<td class="away-cell">{_away(here, rep, today)}</td>',
        f'<td class="c">{check_input(f"{here}.active", rep.get("active", True), "")}</td>',
        f'<td class="ops">{one_click}{op_button("remove", here, "×", title="remove this rep")}</td>',
    )
    return f'<tr class="rep{" is-away" if away else ""}"{attrs(data_rep=rep.get("id"))}>{"".join(cells)}</tr>'


def _pools(pools: dict[str, Any]) -> str:
    rows = []
    for name, pool in pools.items():
        if not isinstance(pool, dict):
            continue
        here = f"pools.{name}"
        rows.append(f"<tr><td><b>{esc(name)}</b></td>"
                    f'<td>{select(f"{here}.strategy", pool.get("strategy", "round_robin"), ("round_robin", "weighted"))}</td>'  # noqa: E501
                    f'<td>{field_input(f"{here}.members", pool.get("members"), "list", opt=False, cls="wide")}</td>'
                    f'<td>{field_input(f"{here}.weights", pool.get("weights"), "yaml", placeholder="rep: weight")}</td>'
                    f'<td>{field_input(f"{here}.description", pool.get("description"))}</td></tr>')
    head = "<tr><th>Pool</th><th>Strategy</th><th>Members</th><th>Weights</th><th>Description</th></tr>"
    return f'<table class="grid"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def team(key: str, doc: dict[str, Any], ctx: Ctx) -> str:
    today = str(ctx.get("today", ""))
    reps = doc.get("reps") or []
    rows = "".join(rep_row(i, r, today) for i, r in enumerate(reps) if isinstance(r, dict))
    away = sum(1 for r in reps if isinstance(r, dict) and _is_away(r, local_today(r, today)))
    add = op_button("add", "reps", "+ rep", arg=NEW_REP, cls="small")
    head = ("<tr><th>Rep</th><th>Role</th><th>Weight · cap</th><th>Skills · languages</th><th>Working hours</th>"
            "<th>Out of office</th><th>Active</th><th></th></tr>")
    body = (f'<p class="muted">{len(reps)} reps, {away} out today. "Out today" publishes at once; other changes '
            f'are kept as your draft until you publish.</p>'
            f'<table class="grid reps"><thead>{head}</thead><tbody>{rows}</tbody></table>{add}'
            f'<h3>Pools</h3>{_pools(doc.get("pools") or {})}'
            f'<h3>Queues</h3>{rest_box("", doc, ("reps", "pools"), label="Queues (and new pools)")}')
    return (f'<section class="editor"{attrs(data_key=key, data_view="team")}><h2>Reps '
            f'<code class="file">{esc(key)}</code></h2><fieldset class="edits">{body}</fieldset></section>')


def territories(key: str, doc: dict[str, Any], ctx: Ctx) -> str:
    rows = []
    for name, t in (doc.get("territories") or {}).items():
        if not isinstance(t, dict):
            continue
        here = f"territories.{name}"
        rows.append(f"<tr><td><b>{esc(name)}</b></td>"
                    f'<td>{field_input(f"{here}.countries", t.get("countries"), "list", opt=False)}</td>'
                    f'<td>{field_input(f"{here}.regions", t.get("regions"), "list")}</td>'
                    f'<td>{field_input(f"{here}.postal_codes", t.get("postal_codes"), "yaml", placeholder="[{from: x, to: y}]")}</td>'  # noqa: E501
                    f'<td>{field_input(f"{here}.pool", t.get("pool"), list_="pool-names", cls="narrow")}</td>'
                    f'<td>{field_input(f"{here}.rep", t.get("rep"), list_="rep-ids", cls="narrow")}</td></tr>')
    head = "<tr><th>Territory</th><th>Countries</th><th>Regions</th><th>Postal codes</th><th>Pool</th><th>Rep</th></tr>"
    return (f'<section class="editor"{attrs(data_key=key, data_view="territories")}><h2>Territories '
            f'<code class="file">{esc(key)}</code></h2><fieldset class="edits"><table class="grid"><thead>{head}'
            f'</thead><tbody>{"".join(rows)}</tbody></table></fieldset></section>')


TEAM_RENDER: dict[str, Callable[[str, dict[str, Any], Ctx], str]] = {"team": team, "territories": territories}
