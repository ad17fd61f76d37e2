"""The route handlers of the web pages (shop front, product, search, dashboard, admin)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from digirec import __version__
from digirec import columns as C
from digirec.serving.auth import check_key
from digirec.serving.errors import ServingError
from digirec.serving.settings import ServeSettings
from digirec.serving.shopper import ShopperSessionError, shopper_sessions
from digirec.serving.web.catalogue import CatalogueView, Views, item_card
from digirec.serving.web.helpers import (
    ADMIN_TICKET_COOKIE,
    ADMIN_TICKET_SECONDS,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    WEB_EVENTS,
    AdminTickets,
    Api,
    error_text,
    format_money,
    json_error,
    parse_price,
    read_body,
    safe_next,
    same_origin,
    server_key,
    session_items,
    set_session,
    valid_id,
    when,
    with_session_item,
)
from digirec.serving.web.i18n import LABELS, LANGS, pick_lang
from digirec.serving.web.images import (
    IMAGE_CACHE_SIZE,
    IMAGE_SIZES,
    PICTURE_COLUMNS,
    ImageCache,
    encode_png,
    local_image,
    product_svg,
)

if TYPE_CHECKING:
    import jinja2

    from digirec.serving.engine.state import ServingState

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
_STATIC_RE = re.compile(r"^[a-z0-9_-]+\.(css|js|svg|png|ico)$")
_STATIC_TYPES = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
}


# ====================================================================== the router
def web_router(settings: ServeSettings) -> APIRouter:
    """The pages' routes (an empty router when the pages are switched off)."""
    router = APIRouter(include_in_schema=False)
    enabled = (
        settings.web_enabled if settings.web_enabled is not None else not settings.read_requires_key
    )
    if not enabled:
        return router
    pages = Pages(settings)
    pages.add_routes(router)
    return router


