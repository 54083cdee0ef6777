"""Asset records: one row per distinct content (SHA-256 of the bytes), every origin that pointed at it,
and the renditions built from it. Also the questions other areas ask without importing media's internals:
`invalid_refs` (is this image value usable?) and `problems` (what is wrong, and where did it come from)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Table, Text, select
from sqlmodel import Field, SQLModel

from pim.store.raw import RawTable
from pim.store.tables import utc_column

SHA_REF = re.compile(r"^sha256:([0-9a-f]{64})$")
VALID, REJECTED = "valid", "rejected"


class AssetRow(SQLModel, table=True):
    """One distinct image. `key` is where the original sits in the asset store (None when rejected)."""

    __tablename__ = "asset"

    sha256: str = Field(primary_key=True, max_length=64)
    format: str | None = Field(default=None, max_length=16)
    width: int | None = None
    height: int | None = None
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(max_length=16, index=True)
    problem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    key: str | None = Field(default=None, max_length=300)
    created_at: datetime = utc_column()


class AssetOriginRow(SQLModel, table=True):
    """Where an image came from: a path, URL or upload name, per source. `sha256` is None when the ref
    could not be read at all (then `problem` says why)."""

    __tablename__ = "asset_origin"

    ref: str = Field(sa_column=Column(Text, primary_key=True))
    source: str = Field(primary_key=True, max_length=100)
    sha256: str | None = Field(default=None, max_length=64, index=True)
    problem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    seen_at: datetime = utc_column()
    etag: str | None = Field(default=None, max_length=400)  # HTTP validators the URL was served with, for
    last_modified: str | None = Field(default=None, max_length=100)  # a refresh's conditional request


class RenditionRow(SQLModel, table=True):
    """One derived image: asset × spec hash → key in the asset store."""

    __tablename__ = "rendition"

    sha256: str = Field(primary_key=True, max_length=64)
    spec_hash: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=100)
    key: str = Field(max_length=300)
    format: str = Field(max_length=16)
    width: int
    height: int
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_column()


class RejectedAssetRow(SQLModel, table=True):
    """The quarantine (media.rejected): the last bytes a ref was rejected for, kept under `key` so the team can
    see what was refused after the source changed or vanished. One row per ref; `key` is None when the bytes
    were over the ingest's size cap (then `note` says so). Goes when the ref passes, or by gc."""

    __tablename__ = "rejected_asset"

    ref: str = Field(sa_column=Column(Text, primary_key=True))
    source: str = Field(max_length=100)
    sha256: str = Field(max_length=64, index=True)
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    key: str | None = Field(default=None, max_length=300)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    first_seen: datetime = utc_column()  # first rejected with these bytes
    last_seen: datetime = utc_column(index=True)  # last recorded by an ingest (read again or known)


ASSET: Table = AssetRow.__table__  # type: ignore[assignment]
ORIGIN: Table = AssetOriginRow.__table__  # type: ignore[assignment]
RENDITION: Table = RenditionRow.__table__  # type: ignore[assignment]
REJECTED_ASSET: Table = RejectedAssetRow.__table__  # type: ignore[assignment]


def original_key(sha: str, extension: str) -> str:
    return f"originals/{sha[:2]}/{sha}.{extension}"


def rendition_key(sha: str, spec_hash: str, extension: str) -> str:
    return f"renditions/{sha[:2]}/{sha}/{spec_hash[:20]}.{extension}"


def _chunks(items: list[str], size: int = 5000) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


@contextmanager
def _connect(target: Any) -> Iterator[Any]:
    """Queries here accept a Store or an open Connection (completeness calls us inside its transaction)."""
    engine = getattr(target, "engine", None)
    with (engine.connect() if engine is not None else nullcontext(target)) as conn:
        yield conn


def resolve(store: Any, refs: Iterable[str]) -> dict[str, str | None]:
    """ref → sha256 of the asset it points at (None: never ingested, or unreadable). `sha256:<hex>` refs
    resolve to themselves. When a ref came from several sources, the latest sighting wins."""
    refs = list(dict.fromkeys(refs))
    out: dict[str, str | None] = {r: None for r in refs}
    plain = []
    for ref in refs:
        m = SHA_REF.match(ref)
        if m:
            out[ref] = m.group(1)
        else:
            plain.append(ref)
    with _connect(store) as conn:
        raw = RawTable(conn, ORIGIN)  # one bound key list per chunk: Core's IN expansion was most of the cost
        for chunk in _chunks(plain):
            rows = raw.select(conn, ("ref", "sha256", "seen_at"), "ref", chunk)
            for ref, sha, _ in sorted(rows, key=lambda r: (r[2] is not None, r[2] or 0)):
                out[ref] = sha
    return out


