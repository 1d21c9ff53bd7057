"""The pipeline: which source mapping reads a delivery, the decision, and the CRM write it leads to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from connector.config import Config, load_config
from connector.errors import InputError
from connector.pipeline import decide, ingest, ingest_delivery, mapping_name, write_item
from connector.ports import Delivery
from connector.routing import RoutingState

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(ROOT)


def delivery(source: str, form: str | None = None) -> Delivery:
    return Delivery(source=source, delivery_id="d1", received_at=WHEN, payload={"email": "jo@acme.com"}, form=form)


def test_the_mapping_is_the_deliverys_own_else_its_sources_default_else_its_sources_only_one(config: Config) -> None:
    assert mapping_name(delivery("form", form="typeform_demo"), config) == "typeform_demo"
    assert mapping_name(delivery("form"), config) == "website"
    assert mapping_name(delivery("csv"), config) == "website"
    for name, source in config.sources.items():  # a CRM's deliveries name no form: its mapping says `source:`
        if source.source not in ("form", "csv"):
            assert mapping_name(delivery(source.source), config) == name
    assert mapping_name(delivery("nowhere"), config) == "nowhere"  # ingest then says there is no such mapping
    with pytest.raises(InputError, match="no source mapping named 'nowhere'"):
        ingest_delivery(delivery("nowhere"), config)


def test_a_source_read_by_two_mappings_needs_the_delivery_to_name_one(config: Config) -> None:
    website = config.sources["website"]
    two = msgspec.structs.replace(config, sources={
        **config.sources, "a": msgspec.structs.replace(website, name="a", source="x"),
        "b": msgspec.structs.replace(website, name="b", source="x"),
    })
    with pytest.raises(InputError, match="x deliveries are read by a, b"):
        mapping_name(delivery("x"), two)
    assert ingest_delivery(delivery("x"), two, mapping="b").origin.form == "b"


def test_the_write_goes_to_the_object_its_crm_mapping_names(config: Config) -> None:
    lead = msgspec.structs.replace(ingest({"email": "jo@acme.com", "first_name": "Jo", "last_name": "Lee",
                                          "company": "Acme"}, config, mapping="website"), id="L1")
    decision = decide(lead, config, state=RoutingState(), now=WHEN)
    assert config.crm
    for crm, mapping in config.crm.items():
        item = write_item(decision, config, crm)
        assert item.object_type == mapping.object and item.key == "L1"
        assert item.fields[mapping.upsert_key]
    assert {crm: write_item(decision, config, crm).object_type for crm in config.crm} == {
        "hubspot": "contacts", "salesforce": "Lead"}  # as the shipped mapping files say
