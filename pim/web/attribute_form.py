"""The new-attribute form and an existing attribute's settings form read into an Attribute, checked as a
structure file's `attributes:` entry would be (pim.structure_files: the model's own rules, then
check_references), so the page refuses what `pim structure load` refuses, with the same words. A few checks are
added that the files lack and that would otherwise break later: a second identifier, an undeclared group, a
regular expression that does not compile, min above max. Whether an existing attribute may change that way
(its stored values) is pim.attribute_changes' question."""

from __future__ import annotations

import re
from typing import Any

from pim.catalog import Structure
from pim.structure import Attribute, AttributeType
from pim.web.label_form import typed_labels
from pim.web.structure_entry import checked_entry

TYPES = [t for t in AttributeType if t != AttributeType.identifier]  # there is exactly one identifier
FLAGS = ("localizable", "scopable", "filterable", "searchable", "internal")
#: The flags an existing attribute's settings form changes: they decide what the outputs carry (search documents;
#: `internal`: kept for staff, never published, pim.published), not how values are keyed, so the next publish and
#: search push take them (channels.search_settings fingerprints them).
INDEX_FLAGS = ("filterable", "searchable", "internal")
#: Sent by a settings form that offers INDEX_FLAGS, so that an unticked box (absent) reads as False there and
#: as "unchanged" in a post that never showed them.
INDEX_FLAGS_SHOWN = "index_flags"

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
#: What the settings form of an existing attribute changes per type: its settings but `unique`, which stays
#: (pim.attribute_changes.FIXED says why).
EDITABLE: dict[AttributeType, tuple[str, ...]] = {k: tuple(n for n in v if n != "unique") for k, v in SETTINGS.items()}
_SETTING_NAMES = frozenset(n for names in SETTINGS.values() for n in names)


def setting_fields(table: dict[AttributeType, tuple[str, ...]] = SETTINGS,
                   kinds: Any = None) -> list[tuple[str, str, bool, list[str]]]:
    """(name, label, is a checkbox, the types it applies to) for each setting of `table` (of the types `kinds`,
    all when None), in the form's order."""
    table = {k: v for k, v in table.items() if kinds is None or k in kinds}
    names = list(dict.fromkeys(n for kind in table for n in table[kind]))
    return [(n, LABELS[n], n in CHECKBOXES, [k.value for k in table if n in table[k]]) for n in names]


def settings_form(attr: Attribute) -> dict[str, str]:
    """The settings form filled in with `attr` as it is (the same names the form posts)."""
    form = {"group": attr.group, "type": attr.type.value}
    form |= {flag: "on" for flag in INDEX_FLAGS if getattr(attr, flag)}
    for name in _SETTING_NAMES:
        value = getattr(attr, name)
        if name in CHECKBOXES:
            if value:
                form[name] = "on"
        elif value not in (None, "", []):
            form[name] = ", ".join(value) if isinstance(value, list) else _number_text(value)
    return form


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
                            "labels": typed_labels(form, locales)}
    data |= {flag: flag in form for flag in FLAGS}
    return data | _settings(form, SETTINGS.get(AttributeType(kind), ()) if kind in _KINDS else ())


def _settings(form: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The settings `names` as the form gives them (an unticked checkbox is absent: False)."""
    data: dict[str, Any] = {}
    for name in names:
        if name in CHECKBOXES:
            data[name] = name in form
        elif name == "allowed_extensions":
            data[name] = [e.lower().lstrip(".") for e in re.split(r"[\s,]+", str(form.get(name, ""))) if e]
        elif raw := str(form.get(name, "")).strip():
            data[name] = raw  # the model parses numbers and says so when it cannot
    return data


def _number_text(value: Any) -> str:
    """5000.0 as "5000" (the model keeps limits as floats), anything else as it prints."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def edited_data(attr: Attribute, form: Any) -> dict[str, Any]:
    """`attr` as its settings form leaves it: group and type from the form, the (new) type's settings from the
    form as on the add form (an empty field: none), the old type's settings the new one lacks back to the
    model's defaults; `filterable` and `searchable` as ticked when the form showed them (INDEX_FLAGS_SHOWN);
    everything else as it was. `localizable`, `scopable` and `unique` are not offered; sent
    anyway, they are taken, so that pim.attribute_changes refuses the change instead of ignoring it."""
    data = attr.model_dump(mode="json")
    kind = str(form.get("type", "")).strip() or attr.type.value
    data |= {"type": kind, "group": str(form.get("group", "")).strip() or attr.group}
    data |= {flag: str(form.get(flag)).lower() not in ("", "0", "off", "false")
             for flag in ("localizable", "scopable", "unique") if flag in form}
    if INDEX_FLAGS_SHOWN in form:
        data |= {flag: flag in form for flag in INDEX_FLAGS}
    names = EDITABLE.get(AttributeType(kind), ()) if kind in _KINDS else ()
    cleared = {*names, *EDITABLE.get(attr.type, ())}  # an emptied field clears its setting
    defaults = {n: Attribute.model_fields[n].get_default(call_default_factory=True) for n in cleared}
    return data | defaults | _settings(form, names)


def _extra_problems(s: Structure, attr: Attribute, was: Attribute | None = None) -> list[str]:
    """`was`: the attribute being edited (it may keep its group, declared or not, and its code)."""
    problems = []
    if attr.type == AttributeType.identifier and (was is None or was.type != AttributeType.identifier):
        problems.append(f"type: there is exactly one identifier attribute ({s.identifier_attribute}); "
                        "choose another type")
    if attr.group not in groups(s) and (was is None or attr.group != was.group):
        problems.append(f"group: attribute group '{attr.group}' is not declared")
    if attr.validation_regexp:
        try:
            re.compile(attr.validation_regexp)
        except re.error as exc:
            problems.append(f"validation_regexp: not a regular expression ({exc})")
    if attr.number_min is not None and attr.number_max is not None and attr.number_min > attr.number_max:
        problems.append("number_min: the minimum is above the maximum")
    if was is None and attr.code in s.attributes:
        problems.append(f"'{attr.code}' is already an attribute ({s.attributes[attr.code].type.value})")
    return problems


def _checked(s: Structure, data: dict[str, Any], was: Attribute | None = None) -> tuple[Attribute | None, list[str]]:
    """`data` as a structure file's attribute entry, checked as `pim structure load` would, plus the checks above."""
    attr, problems = checked_entry(s, "attributes", data)
    if attr is None:
        return None, problems
    problems += _extra_problems(s, attr, was)
    return (None, problems) if problems else (attr, [])


def new_attribute(s: Structure, data: dict[str, Any]) -> tuple[Attribute | None, list[str]]:
    """An attribute checked as `pim structure load` would check it, plus the checks above; an existing code
    is refused rather than overwritten. New attributes sort after the others of their group."""
    attr, problems = _checked(s, data)
    if attr is None:
        return None, problems
    last = max((a.sort_order for a in s.attributes.values() if a.group == attr.group), default=-1)
    return attr.model_copy(update={"sort_order": last + 1}), []


def edited_attribute(s: Structure, attr: Attribute, form: Any) -> tuple[Attribute | None, list[str]]:
    """`attr` with its settings form applied (edited_data), checked like a new one but keeping its code; moved
    to another group, it sorts after that group's attributes."""
    edited, problems = _checked(s, edited_data(attr, form), attr)
    if edited is None or edited.group == attr.group:
        return edited, problems
    last = max((a.sort_order for a in s.attributes.values() if a.group == edited.group), default=-1)
    return edited.model_copy(update={"sort_order": last + 1}), []


