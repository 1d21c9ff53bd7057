from adapters.observe import endpoint_of


def test_endpoints_are_low_cardinality_templates() -> None:
    assert endpoint_of("post", "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert") == \
        "POST /crm/v3/objects/contacts/batch/upsert"
    assert endpoint_of("GET", "https://x/crm/v3/objects/contacts/1234?properties=email") == \
        "GET /crm/v3/objects/contacts/{id}"
    assert endpoint_of("PATCH", "https://x/services/data/v62.0/sobjects/Lead/00Q5e000001AbCdEAK") == \
        "PATCH /services/data/{version}/sobjects/Lead/{id}"
    assert endpoint_of("GET", "https://x/services/data/v62.0/query/01g5e000000Abcd-2000") == \
        "GET /services/data/{version}/query/01g5e000000Abcd-2000"
    assert endpoint_of("POST", "https://x/services/oauth2/token") == "POST /services/oauth2/token"
