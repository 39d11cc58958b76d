"""The typed per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.errors import Unauthenticated
from domain.principal import Principal, Scope
from domain.rate_limit import RateLimiter
from resolvers.loaders import Loaders
from settings import Settings
from storage.store import Store


@dataclass
class Context:
    """Built per HTTP request (or per WebSocket connection) by ``get_context``."""

    store: Store
    settings: Settings
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    principal: Principal | None = None
    # Filled by Strawberry from the WebSocket ``connection_init`` payload.
    connection_params: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Shared by every request of one app (set by the view); None at the schema level: no limit.
    rate_limiter: RateLimiter | None = None
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def loaders(self) -> Loaders:
        """This request's DataLoaders, made on first use: most requests never batch anything
        (job(id) reads with lookahead), and making three loaders costs every request."""
        if self._loaders is None:
            self._loaders = Loaders(self.store)
        return self._loaders

    def fresh_loaders(self) -> None:
        """Drop the DataLoader caches (a WebSocket context outlives many events)."""
        self._loaders = None

    @classmethod
    def for_store(cls, store: Store, settings: Settings, **kwargs: Any) -> Context:
        return cls(store=store, settings=settings, **kwargs)

    def require(self, scope: Scope | None = None) -> Principal:
        """The caller's principal, checked for ``scope`` (FORBIDDEN when the key lacks it)."""
        if self.principal is None:
            raise Unauthenticated("an API key is required")
        if scope is not None:
            self.principal.require(scope)
        return self.principal
