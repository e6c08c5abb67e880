"""The endpoints. Each refusal is one line in `detail` and changes nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cellctl.api.answer_cache import tags_of_trace
from cellctl.api.auth import Caller
from cellctl.api.idempotency import KeyConflict, body_hash
from cellctl.api.models import CommandSent, PriorityIn, RunAccepted, RunIn, RunList, RunStatus
from cellctl.bus.scheduler_commands import CommandInvalid, command_payload
from cellctl.bus.site_request import SiteRefused, SiteUnanswered
from cellctl.domain.events import utc_now_iso
from cellctl.domain.run_spec import RunSpecError, parse_run

router = APIRouter()
RUN_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_QUERY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+ /-]{0,199}$")
RunId = Annotated[str, Path(pattern=RUN_ID, description="a run id")]


def _state(request: Request) -> Any:
    return request.app.state.api


_bearer = HTTPBearer(auto_error=False, description="a token from the site file's [api] table")


async def caller(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Caller:
    # async: a plain def dependency would be run in a worker thread, a hop per request.
    authorization = f"Bearer {creds.credentials}" if creds is not None else None
    who: Caller | None = _state(request).tokens.caller(authorization)
    if who is None:
        raise HTTPException(
            401,
            "a valid API token is required (Authorization: Bearer …)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return who


def _need(who: Caller, right: str) -> None:
    if not who.may(right):
        raise HTTPException(403, f"token {who.name!r} ({who.role}) may not {right}")


def _site_error(exc: Exception) -> HTTPException:
    """No broker: 503; nobody answered: 504; the historian said no: 404 with its words."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, SiteRefused):
        return HTTPException(404, text)
    if text.startswith("cannot reach the broker"):
        return HTTPException(503, text)
    return HTTPException(504, text)


Who = Annotated[Caller, Depends(caller)]


