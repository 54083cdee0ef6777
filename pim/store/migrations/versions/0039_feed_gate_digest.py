"""feeds: the watermark keeps a digest of what the contract channel's gate reads of the structure (a delta re-checks
the gate over the assortment when it moved: a structure change blocks or frees products without their seq moving),
and each delivery-log row keeps how many products the build left out, and why. Rows written before have NULL:
a contract's next delta re-checks its assortment once; old log rows show no counts."""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0039_feed_gate_digest"
down_revision = "0023_portal_reset"  # the feeds branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_watermark") as batch:
        batch.add_column(sa.Column("gate_digest", sa.String(length=32), nullable=True))
    with op.batch_alter_table("feed_delivery") as batch:
        batch.add_column(sa.Column("left_out", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_delivery") as batch:
        batch.drop_column("left_out")
    with op.batch_alter_table("feed_watermark") as batch:
        batch.drop_column("gate_digest")
