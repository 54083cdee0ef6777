"""merge: a queued job's priority (pim.job_queue.KIND_PRIORITY gives each kind its default); workers claim the
highest priority first, then the oldest id"""

import sqlalchemy as sa
from alembic import op

revision = "0030_job_priority"
down_revision = "0029_job_cancel"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("priority")
