"""The catalog writer's bulk statements on SQLite, with the rows handed to the driver as tuples.

SQLAlchemy compiles each statement once per row shape; the rows then skip its per-row
parameter processing, which was the largest part of the writer thread's time on a small-file
crawl (py-spy: 5-6% of the crawl's GIL time for the executemany path, about as much again for
the registration INSERT). JSON columns are serialised as SQLAlchemy's JSON type does on SQLite
(``json.dumps``, None as ``null``); the catalog's other column types need no conversion there.
Any other dialect, a JSON serialiser configured on the engine, or a statement that needs more
than the rows give (a non-scalar column default) keeps SQLAlchemy's own path.
tests/test_catalog.py holds both paths to byte-identical tables.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Table

Shape = tuple[str, tuple[str, ...]]

#: :func:`many`'s statements by shape: (SQL, parameter order), or None (SQLAlchemy's path).
RAW_MANY: dict[Shape, tuple[str, tuple[str, ...]] | None] = {}
#: :func:`insert_new`'s statements by row shape: (SQL before the VALUES groups, one group,
#: SQL after them, parameter order, column defaults to fill in), or None (SQLAlchemy's path).
RAW_INSERT: dict[Shape, tuple[str, str, str, tuple[str, ...], dict[str, Any]] | None] = {}


def raw(conn: Connection) -> bool:
    """Whether rows may go to this connection's driver as tuples."""
    dialect = conn.dialect
    return dialect.name == "sqlite" and getattr(dialect, "_json_serializer", None) is None


def many(
    conn: Connection,
    shape: Shape,
    statement: Callable[[], Any],
    rows: list[dict[str, Any]],
    *,
    table: Table,
    inserting: bool = False,
    prefix: str = "",
) -> None:
    """``conn.execute(statement(), rows)`` (an executemany; the statement is built only where
    it is not compiled already). ``table`` is the statement's table (for its JSON columns);
    bound parameters named ``prefix`` + column carry that column's value."""
    if not rows:
        return
    if not raw(conn):
        conn.execute(statement(), rows)
        return
    if shape not in RAW_MANY:
        keys = list(rows[0]) if inserting else None
        compiled = statement().compile(dialect=conn.dialect, column_keys=keys)
        names = tuple(compiled.positiontup or ())
        RAW_MANY[shape] = (compiled.string, names) if set(names) <= set(rows[0]) else None
    entry = RAW_MANY[shape]
    if entry is None:
        conn.execute(statement(), rows)
        return
    sql, names = entry
    conn.exec_driver_sql(sql, positional(rows, names, table, prefix))


def insert_new(
    conn: Connection, stmt: Any, rows: list[dict[str, Any]], table: Table
) -> list[tuple[Any, ...]]:
    """Run ``stmt`` (an INSERT ... RETURNING) for ``rows``: the returned rows. On SQLite, one
    multi-row ``VALUES`` statement per batch, as many rows as the bound-parameter limit
    allows; rows of one shape share one compiled statement."""
    if not raw(conn):
        return list(conn.execute(stmt, rows).all())
    shape = (f"{table.name}:new", tuple(rows[0]))
    if shape not in RAW_INSERT:
        RAW_INSERT[shape] = multirow(stmt.compile(dialect=conn.dialect, column_keys=list(rows[0])))
    entry = RAW_INSERT[shape]
    keys = rows[0].keys()
    if entry is None or any(row.keys() != keys for row in rows):
        return list(conn.execute(stmt, rows).all())
    head, group, tail, names, fixed = entry
    step = max(1, variable_limit(conn) // len(names))
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(rows), step):
        part = rows[i : i + step]
        params: list[Any] = []
        for values in positional([{**fixed, **row} for row in part], names, table):
            params.extend(values)
        sql = head + ", ".join([group] * len(part)) + tail
        out.extend(tuple(r) for r in conn.exec_driver_sql(sql, tuple(params)))
    return out


def multirow(compiled: Any) -> tuple[str, str, str, tuple[str, ...], dict[str, Any]] | None:
    """Split a compiled single-row INSERT around its one ``VALUES`` group, so that many rows'
    groups can go in its place. Column defaults SQLAlchemy fills in on execution (``attempts``
    0, ``version`` 1) are taken when they are plain values; anything else is refused (None)."""
    names = tuple(compiled.positiontup or ())
    fixed: dict[str, Any] = {}
    for column in compiled.insert_prefetch:
        default = column.default
        if default is None or not default.is_scalar:
            return None
        fixed[column.key] = default.arg
    group = "(" + ", ".join(["?"] * len(names)) + ")"
    sql = compiled.string
    if not names or sql.count(group) != 1 or compiled.postfetch or " VALUES " not in sql:
        return None
    head, tail = sql.split(group)
    return head, group, tail, names, fixed


def variable_limit(conn: Connection) -> int:
    """Bound parameters one statement may take on this SQLite connection (a build setting:
    32766 by default since SQLite 3.32, 999 before)."""
    driver = conn.connection.driver_connection
    try:
        return int(driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))  # type: ignore[union-attr]
    except (AttributeError, sqlite3.Error):  # Python < 3.11
        return 999


def positional(
    rows: list[dict[str, Any]], names: tuple[str, ...], table: Table, prefix: str = ""
) -> list[tuple[Any, ...]]:
    """The rows as the driver's parameter sequences, in ``names`` order, JSON columns
    serialised. ``itemgetter`` picks a row's values in C: the generator it replaces was the
    catalog writer's largest self time (quality_checks alone is 7 rows x 15 columns a file)."""
    get = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    json_at = [i for i, n in enumerate(names) if _is_json(table, n, prefix)]
    if not json_at:
        return [get(row) for row in rows]
    dumps = json.dumps
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(get(row))
        for i in json_at:
            values[i] = dumps(values[i])
        out.append(tuple(values))
    return out


def _is_json(table: Table, name: str, prefix: str) -> bool:
    column = table.c.get(name[len(prefix) :] if prefix and name.startswith(prefix) else name)
    return column is not None and isinstance(column.type, JSON)
