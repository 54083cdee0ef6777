"""feeds: portal browser sessions (pim.portal_sessions), so that signing out of the portal ends the session on
the server and a copied cookie is refused after. Portal sign-ins from before carry no session id: those
browsers sign in once more."""

import sqlalchemy as sa
from alembic import op

revision = "0043_portal_session"
down_revision = "0042_feed_file_encoding"  # the feeds branch's head
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "portal_session",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True, index=True),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("person_id", sa.Integer, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
    )
    op.create_index("ix_portal_session_last_seen_at", "portal_session", ["last_seen_at"])
    op.create_index("ix_portal_session_ended_at", "portal_session", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_portal_session_ended_at", table_name="portal_session")
    op.drop_index("ix_portal_session_last_seen_at", table_name="portal_session")
    op.drop_table("portal_session")
