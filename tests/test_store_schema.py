"""The Alembic migrations build exactly the schema declared in store/schema.py."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

from relaybox.store.migrate import upgrade
from relaybox.store.schema import metadata


def test_migrations_match_schema(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        upgrade(conn)
    insp = inspect(engine)
    assert set(insp.get_table_names()) == set(metadata.tables) | {"alembic_version"}
    for name, table in metadata.tables.items():
        assert {c["name"] for c in insp.get_columns(name)} == {c.name for c in table.columns}, name
        declared = {i.name for i in table.indexes}
        migrated = {i["name"] for i in insp.get_indexes(name)}
        assert declared <= migrated, name
    with engine.begin() as conn:
        upgrade(conn)  # running again is a no-op
    engine.dispose()
