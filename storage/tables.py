"""SQLModel table models. They stay inside ``storage``: the API is built from records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.coltypes import UTCDateTime


def _utc(*, nullable: bool, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class JobRow(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        # Listing: a tenant's jobs newest first, cursor on (created_at, id).
        Index("ix_jobs_tenant_created", "tenant", "created_at", "id"),
        # Claiming: the oldest pending job.
        Index("ix_jobs_status_created", "status", "created_at"),
        # Lease sweeping: running jobs by lease end.
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
        UniqueConstraint("tenant", "idempotency_key", name="uq_jobs_tenant_idempotency_key"),
    )

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=128)
    status: str = Field(max_length=16)
    progress: int = 0
    attempt: int = 1
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    updated_at: datetime = Field(sa_column=_utc(nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    error: str | None = Field(default=None, sa_type=Text)
    worker_id: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # The lease length the worker claimed with; every heartbeat renews the lease by as much.
    lease_seconds: int | None = None
    cancel_requested: bool = False
    # The last assigned log seq; the next batch takes last_seq+1.. under the row's write lock.
    last_seq: int = 0
    item_count: int = 0
    idempotency_key: str | None = Field(default=None, max_length=200)


class JobItemRow(SQLModel, table=True):
    __tablename__ = "job_items"

    job_id: str = Field(foreign_key="jobs.id", primary_key=True, max_length=36, ondelete="CASCADE")
    position: int = Field(primary_key=True)
    platform: str = Field(max_length=16)
    code: str = Field(max_length=64)
    status: str = Field(max_length=16)
    error: str | None = Field(default=None, sa_type=Text)


class LogLineRow(SQLModel, table=True):
    """One row per log line; the primary key (job_id, seq) is the index every tail read uses."""

    __tablename__ = "log_lines"

    job_id: str = Field(foreign_key="jobs.id", primary_key=True, max_length=36, ondelete="CASCADE")
    seq: int = Field(primary_key=True)
    timestamp: datetime = Field(sa_column=_utc(nullable=False))
    level: str = Field(max_length=16)
    message: str = Field(sa_type=Text)
    # The job's attempt (its run) when the line was appended, so a reader can tell runs apart.
    attempt: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    prefix: str = Field(max_length=16)
    # sha256 of the key: keys are 32 random bytes, so a fast hash loses nothing to guessing.
    key_hash: str = Field(max_length=64, unique=True)
    tenant: str = Field(max_length=128)
    scopes: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class TrustedDocumentRow(SQLModel, table=True):
    """A document this server runs by id (``documentId``), added with ``app.py documents``."""

    __tablename__ = "trusted_documents"

    # "sha256:<64 hex>" or a custom id without a colon.
    id: str = Field(primary_key=True, max_length=200)
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_column=_utc(nullable=False))


class JobWebhookRow(SQLModel, table=True):
    """A job's webhook, if it has one, and where its PROGRESS throttle stands."""

    __tablename__ = "job_webhooks"
    __table_args__ = (
        # The delivery worker's sweep for throttled PROGRESS calls that fell due.
        Index("ix_job_webhooks_progress_due", "progress_due_at"),
    )

    job_id: str = Field(foreign_key="jobs.id", primary_key=True, max_length=36, ondelete="CASCADE")
    tenant: str = Field(max_length=128)
    url: str = Field(max_length=2048)
    events: str = Field(max_length=100)  # comma-separated WebhookEvent names
    # Set when the receiver answered 410 Gone: nothing more is queued for this job.
    disabled_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    progress_sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    progress_value: int | None = None  # the progress of the last PROGRESS queued or held
    # A PROGRESS call held back by the throttle (its payload) and when it may go.
    progress_due_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    progress_payload: str | None = Field(default=None, sa_type=Text)


class WebhookDeliveryRow(SQLModel, table=True):
    """One attempt to deliver one message; the outbox and the delivery log in one table."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # Claiming: the due PENDING attempts, oldest first.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # A job's deliveries in order (Job.webhookDeliveries).
        Index("ix_webhook_deliveries_job", "job_id", "seq"),
        Index("ix_webhook_deliveries_message", "message_id"),
    )

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=36, unique=True)
    message_id: str = Field(max_length=40)  # the webhook-id header, the same on every attempt
    job_id: str = Field(foreign_key="jobs.id", max_length=36, ondelete="CASCADE")
    tenant: str = Field(max_length=128)
    event: str = Field(max_length=16)
    url: str = Field(max_length=2048)
    payload: str = Field(sa_type=Text)  # the exact body every attempt of the message sends
    attempt: int
    # The attempt's place in the retry schedule; None for a redelivery (one attempt, no retry).
    step: int | None = None
    status: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    attempted_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    duration_ms: float | None = None
    response_status: int | None = None
    error: str | None = Field(default=None, sa_type=Text)
    # A process sending the attempt holds it until locked_until; after that (it died), any
    # process may send it again.
    locked_by: str | None = Field(default=None, max_length=36)
    locked_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class WebhookSecretRow(SQLModel, table=True):
    """A tenant's signing secrets, encrypted (storage.webhook_secrets)."""

    __tablename__ = "webhook_secrets"

    tenant: str = Field(primary_key=True, max_length=128)
    secret: str = Field(sa_type=Text)
    # The secret before the last rotation, still signing until previous_until.
    previous: str | None = Field(default=None, sa_type=Text)
    previous_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    rotated_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


jobs = JobRow.__table__  # type: ignore[attr-defined]
job_items = JobItemRow.__table__  # type: ignore[attr-defined]
log_lines = LogLineRow.__table__  # type: ignore[attr-defined]
# A LogLineRecord's fields, in order.
LINE_COLUMNS = (
    log_lines.c.seq,
    log_lines.c.timestamp,
    log_lines.c.level,
    log_lines.c.message,
    log_lines.c.attempt,
)
api_keys = ApiKeyRow.__table__  # type: ignore[attr-defined]
trusted_documents = TrustedDocumentRow.__table__  # type: ignore[attr-defined]
job_webhooks = JobWebhookRow.__table__  # type: ignore[attr-defined]
webhook_deliveries = WebhookDeliveryRow.__table__  # type: ignore[attr-defined]
webhook_secrets = WebhookSecretRow.__table__  # type: ignore[attr-defined]
metadata = SQLModel.metadata
