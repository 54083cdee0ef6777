"""The family-variant forms — adding one on its family's page, changing one on its own page — read into a
FamilyVariant and checked as a structure file's `family_variants:` entry would be (pim.structure_files: the
model's own rules, then check_references: the family declared, every axis and level attribute one of its
attributes, every axis a simple select, boolean or metric that is neither localizable nor scopable), so the
pages refuse what `pim structure load` refuses, with the same words.

The form fields: `code`, `label:<locale>`, and per level n (1 or 2) `axes:n` and `attributes:n` (lists of
attribute codes; a multiple select sends one field per code). Level 2 exists when either of its fields is."""

from __future__ import annotations

from typing import Any

from pim.catalog import Structure
from pim.structure import Family, FamilyVariant
from pim.web.label_form import relabelled, typed_labels
from pim.web.structure_entry import checked_entry

LEVELS = (1, 2)
LEVELS_SHOWN = "levels"  # a hidden field: the form carried the level fields (an empty multiple select sends none)


def _codes(form: Any, name: str) -> list[str]:
    """The attribute codes of one list field, trimmed, without repeats (a text field may list them with commas)."""
    typed = [c.strip() for v in form.getlist(name) for c in str(v).split(",")]
    return list(dict.fromkeys(c for c in typed if c))


def typed_levels(form: Any) -> list[dict[str, list[str]]]:
    """The levels the form gives: level 1 always (the model refuses it without axes), level 2 when either of
    its fields names an attribute."""
    levels = []
    for n in LEVELS:
        axes, attributes = _codes(form, f"axes:{n}"), _codes(form, f"attributes:{n}")
        if n == 1 or axes or attributes:
            levels.append({"axes": axes, "attributes": attributes})
    return levels


def _said(error: Any) -> str:
    """A model error where the form shows it: "level 2 axes: …" rather than the structure file's field path."""
    loc = list(error["loc"][2:] if tuple(error["loc"][:2]) == ("family_variants", 0) else error["loc"])
    if loc[:1] == ["levels"] and len(loc) >= 3 and isinstance(loc[1], int):
        return f"level {loc[1] + 1} {loc[2]}: {error['msg']}"
    field = next((p for p in reversed(loc) if isinstance(p, str)), None)
    return f"{field}: {error['msg']}" if field else str(error["msg"])


def _checked(s: Structure, data: dict[str, Any]) -> tuple[FamilyVariant | None, list[str]]:
    variant, problems = checked_entry(s, "family_variants", data, said=_said)
    return (None, problems) if problems else (variant, [])


def new_variant(s: Structure, family: Family, form: Any) -> tuple[FamilyVariant | None, list[str]]:
    """A variant of `family` from the add form; an existing code (of any family) is refused, not overwritten."""
    code = str(form.get("code", "")).strip()
    if (taken := s.family_variants.get(code)) is not None:
        return None, [f"code: a family variant '{code}' already exists (of family {taken.family}); "
                      "open it to change it"]
    return _checked(s, {"code": code, "family": family.code, "labels": typed_labels(form, s.enabled_locales()),
                        "levels": typed_levels(form)})


def _kept_order(typed: list[dict[str, list[str]]], stored: FamilyVariant) -> list[dict[str, list[str]]]:
    """`typed` with each list the same set as the stored one given back in the stored order: a form sends its
    options in the page's order, which is not a change."""
    out = []
    for n, level in enumerate(typed):
        old = stored.levels[n].model_dump() if n < len(stored.levels) else {}
        out.append({k: old[k] if k in old and set(old[k]) == set(v) else v for k, v in level.items()})
    return out


def edited_variant(s: Structure, family: Family, variant: FamilyVariant,
                   form: Any) -> tuple[FamilyVariant | None, list[str]]:
    """`variant` with the page's form applied: labels (an emptied field drops that locale's label) and, when the
    form carried them (LEVELS_SHOWN), its levels."""
    data = variant.model_dump(mode="json")
    data["labels"] = relabelled(variant.labels, form, s.enabled_locales())
    if LEVELS_SHOWN in form:
        data["levels"] = _kept_order(typed_levels(form), variant)
    return _checked(s, data)


def levels_said(variant: FamilyVariant) -> str:
    """"level 1: axes color (attributes color, ean); level 2: axes size" — a variant's split in words."""
    return "; ".join(f"level {n}: axes {', '.join(level.axes)}"
                     + (f" (attributes {', '.join(level.attributes)})" if level.attributes else "")
                     for n, level in enumerate(variant.levels, 1))


def changes(old: FamilyVariant, new: FamilyVariant) -> list[str]:
    """"labels en_US: Colour" and "levels from … to …" for what differs."""
    said = []
    if old.labels != new.labels:
        said.append("labels " + ", ".join(f"{loc}: {new.labels.get(loc) or '(none)'}"
                                          for loc in sorted({*old.labels, *new.labels})
                                          if old.labels.get(loc) != new.labels.get(loc)))
    if old.levels != new.levels:
        said.append(f"levels from {levels_said(old)} to {levels_said(new)}")
    return said
