"""How a store function runs its statements: ``Db``, with one executor per driver.

Every query is written once, as a SQLAlchemy Core statement. PostgreSQL runs it through a
SQLAlchemy ``Connection`` (``AlchemyDb``). SQLite runs the same statement compiled once to its
SQL text and executed straight on the ``sqlite3`` connection (``SqliteDb``): with the page
cache warm a SQLite query costs a few microseconds, and SQLAlchemy's per-execution machinery
(execution context, events, result wrapping) was about 40% of the server's CPU per request in
the profile (docs/performance.md). Rows are plain tuples in both cases, in the column order of
the statement.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Params = Mapping[str, Any]
_NO_PARAMS: Params = {}
T = TypeVar("T")


class Db(Protocol):
    """One connection inside one unit of work (a read, or one write of a group commit)."""

    def first(self, stmt: Executable, params: Params = _NO_PARAMS) -> Sequence[Any] | None: ...

    def all(self, stmt: Executable, params: Params = _NO_PARAMS) -> Sequence[Sequence[Any]]: ...

    def run(self, stmt: Executable, params: Params = _NO_PARAMS) -> int:
        """Execute a write; the number of rows it touched."""
        ...

    def insert(self, stmt: Executable, params: Params) -> int:
        """Execute an INSERT; the autoincrement key of the new row."""
        ...

    def run_many(self, stmt: Executable, rows: Sequence[Params]) -> None:
        """Execute a write once per parameter set, as one batch (executemany)."""
        ...


class Runner(Protocol):
    """How a store runs a unit of work: ``SqlStore._q`` (a transaction of its own, or a read)."""

    async def __call__(self, fn: Callable[[Db], T], *, write: bool, fsync: bool = True) -> T: ...


class AlchemyDb:
    """Statements through a SQLAlchemy connection (PostgreSQL, migrations, tools)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def first(self, stmt: Executable, params: Params = _NO_PARAMS) -> Sequence[Any] | None:
        return self.conn.execute(stmt, dict(params)).first()

    def all(self, stmt: Executable, params: Params = _NO_PARAMS) -> Sequence[Sequence[Any]]:
        return self.conn.execute(stmt, dict(params)).all()

    def run(self, stmt: Executable, params: Params = _NO_PARAMS) -> int:
        return int(self.conn.execute(stmt, dict(params)).rowcount)

    def insert(self, stmt: Executable, params: Params) -> int:
        key = self.conn.execute(stmt, dict(params)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def run_many(self, stmt: Executable, rows: Sequence[Params]) -> None:
        if rows:
            self.conn.execute(stmt, [dict(r) for r in rows])


_SQLITE = sqlite_dialect.dialect(paramstyle="qmark")


@functools.lru_cache(maxsize=512)
def _compiled(stmt: Executable, keys: tuple[str, ...]) -> tuple[str, tuple[str, ...], Any]:
    """SQL text, parameter order, and the compiled form when it holds values of its own
    (for the rare statement SQLAlchemy cannot give a cache key; keyed by the object)."""
    assert isinstance(stmt, ClauseElement)
    compiled = stmt.compile(dialect=_SQLITE, column_keys=list(keys), compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    names = tuple(compiled.positiontup or ())
    own_values = any(name not in keys for name in names)
    return compiled.string, names, compiled if own_values else None


class _Entry:
    """A statement shape compiled once: every statement with the same SQLAlchemy cache key
    (the same structure, whatever literal values it holds) reuses it, as SQLAlchemy's own
    compiled cache does for PostgreSQL. Compiling costs ~0.5 ms; statements built per call
    (the management API's filters and inserts) would otherwise pay it every time."""

    __slots__ = ("compiled", "expanding", "names", "own_values", "sql")

    def __init__(self, stmt: ClauseElement, keys: tuple[str, ...], cache_key: Any) -> None:
        # With its cache key, so that later statements of this shape can pass their values.
        compiled = stmt.compile(dialect=_SQLITE, column_keys=list(keys), cache_key=cache_key)
        assert isinstance(compiled, SQLCompiler)
        self.compiled = compiled
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())
        # IN lists: their length is only known per call (expanded below).
        self.expanding = bool(compiled.post_compile_params or compiled.literal_execute_params)
        self.own_values = self.expanding or any(name not in keys for name in self.names)


_ENTRIES: dict[tuple[Any, tuple[str, ...]], _Entry] = {}
_MAX_ENTRIES = 2048


def _prepare(stmt: Executable, params: Params) -> tuple[str, tuple[Any, ...]]:
    """The SQL text and positional arguments of ``stmt`` with ``params``."""
    assert isinstance(stmt, ClauseElement)
    keys = tuple(params)
    cache_key = stmt._generate_cache_key()
    if cache_key is None:
        sql, names, compiled = _compiled(stmt, keys)
        values = compiled.construct_params(params) if compiled is not None else params
        return sql, tuple(values[name] for name in names)
    slot = (cache_key.key, keys)
    entry = _ENTRIES.get(slot)
    if entry is None:
        if len(_ENTRIES) >= _MAX_ENTRIES:
            _ENTRIES.clear()  # shapes are few; this only bounds a pathological caller
        entry = _ENTRIES[slot] = _Entry(stmt, keys, cache_key)
    if not entry.own_values:
        return entry.sql, tuple(params[name] for name in entry.names)
    values = entry.compiled.construct_params(params, extracted_parameters=cache_key.bindparams)
    if not entry.expanding:
        return entry.sql, tuple(values[name] for name in entry.names)
    expanded = entry.compiled._process_parameters_for_postcompile(values)
    return expanded.statement, tuple(expanded.parameters[name] for name in expanded.positiontup or ())


class SqliteDb:
    """Compiled statements on the raw ``sqlite3`` connection (autocommit mode: the store
    issues BEGIN/SAVEPOINT/COMMIT itself). Driver errors come out as SQLAlchemy's, so the
    store's error handling is the same for both backends."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def _execute(self, stmt: Executable, params: Params) -> sqlite3.Cursor:
        sql, args = _prepare(stmt, params)
        try:
            return self.raw.execute(sql, args)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, args, exc, sqlite3.Error) from exc

    def first(self, stmt: Executable, params: Params = _NO_PARAMS) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self._execute(stmt, params).fetchone()
        return row

    def all(self, stmt: Executable, params: Params = _NO_PARAMS) -> Sequence[Sequence[Any]]:
        rows: list[Sequence[Any]] = self._execute(stmt, params).fetchall()
        return rows

    def run(self, stmt: Executable, params: Params = _NO_PARAMS) -> int:
        return self._execute(stmt, params).rowcount

    def insert(self, stmt: Executable, params: Params) -> int:
        key = self._execute(stmt, params).lastrowid
        assert key is not None
        return key

    def run_many(self, stmt: Executable, rows: Sequence[Params]) -> None:
        if not rows:
            return
        prepared = [_prepare(stmt, r) for r in rows]
        sql = prepared[0][0]
        try:
            self.raw.executemany(sql, [args for _, args in prepared])
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc

    def sql(self, text: str) -> None:
        """Transaction control (BEGIN, SAVEPOINT, ...), with errors translated as above."""
        try:
            self.raw.execute(text)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(text, (), exc, sqlite3.Error) from exc


__all__ = ["AlchemyDb", "Db", "Params", "Runner", "SqliteDb"]
