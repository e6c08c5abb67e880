"""The app factory: `create_app(site, site_path)` gives a FastAPI app whose lifespan
starts the bus session and the webhook workers. Tests and the bench call it too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cellctl import __version__
from cellctl.api.answer_cache import AnswerCache
from cellctl.api.auth import Tokens
from cellctl.api.bus import ApiBus
from cellctl.api.idempotency import IdempotencyStore
from cellctl.api.routes import router
from cellctl.api.webhooks import Notifier, RunWatcher
from cellctl.config.api import ApiConfig
from cellctl.config.models import SiteConfig
from cellctl.domain.events import Event, utc_now_iso


@dataclass
class ApiState:
    site: SiteConfig
    api: ApiConfig
    tokens: Tokens
    idem: IdempotencyStore
    bus: ApiBus
    notifier: Notifier
    watcher: RunWatcher
    timeout_s: float = 3.0
    cache: AnswerCache = field(default_factory=AnswerCache)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    key_locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)


class BodyLimit:
    """413 for a body over `limit` bytes, whether it says its length or streams it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._refuse(send)
                    return
        # Read the body here (it is small by this limit) and hand it on in one piece:
        # a streamed body over the limit is refused before the app sees any of it.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        resp = JSONResponse(
            {"detail": f"the request body is over {self.limit} bytes"}, status_code=413
        )
        await resp({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _one_line(exc: RequestValidationError) -> str:
    errs = exc.errors()
    if not errs:
        return "the request is not valid"
    first = errs[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    if first.get("type") == "extra_forbidden":
        text = f"unknown field {where!r}"
    elif first.get("type") == "json_invalid":
        text = "the body is not valid JSON"
    else:
        text = f"{where}: {first.get('msg', 'invalid')}"
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return (text + more).replace("\n", " ")


def create_app(
    site: SiteConfig,
    site_path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    timeout_s: float = 3.0,
) -> FastAPI:
    api = site.api or ApiConfig()
    tokens = Tokens(api, environ, site)
    base = Path(site_path).parent if site_path else Path(".")
    db = api.state_db if api.state_db.is_absolute() else base / api.state_db
    idem = IdempotencyStore(db)
    bus = ApiBus(site.mqtt, site.site.id)

    async def publish_notice(body: dict[str, Any]) -> None:
        await bus.publish(f"{bus.topics.base}/api/events", body)

    notifier = Notifier(
        api.webhooks,
        publish_notice,
        lambda run_id, kind: idem.first_notice(run_id, kind, utc_now_iso()),
        environ=dict(environ) if environ is not None else None,
    )
    watcher = RunWatcher(notifier.notify)
    cache = AnswerCache(api.answer_cache_s)

    def on_event(e: Event) -> None:
        cache.event(e)
        watcher.on_event(e)

    bus.on_event, bus.on_queue = on_event, watcher.on_queue
    state = ApiState(site, api, tokens, idem, bus, notifier, watcher, timeout_s, cache)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        state.tasks.append(asyncio.create_task(notifier.run(), name="api-webhooks"))
        with contextlib.suppress(TimeoutError):
            await bus.wait_connected(5.0)  # serve anyway: reads then say the broker is away
        try:
            yield
        finally:
            for t in state.tasks:
                t.cancel()
            await bus.stop()
            idem.close()

    app = FastAPI(
        title="cellctl API",
        version=__version__,
        description="Runs in, status and trace out, for the shop's systems. Bearer tokens "
        "with roles from the site file's [api] table.",
        lifespan=lifespan,
    )
    app.state.api = state
    app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc.detail).splitlines()[0] if exc.detail else ""},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    app.add_middleware(BodyLimit, limit=api.max_body_bytes)
    return app


def uvicorn_ssl(api: ApiConfig, base: Path) -> dict[str, Any]:
    """uvicorn's TLS arguments when the site configures a certificate."""
    if api.cert_file is None or api.key_file is None:
        return {}
    cert = api.cert_file if api.cert_file.is_absolute() else base / api.cert_file
    key = api.key_file if api.key_file.is_absolute() else base / api.key_file
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
