"""The recommendation service: FastAPI app factory, settings, auth and the serving state.

Needs the ``serve`` extra (``pip install 'digirec[serve]'``). Nothing is imported or configured
at import time; build the app with::

    from digirec.serving import ServeSettings, create_app
    app = create_app(ServeSettings(bundle_path="artifacts/model"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digirec.serving.app import create_app
    from digirec.serving.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: importing digirec.serving must not pull FastAPI in (or fail without the extra).
    if name == "create_app":
        from digirec.serving.app import create_app

        return create_app
    if name == "ServeSettings":
        from digirec.serving.settings import ServeSettings

        return ServeSettings
    raise AttributeError(f"module 'digirec.serving' has no attribute {name!r}")
