"""merge: a person's pick of an association claim (pim.association_claims.pick) is pinned on the shown row,
with who picked it, so later imports keep it showing until its source withdraws the claim"""

import sqlalchemy as sa
from alembic import op

revision = "0034_association_pin"
down_revision = "0033_association_claim"  # the merge branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("association_claim") as batch:
        batch.add_column(sa.Column("pinned_by", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("association_claim") as batch:
        batch.drop_column("pinned_by")
