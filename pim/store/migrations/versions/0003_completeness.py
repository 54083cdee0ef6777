"""completeness: scores per product × channel × locale, report counters, unique values, gate decisions"""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0003_completeness"
down_revision = "0002_commerce"
branch_labels = ("completeness",)
depends_on = None

TS = sa.DateTime(timezone=True)


def _pk(name: str, length: int = 100) -> sa.Column:
    return sa.Column(name, sa.String(length), primary_key=True)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False)


def upgrade() -> None:
    op.create_table(
        "completeness",
        _pk("product", 255), _pk("channel"), _pk("locale", 20),
        sa.Column("family", sa.String(100), nullable=False),
        _count("ratio"), _count("required"), _count("missing_count"),
        sa.Column("missing", JSONType, nullable=False),
    )
    op.create_index("ix_completeness_scope", "completeness", ["channel", "locale", "family"])
    op.create_table(
        "completeness_count",
        _pk("channel"), _pk("locale", 20), _pk("family"), _count("products"), _count("complete"),
    )
    op.create_table(
        "completeness_missing",
        _pk("channel"), _pk("locale", 20), _pk("family"), _pk("attribute"), _count("products"),
    )
    op.create_table(
        "unique_value",
        _pk("product", 255), _pk("attribute"), sa.Column("value", sa.String(255), nullable=False),
    )
    op.create_index("ix_unique_value_value", "unique_value", ["attribute", "value"])
    op.create_table(
        "gate_decision",
        _pk("product", 255), _pk("channel"),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("reasons", JSONType, nullable=False),
        sa.Column("decided_at", TS, nullable=False),
    )
    op.create_table("gate_count", _pk("channel"), _pk("kind", 120), _count("products"))


def downgrade() -> None:
    for name in ("gate_count", "gate_decision", "unique_value", "completeness_missing", "completeness_count"):
        op.drop_table(name)
    op.drop_index("ix_completeness_scope", "completeness")
    op.drop_table("completeness")
