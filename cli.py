"""The command line: ``python app.py serve|migrate|keys|webhooks|purge|bootstrap-key``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from domain.principal import Scope
from server.graceful import GracefulServer
from server.json_logs import log_config
from settings import Settings
from storage.coltypes import utcnow
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.retention import parse_age
from storage.store import Store
from storage.webhook_secrets import SecretUnreadable

_DEV_KEY_NAME = "development"
_SCOPES_HELP = """scopes:
  read    queries (job, jobs, me) and subscriptions
  submit  createJob, cancelJob, retryJob
  work    the worker mutations (claimJob, heartbeat, appendLogs, updateItem, completeJob, failJob)
  admin   everything, in every tenant

example:
  app.py keys create --name pipeline --scopes work"""
# `keys list` ends a prefix with this, so that nobody takes it for a whole key.
_ELLIPSIS = "…"


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}; got {value}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="jobgraph server and admin tool")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API (migrates first)")
    serve.add_argument("--host")
    # The same bounds as JOBGRAPH_PORT and JOBGRAPH_WORKERS (settings.Settings).
    serve.add_argument("--port", type=_int_between(0, 65535))
    serve.add_argument("--workers", type=_int_between(1, 64))
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one log line per request (default: JOBGRAPH_ACCESS_LOG, true)",
    )

    commands.add_parser("migrate", help="apply database migrations (Alembic) up to head")

    documents = commands.add_parser(
        "documents", help="trusted documents: the GraphQL documents run by documentId"
    ).add_subparsers(dest="documents_command", required=True)
    add = documents.add_parser(
        "add",
        help="trust a .graphql file (id: sha256 of its text) or every entry of a manifest",
        description="A .graphql file is trusted under sha256:<hex of its text> (or --id); a "
        'JSON manifest ({"<sha256 hex>": "<text>"}, GraphQL Code Generator\'s format) adds '
        "each entry. Prints each id added.",
    )
    add.add_argument("file", help="a .graphql document or a JSON manifest")
    add.add_argument("--id", help="a custom id (letters, digits, _ - .) for a .graphql file")
    documents.add_parser("list", help="one trusted document a line: its id and first line")
    remove = documents.add_parser("remove", help="stop trusting a document")
    remove.add_argument("id")
    commands.add_parser(
        "bootstrap-key", help="create and print a development key if the database has no key"
    )

    purge = commands.add_parser(
        "purge", help="delete finished jobs (items, log lines) older than an age, in batches"
    )
    purge.add_argument("--older-than", required=True, help="age of finished jobs: 30d, 12h, 90m")
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser(
        "create",
        help="create a key; prints the key alone on stdout",
        description="Create an API key and print it, alone, on stdout. It is shown this once: "
        "only its hash is stored.",
        epilog=_SCOPES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument(
        "--name", required=True, help="a label for the key, shown by `keys list` (required)"
    )
    create.add_argument(
        "--scopes",
        default="read",
        help="comma list of read, submit, work, admin (default: read)",
    )
    create.add_argument(
        "--tenant", default="default", help="whose jobs the key sees (default: default)"
    )
    keys.add_parser("list", help="one key a line: id, prefix, name, tenant, scopes, state")
    revoke = keys.add_parser(
        "revoke", help="revoke a key by its id or its prefix, as `keys list` prints them"
    )
    revoke.add_argument(
        "id", metavar="ID_OR_PREFIX", help="e.g. 3f2c… (id) or jg_AbC1234… (prefix)"
    )
    hooks = commands.add_parser("webhooks", help="webhook signing secrets").add_subparsers(
        dest="webhooks_command", required=True
    )
    secret = hooks.add_parser(
        "secret",
        help="print a tenant's signing secret (whsec_...) alone on stdout",
        description="Print the tenant's webhook signing secret, alone, on stdout; it is made "
        "on first use. Receivers verify deliveries with it (docs/webhooks.md).",
    )
    secret.add_argument("--tenant", default="default", help="whose secret (default: default)")
    secret.add_argument(
        "--rotate",
        action="store_true",
        help="make a new secret and print it; deliveries carry the old one's signature too "
        "for JOBGRAPH_WEBHOOK_ROTATION_HOURS (24)",
    )
    return parser


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "documents" and args.documents_command == "add":
        from domain.errors import AppError

        try:
            args.documents = _documents_to_add(args)
        except (OSError, ValueError, AppError) as error:
            print(f"cannot add {args.file}: {getattr(error, 'message', error)}", file=sys.stderr)
            return 2
    handlers: dict[str, Callable[[Store], Awaitable[int]]] = {
        "migrate": lambda store: _migrate(store),
        "bootstrap-key": lambda store: _bootstrap_key(store, settings),
        "keys": lambda store: _keys(store, args),
        "purge": lambda store: _purge(store, older_than=args.older_than, dry_run=args.dry_run),
        "documents": lambda store: _documents(store, args),
        "webhooks": lambda store: _webhook_secret(store, tenant=args.tenant, rotate=args.rotate),
    }
    return asyncio.run(_with_store(settings, handlers[args.command]))


def _documents_to_add(args: argparse.Namespace) -> dict[str, str]:
    """``documents add``'s file, read before the event loop starts: documents by id."""
    from pathlib import Path

    from server.persisted import document_id, load_manifest, sha256_hex

    path = Path(args.file)
    if path.suffix == ".json":
        return load_manifest(path)
    text = path.read_text()
    identifier = document_id(args.id) if args.id else f"sha256:{sha256_hex(text)}"
    return {identifier: text}


