"""CORS for browser frontends on other origins: the allowed origins come from settings."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from settings import Settings

# What a client sends: the key, a JSON body, the response types it accepts, and the
# Idempotency-Key of a REST POST /process that may be retried.
ALLOWED_HEADERS = ("X-API-Key", "Content-Type", "Accept", "Idempotency-Key")


def cors_middleware(settings: Settings) -> list[Middleware]:
    """``JOBGRAPH_CORS_ORIGINS=https://a.example,https://b.example``; none configured, no CORS."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=list(ALLOWED_HEADERS),
            # Keys travel in a header, never in cookies: no credentials mode needed.
            allow_credentials=False,
            max_age=600,
        )
    ]
