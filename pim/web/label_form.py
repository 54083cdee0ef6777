"""The `label:<locale>` fields every admin page's forms carry (attributes, categories, channels): what was
typed, and a relabel that changes only the locales the page showed."""

from __future__ import annotations

from typing import Any


def typed_labels(form: Any, locales: list[str]) -> dict[str, str]:
    """locale → the label typed for it, trimmed; an empty field gives none."""
    return {loc: v for loc in locales if (v := str(form.get(f"label:{loc}", "")).strip())}


def relabelled(labels: dict[str, str], form: Any, locales: list[str]) -> dict[str, str]:
    """`labels` after a relabel form: the locales it showed (of `locales`) take what was typed, an emptied field
    dropping that label; the other locales' labels stay."""
    shown = [loc for loc in locales if f"label:{loc}" in form]
    return {**{k: v for k, v in labels.items() if k not in shown}, **typed_labels(form, shown)}
