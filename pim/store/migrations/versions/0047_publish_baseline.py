"""publish_baseline: the identifiers each channel's last whole publish put out, per channel, scope and catalog, so
the publish guard (pim.pipeline.refuse_drop) sees a publish that swaps most products for others, not only one
that publishes fewer (pim.publish_baseline). Empty at the upgrade: until a channel's first publish after it, the
guard compares counts, as before."""

import sqlalchemy as sa
from alembic import op

revision = "0047_publish_baseline"
down_revision = "0040_stock_seen"  # the merge branch's head, where the job table's changes live
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "publish_baseline",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("catalog", sa.String(1000), nullable=False),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("published", sa.Integer, nullable=False),
        sa.Column("identifiers", sa.LargeBinary, nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("publish_baseline")
