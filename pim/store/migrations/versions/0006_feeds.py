"""feeds: customer contracts, watermarks, feed files, the delivery log and portal tokens"""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0006_feeds"
down_revision = "0002_commerce"
branch_labels = ("feeds",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feed_contract",
        sa.Column("code", sa.String(100), primary_key=True),
        sa.Column("customer", sa.String(100), nullable=False, index=True),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "feed_watermark",
        sa.Column("contract", sa.String(100), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("prices_at", TS, nullable=False),
        sa.Column("contract_digest", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("delivered", JSONType, nullable=False),
        sa.Column("delivered_at", TS, nullable=False),
    )
    op.create_table(
        "feed_file",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contract", sa.String(100), nullable=False, index=True),
        sa.Column("customer", sa.String(100), nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("generated_at", TS, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("portal", sa.Boolean, nullable=False),
    )
    op.create_table(
        "feed_delivery",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contract", sa.String(100), nullable=False, index=True),
        sa.Column("file_id", sa.Integer, nullable=True),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("started", TS, nullable=False),
        sa.Column("finished", TS, nullable=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_table(
        "portal_token",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("customer", sa.String(100), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for table in ("portal_token", "feed_delivery", "feed_file", "feed_watermark", "feed_contract"):
        op.drop_table(table)
