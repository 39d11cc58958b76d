"""A PostgreSQL connection that dies in the middle of a statement is UNAVAILABLE (the
database went away), not an internal error; a real error keeps its own type."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc, text
from sqlalchemy.engine import make_url

from domain.errors import Unavailable
from settings import Settings
from storage.database import Database
from tests.pg_proxy import TcpProxy


async def test_connection_cut_mid_statement_is_unavailable(pg_database: str) -> None:
    url = make_url(pg_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    db = Database(Settings(database_url=proxied))
    try:
        assert await db.read(lambda conn: conn.execute(text("SELECT 1")).scalar_one()) == 1
        for run in (db.read, db.write):
            statement = run(lambda conn: conn.execute(text("SELECT pg_sleep(5)")).scalar_one())
            task = asyncio.ensure_future(statement)
            await asyncio.sleep(0.5)  # the statement is running on the server
            await proxy.stop()
            with pytest.raises(Unavailable):
                await asyncio.wait_for(task, 10)
            await proxy.start()
        # Back: the pool replaces the dead connections.
        assert await db.read(lambda conn: conn.execute(text("SELECT 2")).scalar_one()) == 2
        with pytest.raises(exc.ProgrammingError):
            await db.read(lambda conn: conn.execute(text("SELECT no_such_column")))
    finally:
        await db.dispose()
        await proxy.stop()
