"""web: failed sign-ins, so that every web process of a deployment throttles on the same counts"""

import sqlalchemy as sa
from alembic import op

revision = "0018_signin_failure"
down_revision = "0007_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_failure",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_signin_failure_key_at", "signin_failure", ["key", "at"])
    op.create_index("ix_signin_failure_at", "signin_failure", ["at"])


def downgrade() -> None:
    op.drop_index("ix_signin_failure_at", table_name="signin_failure")
    op.drop_index("ix_signin_failure_key_at", table_name="signin_failure")
    op.drop_table("signin_failure")
