"""The OpenAPI schema says what the service does (issue 12): reads declare no API key unless
the server requires one, writes do; k, event types and status codes are documented; 405 has
Allow and 401 WWW-Authenticate."""

from __future__ import annotations

from fastapi.testclient import TestClient

RECS = "/v1/users/{user_id}/recommendations"


def test_security_is_declared_where_it_is_checked(make_client) -> None:  # type: ignore[no-untyped-def]
    open_reads = make_client().get("/openapi.json").json()["paths"]
    assert "security" not in open_reads[RECS]["get"]
    assert open_reads["/v1/events"]["post"]["security"] == [{"APIKeyHeader": []}]
    locked = make_client(read_requires_key=True).get("/openapi.json").json()["paths"]
    assert locked[RECS]["get"]["security"] == [{"APIKeyHeader": []}]


def test_documented_codes_and_types(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    put_item = schema["paths"]["/v1/items/{item_id}"]["put"]["responses"]
    assert {"200", "201", "401", "403", "422", "429"} <= set(put_item)
    events = schema["paths"]["/v1/events"]["post"]["responses"]
    assert {"200", "401", "403", "409", "410", "422", "429"} <= set(events)
    event = schema["components"]["schemas"]["EventIn"]["properties"]["event"]
    assert event["enum"] == ["view", "click", "wishlist", "cart", "purchase", "rating"]


def test_protocol_headers(client: TestClient) -> None:
    wrong_method = client.patch("/v1/events")
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["Allow"]
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    no_key = client.post("/v1/events", json={"events": []})
    assert no_key.status_code == 401 and no_key.headers["WWW-Authenticate"].startswith("ApiKey")