def get_assets(store: Any, shas: Iterable[str]) -> dict[str, dict[str, Any]]:
    shas = sorted({s for s in shas if s})
    out: dict[str, dict[str, Any]] = {}
    columns = [c.name for c in ASSET.columns]
    with _connect(store) as conn:
        raw = RawTable(conn, ASSET)
        for chunk in _chunks(shas):
            for row in raw.select(conn, columns, "sha256", chunk):
                found = dict(zip(columns, row))
                out[found["sha256"]] = found
    return out


def asset_validity(conn: Any, refs: Iterable[str]) -> set[Any]:
    """pim.registry.ASSET_VALIDITY hook: what does not count as a filled image. Once the media area is in use
    (`media_in_use`: an image was ingested or uploaded), a ref that is not a stored, valid asset — typed text, a
    file name nobody ingested, an unreadable or rejected image — is reported as itself and counts on no
    channel (`pim media ingest` and uploads rescore its products once it reads valid). An http(s) URL nobody
    ingested still counts, even then: every channel links it as it is (channels.field_mapper), so one upload
    does not empty a catalog of CDN URLs; only one media tried and could not read, or found rejected or too
    small, does not. Before the media area is in use (a catalog whose images are served from elsewhere, or an
    import scored before its first ingest) only refs known to be bad are reported. A valid image below a
    channel's size/aspect rules (media.yaml, media.channel_rules) is reported as `(ref, channel)`: it counts on
    the other channels."""
    from media.channel_rules import channel_rules

    mapping = resolve(conn, refs)
    assets = get_assets(conn, [s for s in mapping.values() if s])
    strict = bool(assets) or media_in_use(conn)
    failed = _failed(conn, [r for r, sha in mapping.items() if sha is None and (not strict or is_url(r))])
    rules = [(code, r) for code, r in channel_rules().items()
             if r.min_width or r.min_height or r.min_aspect_ratio or r.max_aspect_ratio]
    out: set[Any] = set()
    for ref, sha in mapping.items():
        asset = assets.get(sha) if sha else None
        if asset is None:
            if (strict and not is_url(ref)) or sha is not None or ref in failed:
                out.add(ref)
        elif asset["status"] != VALID:
            out.add(ref)
        else:
            out.update((ref, code) for code, r in rules if r.problems(asset["width"], asset["height"]))
    return out


def is_url(ref: str) -> bool:
    """An http(s) URL: a value every channel links as it is (channels.field_mapper.convention_url)."""
    return ref.startswith(("http://", "https://"))


def media_in_use(store: Any) -> bool:
    """Whether any image was ever stored (an asset row exists): from then on image values must be assets."""
    with _connect(store) as conn:
        return conn.execute(select(ASSET.c.sha256).limit(1)).first() is not None


def settle_rules(store: Any, *, everything: bool = False) -> list[int]:
    """The hook's companion (`asset_validity.settle`): queue the rescores a change of media.yaml's channel rules
    needs (media.channel_rules.settle; `everything`: only record the rules, a full rebuild follows). The gate,
    the report and the rebuild call it through the hook, not by name."""
    from media.channel_rules import settle

    return settle(store, everything=everything)


asset_validity.settle = settle_rules  # type: ignore[attr-defined]


def invalid_refs(store: Any, refs: Iterable[str], *, channel: str | None = None, media: Any = None,
                 strict: bool = True, resolved: dict[str, str | None] | None = None) -> set[str]:
    """The refs (image attribute values) that are NOT a usable asset: unreadable, rejected, or — with
    `channel` — below that channel's size/aspect rules. With `strict` (the default) a ref never ingested
    is invalid too: an image counts as filled only once it is a validated asset. `store` may be a Store or
    an open Connection. `resolved`: `resolve(store, refs)` when the caller has it already."""
    refs = list(refs)
    mapping = resolved if resolved is not None else resolve(store, refs)
    assets = get_assets(store, [s for s in mapping.values() if s])
    rules = None
    if channel is not None:
        from media.settings import load_media_file

        rules = (media or load_media_file()).channels.get(channel)
    failed = set() if strict else _failed(store, [r for r, sha in mapping.items() if sha is None])
    bad: set[str] = set()
    for ref in refs:
        sha = mapping.get(ref)
        asset = assets.get(sha) if sha else None
        if asset is None:
            if strict or sha is not None or ref in failed:
                bad.add(ref)
            continue
        if asset["status"] != VALID:
            bad.add(ref)
        elif rules is not None and rules.problems(asset["width"], asset["height"]):
            bad.add(ref)
    return bad


