"""feeds: a feed file keeps the delivery version it carries and the version it follows (the contract's delivery
counter), so the portal lists and its manifests say them and a customer can apply files in order and notice a
gap. Each contract's newest delivered file is given the watermark's version (the counter moves only when a file
is delivered, so that file carries it) and the one before it, so the chain holds at the upgrade: the next file
follows a file marked with its previous_version. Older files keep NULL (their versions were never kept)."""

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
    _mark_newest_delivered()


def _mark_newest_delivered() -> None:
    """One statement on either database: the newest (highest id) delivered file of each contract with a
    watermark takes its version, and version − 1 as the one it follows (0: the first, as pim.feeds plans it)."""
    files = sa.table("feed_file", sa.column("id", sa.Integer), sa.column("contract", sa.String),
                     sa.column("status", sa.String), sa.column("version", sa.Integer),
                     sa.column("previous_version", sa.Integer))
    marks = sa.table("feed_watermark", sa.column("contract", sa.String), sa.column("version", sa.Integer))
    newest = files.alias("newest")
    counter = sa.select(marks.c.version).where(marks.c.contract == files.c.contract, marks.c.version >= 1)
    op.execute(files.update().where(
        files.c.id.in_(sa.select(sa.func.max(newest.c.id)).where(newest.c.status == "delivered")
                       .group_by(newest.c.contract)),
        sa.exists(counter)).values(version=counter.scalar_subquery(), previous_version=counter.scalar_subquery() - 1))


def downgrade() -> None:
    with op.batch_alter_table("feed_file") as batch:
        batch.drop_column("previous_version")
        batch.drop_column("version")
