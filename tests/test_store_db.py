"""The two statement executors agree: the same Core statement gives the same rows and errors
through SQLAlchemy (PostgreSQL's path) and compiled on the raw sqlite3 connection (SQLite's)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import bindparam, create_engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from relaybox.store.db import AlchemyDb, SqliteDb
from relaybox.store.migrate import upgrade
from relaybox.store.schema import request_keys, routes

_BY_NAME = select(routes).where(routes.c.route == bindparam("route"))


def _both(tmp_path: Path) -> tuple[AlchemyDb, SqliteDb]:
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    conn = engine.connect()
    upgrade(conn)
    raw = sqlite3.connect(tmp_path / "b.db", isolation_level=None)
    engine_b = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with engine_b.begin() as c:
        upgrade(c)
    engine_b.dispose()
    return AlchemyDb(conn), SqliteDb(raw)


def test_same_rows_counts_and_keys(tmp_path: Path) -> None:
    for db in _both(tmp_path):
        for name in ("a@00000001", "b@00000002"):
            db.run(insert(routes), {"route": name, "secret": "s", "enabled": True, "created_at": 1.5})
        assert tuple(db.first(_BY_NAME, {"route": "a@00000001"}) or ()) == ("a@00000001", "s", 1, 1.5, 0)
        assert db.first(_BY_NAME, {"route": "nobody@00000000"}) is None
        # Values inside the statement (built per call) and an IN list.
        assert db.run(update(routes).where(routes.c.route == "b@00000002").values(secret="t")) == 1
        rows = db.all(select(routes.c.secret).where(routes.c.route.in_(["a@00000001", "b@00000002"])))
        assert sorted(r[0] for r in rows) == ["s", "t"]
        assert db.run(delete(routes).where(routes.c.route.in_(["a@00000001", "x"]))) == 1


def test_statements_of_one_shape_share_a_compiled_form_but_not_their_values(tmp_path: Path) -> None:
    """SQLite compiles a statement shape once (by SQLAlchemy's cache key): statements built per
    call with other literal values, and IN lists of other lengths, must still get their own."""
    for db in _both(tmp_path):
        names = [f"r{i}@0000000{i}" for i in range(5)]
        for i, name in enumerate(names):
            db.run(insert(routes).values(route=name, secret=f"s{i}", enabled=i % 2 == 0, created_at=float(i)))
        for i, name in enumerate(names):
            row = db.first(select(routes.c.secret).where(routes.c.route == name, routes.c.created_at == float(i)))
            assert row is not None and row[0] == f"s{i}"
        for n in (1, 3, 5, 2):
            rows = db.all(select(routes.c.route).where(routes.c.route.in_(names[:n])).order_by(routes.c.route))
            assert [r[0] for r in rows] == names[:n]
        rows = db.all(select(routes.c.route).where(routes.c.route.in_(names), routes.c.enabled.is_(True)))
        assert sorted(r[0] for r in rows) == [names[0], names[2], names[4]]


def test_errors_are_sqlalchemy_errors(tmp_path: Path) -> None:
    for db in _both(tmp_path):
        db.run(insert(request_keys), {"key": "k", "expires_at": 1.0})
        with pytest.raises(IntegrityError):
            db.run(insert(request_keys), {"key": "k", "expires_at": 2.0})
    raw = sqlite3.connect(tmp_path / "empty.db", isolation_level=None)
    with pytest.raises(OperationalError):
        SqliteDb(raw).first(_BY_NAME, {"route": "a@00000001"})  # no such table


def test_sqlite_wal_is_checkpointed_off_the_loop(tmp_path: Path) -> None:
    """SQLite's auto-checkpoint is off (it would run inside a commit on the event loop); the
    store's sync thread checkpoints instead, so the WAL stays bounded under a stream of writes."""
    import asyncio

    from relaybox.store.sqlite import SqliteStore

    async def many_writes() -> int:
        store = SqliteStore(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
        await store.open()
        try:
            for i in range(1500):
                assert await store.add_route(f"r{i}@{i:08x}", "s" * 48, 1.0)
            return (tmp_path / "r.db-wal").stat().st_size
        finally:
            await store.close()

    wal_bytes = asyncio.run(many_writes())
    # Without checkpoints 1,500 one-row commits leave a WAL of about 1,500 pages (~6 MiB).
    assert wal_bytes < 3 * 1024 * 1024, wal_bytes
