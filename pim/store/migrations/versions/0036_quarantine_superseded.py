"""quarantine.superseded_by: the job whose newer run of the same file, or newer rejection of the same record,
closed an entry (pim.store.Store.supersede_quarantine). Such an entry is closed without having been fixed."""

import sqlalchemy as sa
from alembic import op

revision = "0036_quarantine_superseded"
down_revision = "0035_quarantine_model_keys"  # the merge branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("superseded_by", sa.Integer(), nullable=True))
    op.create_index("ix_quarantine_source_open", "quarantine", ["source", "resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_source_open", "quarantine")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("superseded_by")
