"""Route and template tests of the web pages (FastAPI test client, no browser)."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import API_KEY, AUTH, Shop, known_user
from web_helpers import ORIGIN, card_ids, explanations, parse

from digirec.serving.web import LABELS, SESSION_COOKIE, encode_png

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "digirec" / "serving" / "templates"


# ---------------------------------------------------------------------- shop front
def test_shop_shows_the_apis_recommendations_with_explanations(
    shared_client: TestClient, web_shop: Shop
) -> None:
    user = known_user(web_shop)
    page = shared_client.get("/", params={"user": user})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    api = shared_client.get(
        f"/v1/users/{user}/recommendations", params={"k": 12, "in_stock": "true"}
    ).json()
    ids = card_ids(page.text)
    assert ids == [item["item_id"] for item in api["items"]]
    texts = explanations(page.text)
    assert len(texts) == len(ids) == 12
    assert texts == [item["explanation"]["text"] for item in api["items"]]
    assert 'data-source="personalised"' in page.text
    for item_id in ids:
        assert f'src="/img/{item_id}.svg"' in page.text
    # The shopper's profile is drawn as inline SVG bar charts.
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg"') == 3
    assert "Shopper profile" in page.text


def test_chinese_page_has_chinese_labels_and_explanations(
    shared_client: TestClient, web_shop: Shop
) -> None:
    user = known_user(web_shop)
    page = shared_client.get("/", params={"user": user, "lang": "zh"})
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    for label in ("顾客", "筛选", "品类", "品牌", "顾客画像", "推荐理由", "为该顾客个性化推荐"):
        assert label in page.text
    api = shared_client.get(
        f"/v1/users/{user}/recommendations", params={"k": 12, "in_stock": "true"}
    ).json()
    assert explanations(page.text) == [item["explanation"]["text_zh"] for item in api["items"]]
    # Titles come from the catalogue's Chinese titles.
    titles = web_shop.items.set_index("item_id")["title_zh"]
    first = api["items"][0]["item_id"]
    assert titles[first] in page.text
    # The browser's language picks Chinese when no lang parameter is given.
    browser_zh = shared_client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-CN">' in browser_zh.text
    assert 'lang="en"' in shared_client.get("/?lang=en").text


def test_filters_are_applied(shared_client: TestClient, web_shop: Shop) -> None:
    user = known_user(web_shop)
    page = shared_client.get(
        "/", params={"user": user, "category": "Phones", "max_price": "1200", "min_price": ""}
    )
    ids = card_ids(page.text)
    assert ids
    catalogue = web_shop.items.set_index("item_id")
    assert set(catalogue.loc[ids, "category"]) == {"Phones"}
    assert (catalogue.loc[ids, "price"] <= 1200).all()
    assert '<option value="Phones" selected>' in page.text
    # Nonsense filter values are ignored rather than failing the page.
    assert (
        shared_client.get("/", params={"category": "Nope", "max_price": "abc"}).status_code == 200
    )


def test_anonymous_session_uses_items_opened_in_this_browser(web_client: TestClient) -> None:
    first = web_client.get("/")
    assert 'data-source="popular"' in first.text
    opened = card_ids(first.text)[:2]
    for item_id in opened:
        assert web_client.get(f"/item/{item_id}").status_code == 200
    assert web_client.cookies.get(SESSION_COOKIE) == "~".join(opened)
    second = web_client.get("/")
    assert 'data-source="session"' in second.text
    assert not set(card_ids(second.text)) & set(opened)
    assert "Items opened in this session: 2." in second.text
    reset = web_client.get("/", params={"reset": "1"})
    assert 'data-source="popular"' in reset.text
    assert SESSION_COOKIE in reset.headers.get("set-cookie", "")


def test_product_page_lists_similar_items(shared_client: TestClient, web_shop: Shop) -> None:
    item_id = str(web_shop.items["item_id"].iloc[3])
    page = shared_client.get(f"/item/{item_id}", params={"lang": "en"})
    assert page.status_code == 200
    api = shared_client.get(
        f"/v1/items/{item_id}/similar", params={"k": 8, "in_stock": "true"}
    ).json()
    assert card_ids(page.text, "similar-items") == [i["item_id"] for i in api["items"]]
    assert 'action="/web/events"' in page.text
    assert f'src="/img/{item_id}.svg"' in page.text
    assert API_KEY not in page.text  # the key never reaches a page
    missing = shared_client.get("/item/nope-1")
    assert missing.status_code == 404
    assert "There is no item nope-1." in missing.text


@pytest.mark.parametrize(
    ("query", "lang", "category", "max_price"),
    [
        ("1000以下的手机", "zh", "Phones", 1000.0),
        ("headphones under 200", "en", "Headphones", 200),
    ],
)
def test_search_page_uses_the_search_api(
    shared_client: TestClient,
    web_shop: Shop,
    query: str,
    lang: str,
    category: str,
    max_price: float,
) -> None:
    page = shared_client.get("/search", params={"q": query, "lang": lang})
    assert page.status_code == 200
    api = shared_client.get("/v1/search", params={"q": query, "k": 12}).json()
    ids = card_ids(page.text, "search-results")
    catalogue = web_shop.items.set_index("item_id")
    # The API's order, out-of-stock items moved to the end (stable within each group).
    ranked = [item["item_id"] for item in api["items"]]
    in_stock = catalogue.loc[ranked, "in_stock"].astype(bool).tolist()
    assert ids == [i for i, s in zip(ranked, in_stock, strict=True) if s] + [
        i for i, s in zip(ranked, in_stock, strict=True) if not s
    ]
    assert set(catalogue.loc[ids, "category"]) == {category}
    assert (catalogue.loc[ids, "price"] <= max_price).all()
    message = api["constraints"]["message_zh" if lang == "zh" else "message"]
    assert message.replace("（", "").split("；")[0][:6] in page.text
    assert shared_client.get("/search").status_code == 200  # empty query: just the form


# ---------------------------------------------------------------------- events proxy
def test_purchase_through_the_proxy_changes_the_recommendations(
    web_client: TestClient, web_shop: Shop
) -> None:
    user = known_user(web_shop, 3)
    before = card_ids(web_client.get("/", params={"user": user}).text)
    bought = before[0]
    response = web_client.post(
        "/web/events", json={"user_id": user, "item_id": bought, "event": "purchase"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] is True
    after_page = web_client.get("/", params={"user": user})
    after = card_ids(after_page.text)
    assert after != before and bought not in after
    assert len(explanations(after_page.text)) == len(after)
    stored = web_client.get(f"/v1/users/{user}/profile").json()
    assert stored["activity"]["n_purchases"] >= 1


def test_form_post_without_javascript_redirects_back(
    web_client: TestClient, web_shop: Shop
) -> None:
    user = known_user(web_shop)
    item_id = str(web_shop.items["item_id"].iloc[0])
    web_client.get("/", params={"user": user})  # the shop page issues the shopper session
    response = web_client.post(
        "/web/events",
        data={
            "user_id": user,
            "item_id": item_id,
            "event": "cart",
            "next": f"/item/{item_id}?user={user}&lang=zh",
        },
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert (
        response.headers["location"] == f"/item/{item_id}?user={user}&lang=zh&notice=cart&stored=1"
    )
    page = web_client.get(response.headers["location"])
    assert "已加入购物车。" in page.text
    # An open redirect is refused: "next" must be a path on this site.
    evil = web_client.post(
        "/web/events",
        data={"item_id": item_id, "event": "click", "next": "//evil.example/x"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert evil.headers["location"].startswith(f"/item/{item_id}?")


def test_event_proxy_refuses_what_it_should(make_web_client: object, web_shop: Shop) -> None:
    client = make_web_client()  # type: ignore[operator]
    item_id = str(web_shop.items["item_id"].iloc[0])
    user = known_user(web_shop)

    def post(body: dict, **kwargs: object) -> int:
        return int(client.post("/web/events", json=body, **kwargs).status_code)

    assert post({"user_id": user, "item_id": item_id, "event": "rating"}) == 422
    assert post({"user_id": user, "item_id": "nope-1", "event": "click"}) == 422
    assert post({"user_id": "bad id!", "item_id": item_id, "event": "click"}) == 422
    cross = {"headers": {"origin": "https://evil.example"}}
    assert post({"user_id": user, "item_id": item_id, "event": "purchase"}, **cross) == 403
    fetch_site = {"headers": {"sec-fetch-site": "cross-site"}}
    assert post({"user_id": user, "item_id": item_id, "event": "purchase"}, **fetch_site) == 403
    # A post must name its origin (a browser always does).
    no_origin = {"headers": {"origin": ""}}
    assert post({"user_id": user, "item_id": item_id, "event": "click"}, **no_origin) == 403
    form = client.post("/web/events", data={"item_id": item_id, "event": "click"}, **no_origin)
    assert form.status_code == 403
    # Anonymous events stay in the browser's session cookie; nothing is stored.
    anonymous = client.post("/web/events", json={"item_id": item_id, "event": "click"})
    assert anonymous.json() == {
        "event": "click",
        "item_id": item_id,
        "user_id": None,
        "stored": False,
        "session_items": 1,
    }
    assert client.cookies.get(SESSION_COOKIE) == item_id
    assert "0 events in the last hour" in client.get("/admin").text


def test_event_proxy_can_be_switched_off(
    make_web_client: object, web_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGIREC_WEB_EVENTS", "false")
    client = make_web_client()  # type: ignore[operator]
    item_id = str(web_shop.items["item_id"].iloc[0])
    body = {"user_id": known_user(web_shop), "item_id": item_id, "event": "purchase"}
    assert client.post("/web/events", json=body).status_code == 403
    assert 'action="/web/events"' not in client.get(f"/item/{item_id}").text


def test_server_without_a_key_cannot_proxy_events(make_web_client: object, web_shop: Shop) -> None:
    client = make_web_client(api_keys=[])  # type: ignore[operator]
    item_id = str(web_shop.items["item_id"].iloc[0])
    body = {"user_id": known_user(web_shop), "item_id": item_id, "event": "purchase"}
    assert client.post("/web/events", json=body).status_code == 503


def test_pages_are_off_when_reads_need_a_key(
    make_web_client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = make_web_client(read_requires_key=True)  # type: ignore[operator]
    assert locked.get("/").status_code == 404
    monkeypatch.setenv("DIGIREC_WEB_ENABLED", "true")
    forced = make_web_client(read_requires_key=True)  # type: ignore[operator]
    assert forced.get("/").status_code == 200  # the pages call the API with the server's key


# ---------------------------------------------------------------------- dashboard
def test_dashboard_renders_tables_and_charts(shared_client: TestClient) -> None:
    page = shared_client.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert "web-test-shop" in html
    assert html.count("<svg") >= 10
    assert 'class="bar"' in html
    # ease has the best ndcg@10 (0.05) and is highlighted; pop's gini (0.99) is not the best.
    assert '<td class="best">0.0500<span class="sr-only"> (best)</span></td>' in html
    assert '<td class="best">0.7000' in html  # gini@10: lower is better -> als
    for heading in (
        "Beyond accuracy",
        "Cold-start items",
        "Cold-start users",
        "Learning curve",
        "Brand exposure",
        "Fit times",
        "Long tail of item popularity",
    ):
        assert heading in html, heading
    assert "sparsity" in html
    assert "speed" in html and "Not a model benchmark" in html  # other shapes: plain tables
    assert "<caption>speed: results</caption>" in html
    assert "broken.json" in html  # unreadable files are listed, not fatal
    assert "<dd data-model-version>1</dd>" in html  # the live model


def test_results_folder_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no benchmarks/results here
    from digirec.serving.settings import ServeSettings

    assert ServeSettings().resolved_results_dir() is None
    monkeypatch.setenv("DIGIREC_RESULTS_DIR", str(tmp_path / "empty"))
    assert ServeSettings().resolved_results_dir() == tmp_path / "empty"


# ---------------------------------------------------------------------- admin
def test_admin_page_event_rate_and_actions(web_client: TestClient, web_shop: Shop) -> None:
    page = web_client.get("/admin")
    assert page.status_code == 200
    assert "0 events in the last hour" in page.text
    assert 'type="password"' in page.text and API_KEY not in page.text
    assert "Manifest" not in page.text  # locked without the key
    user = known_user(web_shop, 5)
    items = web_shop.items["item_id"].astype(str).tolist()[:3]
    events = [{"user_id": user, "item_id": i, "event": "click"} for i in items]
    assert web_client.post("/v1/events", json={"events": events}, headers=AUTH).status_code == 200
    assert "3 events in the last hour" in web_client.get("/admin").text

    wrong = web_client.post("/web/admin", data={"key": "wrong", "action": "show"}, headers=ORIGIN)
    assert wrong.status_code == 401 and "Manifest" not in wrong.text
    empty = web_client.post("/web/admin", data={"key": "", "action": "show"}, headers=ORIGIN)
    assert empty.status_code == 401 and "Enter the admin key." in empty.text
    cross = web_client.post(
        "/web/admin",
        data={"key": API_KEY, "action": "retrain"},
        headers={"origin": "https://evil.example"},
    )
    assert cross.status_code == 403

    deleted = known_user(web_shop, 7)
    assert web_client.delete(f"/v1/users/{deleted}", headers=AUTH).status_code == 202
    shown = web_client.post("/web/admin", data={"key": API_KEY, "action": "show"}, headers=ORIGIN)
    assert shown.status_code == 200
    assert "Manifest" in shown.text and "&#34;model&#34;: &#34;ease&#34;" in shown.text
    assert deleted in shown.text and 'class="status-pending"' in shown.text
    assert API_KEY not in shown.text  # the typed key is not echoed back
    assert shown.headers["cache-control"] == "no-store"

    retrained = web_client.post(
        "/web/admin", data={"key": API_KEY, "action": "retrain", "lang": "en"}, headers=ORIGIN
    )
    assert retrained.status_code == 200
    assert "Retrained: now serving version 2" in retrained.text
    assert 'class="status-purged"' in retrained.text
    assert web_client.get("/v1/model").json()["version"] == 2


# ---------------------------------------------------------------------- assets
def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_product_images_are_pngs(shared_client: TestClient, web_shop: Shop) -> None:
    item_id = str(web_shop.items["item_id"].iloc[0])
    small = shared_client.get(f"/img/{item_id}.png")
    assert small.status_code == 200 and small.headers["content-type"] == "image/png"
    assert _png_size(small.content) == (128, 128)
    assert _png_size(shared_client.get(f"/img/{item_id}.png?size=256").content) == (256, 256)
    assert shared_client.get(f"/img/{item_id}.png?size=9999").status_code == 404
    assert shared_client.get("/img/nope-1.png").status_code == 404


def test_encode_png_round_trip() -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(3, 5, 7), dtype=np.uint8)
    data = encode_png(image)
    assert _png_size(data) == (7, 5)
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    raw = zlib.decompress(data[idat + 4 : idat + 4 + length])
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(5, 1 + 7 * 3)
    assert (rows[:, 0] == 0).all()
    np.testing.assert_array_equal(rows[:, 1:].reshape(5, 7, 3), image.transpose(1, 2, 0))


def test_static_files_are_local_and_safe(shared_client: TestClient) -> None:
    css = shared_client.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = shared_client.get("/static/shop.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "X-API-Key" not in js.text
    for bad in ("../web.py", "..%2Fweb.py", "nope.css", "site.CSS"):
        assert shared_client.get(f"/static/{bad}").status_code == 404


@pytest.mark.parametrize("path", ["/", "/item/i00003", "/search?q=tv", "/dashboard", "/admin"])
def test_pages_are_self_contained_and_accessible(shared_client: TestClient, path: str) -> None:
    for lang in LABELS:
        sep = "&" if "?" in path else "?"
        html = shared_client.get(f"{path}{sep}lang={lang}").text
        elements = parse(html)
        # Everything is served locally: no external script, style, image or font.
        for tag, attr in (("script", "src"), ("link", "href"), ("img", "src")):
            for attrs in elements.of(tag):
                assert not str(attrs.get(attr, "")).startswith(("http:", "https:", "//"))
        assert "@import" not in html and "url(http" not in html
        assert elements.of("html")[0]["lang"] in ("en", "zh-CN")
        assert len(elements.of("h1")) == 1
        assert all(attrs.get("alt") for attrs in elements.of("img"))
        labelled = {attrs.get("for") for attrs in elements.of("label")}
        controls = [
            attrs
            for attrs in elements.of("input") + elements.of("select")
            if attrs.get("type") != "hidden"
        ]
        for attrs in controls:
            assert attrs.get("id") in labelled or attrs.get("aria-label"), attrs
        assert elements.of("a")[0].get("class") == "skip"  # first focusable: skip link
        assert elements.of("main")


def test_labels_are_complete_and_template_safe() -> None:
    assert set(LABELS["en"]) == set(LABELS["zh"])
    # ``t.items`` in Jinja would find dict.items, not the label: no key may shadow a method.
    assert not set(LABELS["en"]) & set(dir(dict))
    used = set()
    import re

    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\.([a-z_]+)", template.read_text()))
    assert used <= set(LABELS["en"]), used - set(LABELS["en"])


def test_price_bands_are_in_price_order_with_rounded_bounds(
    shared_client: TestClient, web_shop: Shop
) -> None:
    user = known_user(web_shop, 1)
    page = shared_client.get("/", params={"user": user, "lang": "en"})
    chart = re.search(r'<svg[^>]*aria-labelledby="profile-price_bands-t.*?</svg>', page.text, re.S)
    assert chart is not None
    labels = re.findall(r'text-anchor="end"[^>]*translate="no"[^>]*>([^<]+)</text>', chart.group(0))
    assert len(labels) >= 2
    lows = [float(re.sub(r"[^\d.]", "", lab.split("–")[0]) or 0) for lab in labels]
    assert lows == sorted(lows)  # price order, not share order
    assert all(lab.startswith(("$", "≥ $")) for lab in labels)  # the currency is named
    assert not any(re.search(r"\.\d", lab) for lab in labels)  # "$454–1,060", not "453.99-..."
    api = shared_client.get(f"/v1/users/{user}/profile").json()["price_bands"]
    assert len(labels) == len(api)


@pytest.mark.parametrize("path", ["/", "/item/{item}", "/search?q=phone", "/dashboard", "/admin"])
def test_pages_are_never_cached(shared_client: TestClient, web_shop: Shop, path: str) -> None:
    user = known_user(web_shop, 2)
    item = str(web_shop.items["item_id"].iloc[0])
    url = path.format(item=item)
    page = shared_client.get(url + ("&" if "?" in url else "?") + f"user={user}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"  # Back shows the current state


def test_yuan_search_is_converted_when_a_rate_is_configured(
    make_web_client: object, web_shop: Shop
) -> None:
    client = make_web_client(currency_rates={"CNY": 0.14})  # type: ignore[operator]
    page = client.get("/search", params={"q": "3000元以下的手机", "lang": "en"})
    ids = card_ids(page.text, "search-results")
    catalogue = web_shop.items.set_index("item_id")
    assert ids and set(catalogue.loc[ids, "category"]) == {"Phones"}
    assert (catalogue.loc[ids, "price"] <= 3000 * 0.14).all()  # 420 USD by hand
    assert "converted at 0.14 USD" in page.text
    refused = make_web_client().get("/search", params={"q": "3000元以下的手机"})  # type: ignore[operator]
    assert card_ids(refused.text, "search-results") == []
    assert "no exchange rate is configured" in refused.text
