"""Persistence: SQLModel tables, the database runner, migrations and the store."""
