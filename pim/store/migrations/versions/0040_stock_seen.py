"""stock_seen: the warehouses an import of complete stock files has read, per run and SKU, so the stored readings
of warehouses a file no longer holds can be removed when it finishes (pim.commerce.CompleteStock)"""

import sqlalchemy as sa
from alembic import op

revision = "0040_stock_seen"
down_revision = "0038_quarantine_kind"  # the merge branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_seen",
        sa.Column("run", sa.String(32), primary_key=True),
        sa.Column("sku", sa.String(255), primary_key=True),
        sa.Column("warehouse", sa.String(100), primary_key=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stock_seen")