class Pages:
    """Route handlers and the shared machinery they use (templates, caches, settings)."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.results_dir = settings.resolved_results_dir()
        self.views = Views()
        self.images = ImageCache(IMAGE_CACHE_SIZE)
        self.tickets = AdminTickets()
        self._env: jinja2.Environment | None = None
        self._static_version = self._fingerprint_static()

    # ------------------------------------------------------------------ rendering
    @property
    def env(self) -> jinja2.Environment:
        if self._env is None:  # built on first use: no template work at import / app creation
            import jinja2

            self._env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                autoescape=jinja2.select_autoescape(["html"]),
                # A missing label or variable is a bug: fail loudly (tests render every page).
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
        return self._env

    @staticmethod
    def _fingerprint_static() -> str:
        digest = hashlib.sha256(__version__.encode())
        for path in sorted(STATIC.glob("*")):
            if path.is_file():
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:10]

    @property
    def currency(self) -> str:
        """The catalogue's currency (ISO code) shown next to every price."""
        return str(getattr(self.settings, "catalogue_currency", None) or self.settings.web_currency)

    def render(
        self,
        request: Request,
        template: str,
        lang: str,
        user: str | None = None,
        status: int = 200,
        switch_path: str | None = None,
        *,
        no_store: bool = True,
        **context: Any,
    ) -> HTMLResponse:
        """Render a page. Pages are ``no-store`` by default: they show a shopper's lists, the
        served model or admin data, and Back must show the current state, not a cached copy."""
        labels = LABELS[lang]
        path = switch_path or request.url.path

        def link(target: str, **params: Any) -> str:
            """A URL on this site that keeps the shopper and language unless overridden."""
            query: dict[str, Any] = {"user": user, "lang": lang}
            query.update(params)
            kept = {k: v for k, v in query.items() if v not in (None, "")}
            return target + ("?" + urlencode(kept, doseq=True) if kept else "")

        # The language switch reloads the same page; one-off parameters are not repeated.
        switch = {
            k: v
            for k, v in request.query_params.items()
            if k not in ("lang", "notice", "reset", "stored")
        }
        if user is None:
            switch.pop("user", None)  # an unknown shopper is not carried along
        switch["lang"] = "en" if lang == "zh" else "zh"
        html = self.env.get_template(template).render(
            t=labels,
            lang=lang,
            html_lang="zh-CN" if lang == "zh" else "en",
            user=user,
            link=link,
            path=path,
            lang_switch_url=path + "?" + urlencode(switch),
            static=lambda name: f"/static/{name}?v={self._static_version}",
            version=__version__,
            currency=self.currency,
            money=lambda value: format_money(value, self.currency, lang),
            stamp=readable_time,
            **{"q": None, "unknown_shopper": None, **context},
        )
        response = HTMLResponse(html, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        if no_store:
            response.headers["Cache-Control"] = "no-store"
        return response

    def state(self, request: Request) -> ServingState:
        state: ServingState = request.app.state.serving
        return state

    # ------------------------------------------------------------------ routes
    def add_routes(self, router: APIRouter) -> None:
        router.add_api_route("/", self.shop, methods=["GET"], response_class=HTMLResponse)
        router.add_api_route(
            "/item/{item_id}", self.item_page, methods=["GET"], response_class=HTMLResponse
        )
        router.add_api_route("/search", self.search, methods=["GET"], response_class=HTMLResponse)
        router.add_api_route(
            "/dashboard", self.dashboard, methods=["GET"], response_class=HTMLResponse
        )
        router.add_api_route("/admin", self.admin, methods=["GET"], response_class=HTMLResponse)
        router.add_api_route("/web/admin", self.admin_action, methods=["POST"])
        router.add_api_route("/web/events", self.post_event, methods=["POST"])
        router.add_api_route("/img/{item_id}.png", self.image, methods=["GET"])
        router.add_api_route("/img/{item_id}.svg", self.picture, methods=["GET"])
        router.add_api_route("/favicon.ico", self.favicon, methods=["GET"])
        router.add_api_route("/static/{name}", self.static_file, methods=["GET"])

    # ------------------------------------------------------------------ shoppers
    async def _shopper(
        self, request: Request, user: str | None
    ) -> tuple[str | None, str | None, Mapping[str, Any] | None]:
        """``(shopper, unknown, profile)``: a shopper the service knows (events or a user
        record), else ``None`` and the id that was asked for -- ``?user=nobody_here`` is said
        to be unknown, never silently turned into a new shopper."""
        if not user:
            return None, None, None
        uid = valid_id(user)
        if uid is None:
            return None, user[:64], None
        status, profile = await Api(request).call(
            "GET", f"/v1/users/{uid}/profile", key=server_key(self.settings)
        )
        if status == 404:
            return None, uid, None
        # A known shopper whose profile cannot be built (no catalogue ...) stays a shopper.
        return uid, None, profile if status == 200 and isinstance(profile, Mapping) else None

    def _issue_session(self, request: Request, response: Response, uid: str | None) -> None:
        """Give the browser a signed session for the shopper it shows (the event proxy only
        accepts events for the shopper of a valid session)."""
        if uid is not None:
            shopper_sessions(request).issue(response, uid)

    # ------------------------------------------------------------------ shop front
    async def shop(
        self,
        request: Request,
        user: str | None = None,
        lang: str | None = None,
        category: str | None = None,
        brand: str | None = None,
        min_price: str | None = None,
        max_price: str | None = None,
        stock: str | None = None,
        notice: str | None = None,
        stored: str | None = None,
        reset: str | None = None,
    ) -> HTMLResponse:
        """The shop front: a shopper picker, filters, recommendations and the profile.

        Out-of-stock items are left out unless ``stock=all`` (then they are listed last).
        ``reset=1`` forgets the anonymous session (the cookie lives in the browser only).
        """
        lang = pick_lang(request, lang)
        labels = LABELS[lang]
        uid, unknown, profile = await self._shopper(request, user)
        state = self.state(request)
        current = state.current
        view = self.views.get(current.catalogue)
        filters: dict[str, Any] = {
            "category": category if category in dict(view.categories) else None,
            "brand": brand if brand in dict(view.brands) else None,
            "min_price": parse_price(min_price),
            "max_price": parse_price(max_price),
        }
        if (
            filters["min_price"] is not None
            and filters["max_price"] is not None
            and filters["min_price"] > filters["max_price"]
        ):
            filters["min_price"], filters["max_price"] = filters["max_price"], filters["min_price"]
        show_all = stock == "all"
        # The API leaves out-of-stock items out unless asked (include_unavailable); "all"
        # asks for them, and the page lists them last.
        query = {
            **filters,
            "in_stock": None if show_all else "true",
            "include_unavailable": "true" if show_all else None,
        }
        api = Api(request)
        session = [] if reset else session_items(request)
        error = None
        profile_charts: list[dict[str, str]] = []
        if uid is not None:
            status, body = await api.call(
                "GET",
                f"/v1/users/{uid}/recommendations",
                params={"k": self.settings.web_k, "explain": "true", **query},
                key=server_key(self.settings),
            )
            if profile is not None:
                profile_charts = _profile_charts(profile, view, lang, self.currency)
        else:
            status, body = await api.call(
                "POST",
                "/v1/recommendations/session",
                params={"explain": "true"},
                json={
                    "item_ids": session,
                    "k": self.settings.web_k,
                    # The JSON body takes lists of categories / brands (the query takes repeats).
                    **{
                        k: [v] if k in ("category", "brand") else v
                        for k, v in filters.items()
                        if v is not None
                    },
                    **({"include_unavailable": True} if show_all else {"in_stock": True}),
                },
                key=server_key(self.settings),
            )
        cards: list[dict[str, Any]] = []
        source = model_version = None
        if status == 200 and isinstance(body, Mapping):
            cards = demote_out_of_stock(
                [item_card(current.catalogue, view, item, lang) for item in body.get("items", [])]
            )
            source = body.get("source")
            model_version = body.get("model_version")
        else:
            error = error_text(body, labels["event_failed"])
        choices = self._user_choices(state)
        if uid is not None and uid not in choices:
            choices = [uid, *choices]
        response = self.render(
            request,
            "shop.html",
            lang,
            uid,
            status=404 if unknown else 200,
            title=labels["site"],
            cards=cards,
            source=source,
            model_version=model_version,
            error=error,
            choices=choices,
            view=view,
            filters=filters,
            show_all=show_all,
            profile_charts=profile_charts,
            session=session,
            notice=_notice(notice, uid, stored),
            unknown_shopper=unknown,
        )
        if reset:
            response.delete_cookie(SESSION_COOKIE, path="/")
        self._issue_session(request, response, uid)
        return response

    def _user_choices(self, state: ServingState) -> list[str]:
        """The most active users of the served model (by distinct items in training)."""
        n = self.settings.web_user_choices
        snapshot = state.current.snapshot
        seen = snapshot.model.seen_.tocsr()
        counts = np.diff(seen.indptr)
        order = np.argsort(-counts, kind="stable")
        ids = snapshot.model.user_map_.to_external(order[: n + len(snapshot.forgotten)])
        return [str(u) for u in ids if str(u) not in snapshot.forgotten][:n]

    async def item_page(
        self,
        request: Request,
        item_id: str,
        user: str | None = None,
        lang: str | None = None,
        notice: str | None = None,
        stored: str | None = None,
    ) -> HTMLResponse:
        """A product with its similar items (in stock) and cart / buy buttons."""
        lang = pick_lang(request, lang)
        labels = LABELS[lang]
        uid, unknown, _ = await self._shopper(request, user)
        state = self.state(request)
        current = state.current
        view = self.views.get(current.catalogue)
        row = current.catalogue.positions.get(item_id) if valid_id(item_id) else None
        if row is None:
            return self.render(
                request,
                "message.html",
                lang,
                uid,
                status=404,
                title=labels["not_found"],
                message=labels["item_not_found"].format(item=item_id),
            )
        item = item_card(current.catalogue, view, {"item_id": item_id}, lang)
        description = current.catalogue.value(row, "description")
        if lang == "zh":
            description = current.catalogue.value(row, "description_zh") or description
        status, body = await Api(request).call(
            "GET",
            f"/v1/items/{item_id}/similar",
            params={"k": 8, "explain": "true", "in_stock": "true"},
            key=server_key(self.settings),
        )
        similar = []
        if status == 200 and isinstance(body, Mapping):
            similar = [item_card(current.catalogue, view, i, lang) for i in body.get("items", [])]
        response = self.render(
            request,
            "item.html",
            lang,
            uid,
            status=404 if unknown else 200,
            title=item["title"],
            item=item,
            description=description,
            similar=similar,
            notice=_notice(notice, uid, stored),
            events_enabled=self.settings.web_events,
            unknown_shopper=unknown,
        )
        if uid is None:
            # Anonymous: opening a product counts for this browser session's recommendations.
            set_session(response, with_session_item(session_items(request), item_id))
        self._issue_session(request, response, uid)
        return response

    async def search(
        self,
        request: Request,
        q: str | None = None,
        user: str | None = None,
        lang: str | None = None,
    ) -> HTMLResponse:
        """Product search through ``/v1/search`` (English or Chinese queries).

        Nothing relevant -> a "nothing found" state with what the query was understood to ask
        and relaxed queries that do find something (the API's ``suggestions``).
        """
        lang = pick_lang(request, lang)
        labels = LABELS[lang]
        uid, unknown, _ = await self._shopper(request, user)
        current = self.state(request).current
        view = self.views.get(current.catalogue)
        query = (q or "").strip()[:500]
        cards: list[dict[str, Any]] = []
        understood = error = None
        suggestions: list[dict[str, Any]] = []
        personalised = currency_refused = False
        if query:
            status, body = await Api(request).call(
                "GET",
                "/v1/search",
                params={"q": query, "user_id": uid, "k": self.settings.web_k},
                key=server_key(self.settings),
            )
            if status == 200 and isinstance(body, Mapping):
                cards = demote_out_of_stock(
                    [item_card(current.catalogue, view, i, lang) for i in body["items"]]
                )
                constraints = body.get("constraints") or {}
                understood = constraints.get("message_zh" if lang == "zh" else "message")
                personalised = bool(body.get("personalised"))
                currency_refused = bool(constraints.get("currency_refused"))
                raw = constraints.get("suggestions") or body.get("suggestions") or []
                suggestions = [
                    {
                        "query": str(s.get("query_zh" if lang == "zh" else "query") or s["query"]),
                        "n": int(s.get("n_matching", 0)),
                    }
                    for s in raw
                    if isinstance(s, Mapping) and s.get("query")
                ][:4]
            else:
                error = error_text(body, labels["event_failed"])
        return self.render(
            request,
            "search.html",
            lang,
            uid,
            status=404 if unknown else 200,
            title=labels["results_for"].format(q=query) if query else labels["search"],
            q=query,
            cards=cards,
            understood=understood,
            suggestions=suggestions,
            currency_refused=currency_refused,
            personalised=personalised,
            error=error,
            unknown_shopper=unknown,
        )

    # ------------------------------------------------------------------ events proxy
    async def post_event(self, request: Request) -> Response:
        """Record a shop-front event with the server's key (JSON from JS, or a plain form).

        Known shopper: forwarded to ``POST /v1/events`` (with the shopper's signed session when
        the service issues them). Anonymous: kept in the session cookie only (nothing is
        stored on the server without a user id, and the page says so).
        """
        is_json = request.headers.get("content-type", "").startswith("application/json")
        if not self.settings.web_events:
            return json_error(403, "web_events_disabled", "events from the web pages are off")
        if not same_origin(request):
            return json_error(403, "cross_origin", "events are accepted from this site only")
        data = await read_body(request, is_json)
        if data is None:
            return json_error(422, "invalid_body", "expected a JSON object or a form")
        item_id = valid_id(str(data.get("item_id") or ""))
        event = str(data.get("event") or "")
        raw_user = str(data.get("user_id") or "")
        user_id = valid_id(raw_user)
        if event not in WEB_EVENTS:
            return json_error(422, "invalid_event", f"event must be one of {WEB_EVENTS}", "event")
        if item_id is None or not self.state(request).knows_item(item_id):
            return json_error(422, "unknown_item", "unknown item id", "item_id")
        if raw_user and user_id is None:
            return json_error(422, "invalid_user", "invalid user id", "user_id")
        session = session_items(request)
        result: dict[str, Any] = {"event": event, "item_id": item_id, "user_id": user_id}
        if user_id is None:
            session = with_session_item(session, item_id)
            result.update(stored=False, session_items=len(session))
        else:
            key = server_key(self.settings)
            if key is None:
                return json_error(503, "no_key", "no API key is configured on this server")
            refused = self._verify_session(request, user_id)
            if refused is not None:
                return refused
            status, body = await Api(request).call(
                "POST",
                "/v1/events",
                json={"events": [{"user_id": user_id, "item_id": item_id, "event": event}]},
                key=key,
            )
            if status != 200:
                return JSONResponse(body, status_code=status)
            result.update(stored=True, event_id=body.get("last_event_id"))
        response: Response
        if is_json:
            response = JSONResponse(result)
        else:
            fallback = f"/item/{item_id}"
            target = safe_next(str(data.get("next") or ""), fallback)
            # ``next`` is the page the form was on (it carries the shopper and language).
            sep = "&" if "?" in target else "?"
            params = {"notice": event, "stored": "1" if result["stored"] else "0"}
            response = RedirectResponse(target + sep + urlencode(params), status_code=303)
        if user_id is None:
            set_session(response, session)
        return response

    def _verify_session(self, request: Request, user_id: str) -> Response | None:
        """A 403 / 429 response when the service's shopper session refuses the event."""
        try:
            shopper_sessions(request).verify(request, user_id)
        except ShopperSessionError as exc:
            return json_error(exc.status, exc.code, exc.message)
        return None

    # ------------------------------------------------------------------ dashboard
    async def dashboard(
        self,
        request: Request,
        lang: str | None = None,
        user: str | None = None,
        preview: str | None = None,
    ) -> HTMLResponse:
        """The operator's dashboard: the served model and its held-out score, a
        recommendation preview for any user, the best model per data set and every result
        file (folded)."""
        from digirec.evaluation.report import (
            find_result_files,
            load_results,
            render_overview,
            render_sections,
            render_toc,
        )
        from digirec.evaluation.served import read_evaluation

        lang = pick_lang(request, lang)
        labels = LABELS[lang]
        state = self.state(request)
        api = Api(request)
        status, model = await api.call("GET", "/v1/model", key=server_key(self.settings))
        snapshot = state.current.snapshot
        manifest = snapshot.manifest
        evaluation = read_evaluation(getattr(snapshot, "path", None))
        files: list[Any] = []
        problems: list[str] = []
        if self.results_dir is not None:
            paths = find_result_files(self.results_dir)
            files, problems = await run_in_threadpool(load_results, paths)
        choices = self._user_choices(state)[:40]
        # Without a choice the most active user is previewed: the panel is never empty.
        preview_id = (preview or "").strip()[:64] or (choices[0] if choices else None)
        preview_cards: list[dict[str, Any]] = []
        preview_source = preview_error = None
        if preview_id is not None:
            uid, unknown, _ = await self._shopper(request, preview_id)
            if uid is None:
                preview_error = labels["unknown_user"].format(user=unknown or preview_id)
            else:
                rec_status, body = await api.call(
                    "GET",
                    f"/v1/users/{uid}/recommendations",
                    params={"k": 10, "explain": "true"},
                    key=server_key(self.settings),
                )
                if rec_status == 200 and isinstance(body, Mapping):
                    view = self.views.get(state.current.catalogue)
                    preview_cards = [
                        item_card(state.current.catalogue, view, i, lang)
                        for i in body.get("items", [])
                    ]
                    preview_source = body.get("source")
                else:
                    preview_error = error_text(body, labels["event_failed"])
        rate = await run_in_threadpool(state.event_rate)
        benchmark_files = [f for f in files if f.is_benchmark]
        return self.render(
            request,
            "dashboard.html",
            lang,
            valid_id(user),  # kept in the links back to the shop
            title=labels["eval_title"],
            model=model if status == 200 else None,
            fit_seconds=manifest.get("fit_seconds"),
            # No server paths to visitors: a CLI-trained bundle names its data file.
            dataset=_without_paths(manifest.get("dataset") or {}),
            training=_without_paths(manifest.get("training") or {}),
            evaluation=evaluation,
            has_results_dir=self.results_dir is not None,
            overview=render_overview(benchmark_files, lang=lang) if benchmark_files else "",
            sections=render_sections(files, lang=lang, is_open=False) if files else "",
            toc=render_toc(files, lang=lang) if len(files) > 1 else "",
            n_files=len(files),
            problems=problems,
            choices=choices,
            preview=preview_id,
            preview_cards=preview_cards,
            preview_source=preview_source,
            preview_error=preview_error,
            rate=rate,
            rate_chart=_rate_chart(rate, lang, "dash-event-rate"),
        )

    # ------------------------------------------------------------------ admin
    async def admin(
        self,
        request: Request,
        lang: str | None = None,
        user: str | None = None,
    ) -> HTMLResponse:
        """The public part of the admin view; the unlocked part follows a POST (see
        :meth:`admin_action`) through a short-lived ticket cookie, so a reload is a GET."""
        lang = pick_lang(request, lang)
        ticket = self.tickets.get(request.cookies.get(ADMIN_TICKET_COOKIE))
        if ticket is None:
            return await self._admin_page(request, lang, user=valid_id(user))
        return await self._admin_page(
            request,
            lang,
            unlocked=True,
            error=ticket.get("error"),
            retrained=_retrained_text(ticket.get("retrained"), LABELS[lang]),
            user=valid_id(user),
        )

    async def _admin_page(
        self,
        request: Request,
        lang: str,
        *,
        unlocked: bool = False,
        error: str | None = None,
        retrained: str | None = None,
        status: int = 200,
        user: str | None = None,
    ) -> HTMLResponse:
        labels = LABELS[lang]
        state = self.state(request)
        api_status, model = await Api(request).call(
            "GET", "/v1/model", key=server_key(self.settings)
        )
        rate = await run_in_threadpool(state.event_rate)
        deletions: list[dict[str, Any]] = []
        manifest: str | None = None
        if unlocked:
            import json

            shown = _without_paths(state.current.snapshot.manifest)
            manifest = json.dumps(shown, indent=2, default=str)
            records = await run_in_threadpool(state.deletion_records)
            deletions = [
                {
                    "deletion_id": r.deletion_id,
                    "user_id": r.user_id,
                    "status": r.status,
                    "purge": r.purge,
                    "n_events_deleted": r.n_events_deleted,
                    "requested_at": when(r.requested_at),
                    "model_version": r.model_version,
                }
                for r in sorted(records, key=lambda r: -r.seq)[:200]
            ]
        return self.render(
            request,
            "admin.html",
            lang,
            user,
            status=status,
            switch_path="/admin",
            title=labels["admin_title"],
            model=model if api_status == 200 else None,
            rate=rate,
            rate_chart=_rate_chart(rate, lang, "event-rate"),
            unlocked=unlocked,
            manifest=manifest,
            deletions=deletions,
            error=error,
            retrained=retrained,
        )

    async def admin_action(self, request: Request) -> Response:
        """``action=show`` (manifest and deletions) or ``action=retrain``, with the typed key.

        POST -> redirect -> GET: the result is kept in a ticket (server memory, two minutes,
        an HttpOnly cookie names it) and ``GET /admin`` shows it, so a reload never retrains
        again. A wrong or missing key answers at once (nothing to repeat).
        """
        if not same_origin(request):
            return json_error(403, "cross_origin", "admin actions are accepted from this site only")
        data = await read_body(request, False) or {}
        lang = str(data["lang"]) if data.get("lang") in LANGS else pick_lang(request, None)
        labels = LABELS[lang]
        key = str(data.get("key") or "")
        action = data.get("action")
        if not key:
            return await self._admin_page(request, lang, error=labels["key_required"], status=401)
        try:
            check_key(self.settings, key)
        except ServingError as exc:
            return await self._admin_page(request, lang, error=exc.message, status=exc.status)
        result: dict[str, Any] = {}
        if action == "retrain":
            status, body = await Api(request).call("POST", "/v1/admin/retrain", key=key)
            if status == 200 and isinstance(body, Mapping):
                result["retrained"] = {
                    k: body.get(k)
                    for k in (
                        "model_version",
                        "model",
                        "n_interactions",
                        "fit_seconds",
                        "purged_deletions",
                    )
                }
            else:
                result["error"] = error_text(body, labels["event_failed"])
        response = RedirectResponse(f"/admin?{urlencode({'lang': lang})}", status_code=303)
        response.set_cookie(
            ADMIN_TICKET_COOKIE,
            self.tickets.issue(result),
            max_age=int(ADMIN_TICKET_SECONDS),
            httponly=True,
            samesite="strict",
            path="/admin",
        )
        return response

    # ------------------------------------------------------------------ assets
    def image(self, request: Request, item_id: str, size: int = IMAGE_SIZES[0]) -> Response:
        """A generated raster picture of a catalogue item (the model-feature renderer)."""
        if size not in IMAGE_SIZES:
            return Response(status_code=404)
        state = self.state(request)
        catalogue = state.current.catalogue
        row = catalogue.positions.get(item_id) if valid_id(item_id) else None
        if row is None:
            return Response(status_code=404)
        record = {
            column: catalogue.value(row, column) for column in (C.CATEGORY, C.BRAND, "image_color")
        }
        key = (item_id, size, *record.values())

        def make() -> bytes:
            from digirec.features.image import render_product_image

            return encode_png(render_product_image(record, size))

        png = self.images.get(key, make)
        return Response(
            png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"}
        )

    def picture(self, request: Request, item_id: str) -> Response:
        """The product picture of the cards: a catalogue image file when the catalogue names
        one under ``DIGIREC_WEB_IMAGES_DIR``, else a drawn SVG (shape by sub-type, colour from
        the title or the catalogue)."""
        catalogue = self.state(request).current.catalogue
        row = catalogue.positions.get(item_id) if valid_id(item_id) else None
        if row is None:
            return Response(status_code=404)
        record = {column: catalogue.value(row, column) for column in PICTURE_COLUMNS}
        local = local_image(record, self.settings.web_images_dir)
        if local is not None:
            path, media_type = local
            return Response(
                path.read_bytes(),
                media_type=media_type,
                headers={"Cache-Control": "public, max-age=3600"},
            )
        key = ("svg", item_id, *map(str, record.values()))
        svg = self.images.get(key, lambda: product_svg(record).encode())
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=3600", **SECURITY_HEADERS},
        )

    def favicon(self) -> Response:
        """The site icon (browsers ask for ``/favicon.ico`` whatever the page links)."""
        return self.static_file("favicon.svg")

    def static_file(self, name: str) -> Response:
        """One file of ``static/`` (a fixed set of names and types; no paths)."""
        match = _STATIC_RE.fullmatch(name)
        path = STATIC / name
        if match is None or not path.is_file():
            return Response(status_code=404)
        return Response(
            path.read_bytes(),
            media_type=_STATIC_TYPES[match.group(1)],
            headers={"Cache-Control": "public, max-age=86400", **SECURITY_HEADERS},
        )


