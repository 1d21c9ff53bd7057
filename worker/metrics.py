"""Prometheus metrics kept in Redis, so the API and every worker process add to the same numbers.

One hash per metric, ``{prefix}metrics:{name}``. Field = label values (in METRICS order) joined by
"\\x1f"; histograms add "\\x1f__bucket_<le>", "\\x1f__sum" and "\\x1f__count" to that. Buckets are stored
per bucket (not cumulative, so one observation is three commands) and summed up when rendered.

Gauges (queue depth, dead letters, parked leads...) are not stored: the caller reads them live at scrape time
(``worker.gauges``).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import msgspec
import prometheus_client
import redis
import redis.asyncio
import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from worker import outage
from worker.redis_server import redis_unavailable
from worker.store.keys import DEFAULT_PREFIX, Keys

log = structlog.get_logger("leadrelay.metrics")

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

Kind = Literal["counter", "histogram", "gauge"]
SEP = "\x1f"
_BUCKET = "__bucket_"
_SUM = "__sum"
_COUNT = "__count"


class MetricSpec(msgspec.Struct, frozen=True):
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


# Job run times: from a fast dedupe (ms) to a slow CRM batch write (tens of seconds).
_JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

METRICS: dict[str, MetricSpec] = {
    "leadrelay_deliveries_total": MetricSpec(
        "counter", "Inbound deliveries by source and outcome (accepted|duplicate|rejected).",
        ("source", "outcome", "reason")),
    "leadrelay_job_duration_seconds": MetricSpec(
        "histogram", "Worker job run time.", ("job",), _JOB_BUCKETS),
    "leadrelay_job_retries_total": MetricSpec(
        "counter", "Worker job retries by reason.", ("job", "reason")),
    "leadrelay_speed_to_lead_seconds": MetricSpec(
        "histogram", "Time from delivery received to lead written in the CRM.", ("crm",),
        (0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)),
    "leadrelay_assigned_seconds": MetricSpec(
        "histogram", "Time from delivery received to its owner written in the CRM, by source, rep (or queue:<name>) "
        "and the UTC hour it was received.", ("source", "rep", "hour"),
        (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)),
    "leadrelay_notified_seconds": MetricSpec(
        "histogram", "Time from delivery received to the first notice of its routing sent (Slack, webhook, email), "
        "by source, rep (or queue:<name>) and the UTC hour it was received.", ("source", "rep", "hour"),
        (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)),
    "leadrelay_rescored_total": MetricSpec(
        "counter", "Leads re-scored after their decision: their behaviour decayed across a threshold, or the CRM "
        "reported new behaviour; by the new grade.", ("why", "grade")),
    "leadrelay_recycle_total": MetricSpec(
        "counter", "Recycling steps: recycle_scheduled | recycle_cancelled | entered (re-engagement) | rerouted.",
        ("step", "reason")),
    "leadrelay_crm_calls_total": MetricSpec(
        "counter", "CRM API calls by endpoint and status.", ("crm", "endpoint", "status")),
    "leadrelay_leads_decided_total": MetricSpec(
        "counter", "Leads decided, by the routing rule that matched.", ("rule",)),
    "leadrelay_http_errors_total": MetricSpec(
        "counter", "Requests the API failed unexpectedly (500), by route template.", ("route", "status")),
    "leadrelay_queue_depth": MetricSpec("gauge", "Jobs waiting in the queue."),
    "leadrelay_oldest_queued_job_seconds": MetricSpec(
        "gauge", "Age of the oldest job due and not yet taken by a worker (0: none waiting)."),
    "leadrelay_leads_parked": MetricSpec(
        "gauge", "Leads waiting for their CRM: deliveries parked while it was down (not decided yet), and decided "
        "leads whose write waits.", ("kind",)),
    "leadrelay_crm_breaker_open": MetricSpec(
        "gauge", "1 while the CRM's circuit breaker is open or half-open (leads are parked, not written), else 0."),
    "leadrelay_redis_uptime_seconds": MetricSpec(
        "gauge", "Uptime of the Redis primary leadrelay writes to (restarts after a failover or a restart)."),
    "leadrelay_redis_connected_replicas": MetricSpec(
        "gauge", "Replicas connected to the Redis primary leadrelay writes to."),
    "leadrelay_dead_letters": MetricSpec("gauge", "Entries in the dead-letter queue."),
    "leadrelay_dead_letters_dropped_total": MetricSpec(
        "counter", "Dead letters dropped: older than their retention, or over LEADRELAY_DEAD_LETTER_MAX."),
    "leadrelay_notifications_total": MetricSpec(
        "counter", "Notifications by channel and outcome (queued|sent|retried|failed|unconfigured|held).",
        ("channel", "outcome")),

    "leadrelay_sla_steps_total": MetricSpec(
        "counter", "First-contact SLA steps taken for leads not worked in time (remind|manager|reassign|"
        "reassign_nobody).", ("step",)),
    "leadrelay_first_contact_seconds": MetricSpec(
        "histogram", "Time from a lead received to its first contact, as the CRM tells it, by source, grade, the rep "
        "who made it and the UTC hour it was received.", ("source", "grade", "rep", "hour"),
        (60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0)),
    "leadrelay_sla_overdue": MetricSpec("gauge", "Leads past their first-contact deadline and not worked."),
    "leadrelay_leads_held": MetricSpec("gauge", "Leads held after hours, waiting for their pool's next business hour."),
    "leadrelay_leads_unassigned": MetricSpec(
        "gauge", "Leads whose CRM owner is a queue, not a rep (as leadrelay last wrote it), by queue.", ("queue",)),
    "leadrelay_parked_total": MetricSpec(
        "counter", "Leads parked while their CRM was down (delivery: not decided yet; write: decided).", ("kind",)),
}

Gauge = float | Mapping[str, float]  # a gauge's value read now: one number, or one per value of its one label

_OUTCOMES = frozenset({"accepted", "duplicate", "rejected"})

# One command of a pipeline: (method, key, field, amount).
_Cmd = tuple[Literal["hincrbyfloat", "hincrby"], str, str, float]


def _le(bound: float) -> str:
    return repr(float(bound))  # "0.025", "1.0": the same text in the Redis field and on the page


def metric_key(prefix: str, name: str) -> str:
    return Keys(prefix).metric(name)


def _spec(name: str, kind: Kind) -> MetricSpec:
    spec = METRICS.get(name)
    if spec is None:
        raise ValueError(f"unknown metric {name!r}")
    if spec.kind != kind:
        raise ValueError(f"metric {name!r} is a {spec.kind}, not a {kind}")
    return spec


def _label_field(name: str, spec: MetricSpec, labels: Mapping[str, str] | None) -> str:
    given = dict(labels or {})
    if set(given) != set(spec.labels):
        raise ValueError(f"metric {name!r} takes labels {sorted(spec.labels)}, got {sorted(given)}")
    if name == "leadrelay_deliveries_total" and given["outcome"] not in _OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(_OUTCOMES)}, got {given['outcome']!r}")
    # The separator inside a value would shift every later label; it has no business in a label anyway.
    return SEP.join(str(given[label]).replace(SEP, " ") for label in spec.labels)


def _inc_cmds(prefix: str, name: str, labels: Mapping[str, str] | None, amount: float) -> list[_Cmd]:
    spec = _spec(name, "counter")
    field = _label_field(name, spec, labels)
    if not (amount >= 0 and math.isfinite(amount)):
        raise ValueError(f"counter {name!r} can only go up by a finite amount, got {amount!r}")
    return [("hincrbyfloat", metric_key(prefix, name), field, amount)]


def _observe_cmds(prefix: str, name: str, value: float, labels: Mapping[str, str] | None) -> list[_Cmd]:
    spec = _spec(name, "histogram")
    base = _label_field(name, spec, labels)
    if math.isnan(value):
        raise ValueError(f"histogram {name!r} cannot observe NaN")
    key = metric_key(prefix, name)
    # _count first: a scrape between these commands then sees +Inf >= every bucket, still a valid histogram.
    cmds: list[_Cmd] = [("hincrby", key, f"{base}{SEP}{_COUNT}", 1)]
    le = next((b for b in spec.buckets if value <= b), None)
    if le is not None:  # above the last bucket only +Inf (= _count) counts it
        cmds.append(("hincrby", key, f"{base}{SEP}{_BUCKET}{_le(le)}", 1))
    cmds.append(("hincrbyfloat", key, f"{base}{SEP}{_SUM}", value))
    return cmds


def _queue(pipe: Any, cmds: Iterable[_Cmd]) -> None:
    for method, key, field, amount in cmds:
        if method == "hincrby":
            pipe.hincrby(key, field, int(amount))
        else:
            pipe.hincrbyfloat(key, field, amount)


class Metrics:
    """Records metrics from async code (API, arq jobs).

    With ``flush_s`` > 0 the amounts are summed in memory and written in one pipeline at most that often, so a
    lead costs no metric round trip; ``flush()`` writes what is pending now (before a scrape, at shutdown). With
    0 every call is one round trip.
    """

    def __init__(self, redis: redis.asyncio.Redis, prefix: str = DEFAULT_PREFIX, flush_s: float = 0.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.flush_s = flush_s
        self._pending: dict[tuple[str, str, str], float] = {}
        self._task: asyncio.Task[None] | None = None

    async def inc(self, name: str, labels: Mapping[str, str] | None = None, amount: float = 1.0) -> None:
        await self._add(_inc_cmds(self.prefix, name, labels, amount))

    async def observe(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        await self._add(_observe_cmds(self.prefix, name, value, labels))

    async def _add(self, cmds: list[_Cmd]) -> None:
        if self.flush_s <= 0:
            await self._run(cmds)
            return
        _merge(self._pending, cmds)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_s)
        self._task = None
        try:
            await self.flush()
        except Exception as exc:  # kept for the next flush; a metric never fails a lead
            _flush_failed(exc)
        else:
            outage.REDIS.answered()

    async def flush(self) -> None:
        """Write the pending amounts now (kept for the next flush if Redis fails)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            await self._run(_unmerge(pending))
        except Exception:
            _merge(self._pending, _unmerge(pending))
            raise

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.flush()

    async def _run(self, cmds: list[_Cmd]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            _queue(pipe, cmds)
            await pipe.execute()


def _flush_failed(exc: Exception) -> None:
    if redis_unavailable(exc):  # one line per outage, not one per flush
        outage.REDIS.failed(exc, "metrics")
    else:
        log.warning("metrics_flush_failed", exc_info=exc)


class SyncMetrics:
    """The same as Metrics for sync code (CRM adapters in threads): buffered amounts go out with the first
    call after ``flush_s`` has passed, and with ``flush()``."""

    def __init__(self, redis: redis.Redis, prefix: str = DEFAULT_PREFIX, flush_s: float = 0.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.flush_s = flush_s
        self._pending: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def inc(self, name: str, labels: Mapping[str, str] | None = None, amount: float = 1.0) -> None:
        self._add(_inc_cmds(self.prefix, name, labels, amount))

    def observe(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        self._add(_observe_cmds(self.prefix, name, value, labels))

    def _add(self, cmds: list[_Cmd]) -> None:
        if self.flush_s <= 0:
            self._run(cmds)
            return
        with self._lock:
            _merge(self._pending, cmds)
            due = time.monotonic() - self._last >= self.flush_s
        if due:
            try:
                self.flush()
            except Exception as exc:  # kept for the next flush; a metric never fails a CRM call
                _flush_failed(exc)

    def flush(self) -> None:
        """Write the pending amounts now (kept for the next flush if Redis fails)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last = time.monotonic()
        if not pending:
            return
        try:
            self._run(_unmerge(pending))
        except Exception:
            with self._lock:
                _merge(self._pending, _unmerge(pending))
            raise

    def _run(self, cmds: list[_Cmd]) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            _queue(pipe, cmds)
            pipe.execute()


def _merge(pending: dict[tuple[str, str, str], float], cmds: Iterable[_Cmd]) -> None:
    for method, key, field, amount in cmds:
        pending[(method, key, field)] = pending.get((method, key, field), 0) + amount


def _unmerge(pending: Mapping[tuple[str, str, str], float]) -> list[_Cmd]:
    return [(method, key, field, amount) for (method, key, field), amount in pending.items()]  # type: ignore[misc]


# ---- rendering -------------------------------------------------------------------------------------------

_STORED = [name for name, spec in METRICS.items() if spec.kind != "gauge"]


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _labels(spec: MetricSpec, base: str) -> list[str] | None:
    values = base.split(SEP) if spec.labels else []
    if len(values) != len(spec.labels):
        return None  # written under another label set (an older version): not renderable, skip it
    return values


def _counter(name: str, spec: MetricSpec, raw: Mapping[str, str]) -> Metric:
    family = CounterMetricFamily(name, spec.help, labels=spec.labels)
    for field, value in sorted(raw.items()):
        values = _labels(spec, field)
        if values is not None:
            family.add_metric(values, float(value))
    return family


def _histogram(name: str, spec: MetricSpec, raw: Mapping[str, str]) -> Metric:
    family = HistogramMetricFamily(name, spec.help, labels=spec.labels)
    series: dict[str, dict[str, str]] = {}
    for field, value in raw.items():
        base, _, part = field.rpartition(SEP)
        series.setdefault(base, {})[part] = value
    for base, parts in sorted(series.items()):
        values = _labels(spec, base)
        if values is None:
            continue
        count = float(parts.get(_COUNT, 0))
        running = 0.0
        buckets: list[tuple[str, float]] = []
        for b in spec.buckets:
            le = _le(b)
            running += float(parts.get(f"{_BUCKET}{le}", 0))
            buckets.append((le, min(running, count)))
        buckets.append(("+Inf", count))
        family.add_metric(values, buckets, float(parts.get(_SUM, 0)))
    return family


def _families(hashes: Mapping[str, Mapping[bytes | str, bytes | str]], gauges: Mapping[str, Gauge]) -> list[Metric]:
    out: list[Metric] = []
    for name in _STORED:
        spec = METRICS[name]
        raw = {_text(k): _text(v) for k, v in hashes.get(name, {}).items()}
        out.append(_counter(name, spec, raw) if spec.kind == "counter" else _histogram(name, spec, raw))
    for name, value in gauges.items():
        spec = _spec(name, "gauge")
        if isinstance(value, Mapping):  # a gauge with one label: its value per label value
            family = GaugeMetricFamily(name, spec.help, labels=spec.labels)
            for label, v in sorted(value.items()):
                family.add_metric([label], float(v))
            out.append(family)
        else:
            out.append(GaugeMetricFamily(name, spec.help, value=float(value)))
    return out


class _Families(Collector):
    def __init__(self, load: Callable[[], list[Metric]]) -> None:
        self.load = load

    def collect(self) -> Iterator[Metric]:
        yield from self.load()


def _generate(load: Callable[[], list[Metric]]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(load))
    return prometheus_client.generate_latest(registry)


def _check_gauges(gauges: Iterable[str]) -> None:
    for name in gauges:
        _spec(name, "gauge")


def render(redis_sync: redis.Redis, prefix: str, gauges: Mapping[str, Callable[[], float]] = {}) -> bytes:
    """The metrics page: stored metrics from Redis (one round trip) plus gauges read now."""
    _check_gauges(gauges)

    def load() -> list[Metric]:
        with redis_sync.pipeline(transaction=False) as pipe:
            for name in _STORED:
                pipe.hgetall(metric_key(prefix, name))
            results = pipe.execute()
        return _families(dict(zip(_STORED, results, strict=True)), {n: read() for n, read in gauges.items()})

    return _generate(load)


async def render_async(redis: redis.asyncio.Redis, prefix: str, gauges: Mapping[str, Gauge] = {}) -> bytes:
    """render() for async callers: the gauges are already-read values."""
    _check_gauges(gauges)
    async with redis.pipeline(transaction=False) as pipe:
        for name in _STORED:
            pipe.hgetall(metric_key(prefix, name))
        results = await pipe.execute()
    families = _families(dict(zip(_STORED, results, strict=True)), gauges)
    return _generate(lambda: families)


class Recorder:
    """What the worker records through: a metric never fails a lead, so errors are logged, not raised.
    With no ``Metrics`` (tests, tools) recording does nothing."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics

    async def inc(self, name: str, labels: Mapping[str, str] | None = None, amount: float = 1.0) -> None:
        if self.metrics is not None:
            try:
                await self.metrics.inc(name, labels, amount)
            except Exception:
                log.warning("metrics_failed", metric=name)

    async def observe(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        if self.metrics is not None:
            try:
                await self.metrics.observe(name, value, labels)
            except Exception:
                log.warning("metrics_failed", metric=name)
