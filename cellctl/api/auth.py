"""Bearer tokens with roles from the site file's `[api]` table.

The site file keeps a token's sha256 (or the name of an environment variable holding
it), never the token: a leaked site file does not give access."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cellctl.config.api import ROLE_RIGHTS, ApiConfig
from cellctl.domain.model import role_allows


class AuthConfigError(ValueError):
    """The `[api]` tokens cannot be used as written (a missing variable, a badge)."""


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    role: str
    badge: str | None

    def may(self, right: str) -> bool:
        return right in ROLE_RIGHTS[self.role]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# API right -> the operator right the scheduler checks on the token's badge.
_SCHEDULER_RIGHT = {"cancel": "cancel_run", "prioritise": "prioritise"}


class Tokens:
    def __init__(
        self, api: ApiConfig, environ: Mapping[str, str] | None = None, site: Any = None
    ) -> None:
        env = os.environ if environ is None else environ
        self._by_hash: dict[str, Caller] = {}
        for t in api.tokens:
            if t.badge is not None and site is not None:
                _check_badge(site, t.name, t.role, t.badge)
            if t.env is not None:
                value = env.get(t.env)
                if not value:
                    raise AuthConfigError(
                        f"api token {t.name!r}: the environment variable {t.env} is not set"
                    )
                digest = token_hash(value)
            else:
                digest = t.sha256 or ""
            self._by_hash[digest] = Caller(t.name, t.role, t.badge)

    def caller(self, authorization: str | None) -> Caller | None:
        """Who holds this `Authorization: Bearer …` header; None for no or a wrong token."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = token_hash(authorization[7:].strip())
        # Compare every hash in constant time: the time taken says nothing of which matched.
        found = None
        for known, caller in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                found = caller
        return found


def _check_badge(site: Any, name: str, role: str, badge: str) -> None:
    """Said at start, not at the first cancel: the scheduler would refuse the badge."""
    operator = site.operator(badge)
    if operator is None:
        raise AuthConfigError(f"api token {name!r}: badge {badge!r} is not an operator")
    for right in sorted(ROLE_RIGHTS[role] & _SCHEDULER_RIGHT.keys()):
        if not role_allows(operator.role, _SCHEDULER_RIGHT[right]):
            raise AuthConfigError(
                f"api token {name!r} ({role}) may {right}, but its badge {badge} "
                f"({operator.role}) may not: the scheduler would refuse it"
            )