async def _documents(store: Store, args: argparse.Namespace) -> int:
    await upgrade_to_head(store.db)
    if args.documents_command == "list":
        for identifier, text in await store.documents.list():
            first = next((line.strip() for line in text.splitlines() if line.strip()), "")
            print(f"{identifier}\t{first[:80]}")
        return 0
    if args.documents_command == "remove":
        if await store.documents.remove(document_id=args.id):
            print(f"removed {args.id}", file=sys.stderr)
            return 0
        print(f"no trusted document {args.id}", file=sys.stderr)
        return 1
    documents: dict[str, str] = args.documents
    for identifier, text in documents.items():
        await store.documents.put(document_id=identifier, text=text)
        print(identifier)
    return 0


async def _with_store(settings: Settings, action: Callable[[Store], Awaitable[int]]) -> int:
    db = Database(settings)
    try:
        return await action(Store(db))
    finally:
        await db.dispose()


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    workers = args.workers or settings.workers
    access_log = settings.access_log if args.access_log is None else args.access_log
    asyncio.run(_with_store(settings, _migrate_quietly))
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": settings.log_level,
        "log_config": log_config(settings, access_log=access_log),
        # The app's middleware writes the access log (request id, operation, duration) instead.
        "access_log": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 10,
        # An idle keep-alive connection is closed after this; a request's headers and body are
        # bounded by the front and by server.edge_guard (docs/operations.md#the-front).
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        "limit_concurrency": settings.max_concurrency or None,
        # A WebSocket frame larger than this closes the connection (1009) before it is parsed.
        "ws_max_size": settings.max_ws_message_bytes,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        # With --workers, the supervisor restarts a worker that does not answer its health
        # check in time; importing the app on a busy machine can take longer than the 5 s default.
        "timeout_worker_healthcheck": 30,
        # With the fast paths on, a response's head and body leave in one write (engine.http).
        "http": "engine.http:CoalescingProtocol" if settings.fast_paths else "httptools",
    }
    if workers > 1:
        # uvicorn's supervisor builds its own servers: subscriptions end in the lifespan.
        uvicorn.run("app:app", **options)
    else:
        config = uvicorn.Config("app:app", **options)
        GracefulServer(config, grace=settings.live_shutdown_grace_seconds).run()
    return 0


async def _migrate_quietly(store: Store) -> int:
    await upgrade_to_head(store.db)
    return 0


async def _migrate(store: Store) -> int:
    await upgrade_to_head(store.db)
    print("database migrated to head", file=sys.stderr)
    return 0


