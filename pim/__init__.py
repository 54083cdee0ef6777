"""pim: the core of the catalog pipeline (model, structure, store, merge, completeness, pipeline, CLI, API)."""

__version__ = "0.1.0"
