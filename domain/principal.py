"""Who is calling: the API key behind a request, its tenant and what it may do."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from domain.errors import Forbidden


class Scope(enum.StrEnum):
    READ = "read"
    SUBMIT = "submit"
    WORK = "work"
    ADMIN = "admin"

    @classmethod
    def parse_list(cls, text: str) -> frozenset[Scope]:
        """``"read, submit"`` -> ``{Scope.READ, Scope.SUBMIT}``; unknown names raise ValueError."""
        names = [part.strip().lower() for part in text.split(",") if part.strip()]
        if not names:
            raise ValueError("at least one scope is required")
        try:
            return frozenset(cls(name) for name in names)
        except ValueError:
            known = ", ".join(scope.value for scope in cls)
            raise ValueError(f"unknown scope in {text!r}; known scopes: {known}") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated API key. ``admin`` implies every scope and every tenant."""

    key_id: str
    name: str
    tenant: str
    scopes: frozenset[Scope]

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def has(self, scope: Scope) -> bool:
        return self.is_admin or scope in self.scopes

    def require(self, scope: Scope) -> None:
        if not self.has(scope):
            raise Forbidden(f"this API key lacks the '{scope.value}' scope")

    @property
    def tenant_filter(self) -> str | None:
        """The tenant whose jobs this key may see, or None for an admin key (all tenants)."""
        return None if self.is_admin else self.tenant
