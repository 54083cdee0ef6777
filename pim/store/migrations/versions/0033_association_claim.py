"""merge: per-source claims on association types (pim.association_claims), the shown one flagged"""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0033_association_claim"
down_revision = "0030_job_priority"  # the merge branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "association_claim",
        sa.Column("identifier", sa.String(255), primary_key=True),
        sa.Column("assoc_type", sa.String(100), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("association", JSONType, nullable=False),
        sa.Column("ref", sa.String(1000), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shown", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("association_claim")
