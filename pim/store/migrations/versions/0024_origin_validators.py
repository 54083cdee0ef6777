"""media: the HTTP validators (ETag, Last-Modified) an image URL was served with, so a refresh asks first"""

import sqlalchemy as sa
from alembic import op

revision = "0024_origin_validators"
down_revision = "0017_image_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("asset_origin") as batch:
        batch.add_column(sa.Column("etag", sa.String(400), nullable=True))
        batch.add_column(sa.Column("last_modified", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("asset_origin") as batch:
        batch.drop_column("last_modified")
        batch.drop_column("etag")