# ====================================================================== page helpers
def readable_time(value: Any) -> str:
    """An ISO timestamp as ``2026-12-01 21:46 UTC`` (no "T", no offset noise), else as it is."""
    from datetime import UTC, datetime

    if not value:
        return "–"
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def _notice(notice: str | None, uid: str | None, stored: str | None) -> str | None:
    """The label key of a one-off message after an event: anonymous events are only kept in
    this browser session, and the message says so (never "recommendations updated")."""
    if notice not in WEB_EVENTS:
        return None
    if uid is None or stored == "0":
        return f"done_{notice}_session"
    return f"done_{notice}"


def demote_out_of_stock(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards with out-of-stock items moved to the end (stable: the ranking is kept within
    each group)."""
    return sorted(cards, key=lambda card: card.get("in_stock") is False)


def _without_paths(manifest: Mapping[str, Any]) -> Any:
    from digirec.evaluation.report import _scrub_paths

    return _scrub_paths(manifest)


def _retrained_text(info: Any, labels: Mapping[str, str]) -> str | None:
    if not isinstance(info, Mapping):
        return None
    return labels["retrained"].format(
        version=info.get("model_version"),
        model=info.get("model"),
        n=info.get("n_interactions") or 0,
        secs=float(info.get("fit_seconds") or 0.0),
        purged=info.get("purged_deletions") or 0,
    )


def _rate_chart(rate: Mapping[str, Any], lang: str, chart_id: str) -> str:
    """Events per minute over the last hour: numeric x ticks in minutes before now."""
    from digirec.evaluation.report import language, svg_column_chart

    labels = LABELS[lang]
    ticks = {0: "-60", 15: "-45", 30: "-30", 45: "-15", 59: "0"}
    with language(lang):
        return svg_column_chart(
            labels["event_rate"],
            rate["per_minute"],
            chart_id=chart_id,
            x_labels=ticks,
            x_label=labels["minutes_before_now"],
            y_label=labels["events_per_minute"],
            width=900,
            height=200,
            summary=labels["events_last_hour"].format(n=rate["total"], rate=rate["rate"]),
        )


def _band_bounds(label: str) -> tuple[float, float] | None:
    """``(lo, hi)`` of a price-band label such as ``"453.99-1059.99"`` or ``">1059.99"``."""
    text = label.replace(",", "").strip()
    match = re.fullmatch(r"([-\d.]+)\s*[-–]\s*([-\d.]+)", text)
    if match:
        return float(match.group(1)), float(match.group(2))
    match = re.fullmatch(r"(?:<|<=|≤)\s*([\d.]+)", text)
    if match:
        return 0.0, float(match.group(1))
    match = re.fullmatch(r"(?:>|>=|≥)\s*([\d.]+)", text)
    if match:
        return float(match.group(1)), float("inf")
    return None


def _band_label(label: str, currency: str, lang: str) -> str:
    bounds = _band_bounds(label)
    if bounds is None:
        return label
    lo, hi = bounds
    if hi == float("inf"):
        return f"≥ {format_money(lo, currency, lang, whole=True)}"
    low = format_money(lo, currency, lang, whole=True)
    return f"{low}–{format_money(hi, currency, lang, whole=True)}"


def _profile_charts(
    profile: Mapping[str, Any], view: CatalogueView, lang: str, currency: str
) -> list[dict[str, str]]:
    """Three small bar charts of the profile's affinities: the top six brands and categories
    by share, and the price bands in price order with rounded bounds in the currency."""
    from digirec.evaluation.report import language, svg_bar_chart

    labels = LABELS[lang]
    out = []
    parts: tuple[tuple[str, str, Mapping[str, str]], ...] = (
        ("brands", labels["profile_brands"], view.brand_zh),
        ("categories", labels["profile_categories"], view.category_zh),
        ("price_bands", labels["profile_price_bands"], {}),
    )
    for key, title, names in parts:
        shares = profile.get(key)
        if not isinstance(shares, Mapping) or not shares:
            continue
        if key == "price_bands":
            # Price order (cheapest first), not share order: the bands are a scale.
            top = sorted(
                shares.items(),
                key=lambda kv: (_band_bounds(str(kv[0])) or (float("inf"), 0.0))[0],
            )
            shown = [_band_label(str(k), currency, lang) for k, _ in top]
        else:
            top = sorted(shares.items(), key=lambda kv: -float(kv[1]))[:6]
            shown = [names.get(str(k), str(k)) if lang == "zh" else str(k) for k, _ in top]
        with language(lang):  # chart tooltips in the page's language and punctuation
            svg = svg_bar_chart(
                title,
                shown,
                [float(v) for _, v in top],
                chart_id=f"profile-{key}",
                width=300,
                highlight_best=False,
                percent=True,
                unit=labels["share_of_activity"],
            )
        out.append({"title": title, "svg": svg})
    return out
