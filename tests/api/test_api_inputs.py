"""Bad input and security at the HTTP edge (FastAPI's TestClient, no lifespan: nothing
can reach the bus, so a request that got past the checks would fail loudly). Each
refusal is the right status with one line, and nothing is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cellctl.api.app import create_app
from cellctl.api.auth import AuthConfigError
from cellctl.config.api import ApiConfig, ApiToken
from cellctl.config.load import load_site
from cellctl.config.models import Operator, SiteConfig, SiteInfo
from tests.api.conftest import ENV, RUN_BODY, auth, sha, site_config


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    app = create_app(site_config("mqtt://127.0.0.1:9", tmp_path), None, environ=ENV)
    c = TestClient(app, raise_server_exceptions=True)
    c.app_state = app.state.api  # type: ignore[attr-defined]
    return c


def _one_line(r, status: int) -> str:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


def _nothing_changed(client: TestClient) -> None:
    assert client.app_state.idem.runs() == []  # type: ignore[attr-defined]


KEY = {"Idempotency-Key": "k1"}


def test_tokens(client: TestClient) -> None:
    assert "token" in _one_line(client.get("/runs"), 401)
    assert _one_line(client.get("/runs", headers={"Authorization": "Bearer nope"}), 401)
    assert _one_line(client.get("/runs", headers={"Authorization": "Basic abc"}), 401)
    r = client.post("/runs", json=RUN_BODY, headers={"Authorization": "Bearer x", **KEY})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    detail = _one_line(client.post("/runs/R1/cancel", headers=auth("viewer")), 403)
    assert detail == "token 'board-tv' (viewer) may not cancel"
    assert _one_line(client.post("/runs/R1/cancel", headers=auth("planner")), 403)
    r = client.put("/runs/R1/priority", json={"priority": 1}, headers=auth("viewer"))
    assert "may not prioritise" in _one_line(r, 403)
    _nothing_changed(client)


def test_bodies(client: TestClient) -> None:
    h = {**auth("planner"), **KEY}
    assert "Idempotency-Key" in _one_line(client.post("/runs", json=RUN_BODY,
                                                      headers=auth("planner")), 400)  # fmt: skip
    bad_key = {**auth("planner"), "Idempotency-Key": "../x"}
    assert _one_line(client.post("/runs", json=RUN_BODY, headers=bad_key), 400)
    assert _one_line(client.post("/runs", json={**RUN_BODY, "colour": "red"}, headers=h),
                     422) == "unknown field 'colour'"  # fmt: skip
    malformed = client.post("/runs", content=b'{"sku": ', headers={
        **h, "Content-Type": "application/json"})  # fmt: skip
    assert "JSON" in _one_line(malformed, 422)
    assert "quantity" in _one_line(client.post("/runs", json={**RUN_BODY, "quantity": 0},
                                               headers=h), 422)  # fmt: skip
    assert "routing" in _one_line(client.post("/runs", json={**RUN_BODY, "routing": ["weld"]},
                                              headers=h), 422)  # fmt: skip
    naive = {**RUN_BODY, "due": "2026-12-24T12:00:00"}
    assert "due" in _one_line(client.post("/runs", json=naive, headers=h), 422)
    over = {**RUN_BODY, "quantity": 300, "edition_size": 250}
    assert "edition" in _one_line(client.post("/runs", json=over, headers=h), 422)
    big = {**RUN_BODY, "title": "x" * 5000}
    assert "over 4096 bytes" in _one_line(client.post("/runs", json=big, headers=h), 413)

    def chunks():
        yield b'{"sku": "'
        yield b"A" * 5000
        yield b'"}'

    streamed = client.post("/runs", content=chunks(), headers={
        **h, "Content-Type": "application/json"})  # fmt: skip
    assert _one_line(streamed, 413)
    r = client.put("/runs/R1/priority", json={"priority": 1, "why": "x"}, headers=auth("planner"))
    assert _one_line(r, 422) == "unknown field 'why'"
    _nothing_changed(client)


def test_paths(client: TestClient) -> None:
    for path in ("/trace/..%2F..%2Fetc%2Fpasswd", "/trace/a%2F..%2Fb", "/trace/%2Fetc",
                 "/trace/a%00b", "/trace/..", "/trace/a%5C..%5Cb"):  # fmt: skip
        r = client.get(path, headers=auth("viewer"))
        assert r.status_code in (400, 404, 422), path
        if r.status_code == 422:
            assert "no '..'" in _one_line(r, 422)
    assert _one_line(client.get("/trace/..%2F..%2Fetc%2Fpasswd", headers=auth("viewer")), 422)
    assert "run_id" in _one_line(client.get("/runs/R%20x", headers=auth("viewer")), 422)
    assert _one_line(client.post("/runs/..%2Fx/cancel", headers=auth("supervisor")), 404)
    _nothing_changed(client)


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert {"/runs", "/runs/{run_id}", "/runs/{run_id}/cancel", "/runs/{run_id}/priority",
            "/trace/{query}", "/batches/{batch}"} <= set(doc["paths"])  # fmt: skip
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    schema = doc["components"]["schemas"]["RunIn"]
    assert schema["additionalProperties"] is False


def test_config_refuses_what_would_not_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ApiToken(name="a", role="viewer")
    with pytest.raises(ValueError, match="exactly one"):
        ApiToken(name="a", role="viewer", sha256=sha("x"), env="X")
    with pytest.raises(ValueError, match="go together"):
        ApiConfig(cert_file=Path("a.crt"))

    def site(token: ApiToken) -> SiteConfig:
        return SiteConfig(site=SiteInfo(id="s", name="s"),
                          operators=[Operator(name="Ada", badge="OP-ADA", role="machinist")],
                          api=ApiConfig(state_db=tmp_path / "a.db", tokens=[token]))  # fmt: skip

    with pytest.raises(AuthConfigError, match="scheduler would refuse"):
        create_app(site(ApiToken(name="b", role="supervisor", sha256=sha("x"), badge="OP-ADA")))
    with pytest.raises(AuthConfigError, match="not an operator"):
        create_app(site(ApiToken(name="b", role="planner", sha256=sha("x"), badge="OP-NO")))
    with pytest.raises(AuthConfigError, match="CELLCTL_NOPE is not set"):
        create_app(site(ApiToken(name="b", role="viewer", env="CELLCTL_NOPE")), environ={})
    toml = tmp_path / "site.toml"
    toml.write_text(
        '[site]\nid = "s"\nname = "S"\n[api]\nport = 9000\n[[api.tokens]]\nname = "shop"\n'
        f'role = "viewer"\nsha256 = "{sha("t")}"\n[[api.webhooks]]\nurl = "https://x.test/h"\n'
    )
    loaded = load_site(toml)
    assert loaded.api is not None and loaded.api.port == 9000
    assert loaded.api.webhooks[0].events == ["run_done", "run_held"]
