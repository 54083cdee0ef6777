"""feeds: people at a customer who sign in to the portal with their own e-mail and password"""

import sqlalchemy as sa
from alembic import op

revision = "0019_portal_person"
down_revision = "0006_feeds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_person",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_portal_person_email", "portal_person", ["email"], unique=True)
    op.create_index("ix_portal_person_customer", "portal_person", ["customer"])


def downgrade() -> None:
    op.drop_index("ix_portal_person_customer", table_name="portal_person")
    op.drop_index("ix_portal_person_email", table_name="portal_person")
    op.drop_table("portal_person")
