"""web: staff browser sessions, so that one session can be listed and ended on its own"""

import sqlalchemy as sa
from alembic import op

revision = "0022_web_session"
down_revision = "0018_signin_failure"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True, index=True),
        sa.Column("user_id", sa.Integer, nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("ended_at", TS, nullable=True),
    )
    op.create_index("ix_web_session_last_seen_at", "web_session", ["last_seen_at"])
    op.create_index("ix_web_session_ended_at", "web_session", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_web_session_ended_at", table_name="web_session")
    op.drop_index("ix_web_session_last_seen_at", table_name="web_session")
    op.drop_table("web_session")
