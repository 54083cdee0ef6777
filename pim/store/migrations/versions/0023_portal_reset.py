"""feeds: one-time password-reset links of portal people (only their SHA-256 is stored)"""

import sqlalchemy as sa
from alembic import op

revision = "0023_portal_reset"
down_revision = "0021_portal_download"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_reset",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_portal_reset_person_id", "portal_reset", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_portal_reset_person_id", table_name="portal_reset")
    op.drop_table("portal_reset")
