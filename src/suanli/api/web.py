"""Serves the web portal (the built single-page app) at `/`, and Swagger UI at `/docs`, both
from files bundled in the Python package: nothing loads from the internet.

The build (`make web`) writes into `suanli/web_static/`. Without it, `/` and `/docs` answer
with how to build it instead of a 404. Every HTML answer carries a Content-Security-Policy
that allows no inline script; Ant Design injects its styles, hence `style-src 'unsafe-inline'`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from suanli.api.errors import http_error_body
from suanli.i18n import current_language, t

STATIC_DIR = Path(__file__).resolve().parent.parent / "web_static"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Paths the API owns: an unknown one stays a JSON 404, never the portal's page.
API_PREFIXES = ("v1/", "v1", "openapi.json", "healthz", "metrics", "assets/", "swagger/")

SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>suanli API</title>
<link rel="stylesheet" href="/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/swagger/swagger-ui-bundle.js"></script>
<script src="/swagger/swagger-init.js"></script></body></html>
"""


def install_web(api: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Mounts the built assets, adds `/docs`, and answers a GET for any other path outside
    the API with the portal's page (history fallback) through the 404 handler, so a route
    added later is still matched first."""
    if (static_dir / "assets").is_dir():
        api.mount("/assets", StaticFiles(directory=static_dir / "assets"), name="assets")
    if (static_dir / "swagger").is_dir():
        api.mount("/swagger", StaticFiles(directory=static_dir / "swagger"), name="swagger")

    @api.get("/docs", include_in_schema=False)
    def docs() -> Response:
        if not (static_dir / "swagger" / "swagger-ui-bundle.js").is_file():
            return not_built_page()
        return HTMLResponse(SWAGGER_PAGE, headers=SECURITY_HEADERS)

    async def not_found(request: Request, error: Exception) -> Response:
        path = request.url.path.lstrip("/")
        if request.method not in ("GET", "HEAD") or path.startswith(API_PREFIXES):
            return JSONResponse(status_code=404, content=http_error_body(request, 404))
        return portal_page(static_dir, path)

    api.add_exception_handler(404, not_found)


def portal_page(static_dir: Path, path: str) -> Response:
    top_level = static_dir / path
    if path and "/" not in path and path != "index.html" and top_level.is_file():
        return FileResponse(top_level, headers=SECURITY_HEADERS)  # favicon.svg, robots.txt
    index = static_dir / "index.html"
    if not index.is_file():
        return not_built_page()
    return FileResponse(index, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


def not_built_page() -> HTMLResponse:
    """What `/` says before `make web` has run: how to build the portal, in one language."""
    title = t("门户尚未构建", "The web portal is not built")
    how = t(
        "在源码目录运行 `make web`（需要 Node.js 20 与 npm），然后重新启动 `suanli serve`。",
        "Run make web in the source folder (needs Node.js 20 and npm), then restart suanli serve.",
    )
    api = t(
        "API 照常可用：/v1/...，文档见 /openapi.json。", "The API works: /v1/..., /openapi.json."
    )
    lang = current_language()
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><main><h1>{title}</h1><p>{how}</p><p>{api}</p></main></body></html>"
    )
    return HTMLResponse(body, status_code=503, headers=SECURITY_HEADERS)
