"""Each tenant's webhook signing secret (``whsec_`` + base64 of 32 random bytes), encrypted.

Why encrypted and not hashed, unlike API keys: an API key is only ever *checked*, so its hash
is enough; a signing secret is *used* — every delivery computes an HMAC with it — so the server
needs the secret itself back. It is stored encrypted with Fernet (AES-128-CBC plus
HMAC-SHA256, from ``cryptography``) under a key that never enters the database:
``JOBGRAPH_WEBHOOK_SECRET_KEY`` (comma-separated keys: the first encrypts, any decrypts, so
the key itself can be rotated), or else a key file made on first use with mode 0600. A copy
of the database alone, a backup or a replica, then reveals no secret.

``--rotate`` makes a new secret and keeps the old one signing beside it for
``JOBGRAPH_WEBHOOK_ROTATION_HOURS``, so receivers can switch without missing a delivery.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from settings import Settings
from storage.coltypes import utc_from_stored, utcnow
from storage.database import Database
from storage.tables import webhook_secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
_SECRET_BYTES = 32
log = logging.getLogger("jobgraph.webhooks")


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with the configured keys."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


class SecretCipher:
    """Encrypts and decrypts secrets with the configured Fernet keys."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is required")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretCipher:
        configured = settings.webhook_secret_key
        if configured is not None:
            keys = [part.strip() for part in configured.get_secret_value().split(",")]
            try:
                return cls([key.encode("ascii") for key in keys if key])
            except ValueError as error:
                raise ValueError(
                    "JOBGRAPH_WEBHOOK_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes "
                    f"each, comma-separated): {error}"
                ) from None
        return cls([_key_file(Path(settings.webhook_secret_key_file), settings)])

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("ascii")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretUnreadable(
                "the webhook signing secret does not decrypt with this process's key; every "
                "process needs the same JOBGRAPH_WEBHOOK_SECRET_KEY (or key file)"
            ) from None


def _key_file(path: Path, settings: Settings) -> bytes:
    """The key in ``path``, made on first use. Written to a temporary file and linked into
    place, so processes starting together all end up with the one key that won."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(Fernet.generate_key())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        if settings.is_production:
            log.warning(
                "webhook secrets are encrypted with a key file made at %s; set "
                "JOBGRAPH_WEBHOOK_SECRET_KEY so that every host uses the same key",
                path,
            )
    return path.read_bytes().strip()


def _insert_if_missing(conn: Connection, values: dict[str, object]) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(webhook_secrets).values(values).on_conflict_do_nothing())


class WebhookSecretStore:
    """``store.webhook_secrets``. The cipher is made on first use, so that nothing (a key
    file) is made by a process that never touches a secret."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cipher: SecretCipher | None = None

    @property
    def cipher(self) -> SecretCipher:
        if self._cipher is None:
            self._cipher = SecretCipher.from_settings(self._db.settings)
        return self._cipher

    async def get_or_create(self, *, tenant: str) -> str:
        """The tenant's current secret; made (once, whoever asks first) when it has none."""
        candidate = self.cipher.encrypt(new_secret())

        def work(conn: Connection) -> str:
            _insert_if_missing(
                conn, {"tenant": tenant, "secret": candidate, "created_at": utcnow()}
            )
            return str(
                conn.execute(
                    select(webhook_secrets.c.secret).where(webhook_secrets.c.tenant == tenant)
                ).scalar_one()
            )

        return self.cipher.decrypt(await self._db.write(work))

    async def rotate(self, *, tenant: str) -> str:
        """A new current secret; the old one keeps signing for the rotation window."""
        await self.get_or_create(tenant=tenant)
        fresh = new_secret()
        token = self.cipher.encrypt(fresh)
        now = utcnow()
        until = now + timedelta(hours=self._db.settings.webhook_rotation_hours)

        def work(conn: Connection) -> None:
            current = conn.execute(
                select(webhook_secrets.c.secret)
                .where(webhook_secrets.c.tenant == tenant)
                .with_for_update()
            ).scalar_one()
            conn.execute(
                update(webhook_secrets)
                .where(webhook_secrets.c.tenant == tenant)
                .values(secret=token, previous=current, previous_until=until, rotated_at=now)
            )

        await self._db.write(work)
        return fresh

    async def signing_secrets(self, *, tenant: str) -> list[str]:
        """The secrets a delivery is signed with now: the current one, then the previous one
        while its rotation window lasts."""
        row = await self._db.read(
            lambda conn: conn.execute(
                select(
                    webhook_secrets.c.secret,
                    webhook_secrets.c.previous,
                    webhook_secrets.c.previous_until,
                ).where(webhook_secrets.c.tenant == tenant)
            ).first()
        )
        if row is None:
            return [await self.get_or_create(tenant=tenant)]
        current, previous, previous_until = row
        found = [self.cipher.decrypt(current)]
        until: datetime | None = utc_from_stored(previous_until)
        if previous is not None and until is not None and until > utcnow():
            found.append(self.cipher.decrypt(previous))
        return found
