"""The FastAPI application factory. Routers are thin; the App graph comes from bootstrap."""

from __future__ import annotations

import importlib

from fastapi import Depends, FastAPI

from suanli import __version__
from suanli.api import (
    metrics,
    routes_audit,
    routes_compute,
    routes_core,
    routes_dashboard,
    routes_identity,
)
from suanli.api.context import RequestContextMiddleware
from suanli.api.db_outage import DatabaseOutageMiddleware
from suanli.api.errors import install_error_handlers
from suanli.api.guards import RequestGuard
from suanli.api.idempotency import IdempotencyMiddleware
from suanli.api.strict_query import strict_query
from suanli.api.web import install_web
from suanli.bootstrap import App

# Areas that land separately add a `router` in their module; missing ones are skipped.
OPTIONAL_ROUTERS = (
    "suanli.api.routes_ledger",
    "suanli.api.routes_vouchers",
    "suanli.api.routes_scenes",
    "suanli.api.routes_connections",
    "suanli.api.routes_public",
)


def create_api(app: App) -> FastAPI:
    api = FastAPI(
        docs_url=None,  # api/web.py serves /docs from bundled Swagger UI assets
        redoc_url=None,
        title="suanli 算力",
        version=__version__,
        description="A city's AI compute market: compute exchange, settlement, vouchers, scenes.",
        dependencies=[Depends(strict_query)],  # integer and boolean query parameters, strictly
    )
    api.state.suanli = app
    api.state.unaudited_writes = []  # api/context.py: writes that appended no audit entry
    install_error_handlers(api)
    api.add_middleware(IdempotencyMiddleware)
    api.add_middleware(RequestGuard)  # language, characters
    api.add_middleware(RequestContextMiddleware)  # runs first of these: request id
    api.add_middleware(DatabaseOutageMiddleware)  # outermost: 503 while the database is away
    routers = (
        routes_core.router,
        routes_identity.router,
        routes_audit.router,
        metrics.router,
        routes_compute.router,
        routes_dashboard.router,
    )
    for router in routers:
        api.include_router(router)
    for module_name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        api.include_router(module.router)
    install_web(api)  # last: its history fallback answers only what no route above claims
    return api


def create_ops_api(app: App) -> FastAPI:
    """What a `serve --role scheduler` process answers: /healthz and /metrics (its role and
    whether it leads), nothing tenants use; they go to the API replicas."""
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="suanli scheduler")
    api.state.suanli = app
    api.state.unaudited_writes = []
    install_error_handlers(api)
    api.add_api_route("/healthz", routes_core.healthz, methods=["GET"], tags=["ops"])
    api.include_router(metrics.router)
    api.add_middleware(RequestGuard)
    api.add_middleware(RequestContextMiddleware)
    api.add_middleware(DatabaseOutageMiddleware)
    return api
