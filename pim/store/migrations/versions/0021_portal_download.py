"""feeds: who fetched which feed file from the portal (a person by e-mail, or the customer's token)"""

import sqlalchemy as sa
from alembic import op

revision = "0021_portal_download"
down_revision = "0020_feed_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_download",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_id", sa.Integer, nullable=False),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("person", sa.String(254), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_portal_download_file_id", "portal_download", ["file_id"])
    op.create_index("ix_portal_download_customer_at", "portal_download", ["customer", "at"])


def downgrade() -> None:
    op.drop_index("ix_portal_download_customer_at", table_name="portal_download")
    op.drop_index("ix_portal_download_file_id", table_name="portal_download")
    op.drop_table("portal_download")
