"""Metrics in a real Redis: several processes (clients) add up, and the page parses as Prometheus text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio
from prometheus_client.parser import text_string_to_metric_families

from worker.metrics import CONTENT_TYPE, METRICS, Metrics, SyncMetrics, render, render_async

PREFIX = "test-lr:"


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def sredis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def samples(page: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a metrics page, by (sample name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(page.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


DELIVERY = {"source": "webform", "outcome": "accepted", "reason": ""}


async def test_counters_from_separate_clients_add_up(redis_url: str, sredis: redis.Redis) -> None:
    a = redis.asyncio.Redis.from_url(redis_url)
    b = redis.asyncio.Redis.from_url(redis_url)
    try:
        await Metrics(a, PREFIX).inc("leadrelay_deliveries_total", DELIVERY)
        await Metrics(b, PREFIX).inc("leadrelay_deliveries_total", DELIVERY, amount=2)
        SyncMetrics(sredis, PREFIX).inc("leadrelay_deliveries_total", DELIVERY)
        await Metrics(b, PREFIX).inc("leadrelay_deliveries_total", {**DELIVERY, "outcome": "duplicate"})
    finally:
        await a.aclose()
        await b.aclose()

    got = samples(render(sredis, PREFIX))
    labels = tuple(sorted(DELIVERY.items()))
    assert got[("leadrelay_deliveries_total", labels)] == 4
    dup = tuple(sorted({**DELIVERY, "outcome": "duplicate"}.items()))
    assert got[("leadrelay_deliveries_total", dup)] == 1


async def test_histogram_buckets_are_cumulative_with_sum_and_count(
    aredis: redis.asyncio.Redis, sredis: redis.Redis
) -> None:
    m = Metrics(aredis, PREFIX)
    crm = {"crm": "hubspot"}
    for v in (0.01, 0.12, 0.12, 0.3, 7.0, 99.0):  # 99 is above the last bucket: only +Inf
        await m.observe("leadrelay_speed_to_lead_seconds", v, crm)
    SyncMetrics(sredis, PREFIX).observe("leadrelay_speed_to_lead_seconds", 0.05, crm)

    got = samples(render(sredis, PREFIX))

    def bucket(le: str) -> float:
        return got[("leadrelay_speed_to_lead_seconds_bucket", (("crm", "hubspot"), ("le", le)))]

    assert bucket("0.025") == 1
    assert bucket("0.05") == 2
    assert bucket("0.1") == 2
    assert bucket("0.15") == 4
    assert bucket("0.25") == 4
    assert bucket("0.5") == 5
    assert bucket("10.0") == 6
    assert bucket("30.0") == 6
    assert bucket("+Inf") == 7
    assert got[("leadrelay_speed_to_lead_seconds_count", (("crm", "hubspot"),))] == 7
    assert got[("leadrelay_speed_to_lead_seconds_sum", (("crm", "hubspot"),))] == pytest.approx(
        0.01 + 0.12 + 0.12 + 0.3 + 7.0 + 99.0 + 0.05
    )
    buckets = [bucket(le) for le in ("0.025", "0.05", "0.1", "0.15", "0.2", "0.25", "0.5", "1.0", "+Inf")]
    assert buckets == sorted(buckets)


async def test_render_async_matches_render_and_gauges_appear(aredis: redis.asyncio.Redis, sredis: redis.Redis) -> None:
    m = Metrics(aredis, PREFIX)
    await m.inc("leadrelay_leads_decided_total", {"rule": "enterprise-west"})
    await m.inc("leadrelay_crm_calls_total", {"crm": "salesforce", "endpoint": "composite", "status": "200"}, 3)
    await m.inc("leadrelay_job_retries_total", {"job": "write_back", "reason": "rate_limited"})
    await m.observe("leadrelay_job_duration_seconds", 0.2, {"job": "process_delivery"})

    sync_page = render(sredis, PREFIX, {"leadrelay_queue_depth": lambda: 12, "leadrelay_dead_letters": lambda: 3})
    async_page = await render_async(aredis, PREFIX, {"leadrelay_queue_depth": 12, "leadrelay_dead_letters": 3})
    assert sync_page == async_page

    got = samples(async_page)
    assert got[("leadrelay_queue_depth", ())] == 12
    assert got[("leadrelay_dead_letters", ())] == 3
    assert got[("leadrelay_leads_decided_total", (("rule", "enterprise-west"),))] == 1
    call = (("crm", "salesforce"), ("endpoint", "composite"), ("status", "200"))
    assert got[("leadrelay_crm_calls_total", call)] == 3
    assert got[("leadrelay_job_retries_total", (("job", "write_back"), ("reason", "rate_limited")))] == 1
    assert got[("leadrelay_job_duration_seconds_count", (("job", "process_delivery"),))] == 1

    types = {f.name: f.type for f in text_string_to_metric_families(async_page.decode())}
    assert types["leadrelay_deliveries"] == "counter"  # declared even before anything was counted
    assert types["leadrelay_speed_to_lead_seconds"] == "histogram"
    assert types["leadrelay_queue_depth"] == "gauge"
    assert CONTENT_TYPE.startswith("text/plain")


def test_gauges_are_left_out_when_not_given(sredis: redis.Redis) -> None:
    names = {f.name for f in text_string_to_metric_families(render(sredis, PREFIX).decode())}
    assert "leadrelay_queue_depth" not in names
    assert {"leadrelay_deliveries", "leadrelay_job_duration_seconds"} <= names


async def test_typos_raise_value_error(aredis: redis.asyncio.Redis, sredis: redis.Redis) -> None:
    m = Metrics(aredis, PREFIX)
    with pytest.raises(ValueError, match="unknown metric"):
        await m.inc("leadrelay_delivery_total", DELIVERY)
    with pytest.raises(ValueError, match="labels"):
        await m.inc("leadrelay_deliveries_total", {"source": "webform", "outcome": "accepted"})
    with pytest.raises(ValueError, match="labels"):
        await m.inc("leadrelay_leads_decided_total", {"rule": "x", "extra": "y"})
    with pytest.raises(ValueError, match="labels"):
        await m.observe("leadrelay_job_duration_seconds", 1.0)
    with pytest.raises(ValueError, match="outcome"):
        await m.inc("leadrelay_deliveries_total", {**DELIVERY, "outcome": "acepted"})
    with pytest.raises(ValueError, match="histogram"):
        await m.inc("leadrelay_job_duration_seconds", {"job": "x"})
    with pytest.raises(ValueError, match="gauge"):
        await m.inc("leadrelay_queue_depth")
    with pytest.raises(ValueError, match="go up"):
        await m.inc("leadrelay_leads_decided_total", {"rule": "x"}, amount=-1)
    with pytest.raises(ValueError, match="unknown metric"):
        SyncMetrics(sredis, PREFIX).observe("leadrelay_speed_to_lead", 1.0, {"crm": "hubspot"})
    with pytest.raises(ValueError, match="unknown metric"):
        render(sredis, PREFIX, {"leadrelay_queue_dept": lambda: 1})
    assert sredis.dbsize() == 0  # nothing half-written


async def test_every_key_starts_with_the_prefix(aredis: redis.asyncio.Redis, sredis: redis.Redis) -> None:
    sredis.set("other:thing", "untouched")
    m = Metrics(aredis, PREFIX)
    for name, spec in METRICS.items():
        labels = {label: "accepted" if label == "outcome" else "x" for label in spec.labels}
        if spec.kind == "counter":
            await m.inc(name, labels)
        elif spec.kind == "histogram":
            await m.observe(name, 0.1, labels)
    keys = sorted(k.decode() for k in sredis.scan_iter("*"))
    assert keys == sorted(
        ["other:thing", *(f"{PREFIX}metrics:{n}" for n, s in METRICS.items() if s.kind != "gauge")]
    )
    assert sredis.get("other:thing") == b"untouched"


def test_label_values_with_odd_characters_round_trip(sredis: redis.Redis) -> None:
    SyncMetrics(sredis, PREFIX).inc("leadrelay_leads_decided_total", {"rule": 'quote " back\\slash\nnew\x1fsep'})
    got = samples(render(sredis, PREFIX))
    assert got[("leadrelay_leads_decided_total", (("rule", 'quote " back\\slash\nnew sep'),))] == 1


async def test_decode_responses_clients_work(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await Metrics(client, PREFIX).inc("leadrelay_leads_decided_total", {"rule": "r"})
        got = samples(await render_async(client, PREFIX))
    finally:
        await client.aclose()
    assert got[("leadrelay_leads_decided_total", (("rule", "r"),))] == 1


async def test_buffered_metrics_are_summed_in_memory_and_written_in_one_flush(
    aredis: redis.asyncio.Redis, sredis: redis.Redis
) -> None:
    sredis.delete(*(f"{PREFIX}metrics:{n}" for n in METRICS))
    m = Metrics(aredis, PREFIX, flush_s=0.2)
    calls = SyncMetrics(sredis, PREFIX, flush_s=3600)
    labels = tuple(sorted(DELIVERY.items()))
    for _ in range(5):
        await m.inc("leadrelay_deliveries_total", DELIVERY)
        await m.observe("leadrelay_speed_to_lead_seconds", 0.1, {"crm": "hubspot"})
        calls.inc("leadrelay_deliveries_total", DELIVERY)
    assert ("leadrelay_deliveries_total", labels) not in samples(render(sredis, PREFIX))  # nothing written yet
    await asyncio.sleep(0.5)  # the async buffer flushes itself after flush_s
    got = samples(render(sredis, PREFIX))
    assert got[("leadrelay_deliveries_total", labels)] == 5
    assert got[("leadrelay_speed_to_lead_seconds_count", (("crm", "hubspot"),))] == 5
    assert got[("leadrelay_speed_to_lead_seconds_bucket", (("crm", "hubspot"), ("le", "0.1")))] == 5
    calls.flush()  # the sync buffer (CRM call counts from threads) is written on flush, e.g. at shutdown
    assert samples(render(sredis, PREFIX))[("leadrelay_deliveries_total", labels)] == 10


async def test_a_failed_flush_keeps_the_counts_for_the_next_one(redis_url: str, sredis: redis.Redis) -> None:
    sredis.delete(*(f"{PREFIX}metrics:{n}" for n in METRICS))
    broken = redis.asyncio.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    m = Metrics(broken, PREFIX, flush_s=60)
    await m.inc("leadrelay_deliveries_total", DELIVERY, amount=3)
    with pytest.raises(redis.exceptions.ConnectionError):
        await m.flush()
    m.redis = redis.asyncio.Redis.from_url(redis_url)
    await m.aclose()
    await m.redis.aclose()
    await broken.aclose()
    assert samples(render(sredis, PREFIX))[("leadrelay_deliveries_total", tuple(sorted(DELIVERY.items())))] == 3
