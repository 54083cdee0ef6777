"""feeds: every delivered feed file gets its delivery version, not only each contract's newest (migration 0045
marked that one). The contract's counter moves by one per delivered file and never goes back (deleting a contract
keeps its watermark), so walking a contract's delivered files from the oldest one that has a version towards
older ones, each takes one less, and follows the one below it. A pruned file counts when the delivery log says it
was delivered. Files never delivered (built, held, failed, cancelled) keep NULL, as do delivered files the count
would put below version 1 (none, unless the watermark was reset by hand) and those of a contract without one."""

import sqlalchemy as sa
from alembic import op

revision = "0046_feed_file_versions_all"
down_revision = "0045_feed_file_version"  # the feeds branch's head
branch_labels = None
depends_on = None

FILES = sa.table("feed_file", sa.column("id", sa.Integer), sa.column("contract", sa.String),
                 sa.column("status", sa.String), sa.column("version", sa.Integer),
                 sa.column("previous_version", sa.Integer))
LOG = sa.table("feed_delivery", sa.column("file_id", sa.Integer), sa.column("status", sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    logged = sa.exists().where(LOG.c.file_id == FILES.c.id, LOG.c.status == "delivered")
    delivered = sa.or_(FILES.c.status == "delivered", sa.and_(FILES.c.status == "pruned", logged))
    rows = conn.execute(sa.select(FILES.c.id, FILES.c.contract, FILES.c.version).where(delivered)
                        .order_by(FILES.c.contract, FILES.c.id.desc())).all()
    marks: list[dict[str, int]] = []
    below: dict[str, int | None] = {}  # contract → the version of the oldest delivered file seen so far
    for file_id, contract, version in rows:
        if version is not None:
            below[contract] = version
            continue
        newer = below.get(contract)
        if newer is None or newer <= 1:
            continue
        below[contract] = newer - 1
        marks.append({"file_id": file_id, "v": newer - 1, "p": newer - 2})
    if marks:
        conn.execute(FILES.update().where(FILES.c.id == sa.bindparam("file_id"))
                     .values(version=sa.bindparam("v"), previous_version=sa.bindparam("p")), marks)


def downgrade() -> None:
    """Nothing to undo by itself: 0045's downgrade drops the columns."""
