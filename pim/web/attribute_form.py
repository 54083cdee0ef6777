"""The new-attribute form read into an Attribute, checked as a structure file's `attributes:` entry would be
(pim.structure_files: the model's own rules, then check_references), so the page refuses what `pim structure
load` refuses, with the same words. A few checks are added that the files lack and that would otherwise break
later: a second identifier, an undeclared group, a regular expression that does not compile, min above max."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pim.catalog import Structure
from pim.structure import Attribute, AttributeType
from pim.structure_files import StructureFile, check_references

_FORM = Path("the form")  # where the structure files' checks say a problem is
TYPES = [t for t in AttributeType if t != AttributeType.identifier]  # there is exactly one identifier
FLAGS = ("localizable", "scopable", "filterable", "searchable")

#: The type-specific settings the form offers, per type (the model's fields; values.normalize enforces them).
SETTINGS: dict[AttributeType, tuple[str, ...]] = {
    AttributeType.text: ("max_characters", "validation_regexp", "unique"),
    AttributeType.textarea: ("max_characters",),
    AttributeType.number: ("number_min", "number_max", "decimals_allowed", "negative_allowed", "unique"),
    AttributeType.metric: ("metric_family", "default_unit", "negative_allowed"),
    AttributeType.date: ("unique",),
    AttributeType.image: ("allowed_extensions",),
    AttributeType.file: ("allowed_extensions",),
}
_KINDS = frozenset(t.value for t in AttributeType)
CHECKBOXES = frozenset({"unique", "decimals_allowed", "negative_allowed", *FLAGS})
LABELS = {"max_characters": "Max. characters", "validation_regexp": "Pattern (regular expression)",
          "unique": "Unique", "number_min": "Min.", "number_max": "Max.", "decimals_allowed": "Decimals allowed",
          "negative_allowed": "Negative allowed", "metric_family": "Measurement family (e.g. Weight)",
          "default_unit": "Default unit (e.g. KILOGRAM)", "allowed_extensions": "Allowed extensions (jpg, png)"}
DEFAULTS = {"decimals_allowed": "on", "negative_allowed": "on"}  # what a fresh form shows ticked


def setting_fields() -> list[tuple[str, str, bool, list[str]]]:
    """(name, label, is a checkbox, the types it applies to) for each setting, in the form's order."""
    names = list(dict.fromkeys(n for kind in SETTINGS for n in SETTINGS[kind]))
    return [(n, LABELS[n], n in CHECKBOXES, [k.value for k in SETTINGS if n in SETTINGS[k]]) for n in names]


def groups(s: Structure) -> list[str]:
    """The groups a new attribute may join: the declared ones in their order, or the model's default when
    the structure declares none."""
    declared = sorted(s.attribute_groups.values(), key=lambda g: (g.sort_order, g.code))
    return [g.code for g in declared] or [Attribute.model_fields["group"].default]


def attribute_data(form: Any, locales: list[str]) -> dict[str, Any]:
    """What the form says, as a structure file's attribute entry; settings of other types are left out."""
    kind = str(form.get("type", "")).strip()
    data: dict[str, Any] = {"code": str(form.get("code", "")).strip(), "type": kind,
                            "group": str(form.get("group", "")).strip(),
                            "labels": {loc: v for loc in locales if (v := str(form.get(f"label:{loc}", "")).strip())}}
    data |= {flag: flag in form for flag in FLAGS}
    for name in SETTINGS.get(AttributeType(kind), ()) if kind in _KINDS else ():
        if name in CHECKBOXES:
            data[name] = name in form
        elif name == "allowed_extensions":
            data[name] = [e.lower().lstrip(".") for e in re.split(r"[\s,]+", str(form.get(name, ""))) if e]
        elif raw := str(form.get(name, "")).strip():
            data[name] = raw  # the model parses numbers and says so when it cannot
    return data


def _extra_problems(s: Structure, attr: Attribute) -> list[str]:
    problems = []
    if attr.type == AttributeType.identifier:
        problems.append(f"type: there is exactly one identifier attribute ({s.identifier_attribute}); "
                        "choose another type")
    if attr.group not in groups(s):
        problems.append(f"group: attribute group '{attr.group}' is not declared")
    if attr.validation_regexp:
        try:
            re.compile(attr.validation_regexp)
        except re.error as exc:
            problems.append(f"validation_regexp: not a regular expression ({exc})")
    if attr.number_min is not None and attr.number_max is not None and attr.number_min > attr.number_max:
        problems.append("number_min: the minimum is above the maximum")
    if attr.code in s.attributes:
        problems.append(f"'{attr.code}' is already an attribute ({s.attributes[attr.code].type.value})")
    return problems


def new_attribute(s: Structure, data: dict[str, Any]) -> tuple[Attribute | None, list[str]]:
    """An attribute checked as `pim structure load` would check it, plus the checks above; an existing code
    is refused rather than overwritten. New attributes sort after the others of their group."""
    try:
        file = StructureFile.model_validate({"attributes": [data]})
    except ValidationError as exc:
        return None, [_said(e) for e in exc.errors()]
    problems = [f"{p.field.rsplit('.', 1)[-1]}: {p.reason}" for p in check_references([(_FORM, file, None)], s)]
    attr = file.attributes[0]
    problems += _extra_problems(s, attr)
    if problems:
        return None, problems
    last = max((a.sort_order for a in s.attributes.values() if a.group == attr.group), default=-1)
    return attr.model_copy(update={"sort_order": last + 1}), []


def _said(error: Any) -> str:
    """`field: message`, or the message alone for a rule about the whole attribute (the model's validators)."""
    field = error["loc"][-1] if error["loc"] else None
    return f"{field}: {error['msg']}" if isinstance(field, str) else str(error["msg"])
