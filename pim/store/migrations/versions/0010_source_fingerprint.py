"""merge: per-source record fingerprints, so an unchanged source row skips validation and merge"""

import sqlalchemy as sa
from alembic import op

revision = "0010_source_fingerprint"
down_revision = "0009_gtin_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_fingerprint",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("identifier", sa.String(255), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("product_seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_fingerprint")
