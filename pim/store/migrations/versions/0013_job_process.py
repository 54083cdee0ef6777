"""merge: the host and process id that run a job, so a job whose process died (killed, crashed) shows as
interrupted instead of running for ever"""

import sqlalchemy as sa
from alembic import op

revision = "0013_job_process"
down_revision = "0010_source_fingerprint"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("pid")
        batch.drop_column("host")
