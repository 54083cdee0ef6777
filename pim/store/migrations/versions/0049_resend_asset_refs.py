"""feeds: before round 35 a customer feed sent an uploaded image's value as it was, the bare `sha256:<hex>` ref
(an asset's name, not a place anyone can fetch); feeds built since link its stored original or rendition, but a
delta feed sends a product again only when it is written. At the upgrade every product a customer holds (in a
contract's watermark `delivered`) that shows a well-formed ref, its own value or one inherited from its product
model or that model's parent, gets a new write seq: each contract's next delta feed sends it once, with the link.
Search re-sends those products once too (its documents were rebuilt at round 35's document version anyway).
Nothing is stamped in a catalog that delivered no feed."""

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0049_resend_asset_refs"
down_revision = "0046_feed_file_versions_all"  # the feeds branch's head
branch_labels = None
depends_on = None

REF = re.compile(r"^sha256:[0-9a-f]{64}$")  # channels.asset_refs
MARKS = sa.table("feed_watermark", sa.column("delivered"))
PRODUCT = sa.table("product", sa.column("identifier", sa.String), sa.column("parent", sa.String),
                   sa.column("value_map"), sa.column("seq", sa.BigInteger))
MODEL = sa.table("product_model", sa.column("code", sa.String), sa.column("parent", sa.String),
                 sa.column("value_map"))
SEQUENCE = sa.table("sequence", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
PAGE = 2000


def _decoded(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, (str, bytes)) else raw


def _shows_ref(value_map: Any) -> bool:
    values = _decoded(value_map)
    return isinstance(values, dict) and any(isinstance(v, str) and REF.match(v) for v in values.values())


def _with_refs(conn: Any, key: Any, values: Any, extra: Any = None) -> set[str]:
    """Keys of the rows whose values hold a ref (the database narrows to rows mentioning `sha256:`), or that
    match `extra`."""
    mentions = sa.cast(values, sa.Text).contains("sha256:", autoescape=True)
    cond = mentions if extra is None else sa.or_(mentions, extra)
    rows = conn.execute(sa.select(key, values, *([] if extra is None else [extra])).where(cond)
                        .execution_options(yield_per=1000))
    return {r[0] for r in rows if (extra is not None and r[2]) or _shows_ref(r[1])}


def upgrade() -> None:
    conn = op.get_bind()
    held: set[str] = set()
    for (delivered,) in conn.execute(sa.select(MARKS.c.delivered)):
        held.update(_decoded(delivered) or ())
    if not held:
        return
    models = _with_refs(conn, MODEL.c.code, MODEL.c.value_map)
    if models:  # a sub-model inherits its model's image
        models |= set(conn.execute(sa.select(MODEL.c.code).where(MODEL.c.parent.in_(sorted(models)))).scalars())
    under = PRODUCT.c.parent.in_(sorted(models)) if models else None
    shown = sorted(_with_refs(conn, PRODUCT.c.identifier, PRODUCT.c.value_map, under) & held)
    for start in range(0, len(shown), PAGE):
        chunk = shown[start:start + PAGE]
        current = conn.execute(sa.select(SEQUENCE.c.value).where(SEQUENCE.c.name == "catalog")).scalar_one_or_none()
        first = int(current or 0) + 1
        if current is None:
            conn.execute(sa.insert(SEQUENCE).values(name="catalog", value=len(chunk)))
        else:
            conn.execute(SEQUENCE.update().where(SEQUENCE.c.name == "catalog").values(value=int(current) + len(chunk)))
        conn.execute(PRODUCT.update().where(PRODUCT.c.identifier == sa.bindparam("ident"))
                     .values(seq=sa.bindparam("new_seq")),
                     [{"ident": ident, "new_seq": first + n} for n, ident in enumerate(chunk)])


def downgrade() -> None:
    """Nothing to undo: the products were only given new seqs."""
