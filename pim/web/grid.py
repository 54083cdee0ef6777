"""The product grid's filter as its query string gives it. The query itself (the filter model, its reading
of the index, the keyset page walk) is core, pim.grid_query, which `pim export sheet` shares; its names stay
importable from here for the web modules."""

from __future__ import annotations

from collections.abc import Mapping

from pim.grid_query import (  # noqa: F401  (re-exported)
    _INDEXED, COUNT_CAP, GridFilter, GridRow, Plan, build_query, ensure_index, grid_pages, label_of, page, pages, plan,
)


def filter_from(params: Mapping[str, str]) -> GridFilter:
    """The grid's filter from its query string (the grid page, its download, a filter-wide mass edit): empty
    fields are no filter, and so is the completeness select's `below:` without a number."""
    f = GridFilter(**{k: (params.get(k) or None) for k in ("q", "family", "category", "channel", "locale",
                                                         "completeness", "missing", "quality", "source")},
                   enabled={"1": True, "0": False}.get(params.get("enabled", "")))
    if f.completeness == "below:":
        f.completeness = None
    return f
