"""merge: the keys an import of complete price lists has written, per run, so the entries it no longer holds
can be removed when it finishes; and when a customer's prices for a SKU were removed, for delta feeds"""

import sqlalchemy as sa
from alembic import op

revision = "0014_price_list_seen"
down_revision = "0013_job_process"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_list_seen",
        sa.Column("run", sa.String(32), primary_key=True),
        sa.Column("customer", sa.String(100), primary_key=True),
        sa.Column("sku", sa.String(255), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("min_qty", sa.Numeric(18, 4), primary_key=True),
        sa.Column("valid_from", sa.Date, primary_key=True),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "price_list_removed",
        sa.Column("customer", sa.String(100), primary_key=True),
        sa.Column("sku", sa.String(255), primary_key=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("price_list_removed")
    op.drop_table("price_list_seen")
