"""Reads and writes of the catalog. Writes are batched (one transaction per batch) and skip unchanged
records by content hash; reads stream with keyset paging so no caller holds the catalog in memory."""

from __future__ import annotations

import inspect
import os
import secrets
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from sqlalchemy import (Connection, Engine, Table, bindparam, delete, false, func, insert, or_, select, true, union_all,
                        update)

from pim.catalog import Structure
from pim.product import Product, ProductModel, Provenance
from pim.scoped import scoped
from pim.store.database import make_engine, migrate
from pim.store.heartbeat import Heartbeats, is_stale
from pim.store.jsonb_patch import patch_products
from pim.store.quarantine_prune import prune_closed
from pim.store.raw import RawTable, Statements, raw_table
from pim.store.supersede import Carried, held_open, supersede_files, supersede_records
from pim.store.tables import (
    DeletedProductRow,
    JobRow,
    ProductModelRow,
    ProductRow,
    QuarantineRow,
    SequenceRow,
    StructureRow,
)
from pim.structure import STORED, STRUCTURE_KINDS, structure_key

T = TypeVar("T")
PRODUCT: Table = ProductRow.__table__  # type: ignore[assignment]
MODEL: Table = ProductModelRow.__table__  # type: ignore[assignment]
STRUCTURE: Table = StructureRow.__table__  # type: ignore[assignment]
DELETED: Table = DeletedProductRow.__table__  # type: ignore[assignment]
SEQUENCE: Table = SequenceRow.__table__  # type: ignore[assignment]
JOB: Table = JobRow.__table__  # type: ignore[assignment]
QUARANTINE: Table = QuarantineRow.__table__  # type: ignore[assignment]

#: Called inside the write transaction with the identifiers a batch created or changed. A listener whose
#: signature has a `records` keyword also gets the batch's written products by identifier (when the write has
#: them in memory), so it need not read them back. One with a `before` keyword also gets, when the writer knows
#: it (the merge step does), identifier → the product as stored before this write (None: it is new); a
#: listener can then skip products whose inputs to it did not change. One with a `deltas` keyword gets, for the
#: products a merge rewrote in part, identifier → ProductDelta (those products are in neither `records` nor
#: `before`). Without these keywords a listener must read what it needs and assume anything changed.
ProductListener = Callable[..., None]


@dataclass(slots=True)
class ProductDelta:
    """What a partial write (a merge import) changed in one stored product. `before` and `after` carry the
    structural fields whole but only the value keys the write touched, so a key absent from both is
    unchanged, and comparing them compares just the change (never score or index them: they are not the
    whole product). `sources` are the product's value sources over all its values (record-level source and
    per-value provenance), before and after. `values` is the whole value map after the write, each value
    decoded when it is read (a listener that needs a few untouched keys takes them from here)."""

    before: Product
    after: Product
    sources: tuple[frozenset[str], frozenset[str]]
    values: Mapping[str, Any]
#: Called inside the structure write with (conn, kind, before, after): item data by code (None = absent).
StructureListener = Callable[[Connection, str, dict[str, Any], dict[str, Any]], None]


#: The sequence every structure write bumps: cached structures are keyed on it (`structure_version`).
STRUCTURE_SEQ = "structure"


def sequence_value(conn: Connection, name: str) -> int:
    """A named sequence's current value as `conn` sees it (0 before its first use)."""
    return conn.execute(select(SEQUENCE.c.value).where(SEQUENCE.c.name == name)).scalar_one_or_none() or 0


def structure_version(conn: Connection) -> int:
    """A number that changes with every structure write (Store.put_structure / delete_structure), read in one
    key lookup. Caches of the structure compare it instead of scanning the structure table (count and newest
    update time), which grew with the catalog's structure and missed two writes in the same second."""
    return sequence_value(conn, STRUCTURE_SEQ)


def _bump_structure_version(store: "Store", conn: Connection) -> None:
    """Move the structure version by a random step: a write rolled back after a cache saw its number inside
    the transaction must not have that number reused by the next write (as a step of 1 would)."""
    store.next_seq(conn, secrets.randbelow(2**31) + 1, STRUCTURE_SEQ)


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(stamp: datetime) -> datetime:
    """A stored time made aware: SQLite gives timestamps back naive, and they were written in UTC."""
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_keys: list[str] = field(default_factory=list, repr=False)
    #: of the changed, those that replaced a stored record (the rest were created)
    updated_keys: list[str] = field(default_factory=list, repr=False)

    def add(self, other: "UpsertCounts") -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclass
class QuarantineEntry:
    reason: str
    file: str = ""
    line: int | None = None
    field: str | None = None
    raw: dict[str, Any] | None = None
    record_key: str | None = None
    source: str = ""
    severity: str = "rejected"  # "problem": the record was imported, one value has an issue (e.g. missing media)
    kind: str | None = None  # for code acting on one kind of note (pim.store.supersede.MISSING_AXIS)


_AT_JSON: dict[datetime, str] = {}


#: Marks a content hash chained by a partial merge (pim.partial_merge), not computed from the whole record.
CHAINED = "merge:"


def variants_of(conn: Connection, model_codes: Iterable[str]) -> list[str]:
    """The products below these models: their own variants and those of their sub-models, sorted."""
    codes = set(model_codes)
    for chunk in batched(sorted(codes), 1000):
        codes |= set(conn.execute(select(MODEL.c.code).where(MODEL.c.parent.in_(chunk))).scalars())
    found: set[str] = set()
    for chunk in batched(sorted(codes), 1000):
        found |= set(conn.execute(select(PRODUCT.c.identifier).where(PRODUCT.c.parent.in_(chunk))).scalars())
    return sorted(found)


def provenance_json(p: Provenance | None) -> dict[str, Any] | None:
    """Provenance as pydantic's JSON dump gives it; the timestamp's text is cached (a file's records share one)."""
    if p is None:
        return None
    at = _AT_JSON.get(p.at)
    if at is None:
        if len(_AT_JSON) > 10_000:
            _AT_JSON.clear()
        at = _AT_JSON[p.at] = p.model_dump(mode="json")["at"]
    return {"source": p.source, "ref": p.ref, "at": at}


