"""grid index: the product grid's filter tables (categories with ancestors, sources, search tokens,
missing attributes, completeness), each keyed (value, product_id) so a filter is an id-ordered index range"""

import sqlalchemy as sa
from alembic import op

revision = "0011_grid_index"
down_revision = "0002_commerce"
branch_labels = ("grid_index",)
depends_on = None


def _text(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _pid() -> sa.Column:
    return sa.Column("product_id", sa.Integer, primary_key=True, autoincrement=False)


def upgrade() -> None:
    op.create_table(
        "grid_product",
        sa.Column("product", sa.String(255), primary_key=True),
        sa.Column("product_id", sa.Integer, nullable=False, unique=True),
    )
    op.create_table("grid_category", sa.Column("category", _text(255), primary_key=True), _pid())
    op.create_index("ix_grid_category_product", "grid_category", ["product_id"])
    op.create_table("grid_source", sa.Column("source", _text(100), primary_key=True), _pid())
    op.create_index("ix_grid_source_product", "grid_source", ["product_id"])
    op.create_table(
        "grid_text",
        sa.Column("token", _text(64), primary_key=True),
        _pid(),
        sa.Column("locale", _text(20), primary_key=True),
    )
    op.create_index("ix_grid_text_product", "grid_text", ["product_id", "token"])
    op.create_table(
        "grid_missing",
        sa.Column("channel", _text(100), primary_key=True),
        sa.Column("locale", _text(20), primary_key=True),
        sa.Column("attribute", _text(100), primary_key=True),
        _pid(),
    )
    op.create_index("ix_grid_missing_product", "grid_missing", ["product_id"])
    op.create_table(
        "grid_completeness",
        sa.Column("channel", _text(100), primary_key=True),
        sa.Column("locale", _text(20), primary_key=True),
        sa.Column("complete", sa.Boolean, primary_key=True),
        _pid(),
        sa.Column("ratio", sa.Integer, nullable=False),
    )
    op.create_index("ix_grid_completeness_product", "grid_completeness", ["product_id"])


def downgrade() -> None:
    for table in ("grid_completeness", "grid_missing", "grid_text", "grid_source", "grid_category"):
        op.drop_index(f"ix_{table}_product", table_name=table)
        op.drop_table(table)
    op.drop_table("grid_product")
