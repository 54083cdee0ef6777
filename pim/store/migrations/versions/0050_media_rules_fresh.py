"""media: tell a catalog that has scored nothing yet from one upgraded with scores, for the image rules check
(media.channel_rules.settle). Its first call on an upgraded catalog takes stored scores as computed before the
media area was in use (any text in an image value counted) and, when media is in use by then, queues the rescore
jobs of the families requiring an image: the upgrade no longer needs `pim gate rescore` by hand. A database with
no completeness row (a new one) gets the `media_rules` marker set to FRESH here: its scores are all this
release's, computed with media not in use (a new catalog has no upload yet; its channels come later, so no
per-channel digest can be written now), and its first check compares each channel with its digest for media
not in use. Media coming into use before that check (the first upload) therefore queues the rescores, as it does
later on. A catalog whose first check already ran (round 35) keeps its marker."""

import sqlalchemy as sa
from alembic import op

revision = "0050_media_rules_fresh"
down_revision = "0032_rejected_asset"  # the media branch's head
branch_labels = None
depends_on = "0003_completeness"  # reads the completeness table

SEQUENCE = sa.table("sequence", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
COMPLETENESS = sa.table("completeness", sa.column("product", sa.String))
MARK = "media_rules"
FRESH = 2  # media.channel_rules.FRESH


def upgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.select(SEQUENCE.c.name).where(SEQUENCE.c.name == MARK)).first() is not None:
        return
    if conn.execute(sa.select(COMPLETENESS.c.product).limit(1)).first() is not None:
        return  # scored before: the first check decides whether they need rescoring
    conn.execute(sa.insert(SEQUENCE).values(name=MARK, value=FRESH))


def downgrade() -> None:
    """The marker of a database no check has looked at since goes (a recorded one stays: the rules are known)."""
    op.get_bind().execute(sa.delete(SEQUENCE).where(SEQUENCE.c.name == MARK, SEQUENCE.c.value == FRESH))
