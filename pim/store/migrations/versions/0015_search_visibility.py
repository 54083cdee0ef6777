"""search: a fingerprint of who may see which products (the contracts' customers and assortments) per push
target, so a contract change makes the next push a full rebuild"""

import sqlalchemy as sa
from alembic import op

revision = "0015_search_visibility"
down_revision = "0005_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("search_sync") as batch:
        batch.add_column(sa.Column("visibility_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("search_sync") as batch:
        batch.drop_column("visibility_hash")
