"""feeds: per-contract claims, so overlapping `pim feeds deliver --due` runs never both send a contract"""

import sqlalchemy as sa
from alembic import op

revision = "0020_feed_claim"
down_revision = "0019_portal_person"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_claim",
        sa.Column("contract", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feed_claim")
