"""commerce: customer price lists and stock"""

import sqlalchemy as sa
from alembic import op

revision = "0002_commerce"
down_revision = "0001_core"
branch_labels = ("commerce",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "price_list",
        sa.Column("customer", sa.String(100), primary_key=True),
        sa.Column("sku", sa.String(255), primary_key=True, index=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("min_qty", sa.Numeric(18, 4), primary_key=True),
        sa.Column("valid_from", sa.Date, primary_key=True),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.Column("price", sa.Numeric(18, 4), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("updated_at", TS, nullable=False, index=True),
    )
    op.create_table(
        "stock",
        sa.Column("sku", sa.String(255), primary_key=True),
        sa.Column("warehouse", sa.String(100), primary_key=True),
        sa.Column("quantity", sa.Numeric(18, 4), nullable=False),
        sa.Column("atp", sa.Numeric(18, 4), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stock")
    op.drop_table("price_list")
