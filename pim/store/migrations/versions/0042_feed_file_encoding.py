"""feeds: a feed file keeps the text encoding it was written in (a CSV contract's csv.encoding), so the portal
serves a cp1252 file as windows-1252 rather than UTF-8. Rows recorded before have NULL: the portal then takes
the contract's current encoding."""

import sqlalchemy as sa
from alembic import op

revision = "0042_feed_file_encoding"
down_revision = "0041_feed_gate_held"  # the feeds branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_file") as batch:
        batch.add_column(sa.Column("encoding", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_file") as batch:
        batch.drop_column("encoding")
