"""web: an optional, unique e-mail on staff users and their one-time password-reset links (SHA-256 only)"""

import sqlalchemy as sa
from alembic import op

revision = "0025_staff_email"
down_revision = "0022_web_session"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("web_user") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
    op.create_index("ix_web_user_email", "web_user", ["email"], unique=True)
    op.create_table(
        "web_reset",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
    )
    op.create_index("ix_web_reset_user_id", "web_reset", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_web_reset_user_id", table_name="web_reset")
    op.drop_table("web_reset")
    op.drop_index("ix_web_user_email", table_name="web_user")
    with op.batch_alter_table("web_user") as batch:
        batch.drop_column("email")
