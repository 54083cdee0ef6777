"""feeds: before round 35 a customer feed sent an uploaded image's value as it was, the bare `sha256:<hex>` ref
(or behind media_base_url: a URL made from it), which is an asset's name, not a place anyone can fetch; feeds
built since link its stored original or rendition (`originals/<sha[:2]>/<sha>.<ext>`, `renditions/…`), never
`sha256:<hex>`. A delta feed sends a product again only when it is written, so the products a customer still holds
with a bare ref get a new write seq here and each contract's next delta sends them once, with the link.

Which ones is read from the files themselves, not guessed: the delivered files a customer rebuilds from (each
contract's newest delivered full feed and every delivered file after it; `pim feeds prune` always keeps them)
are scanned for `sha256:<hex>`. A product a contract holds (its watermark's `delivered`) that shows a well-formed
ref (its own value, or its product model's or that model's parent's) is stamped only when that contract's files
carry that ref bare. A catalog upgraded from round 35, whose feeds already linked, stamps nothing. When a
contract's files are gone from disk (removed by hand, another machine), what they carried is unknown: its held
products showing a ref are stamped, as the safe side (a re-sent row costs a line; a bare ref is an image the
customer can never fetch), and the upgrade says so. Nothing is stamped in a catalog that delivered no feed.
The seqs are reserved by one row-locking UPDATE of the counter, so a writer running meanwhile never gets the
same ones."""

import json
import logging
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0049_resend_asset_refs"
down_revision = "0046_feed_file_versions_all"  # the feeds branch's head
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
REF = re.compile(r"^sha256:([0-9a-f]{64})$")  # channels.asset_refs
BARE = re.compile(rb"sha256:([0-9a-f]{64})")  # a ref as a feed sent it before round 35 (alone or behind a base URL)
MARKS = sa.table("feed_watermark", sa.column("contract", sa.String), sa.column("delivered"))
FILES = sa.table("feed_file", sa.column("id", sa.Integer), sa.column("contract", sa.String),
                 sa.column("path", sa.String), sa.column("format", sa.String), sa.column("kind", sa.String),
                 sa.column("status", sa.String))
PRODUCT = sa.table("product", sa.column("identifier", sa.String), sa.column("parent", sa.String),
                   sa.column("value_map"), sa.column("seq", sa.BigInteger))
MODEL = sa.table("product_model", sa.column("code", sa.String), sa.column("parent", sa.String),
                 sa.column("value_map"))
