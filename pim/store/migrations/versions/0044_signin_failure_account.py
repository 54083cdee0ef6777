"""web: a failed sign-in notes the account it named, so that a good sign-in clears only its own account's
failures (signing in to one's own account between guesses at another's no longer resets the address's count).
Rows from before have "": they still count against their address until the window moves on."""

import sqlalchemy as sa
from alembic import op

revision = "0044_signin_failure_account"
down_revision = "0025_staff_email"  # the web branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signin_failure") as batch:
        batch.add_column(sa.Column("account", sa.String(254), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("signin_failure") as batch:
        batch.drop_column("account")
