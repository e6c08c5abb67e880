"""The `[api]` table of the site file: where the HTTP API listens, its tokens and roles,
TLS, and the webhooks it calls when a run is done or held.

    [api]
    port = 8640
    cert_file = "tls/api.crt"   # with key_file: HTTPS
    key_file = "tls/api.key"
    [[api.tokens]]
    name = "webshop"
    role = "planner"            # viewer: read; planner: + create, prioritise; supervisor: + cancel
    sha256 = "9f86d0…"          # sha256 of the token (hex); or env = "CELLCTL_WEBSHOP_TOKEN"
    badge = "OP-SAM"            # the operator the scheduler sees on prioritise/cancel
    [[api.webhooks]]
    url = "https://shop.example/hooks/cellctl"
    secret_env = "CELLCTL_HOOK_SECRET"   # HMAC-SHA256 key, from the environment
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ApiRole = Literal["viewer", "planner", "supervisor"]
ApiEvent = Literal["run_done", "run_held"]
_Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
_EnvName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]

# What each role may do beyond reading.
ROLE_RIGHTS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "planner": frozenset({"read", "create", "prioritise"}),
    "supervisor": frozenset({"read", "create", "prioritise", "cancel"}),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiToken(_Strict):
    name: _Ident
    role: ApiRole
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    env: _EnvName | None = None
    badge: _Ident | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ApiToken:
        if (self.sha256 is None) == (self.env is None):
            raise ValueError(
                f"token {self.name!r}: give sha256 (the token's hash) or env (a variable "
                "holding it), exactly one; never the token itself"
            )
        return self


class Webhook(_Strict):
    url: str = Field(pattern=r"^https?://[^\s]+$")
    secret_env: _EnvName | None = None
    events: list[ApiEvent] = Field(default=["run_done", "run_held"])
    attempts: int = Field(default=6, ge=1, le=20)


class ApiConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8640, ge=0, le=65535)
    cert_file: Path | None = None
    key_file: Path | None = None
    # The API's own state (idempotency keys), relative to the site file.
    state_db: Path = Path("var/api.db")
    max_body_bytes: int = Field(default=16_384, ge=256, le=1_048_576)
    # Seconds a historian answer is kept (dropped at once by an event naming its run,
    # batch or serial); 0 keeps none. cellctl/api/answer_cache.py says why.
    answer_cache_s: float = Field(default=2.0, ge=0, le=60)
    tokens: list[ApiToken] = Field(default_factory=list)
    webhooks: list[Webhook] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> ApiConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("api: cert_file and key_file go together (both for HTTPS)")
        names = [t.name for t in self.tokens]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"api: token name {sorted(dup)[0]!r} appears twice")
        return self