@router.post("/runs", status_code=201, response_model=RunAccepted, tags=["runs"])
async def create_run(
    request: Request,
    response: Response,
    body: RunIn,
    who: Who,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> RunAccepted:
    """Queue a new run. A retry with the same `Idempotency-Key` and body returns the same
    run and never makes a second one; the same key with another body is 409."""
    _need(who, "create")
    if not idempotency_key or not _KEY.match(idempotency_key):
        raise HTTPException(
            400, "an Idempotency-Key header is required: letters, digits, _ . : -, ≤ 128"
        )
    st = _state(request)
    fields = body.model_dump(mode="json")
    digest = body_hash(fields)
    run_id = body.id or f"R-{uuid.uuid4().hex[:12].upper()}"
    data = {k: v for k, v in fields.items() if k != "priority"}
    data.update(id=run_id, manual_priority=body.priority)
    try:
        spec = parse_run(data)  # the domain's own check, the one the scheduler applies
    except RunSpecError as exc:
        raise HTTPException(422, str(exc)) from None
    # Copies of one order arriving together wait for the first: one publish, not ten
    # (the scheduler would refuse the others, but need not see them).
    lock = st.key_locks.setdefault((who.name, idempotency_key), asyncio.Lock())
    async with lock:
        try:
            res = st.idem.reserve(who.name, idempotency_key, digest, run_id, fields, utc_now_iso())
        except KeyConflict as exc:
            raise HTTPException(409, str(exc)) from None
        if res.run_id != run_id:
            data["id"] = res.run_id
            spec = parse_run(data)
        if res.state != "sent":
            # A key left pending by an API that died before the broker took the run:
            # the same run id again (the scheduler refuses an id it holds).
            try:
                await st.bus.submit(spec)
            except SiteUnanswered as exc:
                if res.fresh:
                    st.idem.forget_pending(who.name, idempotency_key)
                raise HTTPException(503, str(exc)) from None
            st.idem.mark_sent(who.name, idempotency_key)
    if not lock.locked():
        st.key_locks.pop((who.name, idempotency_key), None)
    response.status_code = 201 if res.fresh else 200
    if not res.fresh:
        response.headers["Idempotent-Replayed"] = "true"
    return RunAccepted(
        run_id=res.run_id,
        status="submitted",
        replayed=not res.fresh,
        detail=f"run {res.run_id}: {spec.quantity} × {spec.sku} sent to the scheduler",
    )


async def _command(request: Request, who: Who, action: str, run_id: str, **fields: Any) -> None:
    st = _state(request)
    if not who.badge:
        raise HTTPException(
            403, f"token {who.name!r} names no operator badge for the scheduler to check"
        )
    try:
        body = command_payload(action, who.badge, run_id=run_id, **fields)
        await st.bus.command(body)
    except CommandInvalid as exc:
        raise HTTPException(422, str(exc)) from None
    except SiteUnanswered as exc:
        raise HTTPException(503, str(exc)) from None


@router.post("/runs/{run_id}/cancel", status_code=202, response_model=CommandSent, tags=["runs"])
async def cancel_run(request: Request, run_id: RunId, who: Who) -> CommandSent:
    """Cancel a run (supervisor tokens). The scheduler checks the token's badge again."""
    _need(who, "cancel")
    await _command(request, who, "cancel", run_id)
    return CommandSent(run_id=run_id, action="cancel", detail=f"cancel of {run_id} sent")


@router.put("/runs/{run_id}/priority", status_code=202, response_model=CommandSent, tags=["runs"])
async def set_priority(request: Request, run_id: RunId, body: PriorityIn, who: Who) -> CommandSent:
    """Set a run's manual priority (planner and supervisor tokens); higher goes first."""
    _need(who, "prioritise")
    await _command(request, who, "prioritise", run_id, priority=body.priority)
    return CommandSent(
        run_id=run_id, action="prioritise", detail=f"priority {body.priority} for {run_id} sent"
    )


def _queue_view(queue: dict[str, Any] | None, run_id: str) -> dict[str, Any]:
    q = queue or {}
    return {
        "ready": [r for r in q.get("ready", []) if r.get("run_id") == run_id],
        "in_progress": [r for r in q.get("in_progress", []) if r.get("run_id") == run_id],
        "held": run_id in (q.get("held") or []),
    }


@router.get("/runs", response_model=RunList, tags=["runs"])
async def list_runs(request: Request, who: Who) -> RunList:
    """The runs in the scheduler's queue (its retained snapshot) and those made here."""
    _need(who, "read")
    st = _state(request)
    q = st.bus.queue or {}
    ids: list[str] = []
    for part in ("in_progress", "ready"):
        ids += [str(r["run_id"]) for r in q.get(part, []) if r.get("run_id")]
    ids += [str(r) for r in q.get("held") or []]
    made = {r["run_id"]: r for r in st.idem.runs()}
    out = []
    for rid in dict.fromkeys([*ids, *made]):
        view = _queue_view(q, rid)
        status = ("held" if view["held"] else "in_progress" if view["in_progress"]
                  else "queued" if view["ready"] else "submitted")  # fmt: skip
        out.append({"run_id": rid, "status": status, **view,
                    "created_here": rid in made})  # fmt: skip
    return RunList(time=q.get("time"), runs=out)


@router.get("/runs/{run_id}", response_model=RunStatus, tags=["runs"])
async def get_run(request: Request, run_id: RunId, who: Who) -> RunStatus:
    """A run's status: the queue's view and its history from the site historian."""
    _need(who, "read")
    st = _state(request)
    view = _queue_view(st.bus.queue, run_id)
    made = st.idem.created(run_id)
    history: dict[str, Any] | None
    try:
        # The historian works the status out (a few hundred bytes, not every event).
        history = await st.cache.get(
            ("run_status", run_id),
            lambda: st.bus.ask("run_status", {"run_id": run_id}, timeout_s=st.timeout_s),
            lambda _: {("r", run_id)},
        )
    except SiteRefused:
        history = None  # the historian does not know it (yet)
    except SiteUnanswered as exc:
        raise _site_error(exc) from None
    if history is None and made is None and not (view["ready"] or view["in_progress"]
                                                  or view["held"]):  # fmt: skip
        raise HTTPException(404, f"run {run_id!r} is not known to the queue or the historian")
    h = history or {}
    if h.get("done") is not None:
        status = "done"
    elif view["held"]:
        status = "held"
    elif view["in_progress"]:
        status = "in_progress"
    elif view["ready"]:
        status = "queued"
    elif h.get("events"):
        status = "started"
    else:
        status = "submitted"
    sku = h.get("sku")
    if sku is None and made is not None:
        sku = made["request"].get("sku")
    return RunStatus(
        run_id=run_id,
        status=status,
        sku=sku,
        cells=h.get("cells", []),
        submitted=h.get("submitted"),
        first_start=h.get("first_start"),
        done=h.get("done"),
        counts=h.get("counts", {}),
        created_here=made,
        **view,
    )


def _checked_query(text: str) -> str:
    if ".." in text or "//" in text or not _QUERY.match(text):
        raise HTTPException(
            422, "a serial or batch is letters, digits and _ . : + - / (no '..'), ≤ 200"
        )
    return text


@router.get("/trace/{query:path}", tags=["trace"])
async def trace(request: Request, query: str, who: Who) -> Any:
    """The genealogy of a serial, a batch or a scanned code, from the site historian."""
    _need(who, "read")
    st = _state(request)
    try:
        q = _checked_query(query)
        found = await st.cache.get(
            ("trace", q),
            lambda: st.bus.ask("trace", {"query": q}, timeout_s=st.timeout_s),
            lambda result: tags_of_trace(q, result),
        )
    except (SiteRefused, SiteUnanswered) as exc:
        raise _site_error(exc) from None
    # Plain JSON as the historian gave it: FastAPI's encoder would walk a big genealogy
    # value by value (most of this endpoint's CPU under load) to the same text.
    return JSONResponse(found)


@router.get("/batches/{batch}", tags=["trace"])
async def batch(request: Request, batch: Annotated[str, Path(pattern=RUN_ID)], who: Who) -> Any:
    """A batch's serials, SKU and run, from the site historian."""
    _need(who, "read")
    st = _state(request)
    try:
        found = await st.cache.get(
            ("batch", batch),
            lambda: st.bus.ask("batch", {"batch": batch}, timeout_s=st.timeout_s),
            lambda _: {("b", batch)},
        )
    except (SiteRefused, SiteUnanswered) as exc:
        raise _site_error(exc) from None
    # Plain JSON as the historian gave it: FastAPI's encoder would walk a big genealogy
    # value by value (most of this endpoint's CPU under load) to the same text.
    return JSONResponse(found)


@router.get("/health", tags=["service"])
async def health(request: Request) -> dict[str, Any]:
    """No token needed: is the API up and linked to the broker."""
    st = _state(request)
    kept = st.cache.stats
    return {
        "ok": True,
        "broker": st.bus.connected,
        "queue_seen": st.bus.queue is not None,
        # The answer cache since start: asked of the historian (misses), served kept
        # (hits), shared with a question in flight, dropped by an event, not kept.
        "answers": {
            "hits": kept.hits,
            "misses": kept.misses,
            "shared": kept.shared,
            "dropped": kept.dropped,
            "not_kept": kept.not_kept,
        },  # fmt: skip
    }
