"""merge: a running job's heartbeat, so a job whose process died on another host shows as interrupted"""

import sqlalchemy as sa
from alembic import op

revision = "0016_job_heartbeat"
down_revision = "0014_price_list_seen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("heartbeat_at")