def _storable(value: Any) -> Any:
    """A rejected row as the quarantine can keep it: PostgreSQL's text and JSONB cannot hold U+0000, so the
    character is kept as the visible text `\\u0000` (the entry still shows where it was)."""
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000") if "\x00" in value else value
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    return value


#: How much of a rejected row's raw content the quarantine keeps: each text its first RAW_TEXT characters, each
#: list or object its first RAW_ITEMS entries, RAW_DEPTH levels of nesting, about RAW_TOTAL characters in all.
#: A marker in place of the rest says what was cut and how big it was; the reason keeps its whole text. (One
#: CSV row of 50 MB of `;` was stored, listed and served whole: 157 MB of JSON per entry, GBs of memory.)
RAW_TEXT, RAW_ITEMS, RAW_DEPTH, RAW_TOTAL = 4096, 1000, 32, 64 * 1024


def _raw_kept(raw: Any) -> Any:
    """A rejected row's raw content as the quarantine keeps it (RAW_TEXT…), `_storable`; None stays None."""
    return None if raw is None else _kept(raw, [RAW_TOTAL], 0)


def _kept(value: Any, left: list[int], depth: int) -> Any:
    """`value` within the caps, `left` the characters still to keep (shared by the whole row). A marker (text) in
    place of what is cut: a text's end, a list's last item, an object's `…` field."""
    if isinstance(value, str):
        keep = max(min(RAW_TEXT, left[0]), 0)
        text = value if len(value) <= keep else f"{_clipped(value, keep + 1)} [cut: {len(value):,} characters " \
            f"in all, the first {keep:,} kept]"
        left[0] -= len(text)
        return _storable(text)
    if not isinstance(value, (dict, list, tuple)):
        left[0] -= 8
        return value
    if depth >= RAW_DEPTH:
        return f"[cut: nested deeper than {RAW_DEPTH} levels]"
    items = value.items() if isinstance(value, dict) else enumerate(value)
    kept: list[tuple[Any, Any]] = []
    for n, (key, item) in enumerate(items):
        if n >= RAW_ITEMS or left[0] <= 0:
            break
        kept.append((_kept(key, left, depth) if isinstance(value, dict) else key, _kept(item, left, depth + 1)))
    cut = f"[cut: {len(value):,} entries in all, the first {len(kept):,} kept]" if len(kept) < len(value) else None
    if isinstance(value, dict):
        return {**dict(kept), "…": cut} if cut else dict(kept)
    return [item for _, item in kept] + ([cut] if cut else [])


def _clipped(text: str | None, length: int) -> str | None:
    """A quarantine column's text within its length (PostgreSQL refuses longer): a 300-character SKU is the
    reason its row was rejected, and the raw row keeps it whole."""
    return text if text is None or len(text) <= length else text[: length - 1] + "…"


def _open_entry_keys(conn: Connection, source: str, keys: list[str | None], job_id: int | None) -> set[str]:
    """Which of `keys` have an open entry by `source` (not of job `job_id`): one plain statement over the key
    list bound as one parameter, before `resolve_quarantine` builds its SQLAlchemy `IN (…)` statements (~3 % of
    a merge import's time when they ran for every batch of 2,000 clean records). It asks the record key's index
    only; source and job are told here, as pim.store.supersede.held_open does, so SQLite does not walk every
    open entry of the source."""
    marks = Statements(conn)
    rows = marks.all(f"SELECT record_key, source, job_id FROM quarantine WHERE record_key {marks.any_of} "
                     "AND resolved_at IS NULL", (marks.bound([k for k in keys if k is not None]),))
    return {key for key, of, job in rows if of == source and (job_id is None or job is None or job != job_id)}


def json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


INTERRUPTED = "interrupted"
HEARTBEATS = Heartbeats()  # this process's running jobs


#: Per job kind, for an interrupted job: what it left (a sentence), what running it again is for, and why that
#: is safe. A kind not named here (a new one) gets _ANY_KIND.
_LEFT_BEHIND: dict[str, tuple[str, str, str]] = {
    "import": ("Every batch it committed is kept and nothing else", "to do the rest",
               "an import skips the records it already merged"),
    "publish": ("The channel keeps its previous output, unless the job stopped while that was being replaced: then "
                "part of it is new", "to publish", "a publication starts over and replaces it all. What it had "
                "rendered, under PIM_OUTPUT/.staging, goes with the next publication or `pim maintain`"),
    "rescore": ("The scores it committed are kept and nothing else (a family's rescore commits page by page, "
                "`pim gate rescore` all at once)", "to finish the rescore", "a rescore starts over"),
    "grid_reindex": ("The grid pages it committed are re-filed and nothing else: until it succeeds, the grid may "
                     "still file the rest under their old categories or names", "to finish the re-index",
                     "a re-index writes only what is still wrong"),
    "feed": ("Nothing it built or sent counts as delivered: a contract's watermark moves only after a confirmed "
             "delivery", "to deliver the feed", "the delivery sends everything since the last confirmed one"),
}
_ANY_KIND = ("What it committed before it stopped is kept and nothing else", "to do the rest", "")


def run_again(job: dict[str, Any], purpose: str = "to do the rest") -> str:
    """How to go on with a job that stopped: queue it again (a queued job), or run its command again."""
    command = (job.get("payload") or {}).get("command")
    if command and (job.get("payload") or {}).get("command_only"):  # pim.import_command: no worker can run it
        return f"Run `{command}` again {purpose}"
    if command:  # a command ran it (pim.job_command): at the terminal, the command is what one runs again
        return f"Run `{command}` again {purpose}, or queue it for a worker (`pim jobs retry {job['id']}`)"
    if job.get("payload") is not None:
        return f"Queue it again {purpose} (its job page, or `pim jobs retry {job['id']}`)"
    return f"Run the same command again {purpose}"


