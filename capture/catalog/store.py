"""Catalog operations. Every public function takes a Connection inside a transaction, so the
writer thread can group many of them into one commit."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)

from capture.catalog.decide import Decision, decide
from capture.catalog.derive import params_of
from capture.catalog.driver import insert_new, many
from capture.catalog.schema import events, file_params, file_versions, files, quality_checks, runs
from capture.status import ON_DISK, UNFINISHED, FileStatus

CHUNK = 500


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def catalog_url_for(data_dir: str | os.PathLike[str], url: str | None = None) -> str:
    """The configured catalog URL, or an SQLite file inside the data root."""
    if url:
        return url
    return f"sqlite:///{Path(data_dir).resolve() / 'catalog.sqlite'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a crash of the process loses nothing; the DB stays consistent on
    # power loss (the last commits may roll back, and are then re-driven).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@dataclass
class Finish:
    """One file's final record for :meth:`Catalog.finish_many`."""

    file_id: int
    values: dict[str, Any]
    events: list[dict[str, Any]]
    run_id: str | None = None
    added_bytes: int = 0
    report: dict[str, Any] | None = None
    version: dict[str, Any] | None = None
    superseded: dict[str, Any] | None = None
    #: The same content published again (``version``, ``stored_at``): its version row, taken
    #: out of the tree by a fixity audit, says where the bytes are again.
    restored: dict[str, Any] | None = None
    #: A local file whose directory entry (and, with ``sync_data``, data) is made durable
    #: before this record is committed (see pipelines/metadata).
    sync: str | None = None
    sync_data: bool = False


@dataclass
class Registration:
    """What the catalog knew about a file when a listing (re)discovered it."""

    file_id: int
    decision: str  # new | resume | retry | unchanged | changed | conditional | refetch
    previous: dict[str, Any] | None
    #: For ``changed``: which listing validators differ (capture.catalog.decide).
    changed: tuple[str, ...] = ()


@dataclass
class Planned:
    """What registering a listed file would decide (:meth:`Catalog.plan`); nothing written."""

    decision: Decision
    previous: dict[str, Any] | None


def unindexed(column: Any) -> Any:
    """``column`` in a form no index serves (``column || ''``): SQLite, without statistics,
    would otherwise walk every stored row by the state index instead of looking a few sha256
    values up in theirs."""
    return column.concat("")


