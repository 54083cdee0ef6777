"""The store: SQLModel tables, Alembic migrations and the batched reads and writes everything else uses."""

from pim.store.store import Store, UpsertCounts

__all__ = ["Store", "UpsertCounts"]
