"""worker.redis_clients (issue 17, Build 4): the one place Redis clients are made, from the settings alone."""

from __future__ import annotations

import pytest
import redis
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import SentinelConnectionPool

from connector.settings import load_settings
from worker import redis_clients


def _env(**values: str) -> dict[str, str]:
    return {f"LEADRELAY_{k.upper()}": v for k, v in values.items()}


async def test_sentinels_from_the_environment_make_a_client_of_the_named_primary() -> None:
    s = load_settings(_env(redis_sentinels="10.0.0.1:26379, sentinel-2:26380,[::1]:26381",
                           redis_sentinel_master="leads", redis_password="pw", redis_username="relay"))
    assert redis_clients.sentinel_hosts(s) == [("10.0.0.1", 26379), ("sentinel-2", 26380), ("::1", 26381)]
    client = redis_clients.async_client(s)
    try:
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "leads"
        assert pool.connection_kwargs["password"] == "pw" and pool.connection_kwargs["username"] == "relay"
        # a primary that died or became a replica (READONLY: redis-py's Sentinel connection turns it into a
        # ConnectionError) is asked for again and the command tried again: a failover needs no restart
        assert pool.connection_kwargs["retry"] is not None
        assert any(issubclass(redis.ConnectionError, e) for e in pool.connection_kwargs["retry_on_error"])
    finally:
        await client.aclose()
    assert "redis_pool" in redis_clients.worker_redis(s)  # arq's worker polls through the same kind of client


@pytest.mark.parametrize("entry", ["sentinel-1", "sentinel-1:port", ":26379"])
def test_a_malformed_sentinel_is_named(entry: str) -> None:
    s = load_settings(_env(redis_sentinels=entry))
    with pytest.raises(ValueError, match=f"LEADRELAY_REDIS_SENTINELS: '{entry}' is not host:port"):
        redis_clients.async_client(s)
    assert redis_clients.unreachable(s) == f"LEADRELAY_REDIS_SENTINELS: '{entry}' is not host:port"


async def test_a_url_takes_the_password_setting_unless_it_has_its_own() -> None:
    bare = load_settings({"REDIS_URL": "rediss://cache.example:6380/0", **_env(redis_password="pw")})
    own = load_settings({"REDIS_URL": "redis://:mine@cache.example:6379/0", **_env(redis_password="pw")})
    a, b = redis_clients.async_client(bare), redis_clients.async_client(own)
    try:
        assert a.connection_pool.connection_kwargs["password"] == "pw"
        assert issubclass(a.connection_pool.connection_class, SSLConnection)  # rediss://: TLS
        assert b.connection_pool.connection_kwargs["password"] == "mine"
    finally:
        await a.aclose()
        await b.aclose()
    assert redis_clients.worker_redis(bare)["redis_settings"].password == "pw"
    assert redis_clients.worker_redis(bare)["redis_settings"].ssl


def test_where_redis_is_is_printed_without_a_password() -> None:
    shown = redis_clients.describe(load_settings({"REDIS_URL": "redis://user:hunter2@db:6379/0"}))
    assert "hunter2" not in shown and "db:6379" in shown
    sentinels = redis_clients.describe(load_settings(_env(redis_sentinels="s1:26379", redis_password="hunter2")))
    assert "hunter2" not in sentinels and "s1:26379" in sentinels


@pytest.mark.parametrize(("name", "value"), [("redis_wait_timeout_ms", "0"), ("redis_min_replicas", "-1")])
def test_a_wait_that_would_block_for_ever_is_refused(name: str, value: str) -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError, match=name):  # WAIT n 0 blocks until n replicas answer, for ever
        load_settings(_env(**{name: value}))


async def test_a_ca_file_goes_to_tls_connections_only() -> None:
    plain = redis_clients.async_client(load_settings({"REDIS_URL": "redis://db:6379/0", **_env(redis_ca_file="/ca")}))
    tls = redis_clients.async_client(load_settings({"REDIS_URL": "rediss://db:6379/0", **_env(redis_ca_file="/ca")}))
    try:
        assert "ssl_ca_certs" not in plain.connection_pool.connection_kwargs  # redis.Connection would refuse it
        assert tls.connection_pool.connection_kwargs["ssl_ca_certs"] == "/ca"
        plain.connection_pool.make_connection()  # builds (no connect): every option is one the class takes
        tls.connection_pool.make_connection()
    finally:
        await plain.aclose()
        await tls.aclose()