def _rerun(job: dict[str, Any]) -> str:
    """What an interrupted job of its kind left, and how to finish it: its command again, or (a queued job,
    pim.job_queue) a retry."""
    left, purpose, why = _LEFT_BEHIND.get(str(job.get("kind")), _ANY_KIND)
    again = run_again(job, purpose)
    return f"{left}; {again[0].lower()}{again[1:]}{f': {why}' if why else ''}"


def _job_view(job: dict[str, Any], heartbeat_seconds: float = 0.0) -> dict[str, Any]:
    """A job row as readers see it: a running job whose process is gone (killed, crashed, its machine lost) is
    `interrupted`, with what to do next. On the host that ran it the pid tells at once; elsewhere a heartbeat
    older than a few intervals does. Its committed batches are kept: imports and publishes commit batch by
    batch, each batch whole or not at all."""
    if job.get("status") != "running":
        return job
    if job.get("pid") and job.get("host") == socket.gethostname()[:255]:
        if not _process_alive(job["pid"]) or _started_after(job["pid"], job.get("started_at")):
            job["status"] = INTERRUPTED
            job["error"] = (f"the process that ran this job (pid {job['pid']} on {job['host']}) ended without "
                            f"finishing it. {_rerun(job)}")
    elif is_stale(job.get("heartbeat_at"), heartbeat_seconds, now()):
        job["status"] = INTERRUPTED
        job["error"] = (f"the process that ran this job (on {job.get('host') or 'an unknown host'}) has not "
                        f"reported since {job['heartbeat_at']:%Y-%m-%d %H:%M:%S} UTC: it was stopped or lost its "
                        f"machine. {_rerun(job)}")
    return job


def process_alive(row: Mapping[str, Any], heartbeat_seconds: float = 0.0) -> bool:
    """Whether the process a row names (host, pid, started_at, heartbeat_at: a job's or a queue worker's) is still
    alive, judged as `_job_view` judges a running job."""
    return _job_view({**row, "status": "running"}, heartbeat_seconds)["status"] == "running"


@dataclass
class _Adoption:
    kind: str
    job_id: int | None


_ADOPTION: ContextVar[_Adoption | None] = ContextVar("pim_job_adoption", default=None)


@contextmanager
def adopting(kind: str, job_id: int) -> Iterator[None]:
    """Inside, the first `Store.start_job(kind)` returns `job_id` (a queued job a worker claimed) instead of
    recording a new job, so a run's counts, status and quarantine land on the job people are watching."""
    with scoped(_ADOPTION, _Adoption(kind, job_id)):
        yield


def _started_after(pid: int, stamp: datetime | None) -> bool:
    """Whether process `pid` started after `stamp`: then it is not the job's process but a later one that was
    given the same pid. Linux only (/proc); elsewhere False (the pid is trusted)."""
    if stamp is None:
        return False
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        started = boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    at = as_utc(stamp).timestamp()
    return started > at + 2  # btime and the tick count are coarse: allow a little


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    except OSError:
        return True  # cannot tell (e.g. no signals on this platform): say running, as stored
    return True


def _keywords(listener: Any) -> frozenset[str]:
    """Which of the optional listener keywords (`records`, `before`, `deltas`) this listener takes."""
    try:
        params = inspect.signature(listener).parameters
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(k for k in ("records", "before", "deltas") if k in params)


_PRODUCT_COLUMNS = ["identifier", "family", "parent", "enabled", "categories", "groups", "value_map", "source",
                    "provenance", "associations", "content_hash", "created_at", "updated_at", "seq"]
_UPDATE_VALUES = ["value_map", "provenance", "content_hash", "updated_at", "seq"]
_UPDATE_FIELDS = ["family", "parent", "enabled", "categories", "groups", "source", "associations"]


@dataclass(slots=True)
class ProductRowUpdate:
    """A stored product's new value and provenance maps and hash, JSON already serialised; `fields` holds the
    other columns (family, parent, enabled, categories, groups, source, associations; JSON serialised) only
    when the write changed them (see Store.update_product_rows)."""

    identifier: str
    value_map: str
    provenance: str
    content_hash: str
    fields: tuple[Any, ...] | None = None
    #: The same change as patches, JSON texts (value keys set, value keys removed, provenance keys set,
    #: provenance keys removed; None: none): PostgreSQL applies these to the stored maps instead of parsing
    #: the whole maps again (pim.store.jsonb_patch)
    patch: tuple[str | None, str | None, str | None, str | None] | None = None


_MODEL_COLUMNS = ["code", "family_variant", "family", "parent", "categories", "value_map", "source", "provenance",
                  "associations", "content_hash", "updated_at", "seq"]