async def _bootstrap_key(store: Store, settings: Settings) -> int:
    await upgrade_to_head(store.db)
    url = f"http://{settings.host}:{settings.port}/graphql"
    enter_key = (
        f"  GraphiQL: open {url} in a browser and paste the key into the X-API-Key bar "
        "above the editor.\n"
    )
    if await store.keys.count_active() > 0:
        # A key is shown once, when it is created: a later start can only say how to get one.
        print(
            "\n  jobgraph: this database already has API keys, so none is printed (a key is shown"
            " only when it is created).\n  To get one:\n\n"
            "    .venv/bin/python app.py keys create --name me --scopes read,submit,work\n\n"
            "  `keys list` shows the existing ones; `keys revoke ID_OR_PREFIX` revokes one.\n"
            + enter_key,
            file=sys.stderr,
        )
        return 0
    _, key = await store.keys.create(name=_DEV_KEY_NAME, tenant="default", scopes=list(Scope))
    print(
        "\n  jobgraph: created a development API key with every scope (shown once):\n\n"
        f"    {key}\n\n  Try it:\n\n"
        f"    curl -s {url} -H 'content-type: application/json' -H 'X-API-Key: {key}' \\\n"
        '      -d \'{"query":"{ me { name tenant scopes } }"}\'\n\n' + enter_key,
        file=sys.stderr,
    )
    return 0


async def _purge(store: Store, *, older_than: str, dry_run: bool) -> int:
    try:
        age = parse_age(older_than)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    cutoff = utcnow() - age
    report = await store.retention.purge(cutoff=cutoff, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    print(
        f"{verb} {report.jobs} jobs, {report.items} items, {report.log_lines} log lines "
        f"(finished before {cutoff.isoformat(timespec='seconds')})"
    )
    return 0


async def _webhook_secret(store: Store, *, tenant: str, rotate: bool) -> int:
    await upgrade_to_head(store.db)
    if not tenant.strip():
        print("error: --tenant must not be empty", file=sys.stderr)
        return 2
    try:
        if rotate:
            secret = await store.webhook_secrets.rotate(tenant=tenant)
        else:
            secret = await store.webhook_secrets.get_or_create(tenant=tenant)
    except (SecretUnreadable, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(secret)
    if rotate:
        hours = store.db.settings.webhook_rotation_hours
        print(
            f"rotated: deliveries are signed with the new and the old secret for {hours:g} h",
            file=sys.stderr,
        )
    return 0


async def _keys(store: Store, args: argparse.Namespace) -> int:
    # Key commands are often the first thing run against a new database: make it usable.
    await upgrade_to_head(store.db)
    if args.keys_command == "create":
        try:
            scopes = Scope.parse_list(args.scopes)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if not args.tenant.strip() or not args.name.strip():
            print("error: --name and --tenant must not be empty", file=sys.stderr)
            return 2
        _, key = await store.keys.create(name=args.name, tenant=args.tenant, scopes=scopes)
        print(key)
        return 0
    if args.keys_command == "list":
        for record in await store.keys.list():
            state = "revoked" if record.revoked_at else "active"
            print(
                f"{record.id}\t{record.prefix}{_ELLIPSIS}\t{record.name}\t{record.tenant}\t"
                f"{','.join(record.scopes)}\t{state}\t{record.created_at.isoformat()}"
            )
        return 0
    return await _revoke(store, args.id)


async def _revoke(store: Store, given: str) -> int:
    """Revoke the key whose id, or whose prefix as `keys list` prints it, is ``given``."""
    wanted = given.strip().removesuffix(_ELLIPSIS).removesuffix("...")
    matches = [key for key in await store.keys.list() if wanted in (key.id, key.prefix)]
    if not matches:
        print(f"error: no key has the id or prefix {given} (see `keys list`)", file=sys.stderr)
        return 1
    if len(matches) > 1:
        ids = ", ".join(key.id for key in matches)
        print(
            f"error: {len(matches)} keys have the prefix {wanted}; give an id: {ids}",
            file=sys.stderr,
        )
        return 1
    key = matches[0]
    label = f"{key.id} ({key.prefix}{_ELLIPSIS}, {key.name})"
    if key.revoked_at is None and await store.keys.revoke(key_id=key.id):
        print(f"revoked {label}", file=sys.stderr)
        return 0
    # Revoked before (or meanwhile, by someone else): what was asked for holds.
    print(f"{label} is already revoked", file=sys.stderr)
    return 0
