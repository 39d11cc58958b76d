"""The typed per-request context every resolver receives."""

from __future__ import annotations

import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.errors import Unauthenticated
from domain.principal import Principal, Scope
from domain.rate_limit import RateLimiter
from resolvers.budget import ResponseBudget
from resolvers.loaders import Loaders
from settings import Settings
from storage.store import Store

# A WebSocket's context serves every operation on the socket, each run in a task of its own:
# each operation's budget lives in its task (and the tasks it starts), next to the context it
# belongs to.
_OPERATION_BUDGET: ContextVar[tuple[Context, ResponseBudget] | None] = ContextVar(
    "jobgraph_operation_budget", default=None
)


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
    # A cohort's producer (server.cohorts): its log streams start where the log ends, since
    # each member reads its own backfill.
    live_edge_only: bool = False
    _loaders: Loaders | None = field(default=None, repr=False)
    _budget: ResponseBudget | None = field(default=None, repr=False)

    @property
    def loaders(self) -> Loaders:
        """This request's DataLoaders, made on first use: most requests never batch anything
        (job(id) reads with lookahead), and making three loaders costs every request."""
        if self._loaders is None:
            # The loaders reach this context weakly: it holds them (see ``Loaders``).
            context = weakref.ref(self)
            self._loaders = Loaders(self.store, lambda: _alive(context).budget)
        return self._loaders

    @property
    def budget(self) -> ResponseBudget:
        """What the running operation may still answer of log text (``resolvers.budget``):
        per request on HTTP, per operation on a WebSocket (``begin_operation``)."""
        if isinstance(self.request, WebSocket):
            found = _OPERATION_BUDGET.get()
            if found is None or found[0] is not self:
                found = (self, self._new_budget())
                _OPERATION_BUDGET.set(found)
            return found[1]
        if self._budget is None:
            self._budget = self._new_budget()
        return self._budget

    def begin_operation(self) -> None:
        """A WebSocket operation starts, in its own task: it gets a budget of its own before
        any of its fields runs (fields run in tasks of their own, which share it)."""
        if isinstance(self.request, WebSocket):
            _OPERATION_BUDGET.set((self, self._new_budget()))

    def _new_budget(self) -> ResponseBudget:
        settings = self.settings
        return ResponseBudget(lines=settings.max_response_lines, bytes=settings.max_response_bytes)

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


def _alive(context: weakref.ref[Context]) -> Context:
    found = context()
    if found is None:  # its loaders run within its request: it cannot be gone
        raise RuntimeError("a request's loaders outlived its context")
    return found
