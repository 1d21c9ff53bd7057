"""Lead ids (issue 11, point 1): an HMAC of the person's identity key under a server secret, not a hash anyone can
compute from an email address; stable for one secret (it is the CRM upsert key), different under another."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from connector.ports import Delivery
from worker.decide import lead_id_for

KEYS = ["email:ada@example.com"]
DELIVERY = Delivery(source="form", delivery_id="d1", received_at=datetime(2025, 1, 1, tzinfo=UTC), payload={},
                    form="website")


def test_a_lead_id_is_not_derivable_from_the_email() -> None:
    derivable = "ld_" + hashlib.sha256(b"email:ada@example.com").hexdigest()[:20]
    ours = lead_id_for(KEYS, DELIVERY, secret=b"one-secret-of-this-installation")
    assert ours.startswith("ld_") and len(ours) == len(derivable)
    assert ours != derivable


def test_stable_for_one_secret_and_different_under_another() -> None:
    a1 = lead_id_for(KEYS, DELIVERY, secret=b"secret-a")
    a2 = lead_id_for(list(KEYS), DELIVERY, secret=b"secret-a")
    b = lead_id_for(KEYS, DELIVERY, secret=b"secret-b")
    assert a1 == a2 and a1 != b
    # without identity keys the delivery is the basis, keyed the same way
    assert lead_id_for([], DELIVERY, secret=b"secret-a") != lead_id_for([], DELIVERY, secret=b"secret-b")


def test_the_process_secret_is_the_one_loaded_at_worker_start() -> None:
    from worker import lead_ids

    before = lead_ids.loaded()
    try:
        lead_ids.use_secret(b"loaded-at-start")
        assert lead_id_for(KEYS, DELIVERY) == lead_id_for(KEYS, DELIVERY, secret=b"loaded-at-start")
        lead_ids.use_secret(None)
        with pytest.raises(RuntimeError, match="secret"):
            lead_id_for(KEYS, DELIVERY)  # never a silent fallback to an id anyone can compute
    finally:
        lead_ids.use_secret(before)
