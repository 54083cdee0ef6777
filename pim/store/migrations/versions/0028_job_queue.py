"""merge: the durable job queue — a job's payload (what its runner needs, so a queued or interrupted job can
be run by any worker) and the workers' own rows (which workers are alive, by pid or heartbeat)"""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0028_job_queue"
down_revision = "0016_job_heartbeat"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("payload", JSONType, nullable=True))
    op.create_table(
        "job_worker",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("stopped_at", TS, nullable=True),
        sa.Column("jobs", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("job_worker")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("payload")
