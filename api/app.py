"""create_app(): routers, error handlers, the web page, and the service's state.

The caller picks the implementations (a JobQueue, a RecordingStore): ``emotrace serve`` wires
Celery or the embedded queue, tests wire the real services. Nothing is built at import time.
Every error, including 404/405/422 from the framework and unexpected 500s, has the body
``{"code", "message"}``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from api.routes import health
from api.routes import jobs as job_routes
from emotrace.db import get_sessionmaker
from emotrace.errors import (
    DatabaseUnavailable,
    EmotraceError,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    UploadTooLarge,
    video_error_status,
)
from emotrace.queue import JobQueue
from emotrace.ratelimit import RateLimiter, make_rate_limiter
from emotrace.settings import Settings
from emotrace.storage import RecordingStore
from ml.errors import TranscriptError, VideoError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Framework-raised statuses get the codes of the matching errors of our own family.
HTTP_CODES = {error.status: error.code for error in (NotFound, MethodNotAllowed, Unauthorized, UploadTooLarge)}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(EmotraceError)
    async def emotrace_error(_: Request, exc: EmotraceError) -> JSONResponse:
        headers = None
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:
            headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        return _error(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(request: Request, _: PoolTimeout) -> JSONResponse:
        log.warning("no database connection free for %s %s", request.method, request.url.path)
        return await emotrace_error(request, DatabaseUnavailable("the database is busy; retry shortly"))

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        """A lost or refused connection (Postgres restarting, failing over) is the client's cue to
        retry; the request's transaction was rolled back, so retrying is safe."""
        if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
            reason = type(exc.orig).__name__
            log.warning("database unavailable during %s %s: %s", request.method, request.url.path, reason)
            return await emotrace_error(request, DatabaseUnavailable("the database is unavailable; retry shortly"))
        return await unexpected_error(request, exc)

    @app.exception_handler(VideoError)
    async def video_error(_: Request, exc: VideoError) -> JSONResponse:
        return _error(video_error_status(exc), exc.code, str(exc))

    @app.exception_handler(TranscriptError)
    async def transcript_error(_: Request, exc: TranscriptError) -> JSONResponse:
        return _error(422, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "path", "header", "body"))
        return _error(
            422, "invalid_parameter", f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _: ClientDisconnect) -> Response:
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)  # nobody is left to read it

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
        return _error(500, "internal_error", "internal error")


def _mount_page(app: FastAPI) -> None:
    """The web page, if it was built into api/static (the build is committed; Node is not needed)."""
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        return

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    assets = STATIC_DIR / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")


def _document_settings(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI schema with the limits of this app's settings, built once on first request
    (FastAPI's documented way to extend it): routes are declared before settings exist."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            job_routes.document_fps(generate(), settings)  # edits the schema generate() caches
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings, *, queue: JobQueue, store: RecordingStore, rate_limiter: RateLimiter | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            queue.close()

    app = FastAPI(
        title="emotrace",
        version="0.1.0",
        summary="Facial-emotion timelines for recorded video calls",
        description=(
            "Upload a recording, poll the job, fetch the summary and per-frame emotions. "
            "Authenticate with `Authorization: Bearer <key>` (`emotrace keys create NAME`)."
        ),
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.queue = queue
    app.state.store = store
    app.state.rate_limiter = rate_limiter or make_rate_limiter(settings)
    app.state.sessionmaker = get_sessionmaker(settings)
    app.state.metrics = health.metrics_registry(app.state.sessionmaker, queue)
    _register_error_handlers(app)
    app.include_router(job_routes.router)
    app.include_router(health.router)
    _document_settings(app, settings)
    _mount_page(app)
    return app
