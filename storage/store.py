"""The store: the one object the API layers talk to, grouping the narrow per-table stores."""

from __future__ import annotations

from storage.database import Database
from storage.documents import DocumentStore
from storage.events import EventPublisher, NullPublisher
from storage.follow import FollowReads
from storage.jobs import JobStore
from storage.keys import KeyStore
from storage.lifecycle import LifecycleStore
from storage.listing import ListingStore
from storage.logs import LogStore
from storage.retention import RetentionStore
from storage.webhook_deliveries import WebhookStore
from storage.webhook_outbox import Outbox
from storage.webhook_secrets import WebhookSecretStore


class Store:
    """``store.jobs``, ``store.logs``, ``store.keys`` over one :class:`Database`."""

    def __init__(self, db: Database, publisher: EventPublisher | None = None) -> None:
        self.db = db
        # Every write method publishes its change here after the transaction commits.
        self.publisher: EventPublisher = publisher or NullPublisher()
        self.jobs = JobStore(db, self.publisher)
        self.logs = LogStore(db)
        self.keys = KeyStore(db)
        self.follow = FollowReads(db)
        # Lifecycle changes write their webhook deliveries through it, in their transactions.
        self.outbox = Outbox(progress_interval=db.settings.webhook_progress_interval_seconds)
        self.lifecycle = LifecycleStore(db, self.publisher, self.outbox)
        self.webhooks = WebhookStore(db, self.outbox)
        self.webhook_secrets = WebhookSecretStore(db)
        self.retention = RetentionStore(db)
        self.listing = ListingStore(db)
        self.documents = DocumentStore(db)
