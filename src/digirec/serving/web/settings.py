"""Settings of the web pages (``DIGIREC_*`` variables, read when the router is built)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """Settings of the web pages (``DIGIREC_*`` variables; see the module docstring)."""

    model_config = SettingsConfigDict(env_prefix="DIGIREC_", extra="ignore")

    results_dir: Path | None = Field(
        default=None,
        description="Benchmark result JSON files for /dashboard (default: "
        "benchmarks/results when it exists).",
    )
    web_enabled: bool | None = Field(
        default=None, description="Serve the web pages (default: unless reads require a key)."
    )
    web_events: bool = Field(default=True, description="Accept shop-front events via /web/events.")
    web_k: int = Field(default=12, ge=1, le=100, description="Recommendations shown per list.")
    web_user_choices: int = Field(
        default=40, ge=0, le=1000, description="Most active users offered in the shopper picker."
    )

    web_currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO code of the catalogue's prices, shown on every price (the service's "
        "catalogue_currency wins when it is set).",
    )
    web_images_dir: Path | None = Field(
        default=None,
        description="Folder of product image files named by the catalogue's image_url / "
        "image_path column (relative names); without it pictures are drawn.",
    )

    def resolved_results_dir(self) -> Path | None:
        if self.results_dir is not None:
            return self.results_dir
        default = Path("benchmarks/results")
        return default if default.is_dir() else None
