"""media: which products and models show which image refs, indexed by ref (refreshed from the seqs)"""

import sqlalchemy as sa
from alembic import op

revision = "0017_image_index"
down_revision = "0004_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_use",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("owner", sa.String(255), primary_key=True),
        sa.Column("ref", sa.Text, primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
    )
    op.create_index("ix_image_use_ref", "image_use", ["ref"])
    op.create_table(
        "image_use_mark",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("attributes", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_use_mark")
    op.drop_index("ix_image_use_ref", table_name="image_use")
    op.drop_table("image_use")
