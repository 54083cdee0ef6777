"""search: the locales whose index each push target's state describes, so dropping one locale's index forgets
only that locale (the next push rebuilds it and stays incremental for the others). A row pushed before is
expanded to its channel's locales: a push sends every locale of the channel, and a locale change since then
changed the shape fingerprint, so that push rebuilds anyway. A row whose channel is gone keeps NULL (its
locales are unknown): its next push rebuilds every index, and the channels page counts it as holding all."""

import json

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0031_search_sync_locales"
down_revision = "0027_search_visibility_state"  # the search branch's head: search_sync is created on it
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("search_sync") as batch:
        batch.add_column(sa.Column("locales", sa.Text(), nullable=True))
    conn = op.get_bind()
    sync = sa.table("search_sync", sa.column("target", sa.String), sa.column("locales", sa.Text))
    structure = sa.table("structure", sa.column("kind", sa.String), sa.column("code", sa.String),
                         sa.column("data", JSONType))
    channels = dict(conn.execute(sa.select(structure.c.code, structure.c.data).where(structure.c.kind == "channel")).all())
    for (target,) in conn.execute(sa.select(sync.c.target)).all():
        data = channels.get(str(target).rpartition("|")[2])  # target: "<where>|<prefix>|<channel>"
        locales = data.get("locales") if isinstance(data, dict) else None
        if locales:
            conn.execute(sa.update(sync).where(sync.c.target == target).values(locales=json.dumps(list(locales))))


def downgrade() -> None:
    with op.batch_alter_table("search_sync") as batch:
        batch.drop_column("locales")