def _failed(store: Any, refs: list[str]) -> set[str]:
    """Refs that were tried and could not be read."""
    return set(_failed_reasons(store, refs))


def _failed_reasons(store: Any, refs: list[str]) -> dict[str, str]:
    """Refs that were tried and could not be read → why."""
    out: dict[str, str] = {}
    with _connect(store) as conn:
        raw = RawTable(conn, ORIGIN)
        for chunk in _chunks(refs):
            out.update((ref, problem) for ref, problem in raw.select(conn, ("ref", "problem"), "ref", chunk) if problem is not None)
    return out


def origins(store: Any, sha: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(ORIGIN).where(ORIGIN.c.sha256 == sha).order_by(ORIGIN.c.seen_at, ORIGIN.c.ref))
        return [dict(r._mapping) for r in rows]


def problems(store: Any, *, channel: str | None = None, media: Any = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Every asset problem, one row per origin: unreadable refs, rejected images and (with `channel`)
    images that break the channel's rules. Columns: ref, source, sha256, reason. `limit` rows at most, read
    no further (`problem_count` counts them all)."""
    out: list[dict[str, Any]] = []
    rules = _rules(channel, media) if channel is not None else None  # an unknown channel is refused whatever the limit

    def left(q: Any) -> Any:  # each part reads only the rows the limit leaves
        return q.limit(limit - len(out)) if limit else q

    with store.engine.connect() as conn:
        failed = conn.execute(left(select(ORIGIN.c.ref, ORIGIN.c.source, ORIGIN.c.problem)
                                   .where(ORIGIN.c.sha256.is_(None)).order_by(ORIGIN.c.ref)))
        out += [{"ref": r, "source": s, "sha256": None, "reason": p} for r, s, p in failed]
        joined = select(ORIGIN.c.ref, ORIGIN.c.source, ASSET.c.sha256, ASSET.c.problem, ASSET.c.status,
                        ASSET.c.width, ASSET.c.height).join(ASSET, ASSET.c.sha256 == ORIGIN.c.sha256)
        if not limit or len(out) < limit:
            rejected = conn.execute(left(joined.where(ASSET.c.status == REJECTED).order_by(ORIGIN.c.ref)))
            out += [{"ref": r.ref, "source": r.source, "sha256": r.sha256, "reason": r.problem} for r in rejected]
        if rules is not None and (not limit or len(out) < limit):
            # the rules are asked once per distinct size (as problem_count does); the rows of the sizes they
            # refuse are then read in SQL, `limit` at most, instead of every valid image in Python
            from sqlalchemy import tuple_

            sizes = select(ASSET.c.width, ASSET.c.height).where(ASSET.c.status == VALID).distinct()
            bad = {(w, h): issues for w, h in conn.execute(sizes) if (issues := rules.problems(w, h))}
            for part in _chunks(sorted(bad), 15_000) if bad else ():  # type: ignore[arg-type]  # ref order per chunk (SQLite: 2 variables a size)
                size = tuple_(ASSET.c.width, ASSET.c.height)
                q = joined.where(ASSET.c.status == VALID, size.in_(part)).order_by(ORIGIN.c.ref)
                out += [{"ref": r.ref, "source": r.source, "sha256": r.sha256,
                         "reason": f"{channel}: " + "; ".join(bad[(r.width, r.height)])} for r in conn.execute(left(q))]
                if limit and len(out) >= limit:
                    break
    return out


def problem_count(store: Any, *, channel: str | None = None, media: Any = None) -> int:
    """How many rows `problems` lists in all, counted in SQL: the channel's rules are asked once per distinct
    image size, not per image."""
    from sqlalchemy import func

    with store.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(ORIGIN).where(ORIGIN.c.sha256.is_(None))).scalar_one()
        joined = ORIGIN.join(ASSET, ASSET.c.sha256 == ORIGIN.c.sha256)
        n += conn.execute(select(func.count()).select_from(joined).where(ASSET.c.status == REJECTED)).scalar_one()
        if channel is not None:
            rules = _rules(channel, media)
            sizes = select(ASSET.c.width, ASSET.c.height, func.count()).select_from(joined).where(
                ASSET.c.status == VALID).group_by(ASSET.c.width, ASSET.c.height)
            n += sum(count for width, height, count in conn.execute(sizes) if rules.problems(width, height))
    return int(n)


def _rules(channel: str, media: Any) -> Any:
    from media.settings import load_media_file

    return (media or load_media_file()).channel(channel)
