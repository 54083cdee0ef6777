"""Which products a channel's last whole publish put out, for the publish guard (pim.pipeline.refuse_drop): a count
misses a publish that swaps most products for others, the set does not. One row per output (`publish_baseline`,
migration 0047): a channel and scope at one target (pim.publish_output), which every publish of them there writes
over whatever its catalog (same file names, and the files the last one wrote that this one does not are removed:
exporters.published); replaced by each succeeded publish that wrote the whole channel there: the identifiers
zlib-compressed, NUL-separated (a few bytes per product). While a publish runs, the identifiers it reads are
compressed as they stream (`Seen`), never held as strings; the comparison holds one 8-byte hash per product
published (`Published`)."""

from __future__ import annotations

import hashlib
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, LargeBinary, String, Table, delete, insert, select
from sqlmodel import Field, SQLModel

from pim.store.store import now

SEP = b"\0"  # never in an identifier: PostgreSQL cannot store it in the product table


class PublishBaselineRow(SQLModel, table=True):
    """The identifiers a channel's last whole publish (`job_id`) put out; `key` digests the source (rows written
    before round 37 digest source and catalog: `load` finds a row by its job, `record` replaces every row of the
    source). `catalog`: the catalog that publish used, for reading only."""

    __tablename__ = "publish_baseline"

    key: str = Field(sa_column=Column(String(64), primary_key=True))
    source: str = Field(sa_column=Column(String(1000), nullable=False))
    catalog: str = Field(sa_column=Column(String(1000), nullable=False))  # "": the channel's built-in catalog
    job_id: int
    published: int
    identifiers: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    written_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


BASELINE: Table = PublishBaselineRow.__table__  # type: ignore[assignment]


class Published:
    """The products a run published: their identifiers compressed (`blob`, what is stored) and their hashes
    sorted (membership, in this process only: str hashes are salted per process)."""

    def __init__(self, blob: bytes, hashes: array, count: int) -> None:
        self.blob, self.hashes, self.count = blob, hashes, count

    def __contains__(self, identifier: str) -> bool:
        h = hash(identifier)
        i = bisect_left(self.hashes, h)
        return i < len(self.hashes) and self.hashes[i] == h


class Seen:
    """The identifiers a publish hands its renderer, compressed as they come."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(6)
        self._parts: list[bytes] = []

    def add(self, identifier: str) -> None:
        if part := self._z.compress(identifier.encode() + SEP):
            self._parts.append(part)

    def published(self, withheld: Callable[[str], bool]) -> Published:
        """The identifiers seen that the renderer did not withhold, in the order seen."""
        self._parts.append(self._z.flush())
        z, parts, hashes = zlib.compressobj(6), [], array("q")
        for identifier in identifiers(b"".join(self._parts)):
            if not withheld(identifier):
                hashes.append(hash(identifier))
                if part := z.compress(identifier.encode() + SEP):
                    parts.append(part)
        parts.append(z.flush())
        return Published(b"".join(parts), array("q", sorted(hashes)), len(hashes))


def identifiers(blob: bytes) -> Iterator[str]:
    """The identifiers a compressed blob holds, decompressed a block at a time."""
    z, rest = zlib.decompressobj(), b""
    view = memoryview(blob)
    for start in range(0, len(blob), 1 << 16):
        chunk = rest + z.decompress(view[start:start + (1 << 16)])
        *done, rest = chunk.split(SEP)
        yield from (d.decode() for d in done)
    chunk = rest + z.flush()
    yield from (d.decode() for d in chunk.split(SEP) if d)


def departures(before: bytes, now_published: Published, examples: int = 5) -> tuple[int, list[str]]:
    """How many of the identifiers in `before` the run no longer publishes, and the first few of them."""
    left, named = 0, []
    for identifier in identifiers(before):
        if identifier not in now_published:
            left += 1
            if len(named) < examples:
                named.append(identifier)
    return left, named


def _key(source: str, output: str | None = None) -> str:
    """The row's key: the source and the output (pim.publish_output); without one, as rounds 37 kept it."""
    return hashlib.sha256(f"{source}\0{output or ''}".encode()).hexdigest()


def load(store: Any, source: str, job_id: int) -> bytes | None:
    """The identifiers job `job_id` published, if it is the one this channel's baseline row holds; None
    otherwise (no row yet, or a newer whole publish wrote none: the guard then compares counts)."""
    q = select(BASELINE.c.identifiers).where(BASELINE.c.source == source, BASELINE.c.job_id == job_id)
    with store.engine.connect() as conn:
        blob = conn.execute(q).scalar()
    return bytes(blob) if blob is not None else None


def record(store: Any, source: str, catalog: str | None, job_id: int, published: Published,
           output: str | None = None) -> None:
    """Make job `job_id`'s products the baseline of `source`'s output, whichever catalog (`catalog`, kept for
    reading) it published: the next publish of the channel and scope to the same `output` (pim.publish_output)
    writes over them. The row replaces that output's, and the rows kept before outputs were told apart (keyed by
    the source alone or with a catalog); another output's row stays."""
    key = _key(source, output)
    with store.begin() as conn:
        rows = conn.execute(select(BASELINE.c.key, BASELINE.c.catalog).where(BASELINE.c.source == source)).all()
        older = {_key(source)} | {hashlib.sha256(f"{source}\0{c}".encode()).hexdigest() for _, c in rows}
        gone = [k for k, _ in rows if k == key or k in older]  # this output's, and rows kept before round 37's mend
        if gone:
            conn.execute(delete(BASELINE).where(BASELINE.c.key.in_(gone)))
        conn.execute(insert(BASELINE).values(key=key, source=source, catalog=catalog or "", job_id=job_id,
                                             published=published.count, identifiers=published.blob,
                                             written_at=now()))


def of(items: Iterable[str]) -> Published:
    """A Published of `items` (tests, and runs that know their products up front)."""
    seen = Seen()
    for identifier in items:
        seen.add(identifier)
    return seen.published(lambda _: False)
