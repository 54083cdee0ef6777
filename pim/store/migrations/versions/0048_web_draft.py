"""web: a value edit that an ended or expired session did not save is kept on the server (pim.web.drafts) until
its person signs in again, instead of in the signed cookie, whose ~4 KB cut off longer texts."""

import sqlalchemy as sa
from alembic import op

revision = "0048_web_draft"
down_revision = "0044_signin_failure_account"  # the web branch's head
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_draft",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True, index=True),
        sa.Column("user_id", sa.Integer, nullable=False, index=True),
        sa.Column("product", sa.String(255), nullable=False),
        sa.Column("value_key", sa.String(255), nullable=False),
        sa.Column("form", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("web_draft")
