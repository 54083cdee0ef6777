"""core: structure, products, product models, tombstones, sequence, jobs, quarantine

Other areas add their tables on their own branch: a revision with down_revision="0001_core" and a
branch label naming the area. The store upgrades to "heads", so branches never conflict.
"""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0001_core"
down_revision = None
branch_labels = ("core",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "structure",
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("code", sa.String(255), primary_key=True),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    for table in ("product", "product_model"):
        key = "identifier" if table == "product" else "code"
        extra = (
            [sa.Column("enabled", sa.Boolean, nullable=False), sa.Column("groups", JSONType, nullable=False)]
            if table == "product"
            else [sa.Column("family_variant", sa.String(100), nullable=False, index=True)]
        )
        stamps = [sa.Column("updated_at", TS, nullable=False)]
        if table == "product":
            stamps.insert(0, sa.Column("created_at", TS, nullable=False))
        op.create_table(
            table,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column(key, sa.String(255), nullable=False, unique=True, index=True),
            sa.Column("family", sa.String(100), nullable=True, index=True),
            sa.Column("parent", sa.String(255), nullable=True, index=True),
            *extra,
            sa.Column("categories", JSONType, nullable=False),
            sa.Column("value_map", JSONType, nullable=False),
            sa.Column("source", JSONType, nullable=True),
            sa.Column("provenance", JSONType, nullable=False),
            sa.Column("associations", JSONType, nullable=False),
            sa.Column("content_hash", sa.String(64), nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False, index=True),
            *stamps,
        )
    op.create_index("ix_product_family_enabled", "product", ["family", "enabled"])
    op.create_table(
        "deleted_product",
        sa.Column("identifier", sa.String(255), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False, index=True),
        sa.Column("deleted_at", TS, nullable=False),
    )
    op.create_table(
        "sequence",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "job",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False, index=True),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("counts", JSONType, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", TS, nullable=False, index=True),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, nullable=True, index=True),
        sa.Column("source", sa.String(100), nullable=False, index=True),
        sa.Column("file", sa.String(1000), nullable=False),
        sa.Column("line", sa.Integer, nullable=True),
        sa.Column("field", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", JSONType, nullable=True),
        sa.Column("record_key", sa.String(255), nullable=True, index=True),
        sa.Column("severity", sa.String(20), nullable=False, index=True, server_default="rejected"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
    )


def downgrade() -> None:
    for table in ("quarantine", "job", "sequence", "deleted_product", "product_model", "product", "structure"):
        op.drop_table(table)
