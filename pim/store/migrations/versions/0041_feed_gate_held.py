"""feeds: the watermark keeps the assortment's SKUs the gate blocked for a value another product shares (a
duplicate GTIN): another product's write frees or blocks them with no write of their own, and the next delta
re-checks them. Rows written before have NULL: a contract whose channel blocks on duplicates re-checks its
assortment once at its next delta."""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0041_feed_gate_held"
down_revision = "0039_feed_gate_digest"  # the feeds branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_watermark") as batch:
        batch.add_column(sa.Column("gate_held", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_watermark") as batch:
        batch.drop_column("gate_held")
