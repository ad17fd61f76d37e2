"""The JSON API, one module per resource, each with module-level :class:`fastapi.APIRouter`\\ s.

``health``            liveness, readiness, ``/metrics``
``recommendations``   a user's list, similar items, session and batch lists
``events``            ``POST /v1/events``
``catalogue``         items: create / update, read, delete
``users``             users: read, create / update, profile
``search``            natural-language product search
``privacy``           deletions and their status
``admin``             retrain, the served model

A module's ``router`` holds the routes whose access is fixed (a scope dependency, or none);
its ``reads`` router holds the read routes, which ``create_app`` includes with the read-key
dependency only when the server requires a key for reads, so the OpenAPI schema declares the
key exactly where it is checked. Route handlers reach the state (and its settings) and the
metrics through the FastAPI dependencies in :mod:`digirec.serving.routes._shared`; ranking,
filtering and everything else below the HTTP layer live in :mod:`digirec.serving.engine`.
"""
