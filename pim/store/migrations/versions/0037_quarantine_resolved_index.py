"""quarantine.resolved_at on its own: `pim import prune` (pim.store.quarantine_prune) finds the entries closed
before a cut-off, of every source, by a range on it (ix_quarantine_source_open leads with the source). Closed
entries only (a partial index): whole, SQLite would take it for the open entries' `resolved_at IS NULL` over
the record key's index, and walk every open entry."""

import sqlalchemy as sa
from alembic import op

revision = "0037_quarantine_resolved_index"
down_revision = "0036_quarantine_superseded"  # the merge branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    closed = sa.text("resolved_at IS NOT NULL")
    op.create_index("ix_quarantine_resolved_at", "quarantine", ["resolved_at"], sqlite_where=closed,
                    postgresql_where=closed)


def downgrade() -> None:
    op.drop_index("ix_quarantine_resolved_at", "quarantine")
