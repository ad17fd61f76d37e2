"""Recommendations: a user's list, items similar to an item, an anonymous session's list,
lists for many users and the trending list (``source`` says which path answered: a fallback
is never silent)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from digirec.artifacts import ItemFilter
from digirec.serving import schemas as S
from digirec.serving.engine.ranking import Ranked, Rerank
from digirec.serving.engine.state import ServingState
from digirec.serving.errors import ServingError
from digirec.serving.routes._compiled import CompiledParamsRoute
from digirec.serving.routes._shared import (
    Brand,
    Category,
    Diversity,
    Explain,
    Exposure,
    IncludeUnavailable,
    ItemIdPath,
    K,
    MaxPrice,
    MinPrice,
    State,
    UserIdPath,
    check_batch_size,
    explain_or_default,
    list_length,
    serving_state,
)

#: Read routes (``create_app`` adds the read-key dependency when reads require a key).
reads = APIRouter(tags=["recommendations"])


def item_filter(
    category: list[str] | None,
    brand: list[str] | None,
    min_price: float | None,
    max_price: float | None,
    in_stock: bool | None,
    include_unavailable: bool = False,
) -> ItemFilter:
    """The business filter of a request (422 ``invalid_filter`` for an empty price range)."""
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ServingError(422, "invalid_filter", "min_price exceeds max_price", "min_price")
    return ItemFilter(
        categories=category or None,
        brands=brand or None,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        include_unavailable=include_unavailable,
    )


def body_filter(body: S.SessionRequest | S.BatchRequest) -> ItemFilter:
    """The item filter of a request body (session and batch requests carry the same fields)."""
    return item_filter(
        body.category,
        body.brand,
        body.min_price,
        body.max_price,
        body.in_stock,
        body.include_unavailable,
    )


def render(
    state: ServingState, ranked: Ranked, explain: bool, **ids: str | None
) -> S.RecommendationResponse:
    """The response of a ranked list (item cards, explanations when asked for)."""
    cat = ranked.current.catalogue
    explanations = state.explain(ranked) if explain else [None] * len(ranked.rows)
    items = []
    for rank, (row, score, exp) in enumerate(
        zip(ranked.rows.tolist(), ranked.scores.tolist(), explanations, strict=True), start=1
    ):
        item_id, title, brand, category, price, stock = cat.card(row)
        items.append(
            S.RecommendedItem(
                item_id=item_id,
                score=float(score),
                rank=rank,
                title=title,
                brand=brand,
                category=category,
                price=price,
                in_stock=stock,
                explanation=None if exp is None else S.Explanation(**exp),
            )
        )
    return S.RecommendationResponse(
        source=ranked.source,  # type: ignore[arg-type]
        model_version=ranked.model_version,
        strategy=ranked.strategy,
        reranked=ranked.reranked,
        ignored_item_ids=ranked.ignored_item_ids,
        items=items,
        **ids,
    )


def _json(body: S.RecommendationResponse) -> Response:
    """The response serialised once by pydantic-core (returning the model would have FastAPI
    validate it against ``response_model`` again before serialising; the schema in the docs
    stays ``response_model``)."""
    return Response(body.model_dump_json(), media_type="application/json")


async def user_recommendations(
    request: Request,
    user_id: UserIdPath,
    category: Category = None,
    brand: Brand = None,
    k: K = None,
    min_price: MinPrice = None,
    max_price: MaxPrice = None,
    in_stock: bool | None = None,
    exclude_seen: bool = True,
    exclude_purchased: bool = True,
    include_unavailable: IncludeUnavailable = False,
    diversity: Diversity = 0.0,
    exposure: Exposure = 0.0,
    explain: Explain = None,
) -> Response:
    """Top-k for a user. Unknown users get ``popular`` (``popular_in_category`` under a
    category filter); events posted a moment ago already count."""
    state = serving_state(request)
    settings = state.settings
    size = list_length(settings, k)
    filters = item_filter(category, brand, min_price, max_price, in_stock, include_unavailable)
    explained = explain_or_default(settings, explain)

    def run() -> Response:
        ranked = state.recommend_user(
            user_id,
            size,
            filters,
            exclude_seen=exclude_seen,
            exclude_purchased=exclude_purchased,
            rerank=Rerank(diversity, exposure),
        )
        return _json(render(state, ranked, explained, user_id=user_id))

    if explained or not exclude_seen:
        # Explanations and purchase look-ups read the database: off the event loop.
        return await run_in_threadpool(run)
    # The hot path is in-memory numpy work of a fraction of a millisecond: run it on the
    # event loop. A thread-pool hop costs more than that (hand-off, wake-ups, GIL).
    return run()


# The hot route: its 13 query parameters are validated by one compiled model (_compiled.py).
reads.add_api_route(
    "/v1/users/{user_id}/recommendations",
    user_recommendations,
    methods=["GET"],
    response_model=S.RecommendationResponse,
    response_model_exclude_none=False,
    responses=S.error_responses(404, 422),
    route_class_override=CompiledParamsRoute,
)


@reads.get(
    "/v1/items/{item_id}/similar",
    response_model=S.RecommendationResponse,
    responses=S.error_responses(404, 422),
)
def similar_items(
    state: State,
    item_id: ItemIdPath,
    category: Category = None,
    brand: Brand = None,
    k: K = None,
    min_price: MinPrice = None,
    max_price: MaxPrice = None,
    in_stock: bool | None = None,
    include_unavailable: IncludeUnavailable = False,
    explain: Explain = None,
) -> S.RecommendationResponse:
    """Items similar to one item (``source="similar_items"``)."""
    settings = state.settings
    filters = item_filter(category, brand, min_price, max_price, in_stock, include_unavailable)
    ranked = state.similar(item_id, list_length(settings, k), filters)
    return render(state, ranked, explain_or_default(settings, explain), item_id=item_id)


@reads.post(
    "/v1/recommendations/session",
    response_model=S.RecommendationResponse,
    responses=S.error_responses(*S.BODY_ERRORS),
)
def session_recommendations(
    state: State, body: S.SessionRequest, explain: Explain = None
) -> S.RecommendationResponse:
    """Recommendations for an anonymous session (``source="session"``)."""
    settings = state.settings
    check_batch_size(settings, len(body.item_ids), "item ids", "item_ids")
    ranked = state.recommend_session(
        body.item_ids,
        list_length(settings, body.k),
        body_filter(body),
        exclude_seen=body.exclude_seen,
        rerank=Rerank(body.diversity, body.exposure),
    )
    return render(state, ranked, explain_or_default(settings, explain))


@reads.post(
    "/v1/recommendations/batch",
    response_model=S.BatchResponse,
    responses=S.error_responses(*S.BODY_ERRORS),
)
def batch_recommendations(
    state: State, body: S.BatchRequest, explain: bool = False
) -> S.BatchResponse:
    """Lists for many users in one call (each as ``GET /v1/users/{id}/recommendations``)."""
    settings = state.settings
    check_batch_size(settings, len(body.user_ids), "user ids", "user_ids")
    size = list_length(settings, body.k)
    filters = body_filter(body)
    results = [
        render(
            state,
            state.recommend_user(user_id, size, filters, exclude_seen=body.exclude_seen),
            explain,
            user_id=user_id,
        )
        for user_id in body.user_ids
    ]
    return S.BatchResponse(results=results)


@reads.get(
    "/v1/trending",
    response_model=S.TrendingResponse,
    responses=S.error_responses(422),
)
def trending(
    state: State,
    category: Category = None,
    brand: Brand = None,
    k: K = None,
    min_price: MinPrice = None,
    max_price: MaxPrice = None,
    in_stock: bool | None = None,
    include_unavailable: IncludeUnavailable = False,
    explain: Explain = None,
) -> S.TrendingResponse:
    """Items by distinct users with an event in the last ``trending_window_days`` days
    (``source="trending"``, "Trending in <category> this week" for the 7-day default).

    Only items with at least one such user are listed; with no event in the window the list
    is empty and ``reason`` says why (never all-time counts under a trending label).
    """
    settings = state.settings
    filters = item_filter(category, brand, min_price, max_price, in_stock, include_unavailable)
    ranked = state.trending(list_length(settings, k), filters)
    counts = ranked.trending
    assert counts is not None
    body = render(state, ranked, explain_or_default(settings, explain))
    reason: Literal["no_events_in_window", "no_match_in_window"] | None = None
    if not body.items:
        reason = "no_events_in_window" if counts.is_empty else "no_match_in_window"
    return S.TrendingResponse(
        **body.model_dump(exclude={"items"}),
        items=body.items,
        window=S.TrendingWindow(
            days=counts.window_days, start=counts.start, end=counts.end, n_events=counts.n_events
        ),
        reason=reason,
    )
