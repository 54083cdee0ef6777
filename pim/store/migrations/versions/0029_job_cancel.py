"""merge: a running job's cancel request (pim.job_cancel), stamped by `pim jobs cancel`, the API or the job
page and honoured by the job's runner at its next safe point (between pages or batches)"""

import sqlalchemy as sa
from alembic import op

revision = "0029_job_cancel"
down_revision = "0028_job_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("cancel_requested_at")
