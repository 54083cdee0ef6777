"""web: users, API tokens, value history"""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0007_web"
down_revision = "0002_commerce"
branch_labels = ("web",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_user",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True, index=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True, index=True),
        sa.Column("user_id", sa.Integer, nullable=False, index=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
    )
    op.create_table(
        "value_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("product", sa.String(255), nullable=False),
        sa.Column("value_key", sa.String(255), nullable=False),
        sa.Column("old", JSONType, nullable=True),
        sa.Column("new", JSONType, nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_value_history_product", "value_history", ["product", "id"])


def downgrade() -> None:
    op.drop_table("value_history")
    op.drop_table("api_token")
    op.drop_table("web_user")
