"""Settings of the recommendation service (``DIGIREC_*`` environment variables).

Precedence: values passed to :class:`ServeSettings` (the ``digirec serve`` flags) win over
environment variables, which win over the defaults documented on each field. Nothing is read at
import time: :func:`digirec.serving.app.create_app` receives a settings object.

Examples
--------
``DIGIREC_DATABASE_URL=postgresql://shop@db:5432/shop DIGIREC_API_KEYS=k1,k2 digirec serve
--bundle artifacts/model``
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServeSettings(BaseSettings):
    """Every knob of the service, with its default.

    Attributes
    ----------
    bundle_path:
        Model bundle written by ``digirec train`` (or by a retrain). Required to serve.
    database_url:
        Store location: ``sqlite:///PATH`` (embedded; WAL, synchronous=FULL) or
        ``postgresql://user:password@host:port/database``.
    state_dir:
        Where retrained bundles are written (``state_dir/bundles/v0002`` ...). On start the
        newest of them is served when it is newer than ``bundle_path`` (so a restart never
        brings back a model that still contains deleted users).
    api_keys:
        Keys accepted in the ``X-API-Key`` header (comma-separated in the environment), each
        ``KEY`` (every scope) or ``KEY:scope+scope`` with scopes ``read``, ``events``,
        ``catalogue`` and ``admin`` (retrain, model admin and privacy deletions). Write,
        delete and admin endpoints need a key with their scope (403 otherwise); with no key
        configured they refuse every call.
    rate_limit_per_minute:
        Requests per minute one API key may make (429 with ``Retry-After`` beyond; a token
        bucket, so bursts up to this number pass).
    max_clock_skew_s:
        Event timestamps later than the server's clock by more than this are refused (422).
    web_session_secret:
        HMAC key of the shop front's shopper-session cookies (default: random per process).
    web_session_ttl_s / web_session_events_per_minute:
        Lifetime of a shopper session and the most events one session may post per minute.
    read_requires_key:
        Also require a key for read endpoints (recommendations, search, profile ...).
    max_k / default_k:
        Bounds of ``k`` (larger -> 422) and its default.
    max_batch:
        Most events in one ``POST /v1/events`` and items in one session request.
    max_body_bytes:
        Largest request body (larger -> 413).
    accept_unknown_items:
        Store events about items missing from the catalogue instead of rejecting them (422).
    explain:
        Attach an explanation to every recommended item.
    history_limit:
        Most recent events per user kept in memory for real-time scoring.
    search_encoder:
        Text encoder of ``/v1/search`` (the index is built on the first search).
    catalogue_currency / currency_rates:
        ISO code of the catalogue's prices (shown on every price of the web pages) and the
        rates of other currencies in catalogue units per unit (``{"CNY": 0.14}`` with USD
        prices): search amounts in another currency are converted with its rate, or refused
        with an explanation when it has none.
    retrain_model / retrain_params:
        Model and settings of a retrain; default: those of the served bundle.
    include_catalog_items:
        Retrains index catalogue items without events (so new items keep a model index).
    purchase_events:
        Event types that count as a purchase for the co-purchase counts behind "Often bought
        with ..." (comma-separated in the environment).
    co_purchase_min_count:
        Least number of distinct users who purchased both items before a similar-items or
        session reason says "Often bought with <item>" (below it: the model's own reason).
    trending_window_days:
        Length of the window of ``GET /v1/trending``: distinct users per item with an event
        in the ``trending_window_days`` days ending now ("this week" for 7).
    trending_refresh_s:
        How long one count of the trending window is reused before it is counted again.
    ann_threshold:
        Factor models (ALS, BPR, MF, SASRec) whose catalogue has more items than this serve
        personalised lists through a FAISS index on the item vectors (the ``ann`` extra;
        filters and seen items are still never returned, recall@10 is calibrated to 0.95 on
        the users' own vectors). Smaller catalogues, other models and a missing ``faiss-cpu``
        use the exact scores of every item.
    """

    model_config = SettingsConfigDict(
        env_prefix="DIGIREC_",
        # A misspelt keyword is an error; a misspelt DIGIREC_* variable too (model_post_init:
        # the environment source only reads the names it knows, so it is checked there).
        extra="forbid",
        validate_default=True,
    )

    bundle_path: Path | None = Field(None, description="Model bundle directory to serve.")
    database_url: str = Field(
        "sqlite:///digirec-state/digirec.db", description="SQLite path URL or PostgreSQL URL."
    )
    state_dir: Path = Field(
        Path("digirec-state"), description="Folder for retrained bundles and service state."
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Accepted X-API-Key values (comma-separated)."
    )
    read_requires_key: bool = Field(False, description="Require an API key for reads too.")
    rate_limit_per_minute: int = Field(
        6000, ge=1, description="Requests per minute per API key (429 beyond)."
    )
    max_clock_skew_s: float = Field(
        300.0, ge=0, description="Most seconds an event timestamp may lie in the future."
    )
    web_session_secret: SecretStr | None = Field(
        None, description="HMAC key of shopper-session cookies (default: random per process)."
    )
    web_session_ttl_s: float = Field(
        8 * 3600.0, gt=0, description="Lifetime of a shopper session in seconds."
    )
    web_session_events_per_minute: int = Field(
        30, ge=1, description="Most events one shopper session may post per minute."
    )
    # The web pages (serving/web/): one settings tree with the service, so a misspelt keyword
    # or variable is an error for them too.
    web_enabled: bool | None = Field(
        None, description="Serve the web pages (default: unless reads require a key)."
    )
    web_events: bool = Field(True, description="Accept shop-front events via /web/events.")
    web_k: int = Field(12, ge=1, le=100, description="Recommendations shown per list.")
    web_user_choices: int = Field(
        40, ge=0, le=1000, description="Most active users offered in the shopper picker."
    )
    web_currency: str = Field(
        "USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO code of the catalogue's prices, shown on every price (the service's "
        "catalogue_currency wins when it is set).",
    )
    web_images_dir: Path | None = Field(
        None,
        description="Folder of product image files named by the catalogue's image_url / "
        "image_path column (relative names); without it pictures are drawn.",
    )
    results_dir: Path | None = Field(
        None,
        description="Benchmark result JSON files for /dashboard (default: "
        "benchmarks/results when it exists).",
    )
    max_k: int = Field(100, ge=1, le=10_000, description="Largest k a request may ask for.")
    default_k: int = Field(10, ge=1, description="k when a request gives none.")
    max_batch: int = Field(1000, ge=1, description="Most events / items in one request.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body in bytes.")
    accept_unknown_items: bool = Field(
        False, description="Accept events about items missing from the catalogue."
    )
    explain: bool = Field(True, description="Attach explanations to recommended items.")
    history_limit: int = Field(200, ge=1, description="Recent events per user kept in memory.")
    search_encoder: Literal["auto", "tfidf"] = Field(
        "auto",
        description="'auto': the multilingual sentence encoder when the text extra is "
        "installed, else TF-IDF; 'tfidf': always TF-IDF (fast start, no model).",
    )
    catalogue_currency: str = Field(
        "USD", pattern=r"^[A-Z]{3}$", description="ISO code of the catalogue's prices."
    )
    currency_rates: dict[str, float] = Field(
        default_factory=dict,
        description='Catalogue units per unit of other currencies, e.g. {"CNY": 0.14} '
        "(JSON in the environment); a search amount in a currency without a rate is refused.",
    )
    retrain_model: str | None = Field(None, description="Model of retrains (default: bundle's).")
    retrain_params: dict[str, Any] | None = Field(
        None, description="Model settings of retrains (default: bundle's config)."
    )
    include_catalog_items: bool = Field(
        True, description="Retrains index catalogue items without events."
    )
    purchase_events: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["purchase"],
        min_length=1,
        description="Event types counted as purchases by the co-purchase counts (comma-separated).",
    )
    co_purchase_min_count: int = Field(
        2, ge=1, description="Least co-purchasers of two items for an 'Often bought with' reason."
    )
    trending_window_days: float = Field(
        7.0, gt=0, le=366, description="Days of the trending window (ending now)."
    )
    trending_refresh_s: float = Field(
        60.0, ge=0, description="Seconds one count of the trending window is reused."
    )
    ann_threshold: int = Field(
        50_000,
        ge=1,
        description="Catalogues with more model items than this use the FAISS index "
        "(factor models only).",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("purchase_events", mode="before")
    @classmethod
    def _split_events(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return [str(part).strip().lower() for part in value if str(part).strip()]
        return value

    @field_validator("default_k")
    @classmethod
    def _default_k_bounded(cls, value: int, info: Any) -> int:
        max_k = info.data.get("max_k")
        if max_k is not None and value > max_k:
            raise ValueError(f"default_k ({value}) exceeds max_k ({max_k})")
        return value

    @field_validator("api_keys")
    @classmethod
    def _scopes_known(cls, value: list[SecretStr]) -> list[SecretStr]:
        for i, key in enumerate(value):
            parse_key(key.get_secret_value(), position=i)
        return value

    def model_post_init(self, context: Any, /) -> None:
        check_environment()

    def key_values(self) -> list[str]:
        """The configured API keys as plain strings (without their scopes)."""
        return [parse_key(key.get_secret_value())[0] for key in self.api_keys]

    def scoped_keys(self) -> list[tuple[str, frozenset[str]]]:
        """``(key, scopes)`` of every configured API key."""
        return [parse_key(key.get_secret_value()) for key in self.api_keys]

    def resolved_results_dir(self) -> Path | None:
        """The dashboard's results folder: ``results_dir``, else ``benchmarks/results`` when it
        exists (the repository's own results, for a service started from a checkout)."""
        if self.results_dir is not None:
            return self.results_dir
        default = Path("benchmarks/results")
        return default if default.is_dir() else None


#: Scopes of API keys: what each one allows.
SCOPES = ("read", "events", "catalogue", "admin")


def parse_key(text: str, *, position: int | None = None) -> tuple[str, frozenset[str]]:
    """``"KEY"`` -> every scope; ``"KEY:events+read"`` -> those scopes.

    Raises ``ValueError`` (a settings error) for an empty key or an unknown scope.
    """
    where = "" if position is None else f"api_keys[{position}]: "
    key, sep, scope_text = text.partition(":")
    if not key:
        raise ValueError(f"{where}empty API key")
    if not sep:
        return key, frozenset(SCOPES)
    scopes = frozenset(s.strip() for s in scope_text.split("+") if s.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(
            f"{where}unknown scope(s) {unknown or [scope_text]}; expected some of {list(SCOPES)}"
        )
    return key, scopes


#: ``DIGIREC_*`` variables read outside the service's settings (the CLI, models, features).
OTHER_VARIABLES = frozenset({"DIGIREC_CACHE_DIR", "DIGIREC_DATASETS", "DIGIREC_MAX_MEMORY_GB"})
#: Prefix of variables the test suites read (never service settings).
TEST_PREFIX = "DIGIREC_TEST_"


def known_variables() -> frozenset[str]:
    """Every ``DIGIREC_*`` name a setting or a documented tool reads."""
    names = {f"DIGIREC_{name.upper()}" for name in ServeSettings.model_fields}
    return frozenset(names | OTHER_VARIABLES)


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse an unknown ``DIGIREC_*`` variable with the closest known name.

    Raises ``ValueError`` (a settings error: ``digirec serve`` exits 2 with the message).
    """
    import difflib

    env = os.environ if environ is None else environ
    known = known_variables()
    unknown = sorted(
        name
        for name in env
        if name.startswith("DIGIREC_") and name not in known and not name.startswith(TEST_PREFIX)
    )
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise ValueError(f"unknown setting(s) in the environment: {', '.join(hints)}")
