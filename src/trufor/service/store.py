"""The service's database: one row per analysis, which is also the work queue.

SQLAlchemy Core over SQLite (the default: ``<data dir>/trufor.db`` in WAL mode, so readers never block
the writer) or PostgreSQL (``postgresql://...``, for several machines). Times are UNIX seconds (floats),
the same in every database.

The queue is the ``analyses`` table itself. A worker *claims* a row with one conditional UPDATE (status
queued, or running with an expired lease -> running, owned by it, lease until now + ``lease``); the
condition is evaluated again under the row lock, so two workers can never both win a row, with or without
``SKIP LOCKED``. While it analyses, the worker extends the lease (:meth:`Store.heartbeat`); a worker that
dies (kill -9, lost machine) stops extending it, and once the lease expires the row is claimed again. A
row whose worker died ``max_attempts`` times is failed, so that one image that kills workers cannot stop
the queue. :meth:`Store.finish` reports done only from the owner of the lease and only after the worker has
written every file.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import (Column, Float, Integer, MetaData, String, Table, Text, create_engine, delete, event, func,
                        insert, or_, and_, select, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

STATUSES = ("queued", "running", "done", "failed")

metadata = MetaData()

analyses = Table(
    "analyses", metadata,
    Column("id", String(32), primary_key=True),
    # sha256(content) + model + read options: the same bytes analysed the same way are one analysis
    Column("dedup_key", String(64), nullable=False, unique=True),
    Column("sha256", String(64), nullable=False),
    Column("filename", String(255), nullable=False, default=""),
    Column("size_bytes", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False, index=True),
    Column("error", Text, nullable=True),
    Column("score", Float, nullable=True),
    Column("height", Integer, nullable=True),
    Column("width", Integer, nullable=True),
    Column("model_name", Text, nullable=False, default=""),  # names can carry a whole provenance
    Column("model_licence", Text, nullable=False, default=""),
    Column("read_options", Text, nullable=False, default="{}"),
    Column("warnings", Text, nullable=False, default="[]"),
    Column("summary", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False, index=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("analysis_seconds", Float, nullable=True),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires", Float, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
)

#: Buckets of the analysis-time histogram of /metrics (seconds).
SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def sqlite_url(path) -> str:
    return f"sqlite:///{path}"


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


@dataclass
class Claim:
    """A row a worker now owns: what it needs to run the analysis."""

    id: str
    owner: str
    attempts: int
    read_options: dict[str, Any]
    filename: str


class Store:
    """All database access of the service (the API process and every worker open their own)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
            if url.startswith("postgresql://"):  # the psycopg 3 driver (the psycopg[binary] extra)
                url = "postgresql+psycopg://" + url[len("postgresql://"):]
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def create(self) -> "Store":
        metadata.create_all(self.engine)
        return self

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------------------ submission
    def add(self, *, dedup_key: str, sha256: str, filename: str, size_bytes: int, model_name: str,
            model_licence: str, read_options: dict[str, Any], analysis_id: str | None = None) -> tuple[str, bool]:
        """Queue a new analysis: ``(id, True)``; or ``(existing id, False)`` when ``dedup_key`` exists."""
        new_id = analysis_id or uuid.uuid4().hex
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(analyses).values(
                    id=new_id, dedup_key=dedup_key, sha256=sha256, filename=filename[:255], size_bytes=size_bytes,
                    status="queued", model_name=model_name, model_licence=model_licence,
                    read_options=json.dumps(read_options), warnings="[]", summary="{}", created_at=time.time(),
                    attempts=0))
            return new_id, True
        except IntegrityError:
            existing = self.find_by_key(dedup_key)
            if existing is None:  # deleted in between: try once more
                return self.add(dedup_key=dedup_key, sha256=sha256, filename=filename, size_bytes=size_bytes,
                                model_name=model_name, model_licence=model_licence, read_options=read_options,
                                analysis_id=analysis_id)
            return existing, False

    def requeue_failed(self, analysis_id: str) -> bool:
        """Queue a failed analysis again (its bytes were sent again: e.g. after a timeout); False otherwise."""
        with self.engine.begin() as conn:
            res = conn.execute(update(analyses).where(analyses.c.id == analysis_id, analyses.c.status == "failed")
                               .values(status="queued", error=None, attempts=0, started_at=None, finished_at=None,
                                       created_at=time.time()))
        return res.rowcount == 1

    def find_by_key(self, dedup_key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(analyses.c.id).where(analyses.c.dedup_key == dedup_key)).scalar()

    # ------------------------------------------------------------------------------- queries
    def get(self, analysis_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(analyses).where(analyses.c.id == analysis_id)).mappings().first()
        return None if row is None else self._public(row)

    def list(self, *, status: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """A page of analyses, newest first, and the total count (with the same filter)."""
        query = select(analyses)
        count = select(func.count()).select_from(analyses)
        if status:
            query = query.where(analyses.c.status == status)
            count = count.where(analyses.c.status == status)
        query = query.order_by(analyses.c.created_at.desc(), analyses.c.id).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            total = conn.execute(count).scalar() or 0
        return [self._public(r) for r in rows], int(total)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(analyses.c.status, func.count()).group_by(analyses.c.status)).all()
        out = {s: 0 for s in STATUSES}
        out.update({status: int(n) for status, n in rows})
        return out

    def seconds_histogram(self, buckets: Iterable[float] = SECONDS_BUCKETS) -> tuple[list[tuple[float, int]], float, int]:
        """Cumulative counts of done analyses by network seconds, their sum and count (for /metrics)."""
        col = analyses.c.analysis_seconds
        done = analyses.c.status == "done"
        with self.engine.connect() as conn:
            total, count = conn.execute(select(func.coalesce(func.sum(col), 0.0), func.count())
                                        .where(done, col.is_not(None))).one()
            cumulative = [(b, int(conn.execute(select(func.count()).where(done, col <= b)).scalar() or 0))
                          for b in buckets]
        return cumulative, float(total), int(count)

    @staticmethod
    def _public(row) -> dict[str, Any]:
        d = dict(row)
        d["read_options"] = _json(d.get("read_options"), {})
        d["warnings"] = _json(d.get("warnings"), [])
        d["summary"] = _json(d.get("summary"), {})
        return d

    # --------------------------------------------------------------------------------- worker side
    def claim(self, owner: str, *, lease: float, max_attempts: int = 3) -> Claim | None:
        """Take the oldest queued row (or one whose lease expired) for ``owner``, atomically; None when idle."""
        now = time.time()
        expired = and_(analyses.c.status == "running", analyses.c.lease_expires < now)
        with self.engine.begin() as conn:  # a job that killed its workers max_attempts times is failed
            conn.execute(update(analyses).where(expired, analyses.c.attempts >= max_attempts).values(
                status="failed", finished_at=now, lease_owner=None, lease_expires=None,
                error=f"the worker analysing this image stopped {max_attempts} times (crashed or was killed); "
                      "given up"))
        with self.engine.connect() as conn:
            candidates = conn.execute(
                select(analyses.c.id).where(or_(analyses.c.status == "queued", expired))
                .order_by(analyses.c.created_at, analyses.c.id).limit(8)).scalars().all()
        for cid in candidates:
            with self.engine.begin() as conn:
                now = time.time()
                res = conn.execute(
                    update(analyses)
                    .where(analyses.c.id == cid,
                           or_(analyses.c.status == "queued",
                               and_(analyses.c.status == "running", analyses.c.lease_expires < now)))
                    .values(status="running", lease_owner=owner, lease_expires=now + lease, started_at=now,
                            attempts=analyses.c.attempts + 1, error=None))
                if res.rowcount == 1:
                    row = conn.execute(select(analyses.c.attempts, analyses.c.read_options, analyses.c.filename)
                                       .where(analyses.c.id == cid)).one()
                    return Claim(cid, owner, int(row.attempts), _json(row.read_options, {}), row.filename)
        return None

    def heartbeat(self, analysis_id: str, owner: str, *, lease: float) -> bool:
        """Extend the lease; False when the row is no longer ours (deleted, or taken after expiry)."""
        with self.engine.begin() as conn:
            res = conn.execute(update(analyses).where(analyses.c.id == analysis_id, analyses.c.lease_owner == owner,
                                                      analyses.c.status == "running")
                               .values(lease_expires=time.time() + lease))
        return res.rowcount == 1

    def finish(self, analysis_id: str, owner: str, *, score: float, height: int, width: int, seconds: float,
               warnings: list[str], summary: dict[str, Any], model_name: str, model_licence: str) -> bool:
        """Mark done (call only once every file is written); False when the row is no longer ours."""
        with self.engine.begin() as conn:
            res = conn.execute(update(analyses).where(analyses.c.id == analysis_id, analyses.c.lease_owner == owner,
                                                      analyses.c.status == "running")
                               .values(status="done", score=score, height=height, width=width,
                                       analysis_seconds=seconds, warnings=json.dumps(warnings),
                                       summary=json.dumps(summary), model_name=model_name,
                                       model_licence=model_licence, finished_at=time.time(),
                                       lease_owner=None, lease_expires=None))
        return res.rowcount == 1

    def fail(self, analysis_id: str, owner: str | None, message: str) -> bool:
        cond = [analyses.c.id == analysis_id]
        if owner is not None:
            cond += [analyses.c.lease_owner == owner, analyses.c.status == "running"]
        with self.engine.begin() as conn:
            res = conn.execute(update(analyses).where(*cond).values(
                status="failed", error=message, finished_at=time.time(), lease_owner=None, lease_expires=None))
        return res.rowcount == 1

    # ----------------------------------------------------------------------------------- removal
    def delete(self, analysis_id: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(delete(analyses).where(analyses.c.id == analysis_id)).rowcount == 1

    def older_than(self, cutoff: float) -> list[str]:
        """Finished analyses created before ``cutoff`` (UNIX seconds): what --retention removes."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(analyses.c.id).where(
                analyses.c.created_at < cutoff, analyses.c.status.in_(("done", "failed")))).scalars().all())

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(1)).scalar() == 1


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
