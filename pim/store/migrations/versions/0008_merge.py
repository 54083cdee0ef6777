"""merge: value candidates, the conflict log and the supplier cross-reference"""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0008_merge"
down_revision = "0002_commerce"
branch_labels = ("merge",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "value_candidate",
        sa.Column("identifier", sa.String(255), primary_key=True),
        sa.Column("value_key", sa.String(400), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("value", JSONType, nullable=True),
        sa.Column("ref", sa.String(1000), nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "value_conflict",
        sa.Column("identifier", sa.String(255), primary_key=True),
        sa.Column("value_key", sa.String(400), primary_key=True),
        sa.Column("attribute", sa.String(100), nullable=False, index=True),
        sa.Column("winner", sa.String(100), nullable=False),
        sa.Column("claims", JSONType, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("pinned", sa.String(100), nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
        sa.Column("detected_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False, index=True),
    )
    op.create_table(
        "source_xref",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("source_pid", sa.String(255), primary_key=True),
        sa.Column("sku", sa.String(255), nullable=False, index=True),
        sa.Column("matched_by", sa.String(20), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_xref")
    op.drop_table("value_conflict")
    op.drop_table("value_candidate")