SEQUENCE = sa.table("sequence", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
PAGE = 2000
CHUNK = 1 << 20


def _decoded(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, (str, bytes)) else raw


def _refs(value_map: Any) -> set[str]:
    """The hex digests of the well-formed `sha256:` refs among a row's values."""
    values = _decoded(value_map)
    if not isinstance(values, dict):
        return set()
    return {m.group(1) for v in values.values() if isinstance(v, str) and (m := REF.match(v))}


def _mentioning(conn: Any, key: Any, values: Any, parent: Any, under: list[str]) -> dict[str, tuple[Any, set[str]]]:
    """key → (parent, its own refs) of the rows whose values hold a ref (the database narrows to rows mentioning
    `sha256:`), and of every row whose parent is in `under` (its own refs maybe none)."""
    cond = sa.cast(values, sa.Text).contains("sha256:", autoescape=True)
    if under:
        cond = sa.or_(cond, parent.in_(under))
    out: dict[str, tuple[Any, set[str]]] = {}
    parents = set(under)
    for ident, value_map, up in conn.execute(sa.select(key, values, parent).where(cond)
                                             .execution_options(yield_per=1000)):
        refs = _refs(value_map)
        if refs or up in parents:
            out[ident] = (up, refs)
    return out


def _shown(conn: Any, held: set[str]) -> dict[str, set[str]]:
    """Held product → the hex digests of the refs it shows: its own, its model's and that model's parent's."""
    models = {code: refs for code, (_, refs) in _mentioning(conn, MODEL.c.code, MODEL.c.value_map, MODEL.c.parent,
                                                            []).items()}
    if models:  # a sub-model inherits its model's image
        for code, parent in conn.execute(sa.select(MODEL.c.code, MODEL.c.parent)
                                         .where(MODEL.c.parent.in_(sorted(models)))).all():
            models[code] = models.get(code, set()) | models[parent]
    products = _mentioning(conn, PRODUCT.c.identifier, PRODUCT.c.value_map, PRODUCT.c.parent, sorted(models))
    shown = {}
    for ident, (parent, refs) in products.items():
        refs = refs | models.get(parent, set())
        if refs and ident in held:
            shown[ident] = refs
    return shown


def _streams(path: Path, fmt: str) -> Iterator[Any]:
    """The file's byte streams to scan: an XLSX's members (a zip), else the file itself."""
    if fmt == "xlsx" or zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                with z.open(name) as member:
                    yield member
    else:
        with path.open("rb") as f:
            yield f


def _bare_in(path: Path, fmt: str) -> set[str]:
    """The hex digests a file carries as `sha256:<hex>`, read in chunks (feed files can be large)."""
    found: set[str] = set()
    for stream in _streams(path, fmt):
        tail = b""
        while block := stream.read(CHUNK):
            text = tail + block
            found.update(m.group(1).decode() for m in BARE.finditer(text))
            tail = text[-71:]
    return found


def _contract_bare(conn: Any, contract: str) -> set[str] | None:
    """The refs a contract's customer was sent bare in the files it rebuilds from (its newest delivered full
    feed and the delivered files after it; every delivered file when it had no full), None when one of those
    files is no longer on disk (what it carried is unknown)."""
    rows = conn.execute(sa.select(FILES.c.id, FILES.c.path, FILES.c.format, FILES.c.kind, FILES.c.status)
                        .where(FILES.c.contract == contract, FILES.c.status.in_(("delivered", "pruned")))
                        .order_by(FILES.c.id.desc())).all()
    chain = []
    for row in rows:
        chain.append(row)
        if row.kind == "full" and row.status == "delivered":
            break
    if not chain:  # a watermark without its files' rows: nothing to read them from
        return None
    bare: set[str] = set()
    for row in chain:
        path = Path(row.path)
        if row.status != "delivered" or not path.is_file():
            return None
        try:
            bare |= _bare_in(path, row.format)
        except (OSError, zipfile.BadZipFile):
            return None
    return bare


def _reserve(conn: Any, count: int) -> int:
    """The first of `count` new seqs: one UPDATE adds them to the counter (it waits for, and then counts, a
    writer's reservation not committed yet, and locks the row until this upgrade commits), then reads it back."""
    moved = conn.execute(SEQUENCE.update().where(SEQUENCE.c.name == "catalog")
                         .values(value=SEQUENCE.c.value + count)).rowcount
    if not moved:
        conn.execute(sa.insert(SEQUENCE).values(name="catalog", value=count))
    end = conn.execute(sa.select(SEQUENCE.c.value).where(SEQUENCE.c.name == "catalog")).scalar_one()
    return int(end) - count + 1


def upgrade() -> None:
    conn = op.get_bind()
    holders: dict[str, set[str]] = {}
    for contract, delivered in conn.execute(sa.select(MARKS.c.contract, MARKS.c.delivered)):
        holders[contract] = set(_decoded(delivered) or ())
    held = set().union(*holders.values()) if holders else set()
    if not held:
        return
    shown = _shown(conn, held)
    stamp: set[str] = set()
    unknown: list[str] = []
    for contract, skus in sorted(holders.items()):
        mine = {s: shown[s] for s in skus if s in shown}
        if not mine:
            continue
        bare = _contract_bare(conn, contract)
        if bare is None:
            unknown.append(contract)
            stamp.update(mine)
        else:
            stamp.update(s for s, refs in mine.items() if refs & bare)
    if unknown:
        note = ("0049: the delivered feed files of contract(s) %s are not on disk: their products showing an uploaded "
                "image are sent again by the next delta, in case they went out with a bare sha256: ref"
                % ", ".join(unknown))
        log.warning(note)
        # alembic's logger is not shown by `pim init` (found upgrading): say it where the operator looks
        print(note, file=sys.stderr)
    ordered = sorted(stamp)
    for start in range(0, len(ordered), PAGE):
        chunk = ordered[start:start + PAGE]
        first = _reserve(conn, len(chunk))
        conn.execute(PRODUCT.update().where(PRODUCT.c.identifier == sa.bindparam("ident"))
                     .values(seq=sa.bindparam("new_seq")),
                     [{"ident": ident, "new_seq": first + n} for n, ident in enumerate(chunk)])


def downgrade() -> None:
    """Nothing to undo: the products were only given new seqs."""
