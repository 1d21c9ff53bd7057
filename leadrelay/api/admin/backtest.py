"""Backtest a draft before publishing: the same leads decided under the current config and under the draft (the
simulation engine of `leadrelay simulate`, ``connector.simulate``), and what changes — owner, stage, tags — with
why, the per-rep distribution before and after, and the unassigned share. The leads: the stored decisions of the
last N days (their canonical leads, each decided at the time it was), or an uploaded CSV read by a source
mapping. Writes nothing; the routing state starts empty on both sides, so the two runs differ only by the rules."""

from __future__ import annotations

import io
import time
from collections import Counter
from typing import Annotated, Any

import msgspec
from litestar import post
from litestar.params import JSONBody

from connector.config import Config
from connector.errors import InputError
from connector.simulate import Run, changes_between, run, run_leads, stage_changes, tag_changes
from leadrelay.api.admin import budget, index
from leadrelay.api.admin.common import CHECK, TAGS, Changes, Req, draft_config
from leadrelay.api.auth import viewer
from leadrelay.api.problems import NotFound
from leadrelay.cli.simulate import csv_rows
from worker.store.records import DAY_S

MAX_LEADS = 20_000  # a backtest decides each lead twice: ~1 ms each


class BacktestIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    files: Changes = {}  # the draft's changed files
    days: Annotated[int, msgspec.Meta(ge=1, le=366)] | None = None  # the stored leads of the last N days ...
    csv: str | None = None  # ... or an uploaded CSV (a header line, a lead per row) ...
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None  # ... read by this mapping
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LEADS)] = 5_000  # the newest this many stored leads


def _unassigned(r: Run) -> float:
    n = len(r.decisions)
    return round(sum(1 for d in r.decisions if d.route.assignment.owner is None) / n, 4) if n else 0.0


def compare(before: Run, after: Run) -> dict[str, Any]:
    """The backtest's answer: which leads change and why, and the distributions on each side."""
    return {
        "leads": len(after.decisions),
        "before_version": before.config.version,
        "after_version": after.config.version,
        "changed": changes_between(before, after),
        "before": dict(Counter(before.owner(d) for d in before.decisions).most_common()),
        "after": dict(Counter(after.owner(d) for d in after.decisions).most_common()),
        "unassigned_before": _unassigned(before),
        "unassigned_after": _unassigned(after),
        "stage_changes": stage_changes(before, after),
        "tag_changes": tag_changes(before, after),
        "rules_before": before.summary()["rules"],
        "rules_after": after.summary()["rules"],
    }


def _csv(config: Config, text: str, source: str | None) -> list[tuple[int, dict[str, Any]]]:
    if source is None:
        raise InputError("a CSV needs `source`: the source mapping that reads its rows", field="source")
    if source not in config.sources:
        raise NotFound(f"no source mapping named {source!r}", hint=f"known: {', '.join(sorted(config.sources))}")
    rows = list(csv_rows(io.StringIO(text, newline=""), "csv"))
    if len(rows) > MAX_LEADS:
        raise InputError(f"the CSV has {len(rows)} rows; a backtest takes at most {MAX_LEADS}", field="csv")
    return rows


def _csv_backtest(current: Config, draft: Config, text: str, source: str | None) -> dict[str, Any]:
    rows = _csv(current, text, source)
    if source not in draft.sources:
        raise InputError(f"the draft has no source mapping {source!r}", field="source")
    # each run reads the rows with its own config's source mapping: a mapping change shows too
    return compare(run(current, rows, [], mapping=source, now=None), run(draft, rows, [], mapping=source, now=None))


def _stored_backtest(current: Config, draft: Config, raw: list[index.Raw], since: float,
                     until: float) -> dict[str, Any]:
    stored = index.decode(raw, since, until)
    stored.reverse()  # oldest first: the routing state moves on as it did
    leads = [s.decision.lead for s in stored]
    return compare(run_leads(current, leads, [], now=None), run_leads(draft, leads, [], now=None))


@post("/backtest", status_code=200, summary="Run a draft over stored leads or a CSV: who would change owner, stage "
      "or tags and why (writes nothing)", guards=[viewer], tags=TAGS, responses=CHECK)
async def backtest(request: Req, data: JSONBody[BacktestIn]) -> dict[str, Any]:
    current: Config = request.app.state.config
    draft = await draft_config(request, data.files)
    # off the event loop, within the admin budget: the webhooks keep being answered while leads are decided
    if data.csv is not None:
        return await budget.answer(request, "the backtest", _csv_backtest, current, draft, data.csv,
                                   data.source)  # type: ignore[no-any-return]
    now = time.time()
    since, until = now - (data.days or 7) * DAY_S, now + 1
    raw = await index.fetch_between(request.app.state.store, since, until, data.limit)
    return await budget.answer(request, "the backtest", _stored_backtest, current, draft, raw, since,
                               until)  # type: ignore[no-any-return]


HANDLERS = [backtest]
