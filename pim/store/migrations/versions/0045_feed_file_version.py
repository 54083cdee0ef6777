"""feeds: a feed file keeps the delivery version it carries and the version it follows (the contract's delivery
counter), so the portal lists and its manifests say them and a customer can apply files in order and notice a
gap. Rows recorded before have NULL (their version was never kept)."""

import sqlalchemy as sa
from alembic import op

revision = "0045_feed_file_version"
down_revision = "0043_portal_session"  # the feeds branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_file") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=True))
        batch.add_column(sa.Column("previous_version", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_file") as batch:
        batch.drop_column("previous_version")
        batch.drop_column("version")
