"""search: what the last successful push to each search target contained (watermark, fingerprints)"""

import sqlalchemy as sa
from alembic import op

revision = "0005_search"
down_revision = "0002_commerce"
branch_labels = ("search",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_sync",
        sa.Column("target", sa.String(600), primary_key=True),
        sa.Column("watermark", sa.BigInteger, nullable=False),
        sa.Column("shape_hash", sa.String(64), nullable=False),
        sa.Column("settings_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("search_sync")
