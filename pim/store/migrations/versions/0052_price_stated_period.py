"""price_list: the tier period a supplier stated (`stated_from`, `stated_to`), kept beside the dates a row is valid
on. A supplier's periods are stored one list a day (importers.tier_periods), so a list's row may end the day before
an offer starts although the supplier sent it open-ended; knowing the stated end lets the list resume the day after
an offer with its own end. Rows stored before stay as they are (no stated period: their dates count as stated);
importing the supplier's list again states them."""

import sqlalchemy as sa
from alembic import op

revision = "0052_price_stated_period"
down_revision = "0047_publish_baseline"  # the merge branch's head, where the price-list tables' changes live
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("price_list", sa.Column("stated_from", sa.Date, nullable=True))
    op.add_column("price_list", sa.Column("stated_to", sa.Date, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("price_list") as batch:
        batch.drop_column("stated_to")
        batch.drop_column("stated_from")
