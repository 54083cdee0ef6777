"""completeness: leaner score tables. Every reader looks rows up by product, so the (channel, locale, family)
index only cost writes (the report reads counter tables); on SQLite `completeness` and `unique_value` become
WITHOUT ROWID tables (the primary key is the table: one B-tree per insert instead of two)."""

import sqlalchemy as sa
from alembic import op

from pim.store.tables import JSONType

revision = "0012_completeness_lean"
down_revision = "0003_completeness"
branch_labels = None
depends_on = None


def _pk(name: str, length: int = 100) -> sa.Column:
    return sa.Column(name, sa.String(length), primary_key=True)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False)


def _columns(table: str) -> list[sa.Column]:
    if table == "completeness":
        return [_pk("product", 255), _pk("channel"), _pk("locale", 20), sa.Column("family", sa.String(100), nullable=False),
                _count("ratio"), _count("required"), _count("missing_count"), sa.Column("missing", JSONType, nullable=False)]
    return [_pk("product", 255), _pk("attribute"), sa.Column("value", sa.String(255), nullable=False)]


def _recreate(table: str, *, rowid: bool) -> None:
    """SQLite cannot alter a table's rowid-ness: copy into a new table and swap names."""
    names = ", ".join(c.name for c in _columns(table))
    op.create_table(f"{table}_new", *_columns(table), sqlite_with_rowid=rowid)
    op.execute(f"INSERT INTO {table}_new ({names}) SELECT {names} FROM {table}")
    op.drop_table(table)
    op.rename_table(f"{table}_new", table)


def upgrade() -> None:
    op.drop_index("ix_completeness_scope", "completeness")
    if op.get_bind().dialect.name == "sqlite":
        _recreate("completeness", rowid=False)
        op.drop_index("ix_unique_value_value", "unique_value")
        _recreate("unique_value", rowid=False)
        op.create_index("ix_unique_value_value", "unique_value", ["attribute", "value"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _recreate("completeness", rowid=True)
        op.drop_index("ix_unique_value_value", "unique_value")
        _recreate("unique_value", rowid=True)
        op.create_index("ix_unique_value_value", "unique_value", ["attribute", "value"])
    op.create_index("ix_completeness_scope", "completeness", ["channel", "locale", "family"])
