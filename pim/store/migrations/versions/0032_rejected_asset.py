"""media: the quarantine of rejected images — per ref, the bytes it was last rejected for (kept in the asset
store under `rejected/`), why, and when"""

import sqlalchemy as sa
from alembic import op

revision = "0032_rejected_asset"
down_revision = "0024_origin_validators"  # the media branch's head
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rejected_asset",
        sa.Column("ref", sa.Text, primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("key", sa.String(300), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("rejected_asset")