class Store:
    """One catalog database. Cheap to construct; `migrate()` once per process before use."""

    def __init__(self, url: str, *, batch_size: int = 2000, engine: Engine | None = None,
                 heartbeat_seconds: float = 30.0) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self.batch_size = batch_size
        #: How often a running job stamps its heartbeat; readers judge other hosts' jobs by it (0: off).
        self.heartbeat_seconds = heartbeat_seconds
        self.listeners: list[ProductListener] = []
        self.structure_listeners: list[StructureListener] = []

    @classmethod
    def from_settings(cls, settings: Any = None, *, migrate_now: bool = True) -> "Store":
        from pim.registry import product_listeners
        from pim.settings import get_settings

        s = settings or get_settings()
        store = cls(s.db_url, batch_size=s.batch_size, heartbeat_seconds=s.job_heartbeat_seconds)
        if migrate_now:
            store.migrate()
        store.listeners.extend(product_listeners(store))
        return store

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # ---------------------------------------------------------------- upsert helper
    def upsert_rows(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
        """INSERT … ON CONFLICT DO UPDATE for a batch of rows that share their columns (plain DB-API
        executemany through pim.store.raw: Core's per-row binding cost more than the database)."""
        if rows:
            raw_table(self, conn, table).upsert(conn, rows, keys)

    def lock_writes(self, conn: Connection) -> None:
        """Take the catalog's write lock as the first statement of a transaction, so what it reads stays as read
        until it commits. Every product or model write reserves its seq from the `catalog` counter under that
        row's lock (next_seq), so on PostgreSQL holding it first keeps every other writer out, always in the
        same order (no deadlock); SQLite takes its database write lock (BEGIN IMMEDIATE). A writer working in its
        caller's transaction (put_stock_in) takes it too, whether or not the caller did: on PostgreSQL that locks
        the counter row again (one statement), and on SQLite a transaction that has written already holds the
        write lock (BEGIN IMMEDIATE would fail there, so it is skipped)."""
        if self.dialect != "postgresql":
            if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        query = select(SEQUENCE.c.value).where(SEQUENCE.c.name == "catalog").with_for_update()
        if conn.execute(query).first() is None:  # an empty catalog: the counter row is made once
            conn.exec_driver_sql("INSERT INTO sequence (name, value) VALUES ('catalog', 0) ON CONFLICT DO NOTHING")
            conn.execute(query)

    def next_seq(self, conn: Connection, count: int = 1, name: str = "catalog") -> int:
        """Reserve `count` sequence numbers and return the first. Row-locks the counter inside the transaction."""
        current = conn.execute(
            select(SEQUENCE.c.value).where(SEQUENCE.c.name == name).with_for_update()
        ).scalar_one_or_none()
        if current is None:
            conn.execute(insert(SEQUENCE).values(name=name, value=count))
            return 1
        conn.execute(update(SEQUENCE).where(SEQUENCE.c.name == name).values(value=current + count))
        return current + 1

    def current_seq(self, name: str = "catalog") -> int:
        with self.engine.connect() as conn:
            return sequence_value(conn, name)

    # ---------------------------------------------------------------- structure
    def put_structure(self, kind: str, items: Iterable[BaseModel]) -> int:
        return self.put_structures([(kind, items)])[kind]

    def put_structures(self, sections: Iterable[tuple[str, Iterable[BaseModel]]]) -> dict[str, int]:
        """Several kinds in one transaction, in the order given (attributes before the families naming them):
        a structure load is saved whole or not at all. Each kind's listeners run after its rows are written."""
        counts: dict[str, int] = {}
        with self.begin() as conn:
            for kind, items in sections:
                stamp = now()
                rows = [{"kind": kind, "code": structure_key(kind, item), "data": item.model_dump(mode="json"),
                         "updated_at": stamp} for item in items]
                before = self._structure_data(conn, kind, [r["code"] for r in rows])
                for chunk in batched(rows, self.batch_size):
                    self.upsert_rows(conn, STRUCTURE, chunk, ["kind", "code"])
                _bump_structure_version(self, conn)
                for listener in self.structure_listeners:
                    listener(conn, kind, before, {r["code"]: r["data"] for r in rows})
                counts[kind] = counts.get(kind, 0) + len(rows)
        return counts

    def _structure_data(self, conn: Connection, kind: str, codes: list[str]) -> dict[str, Any]:
        if not self.structure_listeners:
            return {}
        found: dict[str, Any] = {}
        for chunk in batched(codes, 1000):
            q = select(STRUCTURE.c.code, STRUCTURE.c.data).where(STRUCTURE.c.kind == kind, STRUCTURE.c.code.in_(chunk))
            found.update({code: data for code, data in conn.execute(q)})
        return found

    def delete_structure(self, kind: str, code: str, *, also: Callable[[Connection], Any] | None = None) -> bool:
        """`also` removes what goes with the item (a channel's gate decisions) in the same transaction."""
        with self.begin() as conn:
            before = self._structure_data(conn, kind, [code])
            res = conn.execute(delete(STRUCTURE).where(STRUCTURE.c.kind == kind, STRUCTURE.c.code == code))
            _bump_structure_version(self, conn)
            for listener in self.structure_listeners:
                listener(conn, kind, before, {code: None})
            if also is not None:
                also(conn)
        return bool(res.rowcount)

    def get_structure(self, kind: str) -> list[Any]:
        model = STRUCTURE_KINDS[kind]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(STRUCTURE.c.data).where(STRUCTURE.c.kind == kind).order_by(STRUCTURE.c.code)
            ).scalars()
            return [model.model_validate(r, context=STORED) for r in rows]

    def structure(self) -> Structure:
        return Structure.from_items({kind: self.get_structure(kind) for kind in STRUCTURE_KINDS})

    # ---------------------------------------------------------------- products
    def upsert_products(self, records: Iterable[Product], *, force: bool = False) -> UpsertCounts:
        """Write products in batches, one transaction each. Unchanged content (same hash) is skipped."""
        total = UpsertCounts()
        for chunk in batched(records, self.batch_size):
            with self.begin() as conn:
                counts, written = self.write_products_in(conn, chunk, force=force)
                if written:
                    self.notify(conn, counts.changed_keys, written)
            total.add(counts)
        return total

    def write_products_in(self, conn: Connection, chunk: list[Product], *,
                          force: bool = False) -> tuple[UpsertCounts, dict[str, Product]]:
        """Write one batch inside the caller's transaction, without telling the listeners (the caller
        does, with `notify`, once its other writes are done). Returns the counts and the products written."""
        counts = UpsertCounts()
        latest: dict[str, Product] = {p.identifier: p for p in chunk}  # last one wins within a batch
        writer = raw_table(self, conn, PRODUCT)
        digests = {ident: product.content_hash() for ident, product in latest.items()}
        existing, variants = _stored_children(conn, writer, latest, digests)
        changed: list[tuple[str, Product, str]] = []
        same = set() if force else self._same_as_merged(conn, existing, digests)
        for ident, product in latest.items():
            digest = digests[ident]
            known = existing.get(ident)
            if known is not None and (known[1] == digest or ident in same) and not force:
                counts.unchanged += 1
                continue
            if known is not None:
                counts.updated += 1
                counts.updated_keys.append(ident)
            else:
                counts.created += 1
            changed.append((ident, product, digest))
        if not changed:
            return counts, {}
        first = self.next_seq(conn, len(changed))
        stamp = writer.bind("updated_at", now())
        provs: dict[int, Any] = {}  # id(Provenance) → JSON: merged products share one object across keys
        writer.write_bound(conn, _PRODUCT_COLUMNS, ["identifier"],
                           [self._product_tuple(p, digest, stamp, first + n, provs)
                            for n, (_, p, digest) in enumerate(changed)])
        keys = [c[0] for c in changed]
        conn.execute(delete(DELETED).where(DELETED.c.identifier.in_(keys)))
        counts.changed_keys = keys
        if counts.updated_keys:  # a replaced variant may fill an axis a note says is missing, or leave its model
            _close_filled_gaps(conn, records={ident: p for ident, p, _ in changed if ident in existing},
                               stored=variants)  # (a new one has no notes)
        return counts, {ident: p for ident, p, _ in changed}

    def _same_as_merged(self, conn: Connection, existing: dict[str, tuple[int, str]], digests: dict[str, str]) -> set[str]:
        """Rows a merge rewrote in part carry a chained hash (pim.partial_merge): compare those records by their
        stored content, and store the real hash of the ones that match so the next write compares cheaply."""
        chained = [i for i, (_, h) in existing.items() if h.startswith(CHAINED) and i in digests]
        if not chained:
            return set()
        same: set[str] = set()
        for chunk in batched(chained, 1000):
            for row in conn.execute(select(PRODUCT).where(PRODUCT.c.identifier.in_(chunk))):
                ident = row._mapping["identifier"]
                if self.row_to_product(row).content_hash() == digests[ident]:
                    same.add(ident)
        if same:
            conn.execute(update(PRODUCT).where(PRODUCT.c.identifier == bindparam("ident"))
                         .values(content_hash=bindparam("digest")),
                         [{"ident": i, "digest": digests[i]} for i in sorted(same)])
        return same

    def update_product_rows(self, conn: Connection, rows: list[ProductRowUpdate]) -> dict[str, int]:
        """Rewrite stored products a caller changed in part (a merge that touched a few keys and re-encoded
        only those): each row gets the next seq. Returns identifier → its new seq."""
        if not rows:
            return {}
        first = self.next_seq(conn, len(rows))
        writer = raw_table(self, conn, PRODUCT)
        stamp = writer.bind("updated_at", now())
        values_only: list[tuple[Any, ...]] = []
        whole: list[tuple[Any, ...]] = []
        patched: list[tuple[Any, ...]] = []
        pg = conn.dialect.name == "postgresql"
        for n, r in enumerate(rows):
            if pg and r.fields is None and r.patch is not None:
                patched.append((r.identifier, *r.patch, r.content_hash, stamp, first + n))
                continue
            row = (r.value_map, r.provenance, r.content_hash, stamp, first + n)
            if r.fields is None:  # the usual merge: only values changed, the other columns stay as stored
                values_only.append((*row, r.identifier))
            else:
                whole.append((*row, *r.fields, r.identifier))
        writer.update(conn, _UPDATE_VALUES, "identifier", values_only)
        writer.update(conn, _UPDATE_VALUES + _UPDATE_FIELDS, "identifier", whole)
        patch_products(conn, patched)
        return {r.identifier: first + n for n, r in enumerate(rows)}

    def notify(self, conn: Connection, identifiers: list[str], records: dict[str, Product] | None = None,
               before: dict[str, Product | None] | None = None, deltas: dict[str, Any] | None = None) -> None:
        """Tell the product listeners what a write changed (see ProductListener for the keywords). First the
        missing-axis notes a merge's partial rewrites (`deltas`) fixed are closed, whoever wrote them
        (pim.variant_levels.close_filled_gaps; whole writes close theirs in `write_products_in`)."""
        if deltas:
            _close_filled_gaps(conn, deltas=deltas)
        given = {"records": records, "before": before, "deltas": deltas}
        for listener in self.listeners:
            listener(conn, identifiers, **{k: given[k] for k in _keywords(listener) if given[k] is not None})

    @staticmethod
    def _product_tuple(p: Product, digest: str, stamp: Any, seq: int, provs: dict[int, Any]) -> tuple[Any, ...]:
        """A row in _PRODUCT_COLUMNS order, JSON columns serialised."""
        def prov(v: Provenance) -> Any:
            hit = provs.get(id(v))
            if hit is None:
                hit = provs[id(v)] = provenance_json(v)
            return hit

        return (p.identifier, p.family, p.parent, p.enabled, json_text(p.categories), json_text(p.groups), json_text(p.values),
                json_text(provenance_json(p.source)), json_text({k: prov(v) for k, v in p.provenance.items()}),
                json_text({k: v.model_dump(exclude_defaults=True) for k, v in p.associations.items()}),
                digest, stamp, stamp, seq)

    def upsert_models(self, records: Iterable[ProductModel], *, force: bool = False) -> UpsertCounts:
        total = UpsertCounts()
        for chunk in batched(records, self.batch_size):
            with self.begin() as conn:
                total.add(self.write_models_in(conn, chunk, force=force))
        return total

    def write_models_in(self, conn: Connection, chunk: list[ProductModel], *, force: bool = False) -> UpsertCounts:
        """Write whole models inside the caller's transaction; their variants get a new seq and the listeners
        hear of them. Unchanged content (same hash) is skipped."""
        counts = UpsertCounts()
        latest = {m.code: m for m in chunk}
        writer = raw_table(self, conn, MODEL)
        digests = {code: m.content_hash() for code, m in latest.items()}
        existing, submodels = _stored_children(conn, writer, latest, digests)
        changed = []
        for code, m in latest.items():
            digest = digests[code]
            if code in existing and existing[code][1] == digest and not force:
                counts.unchanged += 1
                continue
            counts.updated += code in existing
            counts.created += code not in existing
            if code in existing:
                counts.updated_keys.append(code)
            changed.append((code, m, digest))
        if changed:
            first = self.next_seq(conn, len(changed))
            stamp = writer.bind("updated_at", now())
            writer.write_bound(conn, _MODEL_COLUMNS, ["code"], [(
                code, m.family_variant, m.family, m.parent, json_text(m.categories), json_text(m.values),
                json_text(provenance_json(m.source)), json_text({k: provenance_json(v) for k, v in m.provenance.items()}),
                json_text({k: v.model_dump(exclude_defaults=True) for k, v in m.associations.items()}),
                digest, stamp, first + n) for n, (code, m, digest) in enumerate(changed)])
            counts.changed_keys = [c[0] for c in changed]
            if counts.updated_keys:  # a replaced sub-model may fill its axis, or become a root (a new one has no notes)
                _close_filled_gaps(conn, models={code: m for code, m, _ in changed if code in existing},
                                   stored_models=submodels)
            self._touch_variants(conn, counts.changed_keys)
        return counts

    def _touch_variants(self, conn: Connection, model_codes: list[str]) -> None:
        """A model's change is a change of every variant below it: bump their seq and tell the listeners."""
        variants = variants_of(conn, model_codes)
        if variants:
            self.touch_products(conn, variants)
            self.notify(conn, variants)

    def touch_products(self, conn: Connection, identifiers: list[str]) -> int:
        """Mark products changed for incremental exporters (a new seq) without rewriting them: their data
        outside the record changed, e.g. stock. Listeners are not called (completeness does not move). Any
        number of identifiers: they are looked up and stamped 2,000 at a time (bound-parameter limits)."""
        mark = "%s" if self.dialect == "postgresql" else "?"
        done = 0
        for chunk in batched(sorted(set(identifiers)), 2000):
            found = sorted(conn.execute(select(PRODUCT.c.identifier).where(PRODUCT.c.identifier.in_(chunk))).scalars())
            if not found:
                continue
            first = self.next_seq(conn, len(found))
            conn.exec_driver_sql(f"UPDATE product SET seq = {mark} WHERE identifier = {mark}",
                                 [(first + offset, ident) for offset, ident in enumerate(found)])
            done += len(found)
        return done

    def notify_products(self, identifiers: list[str]) -> None:
        """Run the write listeners (e.g. completeness rescoring) for products whose inputs changed outside
        their own record, such as an image found broken by media ingest. The products are not rewritten."""
        for chunk in batched(identifiers, self.batch_size):
            with self.begin() as conn:
                self.notify(conn, chunk)

    def delete_products(self, identifiers: list[str]) -> int:
        with self.begin() as conn:
            found = list(conn.execute(select(PRODUCT.c.identifier).where(PRODUCT.c.identifier.in_(identifiers))).scalars())
            if not found:
                return 0
            conn.execute(delete(PRODUCT).where(PRODUCT.c.identifier.in_(found)))
            first = self.next_seq(conn, len(found))
            stamp = now()
            self.upsert_rows(
                conn, DELETED,
                [{"identifier": i, "seq": first + n, "deleted_at": stamp} for n, i in enumerate(found)],
                ["identifier"],
            )
            self.notify(conn, found)
        return len(found)

    @staticmethod
    def row_to_product(row: Any) -> Product:
        m = row._mapping
        return Product.model_validate({
            "identifier": m["identifier"], "family": m["family"], "parent": m["parent"], "enabled": m["enabled"],
            "categories": m["categories"], "groups": m["groups"], "values": m["value_map"],
            "source": m["source"], "provenance": m["provenance"], "associations": m["associations"],
        })

    @staticmethod
    def row_to_model(row: Any) -> ProductModel:
        m = row._mapping
        return ProductModel.model_validate({
            "code": m["code"], "family_variant": m["family_variant"], "family": m["family"], "parent": m["parent"],
            "categories": m["categories"], "values": m["value_map"], "source": m["source"],
            "provenance": m["provenance"], "associations": m["associations"],
        })

    def get_product(self, identifier: str) -> Product | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(PRODUCT).where(PRODUCT.c.identifier == identifier)).first()
        return self.row_to_product(row) if row else None

    def get_model(self, code: str) -> ProductModel | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(MODEL).where(MODEL.c.code == code)).first()
        return self.row_to_model(row) if row else None

    def ancestors(self, product: Product | ProductModel,
                  get_model: Callable[[str], ProductModel | None] | None = None) -> list[ProductModel]:
        """Parent first, then grandparent: what a variant inherits from. `get_model` lets a caller that
        streams many products look models up through its own cache."""
        get = get_model or self.get_model
        chain: list[ProductModel] = []
        parent = product.parent
        while parent and len(chain) < 2:
            model = get(parent)
            if model is None:
                break
            chain.append(model)
            parent = model.parent
        return chain

    def existing_identifiers(self, identifiers: list[str]) -> set[str]:
        """Which of these products exist (one indexed query, no value decoding)."""
        return self._existing(PRODUCT, "identifier", identifiers)

    def existing_model_codes(self, codes: list[str]) -> set[str]:
        """Which of these product models exist (one indexed query, no value decoding)."""
        return self._existing(MODEL, "code", codes)

    def _existing(self, table: Table, key: str, wanted: list[str]) -> set[str]:
        """The `key` values of `table` among `wanted`: one raw query (the list bound as one parameter, so no
        chunks and no per-call statement compile)."""
        with self.engine.connect() as conn:
            return {row[0] for row in raw_table(self, conn, table).select(conn, (key,), key, wanted)}

    def iter_products(
        self,
        *,
        enabled_only: bool = False,
        since_seq: int | None = None,
        identifiers: list[str] | None = None,
        families: list[str] | None = None,
        page: int = 1000,
    ) -> Iterator[Product]:
        """Stream products in id order, one page per query (keyset paging)."""
        last = 0
        while True:
            q = select(PRODUCT).where(PRODUCT.c.id > last).order_by(PRODUCT.c.id).limit(page)
            if enabled_only:
                q = q.where(PRODUCT.c.enabled.is_(True))
            if since_seq is not None:
                q = q.where(PRODUCT.c.seq > since_seq)
            if identifiers is not None:
                q = q.where(PRODUCT.c.identifier.in_(identifiers))
            if families is not None:
                q = q.where(PRODUCT.c.family.in_(families))
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for row in rows:
                yield self.row_to_product(row)
            last = rows[-1]._mapping["id"]

    def iter_models(self, page: int = 1000) -> Iterator[ProductModel]:
        last = 0
        while True:
            q = select(MODEL).where(MODEL.c.id > last).order_by(MODEL.c.id).limit(page)
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for row in rows:
                yield self.row_to_model(row)
            last = rows[-1]._mapping["id"]

    def deleted_since(self, seq: int) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(DELETED.c.identifier).where(DELETED.c.seq > seq)).scalars())

    def changes_since(self, seq: int, limit: int) -> list[tuple[int, str, bool]]:
        """(seq, identifier, written?) of the products written (True) or deleted (False) after `seq`, oldest
        first, at most `limit`: the REST API's change feed. Each table is read as one range of its seq index,
        cut at `limit` (keyset: a page costs the same anywhere in the catalog), in one statement so both are
        read at one snapshot. A product sits in one table only (a write drops its tombstone), so it is listed
        once, at its latest seq."""
        def newer(table: Table, written: Any) -> Any:
            return (select(table.c.seq, table.c.identifier, written.label("written"))
                    .where(table.c.seq > seq).order_by(table.c.seq).limit(limit).subquery())

        both = union_all(*(select(part) for part in (newer(PRODUCT, true()), newer(DELETED, false())))).subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(select(both).order_by(both.c.seq).limit(limit)).all()
        return [(s, ident, bool(written)) for s, ident, written in rows]

    def count_products(self, *, enabled_only: bool = False) -> int:
        q = select(func.count()).select_from(PRODUCT)
        if enabled_only:
            q = q.where(PRODUCT.c.enabled.is_(True))
        with self.engine.connect() as conn:
            return conn.execute(q).scalar_one()

    def count_models(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(MODEL)).scalar_one()

    # ---------------------------------------------------------------- jobs and quarantine
    def start_job(self, kind: str, source: str = "") -> int:
        adoption = _ADOPTION.get()
        if adoption is not None and adoption.kind == kind and adoption.job_id is not None:
            job_id, adoption.job_id = adoption.job_id, None
            return job_id  # claimed by a queue worker, which stamped host and pid and beats for it
        stamp = now()
        with self.begin() as conn:
            res = conn.execute(
                insert(JOB).values(kind=kind, source=source, status="running", counts={}, started_at=stamp,
                                   host=socket.gethostname()[:255], pid=os.getpid(), heartbeat_at=stamp)
            )
            job_id = int(res.inserted_primary_key[0])
        HEARTBEATS.start(self.engine, JOB, job_id, self.heartbeat_seconds)
        return job_id

    def job_progress(self, job_id: int, counts: dict[str, Any]) -> None:
        """The counts of what a running job has committed so far: a job killed mid-run still says what it
        took in (its batches stay; a re-run skips them)."""
        with self.begin() as conn:
            conn.execute(update(JOB).where(JOB.c.id == job_id, JOB.c.status == "running").values(counts=counts))

    def finish_job(self, job_id: int, counts: dict[str, Any], status: str = "succeeded", error: str | None = None) -> None:
        HEARTBEATS.stop(job_id)
        with self.begin() as conn:
            conn.execute(
                update(JOB).where(JOB.c.id == job_id)
                .values(counts=counts, status=status, error=error, finished_at=now())
            )

    def job(self, job_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(JOB).where(JOB.c.id == job_id)).first()
        return _job_view(dict(row._mapping), self.heartbeat_seconds) if row else None

    def jobs(self, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = select(JOB).order_by(JOB.c.id.desc()).limit(limit)
        if kind:
            q = q.where(JOB.c.kind == kind)
        with self.engine.connect() as conn:
            return [_job_view(dict(r._mapping), self.heartbeat_seconds) for r in conn.execute(q)]

    def quarantine(self, job_id: int | None, entries: Iterable[QuarantineEntry], conn: Connection | None = None) -> int:
        stamp = now()
        rows = [
            {"job_id": job_id, "source": _clipped(e.source, 100), "file": _clipped(_storable(e.file), 1000), "line": e.line,
             "field": _clipped(_storable(e.field), 255), "reason": _storable(e.reason), "raw": _raw_kept(e.raw),
             "record_key": _clipped(_storable(e.record_key), 255), "severity": e.severity, "kind": e.kind,
             "created_at": stamp}
            for e in entries
        ]
        if not rows:
            return 0

        def write(c: Connection) -> None:
            for chunk in batched(rows, self.batch_size):
                c.execute(insert(QUARANTINE), chunk)
            if job_id is not None:
                supersede_records(c, job_id, rows, stamp)

        if conn is not None:
            write(conn)
        else:
            with self.begin() as c:
                write(c)
        return len(rows)

    def quarantined(self, job_id: int | None = None, *, open_only: bool = True, limit: int | None = None,
                    severity: str | None = None, source: str | None = None,
                    file: str | None = None, after: int = 0, since: datetime | None = None) -> list[dict[str, Any]]:
        """Quarantine entries, oldest first: of one job, open only, of one severity, source or file name, recorded
        `since` then (a retried job's current attempt); those after entry id `after` (a page of
        `iter_quarantined`)."""
        where = _entries(job_id, open_only, severity, source, file, since)
        q = select(QUARANTINE).where(*where).order_by(QUARANTINE.c.id)
        if after:  # only for a later page: `id > 0` could steer the planner off the job's index
            q = q.where(QUARANTINE.c.id > after)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def iter_quarantined(self, job_id: int | None = None, *, open_only: bool = True, severity: str | None = None,
                         source: str | None = None, file: str | None = None,
                         page: int = 1000) -> Iterator[dict[str, Any]]:
        """Every entry `quarantined` lists, one page per query (keyset paging): a long quarantine streams instead
        of being held in memory."""
        last = 0
        while rows := self.quarantined(job_id, open_only=open_only, severity=severity, source=source, file=file,
                                       limit=page, after=last):
            yield from rows
            last = rows[-1]["id"]

    def quarantine_summary(self, job_id: int | None = None, *, open_only: bool = True, severity: str | None = None,
                           source: str | None = None, file: str | None = None,
                           since: datetime | None = None) -> list[dict[str, Any]]:
        """The entries `quarantined` would list, counted by source, severity, file and field (most first), each
        group with its newest reason: what a long list is mostly about, and how many it holds in all."""
        where = _entries(job_id, open_only, severity, source, file, since)
        keys = (QUARANTINE.c.source, QUARANTINE.c.severity, QUARANTINE.c.file, QUARANTINE.c.field)
        groups = (select(*keys, func.count().label("entries"), func.max(QUARANTINE.c.id).label("newest"))
                  .where(*where).group_by(*keys).order_by(func.count().desc(), *keys))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(groups)]
            reasons = dict(conn.execute(select(QUARANTINE.c.id, QUARANTINE.c.reason)
                                        .where(QUARANTINE.c.id.in_([r["newest"] for r in rows[:1000]]))).all())
        return [{**{k: v for k, v in r.items() if k != "newest"}, "example": reasons.get(r["newest"])} for r in rows]

    def supersede_quarantine(self, job_id: int, source: str, files: Iterable[str]) -> int:
        """After job `job_id` of `source` read `files` through (entries' file names): close their rejections
        recorded before it started (for an upload, those of the earlier uploads of the same file too), as
        superseded by it (pim.store.supersede). Returns the entries closed."""
        with self.begin() as conn:
            return supersede_files(conn, job_id, _clipped(source, 100) or "",
                                   [_clipped(_storable(f), 1000) or "" for f in files], now())

    def resolve_quarantine(self, source: str, record_keys: list[str], conn: Connection | None = None, *,
                           job_id: int | None = None, carried: Carried | None = None) -> int:
        """Entries for records that have now imported cleanly are closed, not deleted: history stays.
        `record_keys` as entries name them: a SKU, or `model:<code>` (pim.importing). In `conn`'s transaction
        when given (an import batch's write), else in one of its own. `job_id`: the run taking the records in,
        whose own entries stay open: a row of the file that was rejected is still wrong when a later row of the
        same record comes in clean (its next run judges it again). `carried`: what the records carried; a
        rejection naming a field its record left out stays open (pim.store.supersede.held_open)."""
        if not record_keys:
            return 0
        all_keys = [_clipped(k, 255) for k in record_keys]
        others = [] if job_id is None else [or_(QUARANTINE.c.job_id.is_(None), QUARANTINE.c.job_id != job_id)]

        def close(c: Connection) -> int:
            found = _open_entry_keys(c, source, all_keys, job_id)
            if not found:  # the usual batch: nothing of it is in the quarantine, and no IN (…) of 2,000 keys is built
                return 0
            pairs = [(k, r) for k, r in zip(all_keys, record_keys) if k in found]
            keys = [k for k, _ in pairs]
            held = [] if carried is None else held_open(c, source, dict(pairs), others, carried)
            kept = [QUARANTINE.c.id.not_in(held)] if held else []
            return c.execute(update(QUARANTINE).where(
                QUARANTINE.c.source == source, QUARANTINE.c.record_key.in_(keys), QUARANTINE.c.resolved_at.is_(None),
                *others, *kept).values(resolved_at=now())).rowcount or 0

        if conn is not None:
            return close(conn)
        with self.begin() as c:
            return close(c)

    def prune_quarantine(self, before: datetime, *, dry_run: bool = False) -> dict[str, int]:
        """Delete the entries closed before `before` (open ones always stay), in batches; how many went (or would,
        with `dry_run`) per source. The quarantine's retention (pim.store.quarantine_prune)."""
        return prune_closed(self, before, dry_run=dry_run)


