"""quarantine: an entry for a product model is keyed `model:<code>` (pim.importing.record_identity), so a product
whose SKU is the model's code never closes it. Open entries written before, whose key is a stored model's
code and no product's SKU, are re-keyed; a key that names both stays as it was."""

from alembic import op

revision = "0035_quarantine_model_keys"
down_revision = "0034_association_pin"  # the merge branch's head
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE quarantine SET record_key = 'model:' || record_key "
        "WHERE resolved_at IS NULL AND length(record_key) <= 249 "
        "AND record_key IN (SELECT code FROM product_model) "
        "AND record_key NOT IN (SELECT identifier FROM product)"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE quarantine SET record_key = substr(record_key, 7) "
        "WHERE record_key LIKE 'model:%' AND substr(record_key, 7) IN (SELECT code FROM product_model)"
    )
