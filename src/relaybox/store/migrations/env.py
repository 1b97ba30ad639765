"""Alembic environment: relaybox runs migrations on a connection it hands over
(``relaybox.store.migrate``), so the same code serves SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context

from relaybox.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running alembic by hand
    raise RuntimeError("run migrations with `relaybox db upgrade` (relaybox.store.migrate)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
