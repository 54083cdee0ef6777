"""The new-family form and an existing family's settings form (labels, label and image attributes) read into
a Family, checked as a structure file's `families:` entry would be (pim.structure_files: the model's own rules,
then check_references), so the page refuses what `pim structure load` refuses, with the same words.

Two rules are added that the files lack and that would otherwise only show later: a product's label comes
from a text attribute (the grid, search documents and feeds show it as a name) and its image from an image
attribute. A new family starts with the identifier (every product has one) and the label and image attributes
chosen; its other attributes and its requirements are set on its page."""

from __future__ import annotations

from typing import Any

from pim.catalog import Structure
from pim.structure import AttributeType, Family
from pim.web.label_form import relabelled, typed_labels
from pim.web.structure_entry import checked_entry

#: The types a family's label attribute may have: its value is the product's name on every page and channel.
LABEL_TYPES = (AttributeType.identifier, AttributeType.text, AttributeType.textarea)
IMAGE_TYPES = (AttributeType.image,)
ROLES = {"attribute_as_label": LABEL_TYPES, "attribute_as_image": IMAGE_TYPES}


def candidates(s: Structure, role: str, members: list[str] | None = None) -> list[str]:
    """The attributes that may fill `role` (attribute_as_label or attribute_as_image): of the right type, and
    among `members` when given (an existing family's own attributes)."""
    return sorted(c for c, a in s.attributes.items() if a.type in ROLES[role] and (members is None or c in members))


def identifiers(s: Structure) -> list[str]:
    return sorted(c for c, a in s.attributes.items() if a.type == AttributeType.identifier)


def _chosen(form: Any, role: str) -> str | None:
    return str(form.get(role, "")).strip() or None


def _role_problems(s: Structure, family: Family) -> list[str]:
    problems = []
    for role, types in ROLES.items():
        code = getattr(family, role)
        attr = s.attributes.get(code) if code else None
        if code and attr is None:
            problems.append(f"{role}: attribute '{code}' is not declared")
        elif attr is not None and attr.type not in types:
            allowed = " or ".join(t.value for t in types)
            problems.append(f"{role}: {code} is a {attr.type.value} attribute; it must be {allowed}")
    return problems


def _checked(s: Structure, data: dict[str, Any]) -> tuple[Family | None, list[str]]:
    family, problems = checked_entry(s, "families", data)
    if family is None:
        return None, problems
    problems += _role_problems(s, family)
    return (None, problems) if problems else (family, [])


def new_family(s: Structure, form: Any) -> tuple[Family | None, list[str]]:
    """A family from the add form (`code`, `label:<locale>`, `attribute_as_label`, `attribute_as_image`); an
    existing code is refused rather than overwritten."""
    code = str(form.get("code", "")).strip()
    if code in s.families:
        return None, [f"code: a family '{code}' already exists; open it to change it"]
    roles = {role: _chosen(form, role) for role in ROLES}
    members = list(dict.fromkeys([*identifiers(s), *(c for c in roles.values() if c)]))
    return _checked(s, {"code": code, "labels": typed_labels(form, s.enabled_locales()), "attributes": members,
                        **roles})


def edited_family(s: Structure, family: Family, form: Any) -> tuple[Family | None, list[str]]:
    """`family` with its settings form applied: labels (an emptied field drops that locale's label) and the
    label and image attributes, each one of its own attributes or none."""
    data = family.model_dump(mode="json")
    data["labels"] = relabelled(family.labels, form, s.enabled_locales())
    for role in ROLES:
        if role in form:
            chosen = _chosen(form, role)
            if chosen and chosen not in family.attributes:
                return None, [f"{role}: {chosen} is not an attribute of {family.code}; add it to the family first"]
            data[role] = chosen
    return _checked(s, data)


def changes(old: Family, new: Family) -> list[str]:
    """"attribute_as_label name → title" for each setting that differs."""
    said = [f"{role} {getattr(old, role) or 'none'} → {getattr(new, role) or 'none'}"
            for role in ROLES if getattr(old, role) != getattr(new, role)]
    if old.labels != new.labels:
        said.insert(0, "labels " + ", ".join(f"{loc}: {new.labels.get(loc) or '(none)'}"
                                             for loc in sorted({*old.labels, *new.labels})
                                             if old.labels.get(loc) != new.labels.get(loc)))
    return said
