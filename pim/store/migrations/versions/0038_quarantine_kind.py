"""quarantine.kind: what kind of problem a note is, for code that acts on one kind. A write filling a missing axis
value closes the record's `missing_axis` notes by it (pim.store.supersede.close_gaps), which matched the reason's
wording before. Entries written before whose reason holds that wording, open or closed, get the kind. No index:
the closing finds a record's notes by the record key's index."""

import sqlalchemy as sa
from alembic import op

revision = "0038_quarantine_kind"
down_revision = "0037_quarantine_resolved_index"  # the merge branch's head
branch_labels = None
depends_on = None

#: The wording every missing-axis note's reason held (pim.variant_levels.GAP_MARK, as of this revision).
GAP_MARK = "has no value for its axis"


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=40), nullable=True))
    op.execute(sa.text("UPDATE quarantine SET kind = 'missing_axis' WHERE severity = 'problem' AND reason LIKE :mark")
               .bindparams(mark=f"%{GAP_MARK}%"))


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("kind")
