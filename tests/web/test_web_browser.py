"""Browser tests: headless Chromium (Playwright) against a real uvicorn server.

Each test drives the pages the way a shopper or an operator would and saves screenshots to
``test-artifacts/screenshots``. They skip with a reason when ``/usr/bin/chromium`` or the
``playwright`` package is missing (see ``conftest.py``).
"""

from __future__ import annotations

import re
import time
from typing import Any

from service_helpers import API_KEY, Shop, known_user
from web_helpers import screenshot

CARDS = "#recommendations li.card"


def _card_ids(page: Any, selector: str = CARDS) -> list[str]:
    return [str(card.get_attribute("data-item-id")) for card in page.locator(selector).all()]


def _n_events(page: Any, base: str, user: str) -> int:
    profile = page.request.get(f"{base}/v1/users/{user}/profile").json()
    return int(profile["activity"]["n_events"])


def _images_loaded(page: Any) -> None:
    """Wait until the visible product pictures have loaded (screenshots show them)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "Array.from(document.images).filter(i => i.getBoundingClientRect().top < innerHeight)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )


def test_shopper_buys_and_the_recommendations_change(
    page: Any, live_server: str, web_shop: Shop
) -> None:
    user = known_user(web_shop, 2)
    page.goto(live_server + "/?lang=en")
    page.get_by_label("Shopper").select_option(user)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(rf"user={user}"))
    cards = page.locator(CARDS)
    assert cards.count() == 12
    before = _card_ids(page)
    for card in cards.all():
        assert card.locator(".explanation").inner_text().startswith("Why:")
    assert page.locator("#rec-source").get_attribute("data-source") == "personalised"
    assert page.locator("aside.profile svg.chart-svg").count() == 3
    _images_loaded(page)
    screenshot(page, "shop-before-purchase")

    # Open the first recommendation (a click event goes to /web/events), then buy it.
    bought = before[0]
    n_events = _n_events(page, live_server, user)
    with page.expect_request(lambda r: r.url.endswith("/web/events")) as clicked:
        cards.first.locator("a.card-link").click()
    assert '"event":"click"' in str(clicked.value.post_data)
    page.wait_for_url(re.compile(rf"/item/{bought}"))
    assert page.locator("#similar-items li.card").count() > 0
    with page.expect_response(lambda r: r.url.endswith("/web/events")) as posted:
        page.get_by_role("button", name="Buy now").click()
    assert posted.value.status == 200
    status = page.locator("#event-status")
    status.get_by_text("Purchased").wait_for()
    _images_loaded(page)
    screenshot(page, "product-after-purchase")

    # Both events reached the store through the same-origin proxy (the click was sent with
    # keepalive while the page navigated, so give it a moment).
    deadline = time.monotonic() + 10
    while _n_events(page, live_server, user) < n_events + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _n_events(page, live_server, user) == n_events + 2

    page.locator("#see-updated").click()
    page.wait_for_url(re.compile(rf"user={user}"))
    after = _card_ids(page)
    assert after != before
    assert bought not in after
    for card in page.locator(CARDS).all():
        assert card.locator(".explanation").inner_text().strip() != ""
    _images_loaded(page)
    screenshot(page, "shop-after-purchase")


def test_anonymous_visitor_gets_session_recommendations(page: Any, live_server: str) -> None:
    page.goto(live_server + "/?lang=en")
    assert page.locator("#rec-source").get_attribute("data-source") == "popular"
    first = _card_ids(page)[0]
    page.locator(CARDS).first.locator("a.card-link").click()
    page.wait_for_url(re.compile(rf"/item/{first}"))
    page.get_by_role("link", name="Shop", exact=True).first.click()
    assert page.locator("#rec-source").get_attribute("data-source") == "session"
    assert first not in _card_ids(page)
    assert "Items opened in this session: 1." in page.locator(".session-note").inner_text()


def test_search_in_chinese_and_english(page: Any, live_server: str, web_shop: Shop) -> None:
    catalogue = web_shop.items.set_index("item_id")
    page.goto(live_server + "/?lang=zh")
    box = page.get_by_role("searchbox")
    # No currency in the query: the amount is in the catalogue's currency (USD here).
    box.fill("1000以下的手机")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?"))
    ids = _card_ids(page, "#search-results li.card")
    assert ids
    assert set(catalogue.loc[ids, "category"]) == {"Phones"}
    assert (catalogue.loc[ids, "price"] <= 1000).all()
    assert "理解为" in page.locator(".understood").inner_text()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    _images_loaded(page)
    screenshot(page, "search-zh")

    page.get_by_role("link", name="English").click()
    box = page.get_by_role("searchbox")
    box.fill("cheap headphones under 200")
    box.press("Enter")
    page.wait_for_url(re.compile(r"q=cheap"))
    ids = _card_ids(page, "#search-results li.card")
    assert ids
    assert set(catalogue.loc[ids, "category"]) == {"Headphones"}
    assert (catalogue.loc[ids, "price"] <= 200).all()


def test_dashboard_draws_charts(page: Any, live_server: str) -> None:
    page.goto(live_server + "/dashboard")
    charts = page.locator("svg.chart-svg")
    assert charts.count() >= 10
    assert page.locator("svg.chart-svg rect.bar").count() > 20
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50  # really drawn
    assert page.locator("td.best").count() >= 5
    assert page.locator("#r-webshop svg polyline.line").count() == 3  # learning curves
    screenshot(page, "dashboard")
    page.locator("#r-webshop > summary").click()  # file sections are folded
    page.locator("#r-webshop").get_by_role(
        "heading", name="Beyond accuracy"
    ).scroll_into_view_if_needed()
    screenshot(page, "dashboard-beyond-accuracy")


def test_keyboard_reaches_the_skip_link_and_the_shopper_picker(page: Any, live_server: str) -> None:
    page.goto(live_server + "/?lang=en")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.get_by_label("Shopper").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the Show button
    page.wait_for_url(re.compile(r"user=u"))
    assert page.locator("#rec-source").get_attribute("data-source") == "personalised"


def test_admin_retrains_with_a_typed_key(page: Any, live_server: str) -> None:
    # Last in this module: the retrain swaps the served model version.
    page.goto(live_server + "/admin?lang=en")
    assert page.locator("#event-rate svg, figure svg.chart-svg").count() >= 1
    page.get_by_label("Admin key").fill(API_KEY)
    page.get_by_role("button", name="Retrain now").click()
    result = page.locator("#retrain-result")
    result.wait_for(timeout=60_000)
    assert "now serving version 2" in result.inner_text()
    assert page.locator("#deletions, h2#deletions-h").count() >= 1
    # The key is nowhere in the page the server sent back, nor in the password field.
    assert API_KEY not in page.content()
    assert page.get_by_label("Admin key").input_value() == ""
    screenshot(page, "admin-after-retrain")