def _stored_children(conn: Connection, writer: RawTable, records: dict[str, Product] | dict[str, ProductModel],
                     digests: dict[str, str]) -> tuple[dict[str, tuple[int, str]], Any]:
    """key → (id, content_hash) of the rows a whole write of products or models (`writer` their table) finds
    stored, with what its missing-axis notes need of them, read in the same statement
    (pim.variant_levels.stored_children)."""
    from pim.variant_levels import stored_children

    return stored_children(conn, writer, records, digests)


def _close_filled_gaps(conn: Connection, **written: Any) -> int:
    """pim.variant_levels.close_filled_gaps, imported when first used: that module builds on this one."""
    from pim.variant_levels import close_filled_gaps

    return close_filled_gaps(conn, **written)


def _entries(job_id: int | None, open_only: bool, severity: str | None, source: str | None,
             file: str | None, since: datetime | None = None) -> list[Any]:
    """The WHERE clauses of a quarantine listing. `file` matches the name an entry gives its file, or its last
    path part (entries of a file read by path name it whole); `since`: entries recorded then or later."""
    where: list[Any] = []
    if since is not None:
        where.append(QUARANTINE.c.created_at >= since)
    if severity is not None:
        where.append(QUARANTINE.c.severity == severity)
    if job_id is not None:
        where.append(QUARANTINE.c.job_id == job_id)
    if open_only:
        where.append(QUARANTINE.c.resolved_at.is_(None))
    if source is not None:
        where.append(QUARANTINE.c.source == source)
    if file is not None:
        where.append(or_(QUARANTINE.c.file == file, QUARANTINE.c.file.endswith("/" + file, autoescape=True)))
    return where