class Catalog:
    def __init__(self, url: str, *, create: bool = True):
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if create:
            self.create()

    def create(self) -> None:
        """Bring the database to the latest schema (Alembic migrations, both backends)."""
        from capture.catalog.migrate import upgrade

        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- registration ----------------------------------------------------------------------
    def register(
        self,
        conn: Connection,
        records: list[dict[str, Any]],
        exists: Callable[[str, int | None], bool] | None = None,
    ) -> list[Registration]:
        """Insert newly discovered files and decide what to do with known ones, in one go."""
        out: list[Registration | None] = [None] * len(records)
        known = self._known(conn, records)
        new_rows: list[dict[str, Any]] = []
        new_index: list[int] = []
        now = utcnow()
        for i, rec in enumerate(records):
            prev = known.get((rec["archive"], rec["archive_path"]))
            if prev is None:
                fresh = {
                    **rec,
                    "state": "discovered",
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "updated_at": now,
                    "first_run": rec.get("last_run"),
                    "attempts": 0,
                    "resumes": 0,
                    "bytes_transferred": 0,
                }
                new_rows.append(fresh)
                new_index.append(i)
                known[(rec["archive"], rec["archive_path"])] = fresh
                continue
            verdict = decide(prev, rec, exists)
            decision = verdict.kind
            values = {k: v for k, v in rec.items() if k not in ("archive", "archive_path")}
            values["updated_at"] = values["last_seen_at"] = now
            if decision == "duplicate":
                out[i] = Registration(prev["id"], decision, prev)
                continue
            if decision == "unchanged":
                values = {"last_run": rec.get("last_run"), "updated_at": now, "last_seen_at": now}
            elif decision in ("conditional", "resume"):
                values.pop("state", None)  # keep the state: unfinished, or stored until checked
            else:
                values["state"] = "discovered"
            # Only if nobody changed the row since we read it (another crawler process may have
            # just stored this file): never turn a stored file back into "discovered".
            done = conn.execute(
                update(files)
                .where(files.c.id == prev["id"], files.c.state == prev["state"])
                .values(**values)
            )
            if done.rowcount == 0:
                decision = "duplicate"
            out[i] = Registration(prev["id"], decision, prev, verdict.changed)
        if new_rows:
            # Another crawler process may register the same file at the same moment: insert
            # what is still missing (ON CONFLICT DO NOTHING) and treat the rest as known.
            mine: dict[tuple[str, str], int] = {}
            new_stmt = _insert_ignoring_duplicates(conn).returning(
                files.c.id, files.c.archive, files.c.archive_path
            )
            for i in range(0, len(new_rows), CHUNK):
                part = new_rows[i : i + CHUNK]
                for fid, archive, path in insert_new(conn, new_stmt, part, files):
                    mine[(archive, path)] = fid
            keys = [(r["archive"], r["archive_path"]) for r in new_rows]
            # Rows another process inserted first (ON CONFLICT DO NOTHING returned nothing).
            theirs = (
                self._ids(conn, [k for k in keys if k not in mine]) if len(mine) < len(keys) else {}
            )
            for idx, key in zip(new_index, keys, strict=True):
                if key in mine:
                    out[idx] = Registration(mine[key], "new", None)
                else:
                    out[idx] = Registration(theirs[key], "resume", None)
        return [r for r in out if r is not None]

    @staticmethod
    def _known(
        conn: Connection, records: list[dict[str, Any]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The catalog rows of the records' files, by (archive, archive_path)."""
        known: dict[tuple[str, str], dict[str, Any]] = {}
        by_archive: dict[str, list[str]] = {}
        for rec in records:
            by_archive.setdefault(rec["archive"], []).append(rec["archive_path"])
        stmt = _statements().known
        for archive, paths in by_archive.items():
            for i in range(0, len(paths), CHUNK):
                rows = conn.execute(stmt, {"archive": archive, "paths": paths[i : i + CHUNK]})
                for row in rows.mappings():
                    known[(row["archive"], row["archive_path"])] = dict(row)
        return known

    def register_each(
        self,
        conn: Connection,
        calls: list[tuple[dict[str, Any], Callable[[str, int | None], bool] | None]],
    ) -> list[Registration]:
        """:meth:`register` for grouped calls (``(record, exists)`` each), one result per call.

        Records go in as few :meth:`register` calls as possible: a new call starts where the
        ``exists`` check differs or a file repeats (a repeat must see its first registration).
        """
        out: list[Registration] = []
        run: list[dict[str, Any]] = []
        run_exists: Any = None
        keys: set[tuple[str, str]] = set()
        for record, exists in calls:
            key = (record["archive"], record["archive_path"])
            # ``!=``, not ``is not``: each ``self._exists`` is a new bound-method object.
            if run and (exists != run_exists or key in keys):
                out.extend(self.register(conn, run, run_exists))
                run, keys = [], set()
            run.append(record)
            run_exists = exists
            keys.add(key)
        if run:
            out.extend(self.register(conn, run, run_exists))
        return out

    def _ids(self, conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        ids: dict[tuple[str, str], int] = {}
        by_archive: dict[str, list[str]] = {}
        for a, p in keys:
            by_archive.setdefault(a, []).append(p)
        stmt = _statements().ids
        for archive, paths in by_archive.items():
            for i in range(0, len(paths), CHUNK):
                params = {"archive": archive, "paths": paths[i : i + CHUNK]}
                for fid, ap in conn.execute(stmt, params):
                    ids[(archive, ap)] = fid
        return ids

    @staticmethod
    def _decide(
        prev: dict[str, Any],
        rec: dict[str, Any],
        exists: Callable[[str, int | None], bool] | None,
    ) -> str:
        return decide(prev, rec, exists).kind

    def plan(
        self,
        conn: Connection,
        calls: list[tuple[dict[str, Any], Callable[[str, int | None], bool] | None]],
    ) -> list[Planned]:
        """What :meth:`register` would decide for each ``(record, exists)``, writing nothing
        (the diff's view of a listing; grouped by the writer like ``register_each``)."""
        known = self._known(conn, [rec for rec, _ in calls])
        out = []
        for rec, exists in calls:
            prev = known.get((rec["archive"], rec["archive_path"]))
            if prev is None:
                out.append(Planned(Decision("new"), None))
            else:
                out.append(Planned(decide(prev, rec, exists), prev))
        return out

    # -- state changes ---------------------------------------------------------------------
    def finish(
        self,
        conn: Connection,
        file_id: int,
        values: dict[str, Any],
        file_events: Iterable[dict[str, Any]] = (),
        run_id: str | None = None,
        added_bytes: int = 0,
    ) -> None:
        """Record a file's final state for this run together with its transfer events."""
        values = {**values, "updated_at": utcnow()}
        file_events = list(file_events)
        resumes = sum(1 for e in file_events if e.get("kind") == "resume")
        attempts = sum(1 for e in file_events if e.get("kind") == "attempt")
        conn.execute(
            update(files)
            .where(files.c.id == file_id)
            .values(
                attempts=files.c.attempts + attempts,
                resumes=files.c.resumes + resumes,
                bytes_transferred=files.c.bytes_transferred + added_bytes,
                **values,
            )
        )
        rows = _event_rows(file_id, run_id, file_events)
        if rows:
            conn.execute(insert(events), rows)
        if "file_metadata" in values:
            self.set_params(conn, file_id, params_of(values["file_metadata"]))

    # -- search helpers, versions, dedup ---------------------------------------------------
    def set_params(self, conn: Connection, file_id: int, params: dict[str, float]) -> None:
        conn.execute(delete(file_params).where(file_params.c.file_id == file_id))
        if params:
            conn.execute(
                insert(file_params),
                [{"file_id": file_id, "name": k, "value": v} for k, v in params.items()],
            )

    def find_copies(
        self, conn: Connection, calls: list[tuple[str, int | None, int | None]]
    ) -> list[dict[str, Any] | None]:
        """Stored bytes identical to a new file's (for de-duplication), one per call
        ``(sha256, size, exclude_id)``: one query per group for the whole group.

        Candidates are the published files (``stored``, never a quarantined or retracted one)
        and, across rounds, the kept older versions of files that are neither quarantined nor
        retracted; published files first, lowest id first. Bytes a fixity audit found wrong or
        could not read are never offered. Each answer is ``{id, path, size, sha256, version}``
        (``version`` None for a published file, else the kept version's number), with the
        ``codec``, ``stored_size`` and ``stored_sha256`` of a copy stored compressed."""
        wanted = sorted({sha for sha, _, _ in calls if sha})
        found: dict[str, list[dict[str, Any]]] = {}
        published, kept = _statements().published, _statements().kept
        for i in range(0, len(wanted), CHUNK):
            chunk = {"shas": wanted[i : i + CHUNK]}
            for row in conn.execute(published, chunk).mappings():
                found.setdefault(row["sha256"], []).append({**row, "version": None})
            for row in conn.execute(kept, chunk).mappings():
                found.setdefault(row["sha256"], []).append(dict(row))
        out: list[dict[str, Any] | None] = []
        for sha, size, exclude in calls:
            match = next(
                (
                    dict(r)
                    for r in found.get(sha, ())
                    if (r["id"] != exclude or r["version"] is not None)
                    and (size is None or r["size"] == size)
                ),
                None,
            )
            out.append(match)
        return out

    def finish_many(self, conn: Connection, ops: list[Finish]) -> list[None]:
        """Record many files' final states (what :meth:`finish`, :meth:`record_quality` and
        :meth:`record_version` do for one) with a few statements for the whole group."""
        now = utcnow()
        by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        event_rows: list[dict[str, Any]] = []
        param_ids: list[int] = []
        param_rows: list[dict[str, Any]] = []
        check_rows: list[dict[str, Any]] = []
        for op in ops:
            values = {**op.values, "updated_at": now}
            row = {f"v_{k}": v for k, v in values.items()}
            row["b_fid"] = op.file_id
            row["b_attempts"] = sum(1 for e in op.events if e.get("kind") == "attempt")
            row["b_resumes"] = sum(1 for e in op.events if e.get("kind") == "resume")
            row["b_bytes"] = op.added_bytes
            by_keys.setdefault(tuple(sorted(values)), []).append(row)
            event_rows.extend(_event_rows(op.file_id, op.run_id, op.events))
            if "file_metadata" in op.values:
                param_ids.append(op.file_id)
                param_rows.extend(
                    {"file_id": op.file_id, "name": k, "value": v}
                    for k, v in params_of(op.values["file_metadata"]).items()
                )
            if op.report is not None:
                check_rows.extend(_check_rows(op.file_id, op.run_id, op.report, now))
        for keys, rows in by_keys.items():
            update_stmt = functools.partial(_finish_statement, keys)
            many(conn, ("files", keys), update_stmt, rows, table=files, prefix="v_")
        _insert_many(conn, events, event_rows)
        for i in range(0, len(param_ids), CHUNK):
            conn.execute(
                delete(file_params).where(file_params.c.file_id.in_(param_ids[i : i + CHUNK]))
            )
        _insert_many(conn, file_params, param_rows)
        _insert_many(conn, quality_checks, check_rows)
        versions: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for op in ops:
            if op.restored is not None:
                conn.execute(
                    update(file_versions)
                    .where(
                        file_versions.c.file_id == op.file_id,
                        file_versions.c.version == op.restored["version"],
                        file_versions.c.superseded_at.is_not(None),
                    )
                    .values(superseded_at=None, stored_at=op.restored["stored_at"])
                )
            if op.version is None:
                continue
            if op.superseded is not None:
                self._supersede(conn, op.file_id, op.superseded)
            row = {"file_id": op.file_id, **op.version}
            versions.setdefault(tuple(sorted(row)), []).append(row)
        for rows in versions.values():
            _insert_many(conn, file_versions, rows)
        return [None] * len(ops)

    def record_version(
        self,
        conn: Connection,
        file_id: int,
        version: dict[str, Any],
        previous: dict[str, Any] | None = None,
    ) -> None:
        """Append a content version; the previous one is marked superseded (and where its
        bytes now live)."""
        if previous is not None:
            self._supersede(conn, file_id, previous)
        conn.execute(insert(file_versions).values(file_id=file_id, **version))

    @staticmethod
    def _supersede(conn: Connection, file_id: int, previous: dict[str, Any]) -> None:
        conn.execute(
            update(file_versions)
            .where(
                file_versions.c.file_id == file_id,
                file_versions.c.version == previous["version"],
            )
            .values(superseded_at=utcnow(), stored_at=previous.get("stored_at"))
        )

    def history(self, conn: Connection, file_id: int) -> list[dict[str, Any]]:
        q = (
            select(file_versions)
            .where(file_versions.c.file_id == file_id)
            .order_by(file_versions.c.version)
        )
        return [dict(r) for r in conn.execute(q).mappings()]

    def record_quality(
        self, conn: Connection, file_id: int, run_id: str | None, report: dict[str, Any]
    ) -> None:
        """Store every check of a quality report (history is kept: one set per scoring)."""
        rows = _check_rows(file_id, run_id, report, utcnow())
        if rows:
            conn.execute(insert(quality_checks), rows)

    # -- queries ---------------------------------------------------------------------------
    def unfinished(
        self, conn: Connection, archive: str, after_id: int = 0, limit: int = 1000
    ) -> list[tuple[int, dict[str, Any]]]:
        q = (
            select(files.c.id, files.c.item)
            .where(
                files.c.archive == archive,
                files.c.state.in_(UNFINISHED),
                files.c.id > after_id,
            )
            .order_by(files.c.id)
            .limit(limit)
        )
        return [(fid, item) for fid, item in conn.execute(q)]

    def get(self, conn: Connection, archive: str, archive_path: str) -> dict[str, Any] | None:
        row = (
            conn.execute(
                select(files).where(
                    files.c.archive == archive, files.c.archive_path == archive_path
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    def stored_bytes(self, conn: Connection) -> int:
        """Bytes of every file the data root holds (stored or quarantined)."""
        q = select(func.coalesce(func.sum(files.c.size), 0)).where(files.c.state.in_(ON_DISK))
        return int(conn.execute(q).scalar() or 0)

    def counts(self, conn: Connection, archive: str | None = None) -> dict[str, int]:
        q = select(files.c.state, func.count()).group_by(files.c.state)
        if archive:
            q = q.where(files.c.archive == archive)
        return {state: n for state, n in conn.execute(q)}

    def events_for(self, conn: Connection, file_id: int) -> list[dict[str, Any]]:
        q = select(events).where(events.c.file_id == file_id).order_by(events.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]

    def current_version(self, conn: Connection, file_id: int) -> dict[str, Any] | None:
        """The newest published version of a file (None: never published)."""
        q = (
            select(file_versions)
            .where(file_versions.c.file_id == file_id)
            .order_by(file_versions.c.version.desc())
            .limit(1)
        )
        row = conn.execute(q).mappings().first()
        return dict(row) if row else None

    def listed_rows(
        self, conn: Connection, archive: str, after_id: int = 0, limit: int = 5000
    ) -> list[dict[str, Any]]:
        """A page of an archive's rows not already retracted (what a complete discovery
        must list again), in id order: the candidates of gone-upstream files."""
        q = (
            select(
                files.c.id,
                files.c.archive_path,
                files.c.path,
                files.c.state,
                files.c.size,
                files.c.expected_size,
                files.c.last_seen_at,
                files.c.updated_at,
                files.c.last_run,
            )
            .where(
                files.c.archive == archive,
                files.c.state != FileStatus.RETRACTED,
                files.c.id > after_id,
            )
            .order_by(files.c.id)
            .limit(limit)
        )
        return [dict(r) for r in conn.execute(q).mappings()]

    def retract(self, conn: Connection, gone: list[dict[str, Any]], run_id: str | None) -> int:
        """Mark files gone upstream ``retracted`` (bytes, versions and history are kept), each
        with a ``retracted`` event saying when a listing last named it. A row that changed
        since it was read (``state`` differs) is left alone. Returns how many were marked."""
        now = utcnow()
        done = 0
        for row in gone:
            res = conn.execute(
                update(files)
                .where(files.c.id == row["id"], files.c.state == row["state"])
                .values(state=FileStatus.RETRACTED, updated_at=now)
            )
            if res.rowcount:
                done += 1
                detail = {
                    "previous_state": row["state"],
                    "last_seen_at": row.get("last_seen_at") or row.get("updated_at"),
                    "last_seen_run": row.get("last_seen_run"),
                }
                conn.execute(
                    insert(events).values(
                        file_id=row["id"], run_id=run_id, at=now, kind="retracted", detail=detail
                    )
                )
        return done

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, conn: Connection, run: dict[str, Any]) -> None:
        key = (runs.c.run_id == run["run_id"]) & (runs.c.spider == run["spider"])
        if conn.execute(select(runs.c.run_id).where(key)).first():
            conn.execute(update(runs).where(key).values(status="running", finished_at=None))
        else:
            conn.execute(insert(runs).values(**run, status="running"))

    def end_run(
        self, conn: Connection, run_id: str, spider: str, status: str, stats: dict[str, Any]
    ) -> None:
        conn.execute(
            update(runs)
            .where(runs.c.run_id == run_id, runs.c.spider == spider)
            .values(status=status, finished_at=utcnow(), stats=stats)
        )


@dataclass(frozen=True)
class _Statements:
    """The per-group lookups, built once with expanding ``IN`` parameters: SQLAlchemy then
    compiles each once and caches it, where building a new statement per group cost its
    construction and cache key every time (the writer runs hundreds of groups a crawl)."""

    known: Any
    ids: Any
    published: Any
    kept: Any


@functools.cache
def _statements() -> _Statements:
    paths: Any = bindparam("paths", expanding=True)
    shas: Any = bindparam("shas", expanding=True)
    in_archive = files.c.archive == bindparam("archive")
    sound = or_(files.c.fixity.is_(None), files.c.fixity == "ok")
    kept_sound = or_(file_versions.c.fixity.is_(None), file_versions.c.fixity == "ok")
    barred = (FileStatus.QUARANTINED.value, FileStatus.RETRACTED.value)
    published = (
        select(
            files.c.id,
            files.c.path,
            files.c.size,
            files.c.sha256,
            files.c.codec,
            files.c.stored_size,
            files.c.stored_sha256,
        )
        .where(
            files.c.sha256.in_(shas),
            unindexed(files.c.state) == FileStatus.STORED.value,
            files.c.size > 0,
            sound,
        )
        .order_by(files.c.id)
    )
    kept = (
        select(
            file_versions.c.file_id.label("id"),
            file_versions.c.stored_at.label("path"),
            file_versions.c.size,
            file_versions.c.sha256,
            file_versions.c.version,
            file_versions.c.codec,
            file_versions.c.stored_size,
            file_versions.c.stored_sha256,
        )
        .join(files, files.c.id == file_versions.c.file_id)
        .where(
            file_versions.c.sha256.in_(shas),
            # A kept version stored compressed is not offered: its bytes are the .zst under
            # versions/, which a new file's published name cannot share.
            file_versions.c.codec.is_(None),
            file_versions.c.superseded_at.is_not(None),
            file_versions.c.stored_at.is_not(None),
            file_versions.c.size > 0,
            files.c.state.not_in(barred),
            kept_sound,
        )
        .order_by(file_versions.c.file_id, file_versions.c.version)
    )
    return _Statements(
        known=select(files).where(in_archive, files.c.archive_path.in_(paths)),
        ids=select(files.c.id, files.c.archive_path).where(
            in_archive, files.c.archive_path.in_(paths)
        ),
        published=published,
        kept=kept,
    )


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    shape = (table.name, tuple(rows[0]) if rows else ())
    many(conn, shape, functools.partial(insert, table), rows, table=table, inserting=True)


def _finish_statement(keys: tuple[str, ...]) -> Any:
    """:meth:`Catalog.finish_many`'s UPDATE for rows setting the columns ``keys``."""
    return (
        update(files)
        .where(files.c.id == bindparam("b_fid"))
        .values(
            attempts=files.c.attempts + bindparam("b_attempts", type_=Integer),
            resumes=files.c.resumes + bindparam("b_resumes", type_=Integer),
            bytes_transferred=files.c.bytes_transferred + bindparam("b_bytes", type_=BigInteger),
            **{k: bindparam(f"v_{k}", type_=files.c[k].type) for k in keys},
        )
    )


def _event_rows(
    file_id: int, run_id: str | None, file_events: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    return [
        {
            "file_id": file_id,
            "run_id": run_id,
            "at": e.get("at") or utcnow(),
            "kind": e.get("kind", "event"),
            "detail": {k: v for k, v in e.items() if k not in ("at", "kind")},
        }
        for e in file_events
    ]


def _check_rows(
    file_id: int, run_id: str | None, report: dict[str, Any], now: str
) -> list[dict[str, Any]]:
    """One ``quality_checks`` row per check of a report (history: one set per scoring)."""
    return [
        {
            "file_id": file_id,
            "run_id": run_id,
            "scored_at": now,
            "check_id": c["check_id"],
            "tier": c["tier"],
            "severity": c["severity"],
            "weight": c["weight"],
            "outcome": c["outcome"],
            "credit": c.get("credit"),
            "contribution": c.get("contribution"),
            "message": c.get("message"),
            "location": c.get("location"),
            "tool": c.get("tool"),
            "tool_version": c.get("tool_version"),
            "duration_ms": c.get("duration_ms"),
        }
        for c in report.get("checks", [])
    ]


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    """INSERT ... ON CONFLICT (archive, archive_path) DO NOTHING, per dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(files).on_conflict_do_nothing(index_elements=["archive", "archive_path"])
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(files).on_conflict_do_nothing(
            index_elements=["archive", "archive_path"]
        )
    return insert(files)
