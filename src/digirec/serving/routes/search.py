"""Natural-language product search (English and Chinese), personalised when a user is given."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from digirec import columns as C
from digirec.serving import schemas as S
from digirec.serving.routes._shared import K, State, jsonable, list_length

#: Reads (``create_app`` adds the read-key dependency when reads require a key).
reads = APIRouter(tags=["search"])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@reads.get(
    "/v1/search",
    response_model=S.SearchResponse,
    responses=S.error_responses(422),
)
def search(
    state: State,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Query (EN or ZH).")],
    user_id: Annotated[str | None, Query(pattern=S.ID_PATTERN)] = None,
    k: K = None,
) -> S.SearchResponse:
    """Natural-language product search, personalised by the user's scores when given."""
    settings = state.settings
    current, engine = state.search_engine()
    user_scores = state.user_scores(user_id) if user_id else None
    result = engine.search(q, list_length(settings, k), user_scores=user_scores)
    frame = result.items
    cat = current.catalogue
    items = []
    for rec in frame.to_dict(orient="records"):
        row = cat.positions.get(str(rec[C.ITEM_ID]))
        price = cat.value(row, C.PRICE) if row is not None else rec.get(C.PRICE)
        items.append(
            S.SearchItem(
                item_id=str(rec[C.ITEM_ID]),
                score=float(rec[C.SCORE]),
                rank=int(rec[C.RANK]),
                title=_text(cat.value(row, C.TITLE)) if row is not None else None,
                brand=_text(cat.value(row, C.BRAND)) if row is not None else None,
                category=_text(cat.value(row, C.CATEGORY)) if row is not None else None,
                price=None if price is None or price != price else float(price),
            )
        )
    return S.SearchResponse(
        query=q,
        user_id=user_id,
        personalised=user_scores is not None,
        model_version=current.snapshot.version,
        constraints=jsonable(result.constraints),
        items=items,
    )
