"""The OpenAPI schema says what the service does (issue 12): reads declare no API key unless
the server requires one, writes do; k, event types and status codes are documented; 405 has
Allow and 401 WWW-Authenticate."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from service_helpers import AUTH

from digirec.serving import schemas as S

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


def _k_schemas(schema: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    """Every query parameter ``k`` (by "METHOD path") and the body ``k`` of the list requests."""
    found = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", ()):
                if param["in"] == "query" and param["name"] == "k":
                    found[f"{method.upper()} {path}"] = param["schema"]
    for name, component in schema["components"]["schemas"].items():
        if name.startswith(("SessionRequest", "BatchRequest")):
            found[name] = component["properties"]["k"]
    return found


def _integer_branch(schema: dict) -> dict:  # type: ignore[type-arg]
    (branch,) = [s for s in schema.get("anyOf", [schema]) if s.get("type") == "integer"]
    return branch


def test_k_bounds_are_in_the_schema_and_enforced(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_k=12, max_batch=3)
    schema = client.get("/openapi.json").json()
    bounds = _k_schemas(schema)
    assert {
        f"GET {RECS}",
        "GET /v1/items/{item_id}/similar",
        "GET /v1/search",
        "SessionRequest",
        "BatchRequest",
    } <= set(bounds) | {n.split("-")[0] for n in bounds}, bounds
    for where, k_schema in bounds.items():
        branch = _integer_branch(k_schema)
        assert (branch["minimum"], branch["maximum"]) == (1, 12), where
    # Out of range on either side: the documented 422 with the stable code, as before.
    gets = {
        f"GET {RECS}": "/v1/users/nobody/recommendations",
        "GET /v1/items/{item_id}/similar": None,
        "GET /v1/search": "/v1/search?q=phone",
    }
    item_id = client.get("/v1/users/nobody/recommendations").json()["items"][0]["item_id"]
    gets["GET /v1/items/{item_id}/similar"] = f"/v1/items/{item_id}/similar"
    for where, url in gets.items():
        method, path = where.split(" ", 1)
        assert "422" in schema["paths"][path][method.lower()]["responses"]
        sep = "&" if "?" in url else "?"
        for k in (0, 13):
            response = client.get(f"{url}{sep}k={k}")
            assert response.status_code == 422, (where, k, response.text)
            assert response.json()["error"] == {
                "code": "invalid_k",
                "message": "k must be between 1 and 12",
                "field": "k",
            }
        assert client.get(f"{url}{sep}k=12").status_code == 200, where
    # The body k: above max_k is invalid_k, below 1 the body's own validation (as before).
    session = {"item_ids": [item_id]}
    too_long = client.post("/v1/recommendations/session", json={**session, "k": 13})
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "invalid_k"
    zero = client.post("/v1/recommendations/session", json={**session, "k": 0})
    assert zero.status_code == 422 and zero.json()["error"]["field"] == "k"
    assert client.post("/v1/recommendations/session", json={**session, "k": 12}).status_code == 200


def test_list_sizes_and_explain_default_follow_the_settings(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_batch=3, explain=False)
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    sizes = {
        name.split("-")[0]: component["properties"][field]["maxItems"]
        for name, component in components.items()
        for prefix, field in (
            ("SessionRequest", "item_ids"),
            ("BatchRequest", "user_ids"),
            ("EventBatch", "events"),
        )
        if name.startswith(prefix)
    }
    assert sizes == {"SessionRequest": 3, "BatchRequest": 3, "EventBatch": 3}
    batch = client.post("/v1/recommendations/batch", json={"user_ids": ["a", "b", "c", "d"]})
    assert batch.status_code == 422 and batch.json()["error"]["code"] == "batch_too_large"
    params = schema["paths"][RECS]["get"]["parameters"]
    (explain,) = [p for p in params if p["name"] == "explain"]
    assert explain["schema"] == {"type": "boolean", "default": False, "title": "Explain"}
    # The default is the setting; an explicit value wins; a non-boolean is a 422.
    items = client.get("/v1/users/nobody/recommendations").json()["items"]
    assert items and all(i["explanation"] is None for i in items)
    explained = client.get("/v1/users/nobody/recommendations?explain=true").json()["items"]
    assert all(i["explanation"] is not None for i in explained)
    bad = client.get("/v1/users/nobody/recommendations?explain=maybe")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "explain"
    on = make_client().get("/openapi.json").json()["paths"][RECS]["get"]["parameters"]
    assert [p["schema"]["default"] for p in on if p["name"] == "explain"] == [True]


def _responses(schema: dict, method: str, path: str) -> set[str]:  # type: ignore[type-arg]
    return set(schema["paths"][path][method]["responses"])


def test_each_operation_documents_the_errors_it_can_answer(make_client) -> None:  # type: ignore[no-untyped-def]
    """No blanket list: an open read documents no 401, a scoped write its key errors, a body
    400/413/422, only events 409/410; 401 says WWW-Authenticate, 429 Retry-After."""
    schema = make_client().get("/openapi.json").json()
    assert _responses(schema, "get", RECS) == {"200", "404", "422"}
    assert _responses(schema, "get", "/v1/search") == {"200", "422"}
    assert _responses(schema, "get", "/v1/model") == {"200"}
    assert _responses(schema, "get", "/health/ready") == {"200", "503"}
    assert _responses(schema, "post", "/v1/recommendations/session") == {"200", "400", "413", "422"}
    assert _responses(schema, "post", "/v1/events") == {
        *("200", "400", "401", "403", "404", "409", "410", "413", "422", "429")
    }
    assert _responses(schema, "post", "/v1/admin/retrain") == {"200", "401", "403", "409", "429"}
    assert _responses(schema, "delete", "/v1/items/{item_id}") == {
        *("204", "401", "403", "404", "422", "429")
    }
    put_user = schema["paths"]["/v1/users/{user_id}"]["put"]["responses"]
    assert put_user["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/UserOut")
    events = schema["paths"]["/v1/events"]["post"]["responses"]
    assert set(events["401"]["headers"]) == {"WWW-Authenticate"}
    assert set(events["429"]["headers"]) == {"Retry-After"}
    assert "client_event_id_conflict" in events["409"]["description"]
    locked = make_client(read_requires_key=True).get("/openapi.json").json()
    assert _responses(locked, "get", RECS) == {"200", "401", "403", "404", "422", "429"}
    assert _responses(locked, "get", "/v1/model") == {"200", "401", "403", "429"}
    # The documented 401 is what an unauthenticated read gets there.
    client = make_client(read_requires_key=True)
    response = client.get("/v1/model")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("ApiKey")


def test_allow_names_every_method_of_the_path(client: TestClient) -> None:
    """GET, PUT and DELETE /v1/items/{id} are three routes; a 405 there allows all three."""
    for path, allowed in (
        ("/v1/items/i00001", "GET, PUT, DELETE"),
        ("/v1/users/u00001", "GET, PUT, DELETE"),
        ("/v1/events", "POST"),
    ):
        response = client.request("OPTIONS", path)
        assert response.status_code == 405, path
        assert response.headers["Allow"] == allowed, path
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_unreadable_body_is_a_documented_400(client: TestClient) -> None:
    response = client.put(
        "/v1/users/u-bytes",
        content=b"\xff\xfe{",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_body"


def test_query_parameters_have_no_null_branch(client: TestClient) -> None:
    """A query string cannot carry a null: optional parameters are plain types."""
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", ()):
                if param["in"] == "query":
                    branches = param["schema"].get("anyOf", [param["schema"]])
                    assert all(b.get("type") != "null" for b in branches), (method, path, param)
    params = {p["name"]: p["schema"] for p in schema["paths"][RECS]["get"]["parameters"]}
    assert params["category"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": "Only these categories (repeatable).",
        "title": "Category",
    }
    assert params["in_stock"]["type"] == "boolean"


def test_body_types_match_the_schema(client: TestClient) -> None:
    """JSON Schema's integer admits 10.0, never true; session item ids carry the id pattern;
    a timestamp is a bounded number or an RFC 3339 date-time."""
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    session = next(v for k, v in schema.items() if k.startswith("SessionRequest"))
    assert session["properties"]["item_ids"]["items"]["pattern"] == S.ID_PATTERN
    stamp = next(v for k, v in schema.items() if k.startswith("EventIn"))["properties"]
    assert stamp["timestamp"]["anyOf"][:2] == [
        {"type": "number", "minimum": 0, "maximum": 7_258_118_400.0},
        {"type": "string", "format": "date-time"},
    ]
    item = client.get("/v1/users/nobody/recommendations").json()["items"][0]["item_id"]
    url = "/v1/recommendations/session"
    assert len(client.post(url, json={"item_ids": [item], "k": 3.0}).json()["items"]) == 3
    for bad in (True, "3", 2.5):
        response = client.post(url, json={"item_ids": [item], "k": bad})
        assert response.status_code == 422 and response.json()["error"]["field"] == "k", bad
    response = client.post(url, json={"item_ids": ["bad id"]})
    assert response.status_code == 422 and response.json()["error"]["field"] == "item_ids[0]"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-01-31T10:00:00Z", 1_769_853_600.0),
        ("2026-01-31t18:00:00+08:00", 1_769_853_600.0),
        ("2026-01-31T10:00:00.1234567z", 1_769_853_600.123456),
        (1_769_853_600, 1_769_853_600.0),
    ],
)
def test_rfc3339_timestamps(text: str | int, seconds: float) -> None:
    assert S.parse_timestamp(text) == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("2026-01-31 10:00:00Z", "RFC 3339"),  # no T
        ("2026-01-31T10:00Z", "RFC 3339"),  # no seconds
        ("2026-01-31T10:00:00", "time zone"),
        ("2026-02-30T10:00:00Z", "not a valid date-time"),
        ("1969-12-31T23:59:59Z", "between 1970 and 2200"),
        ("0001-01-01T00:00:00+23:59", "between 1970 and 2200"),
        (-1, "between 1970 and 2200"),
    ],
)
def test_bad_timestamps(text: str | int, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        S.parse_timestamp(text)
