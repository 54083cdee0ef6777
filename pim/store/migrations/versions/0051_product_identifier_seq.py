"""product(identifier, seq, parent): the covering index of a merge batch's lookups by SKU (pim.batch_lookup).
Where a product sits, whether a source's fingerprint of it still holds and whether another writer has written
it since the batch read it are answered from the index alone: the seq sits after the ~4 KB value map in the row,
so reading it from the row walks the row's overflow pages on SQLite (round 37: those lookups over an ERP file's
50,000 SKUs 0.22 → 0.09 s on the first merge, 0.30 → 0.09 s on an unchanged re-import).

A branch of its own off the core (the product table's), so it orders with no other area's revisions."""

from alembic import op

revision = "0051_product_identifier_seq"
down_revision = "0001_core"
branch_labels = ("product_lookup",)
depends_on = None


def upgrade() -> None:
    op.create_index("ix_product_identifier_seq", "product", ["identifier", "seq", "parent"])


def downgrade() -> None:
    op.drop_index("ix_product_identifier_seq", "product")
