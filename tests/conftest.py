"""Shared fixtures. Tests start their own Redis server unless LEADRELAY_TEST_REDIS_URL is set."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from worker.redis_server import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """URL of a real Redis server for this test session (a private embedded one by default)."""
    url = os.environ.get("LEADRELAY_TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A clean database on the test Redis for one test."""
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    yield redis_server_url
    client.flushdb()
    client.close()
