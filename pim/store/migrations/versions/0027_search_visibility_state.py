"""search: the contracts each push target last saw (code, customer, assortment), so a contract change re-sends
only the products whose customers may have changed instead of rebuilding the index"""

import sqlalchemy as sa
from alembic import op

revision = "0027_search_visibility_state"
down_revision = "0015_search_visibility"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("search_sync") as batch:
        batch.add_column(sa.Column("visibility_state", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("search_sync") as batch:
        batch.drop_column("visibility_state")
