"""merge: the GTIN → SKU index the supplier GTIN fallback reads (refreshed from product.seq)"""

import sqlalchemy as sa
from alembic import op

revision = "0009_gtin_index"
down_revision = "0008_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_gtin",
        sa.Column("attribute", sa.String(100), primary_key=True),
        sa.Column("identifier", sa.String(255), primary_key=True),
        sa.Column("gtin", sa.String(255), nullable=False),
    )
    op.create_index("ix_source_gtin_gtin", "source_gtin", ["attribute", "gtin"])
    op.create_table(
        "source_gtin_mark",
        sa.Column("attribute", sa.String(100), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_gtin_mark")
    op.drop_index("ix_source_gtin_gtin", table_name="source_gtin")
    op.drop_table("source_gtin")
