"""The gallery's FastAPI app: JSON over the catalog, image bytes from the store, uploads into the
inbox, the React bundle, and its own OpenAPI schema and docs, every route behind Airflow's login.

FastAPI's public ``/openapi.json``, ``/docs`` and ``/redoc`` are turned off and served again as
ordinary routes, so they are protected like the rest: the app's own dependency (:data:`~.auth.can_read`)
applies to every route, including any added later (a test walks them all and expects 401 without
credentials).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from image_pipeline.core.errors import InvalidRequest, Unavailable
from image_pipeline.ui import editor, files, images, manage, problems, requests, uploads
from image_pipeline.ui.auth import can_read
from image_pipeline.ui.backends import Backends

TITLE = "Image pipeline gallery"


def create_app(backends: Backends | None = None) -> FastAPI:
    """The app Airflow mounts at ``/gallery`` (``plugins/gallery.py``); ``backends`` defaults to the
    settings' store and catalog, built on first use (so loading the plugin touches neither)."""
    app = FastAPI(title=TITLE, version="1", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(can_read)],
                  description="The gallery's API inside Airflow. Every route needs a logged-in Airflow user "
                              "(the `_token` cookie of Airflow's UI, or `Authorization: Bearer <JWT>` from "
                              "`POST /auth/token`) with read access to the DAG `gallery_process`; uploading also "
                              "needs the right to trigger `gallery_inbox`; saving recipes and managing images "
                              "(tags, trash) the right to trigger `gallery_process`; requesting images the right to "
                              "trigger `image_request` (rate-limited per user).")
    app.state.backends = backends or Backends()
    # The failure classes no route maps itself (core.errors): the environment's fault is "try again
    # later" (503 with Retry-After), the request's a refusal with its reason; anything else stays a 500.
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(InvalidRequest, _invalid_request)
    # Every error in one shape, {"detail": "<a sentence>"} (schemas.ErrorBody): FastAPI's validation errors
    # too, their list kept in "errors"; a 405 names every method of the path, not only its first route's.
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(images.router)
    app.include_router(editor.router)
    app.include_router(manage.router)
    app.include_router(files.router)
    app.include_router(files.archive_router)
    app.include_router(uploads.router)
    app.include_router(requests.router)
    app.include_router(problems.router)
    app.include_router(files.static_router)

    app.openapi = lambda: _one_error_shape(FastAPI.openapi(app))  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=TITLE)

    return app


RETRY_AFTER_SECONDS = 30  # what a 503 asks the browser to wait: the store's or catalog's hiccup, not an outage


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"try again later: {exc}"}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    issues = [{"loc": [str(part) if not isinstance(part, int) else part for part in error.get("loc", ())],
               "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))} for error in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, i['loc']))}: {i['msg']}" if i["loc"] else i["msg"] for i in issues)
    return JSONResponse({"detail": detail or "the request does not validate", "errors": issues}, status_code=422)


def _one_error_shape(schema: dict[str, Any]) -> dict[str, Any]:
    """The document with FastAPI's own 422 shape (a list in ``detail``), which it adds to a route with
    parameters that does not document its 422, replaced by the shape this app answers (ErrorBody)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                for content in response.get("content", {}).values():
                    if content.get("schema") == {"$ref": "#/components/schemas/HTTPValidationError"}:
                        content["schema"] = {"$ref": "#/components/schemas/ErrorBody"}
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at the request's path (Starlette's 405 names only the
    first route's: ``/api/images/{sha256}`` is a GET and a PATCH, in two routers)."""
    scope = {**request.scope, "method": "\0"}  # no route's method: a path match is PARTIAL
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def routes(app: FastAPI) -> list[dict[str, Any]]:
    """Every route of the app as (path, methods): what the protection test walks."""
    return [{"path": r.path, "methods": sorted(getattr(r, "methods", None) or [])} for r in app.routes]
