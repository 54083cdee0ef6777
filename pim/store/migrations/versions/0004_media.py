"""media: assets (content-addressed), their origins, and renditions"""

import sqlalchemy as sa
from alembic import op

revision = "0004_media"
down_revision = "0002_commerce"
branch_labels = ("media",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "asset",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("format", sa.String(16), nullable=True),
        sa.Column("width", sa.Integer, nullable=True),
        sa.Column("height", sa.Integer, nullable=True),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("problem", sa.Text, nullable=True),
        sa.Column("key", sa.String(300), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "asset_origin",
        sa.Column("ref", sa.Text, primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=True, index=True),
        sa.Column("problem", sa.Text, nullable=True),
        sa.Column("seen_at", TS, nullable=False),
    )
    op.create_table(
        "rendition",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("spec_hash", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rendition")
    op.drop_table("asset_origin")
    op.drop_table("asset")
