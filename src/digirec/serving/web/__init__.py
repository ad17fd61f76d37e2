"""Server-rendered web pages: shop front, operator dashboard and admin view.

The package splits the job: ``pages`` (route handlers), ``i18n`` (labels in English and
Chinese), ``catalogue`` (display data and product cards), ``images`` (pictures), ``helpers``
(request helpers and API sub-requests), ``settings``, ``templates/`` and ``static/``.

``create_app`` includes :func:`web_router`. The pages are plain HTML rendered by Jinja2 on the
server (they work without JavaScript); ``static/shop.js`` only adds conveniences (click events
before navigating, posting cart / purchase without a reload, a busy state while retraining).
Everything is served locally: no CDN, no web font, no external URL.

Routes
------
``GET /``                     shop front: pick a shopper, filters, explained recommendations,
                              the shopper's profile as a bar chart; anonymous visitors get
                              session recommendations from the items they opened in this browser
                              session (a session cookie, nothing stored on the server)
``GET /item/{item_id}``       product page with similar items and cart / buy buttons
``GET /search?q=``            natural-language product search (English or Chinese)
``GET /dashboard``            the operator's view: the served model (version, training time and
                              data, its held-out score with interval from the bundle's
                              ``evaluation.json``), a recommendation preview for any user
                              (``?preview=``), events per minute, the best model per data set
                              (chosen on validation) and every result file, folded
``GET /admin``                model version, event rate, admin actions (key needed)
``POST /web/admin``           admin actions: show manifest and deletions, retrain
``POST /web/events``          same-origin event proxy (see below)
``GET /img/{item_id}.svg``    the card picture: a catalogue image file (``web_images_dir``) or a
                              drawing by sub-type in the colour the title names, cached
``GET /img/{item_id}.png``    the raster picture of the model features (``render_product_image``)
``GET /favicon.ico``          the site icon
``GET /static/{name}``        the stylesheet and script
Every page takes ``lang=en|zh`` (default: the browser's ``Accept-Language``) and is sent with
``Cache-Control: no-store`` (Back shows the current list, not a cached one). ``user=`` names the
shopper, shown on every page; an id the service does not know is said to be unknown (404),
never silently turned into a new shopper. Every form follows POST -> redirect -> GET.

The pages are clients of the JSON API: they call the ``/v1`` endpoints in-process (an ASGI
sub-request, so validation, fallbacks and explanations are exactly the API's) rather than
reaching into the serving state.

Events from the shop front
--------------------------
Writing events needs an API key, and a key must never be embedded in a page. The browser
therefore posts events to ``POST /web/events`` on the same origin; the server forwards them to
``POST /v1/events`` with its own (first configured) key. The proxy only accepts ``click``,
``view``, ``cart`` and ``purchase`` for catalogue items, and only for the shopper of a valid
shopper session: a signed cookie that the shop page issues when it shows that shopper, bound to
that user id and rate-limited per session (:mod:`digirec.serving.shopper`). ``Origin`` and
``Referer`` headers are not consulted (a script sets them at will). The proxy can be switched
off with ``DIGIREC_WEB_EVENTS=false``. Anyone who can open the shop can still pick a shopper and
post events as that shopper: the shop front is a demonstration and operations tool, and a
production shop sends its events from its own backend with its key and turns the proxy off. Admin
actions never use the server's key: the admin types a key into a password field, it is sent with
that one request (never stored in the page or a cookie) and checked like an ``X-API-Key``.

Settings (``DIGIREC_*`` environment variables, read when the app is created)
------------------------------------------------------------------------------
``DIGIREC_RESULTS_DIR``  benchmark result JSON files of the dashboard (default
                         ``benchmarks/results`` when that folder exists)
``DIGIREC_WEB_ENABLED``  serve the pages (default: yes, unless ``read_requires_key`` is set --
                         a service that locks reads should not expose a public shop front)
``DIGIREC_WEB_EVENTS``   accept events through ``/web/events`` (default yes)
``DIGIREC_WEB_CURRENCY`` the prices' ISO code when the service's ``catalogue_currency`` is unset
``DIGIREC_WEB_IMAGES_DIR`` folder of catalogue image files (``image_url`` / ``image_path``)
"""

from digirec.serving.engine.analytics import event_rate
from digirec.serving.web.helpers import SESSION_COOKIE, WEB_EVENTS
from digirec.serving.web.i18n import LABELS, LANGS
from digirec.serving.web.images import encode_png
from digirec.serving.web.pages import web_router

__all__ = [
    "LABELS",
    "LANGS",
    "SESSION_COOKIE",
    "WEB_EVENTS",
    "encode_png",
    "event_rate",
    "web_router",
]
