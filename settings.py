"""The one configuration class: every knob is a ``JOBGRAPH_*`` variable (or a ``.env`` line)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.webhooks import DEFAULT_SCHEDULE, parse_schedule

# What graphql-core's overlapping-fields rule may spend on one document (its comparisons of
# same-named fields); realistic documents spend a few, and a hostile one stops here quickly.
DEFAULT_MAX_VALIDATION_WORK = 10_000


class Settings(BaseSettings):
    """jobgraph's configuration.

    >>> Settings(database_url="sqlite:///tmp/x.db").database_url
    'sqlite+aiosqlite:///tmp/x.db'
    """

    model_config = SettingsConfigDict(
        env_prefix="JOBGRAPH_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
    )

    env: Literal["development", "production", "test"] = "development"
    # The speed layer (engine/): off runs the stock Strawberry, graphql-core, uvicorn and
    # SQLAlchemy paths everywhere, with the same answers.
    fast_paths: bool = True
    database_url: str = "sqlite+aiosqlite:///./var/jobgraph.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # None: JSON lines in production, readable text otherwise.
    log_format: Literal["json", "text"] | None = None
    # One line per HTTP request from uvicorn (its cost: docs/performance.md).
    access_log: bool = True

    # Reading and limits.
    max_tail: int = Field(default=10_000, ge=1)
    max_items_per_job: int = Field(default=1000, ge=1)
    max_log_batch: int = Field(default=1000, ge=1)
    max_log_message_bytes: int = Field(default=16_384, ge=64)
    max_page_size: int = Field(default=100, ge=1)
    # What one response may carry of log text (logTail, logs, REST log_tail): UTF-8 bytes, each
    # line counting its newline, and lines; per operation (per event of a subscription).
    max_response_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    max_response_lines: int = Field(default=50_000, ge=100)

    # Lifecycle.
    max_attempts: int = Field(default=3, ge=1)
    default_lease_seconds: int = Field(default=60, ge=1)
    max_lease_seconds: int = Field(default=3600, ge=1)
    sweep_interval_seconds: float = Field(default=1.0, gt=0)

    # Live updates: events a subscriber may lag behind before it is dropped (told where to
    # resume), and how long shutdown waits for open subscriptions to complete.
    live_queue_size: int = Field(default=1000, ge=1)
    live_shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    # How change events reach the other server processes: PostgreSQL LISTEN/NOTIFY by default
    # on PostgreSQL; a redis:// URL for Redis pub/sub (on either database). Each job's events
    # are merged for broker_window_seconds before they leave.
    broker_url: str | None = Field(default=None, pattern=r"^(rediss?://.+)?$")  # "" means unset
    broker_channel: str = Field(default="jobgraph:events", min_length=1, pattern=r"^\S+$")
    broker_window_seconds: float = Field(default=0.05, ge=0, le=1)

    # Database tuning.
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    # PostgreSQL: how long opening a connection, and one statement, may take before the
    # request is UNAVAILABLE; a database that stops answering (a link dropping packets) gives
    # no other sign (docs/operations.md). Migrations run without the statement timeout.
    db_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=3.0, gt=0)
    db_pool_size: int = Field(default=10, ge=1)
    # Threads that run SQLite's single-statement reads (pages of jobs) off the event loop with
    # the fast paths on. SQLite runs without the GIL, but every thread that takes it back
    # contends with the loop, so one is the default (docs/performance.md).
    sqlite_reader_threads: int = Field(default=1, ge=1, le=64)
    # Allocations between young-generation collections in a serving process with the fast
    # paths on; 0: Python's default (engine.gc).
    gc_gen0_threshold: int = Field(default=10_000, ge=0)

    # Documents sent by reference (server.persisted): a manifest of trusted documents
    # ({"<sha256 hex>": "<text>"}, GraphQL Code Generator's format), whether only trusted
    # documents run (text is refused), whether admin keys may still send text, and how long a
    # browser may reuse an answer to a GET by hash.
    trusted_documents: str | None = None
    trusted_documents_only: bool = False
    trusted_documents_admin_bypass: bool = False
    persisted_query_max_age: int = Field(default=5, ge=0)
    # Webhooks (docs/webhooks.md). Private, loopback and link-local receivers are refused
    # unless allowed here: that is for development and tests, never for production.
    webhook_allow_private: bool = False
    # One attempt, connection to last byte of the answer's head.
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    # At most one PROGRESS call per job per interval; the last one is sent when it ends.
    webhook_progress_interval_seconds: float = Field(default=5.0, ge=0)
    # After `webhooks secret --rotate`, deliveries carry the old secret's signature too.
    webhook_rotation_hours: float = Field(default=24.0, ge=0)
    # Delays before each attempt: "0,5s,5m,30m,2h,5h,10h,14h,20h,24h" (Standard Webhooks).
    webhook_retry_schedule: Annotated[tuple[float, ...], NoDecode] = Field(
        default=parse_schedule(DEFAULT_SCHEDULE)
    )
    # Each retry delay is spread by up to this share of itself, either way.
    webhook_retry_jitter: float = Field(default=0.2, ge=0, le=1)
    # Attempts in flight at once in this process; 0: this process sends none.
    webhook_concurrency: int = Field(default=8, ge=0, le=256)
    # How often a process looks for deliveries that other processes queued or that fell due.
    webhook_poll_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # Fernet keys (comma-separated, the first encrypts) for the tenants' signing secrets at
    # rest; unset, a key file is made on first use (docs/webhooks.md#secrets).
    webhook_secret_key: SecretStr | None = None
    webhook_secret_key_file: str = "./var/webhook-secret.key"  # noqa: S105 (a path)

    # NoDecode: the variable is a comma-separated list (JSON lists are accepted by the validator).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Hardening: bounds on what one request may ask for (docs/security.md).
    max_query_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    max_tokens: int = Field(default=8000, ge=100)
    # A document's size in UTF-8 bytes, checked before it is parsed: any client's document
    # fits with room to spare; the token cap above bounds the parser, this one comments and
    # whitespace (which the lexer does not count as tokens) and every cache keyed by text.
    max_query_bytes: int = Field(default=128 * 1024, ge=1024)
    max_validation_work: int = Field(default=DEFAULT_MAX_VALIDATION_WORK, ge=100)
    max_list_length: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_ws_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_subscriptions_per_connection: int = Field(default=100, ge=1)
    # Open WebSocket connections per API key, per process; 0: no cap. A key shared by a
    # frontend's users opens one per browser tab (docs/security.md).
    max_ws_connections_per_key: int = Field(default=256, ge=0)
    # How often each process re-checks the keys of its open sockets and multipart streams
    # (one statement for all of them): a revoked key's connections end within this.
    key_recheck_seconds: float = Field(default=1.0, gt=0, le=60)
    # A WebSocket (either subprotocol) that sends no valid connection_init within this many
    # seconds is closed (4408): an idle unauthenticated socket holds a descriptor.
    ws_init_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # How long reading one request body may take, first byte to last, before the answer is
    # 408 (server.body_timeout): a client that trickles a body holds a connection meanwhile.
    body_read_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # uvicorn (serve): how long an idle keep-alive connection stays open between requests, and
    # the connections and tasks a process takes at once before answering 503 (0: no cap;
    # keep it below the process's descriptor limit). uvicorn has no timeout for a request's
    # headers: that is the reverse proxy's (docs/operations.md#the-front).
    keep_alive_timeout_seconds: int = Field(default=5, ge=1, le=300)
    max_concurrency: int = Field(default=0, ge=0)
    # permessage-deflate costs a compressor per socket (tens of KiB) and a compression of every
    # message for every socket: off unless asked for.
    ws_per_message_deflate: bool = False
    # Per API key, per process; 0 turns rate limiting off.
    rate_limit_per_second: float = Field(default=1000.0, ge=0)
    rate_limit_burst: int = Field(default=2000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        # People paste the URLs their other tools use; map them onto the async drivers we ship.
        for plain, async_form in (
            ("sqlite://", "sqlite+aiosqlite://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgresql+psycopg://", "postgresql+asyncpg://"),
            ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ):
            if value.startswith(plain):
                return async_form + value[len(plain) :]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        return parse_schedule(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _a_line_fits_a_response(self) -> Settings:
        # A page of log lines must be able to hold at least its first line, or a client that
        # pages while hasMore is true would never move on.
        if self.max_response_bytes <= self.max_log_message_bytes:
            raise ValueError("max_response_bytes must be larger than max_log_message_bytes")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.env == "production"
