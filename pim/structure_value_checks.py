"""`pim structure load` and `POST /api/v1/structure` replace attributes in place, and values are never rewritten
by a structure change. So a loaded attribute that would leave a stored value unreadable is refused, with the
count and a few examples, like the attribute page refuses it (pim.attribute_changes):

- a new key shape — localizable, scopable or available locales changed while values are stored under the old
  keys (`name` would have to become `name:en_US`): the stored keys are checked as an import checks a record's;
- a new type or a narrower setting that refuses a stored value the old attribute accepted, or would store it in
  another form (pim.attribute_changes.refusal);
- a family variant's new levels or family while product models use it (as its page refuses them).

An attribute holding no value may change in any way, and only attributes whose change can matter are read:
all of them in one streamed pass over each holding table (pim.attribute_usage.held_values_of), so a file
changing thirty attributes reads each table once, not thirty times."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from pim.attribute_changes import refusal, stored_problems_of, tightened
from pim.attribute_usage import rows_said
from pim.catalog import Structure
from pim.structure import Attribute
from pim.structure_files import StructureFile, StructureProblem, item_line
from pim.validation import RecordValidator

#: The settings that decide how a value is keyed: a change leaves every stored key of the attribute to check.
KEYING = ("localizable", "scopable", "available_locales")
MOVE = ("declare a new attribute with the new settings, move the values to it (`pim export sheet --columns …`, "
        "rename the columns, `pim import content`), then delete this one (`pim structure delete attributes CODE`); "
        "or keep the old setting")

#: Each file with where its items came from: its YAML node tree, or each section's CSV row lines (Akeneo).
Files = list[tuple[Path, StructureFile, yaml.Node | Mapping[str, list[int]] | None]]


def stored_value_problems(store: Any, existing: Structure, files: Files) -> list[StructureProblem]:
    """One problem per loaded attribute whose change some stored value cannot follow. All the changed
    attributes are checked together, in one pass over each holding table (stored_problems_of)."""
    after = after_load(existing, files)
    validators = RecordValidator(existing), RecordValidator(after)
    changed: list[tuple[str, int, str, Any, Attribute]] = []  # (path, index, field, node, new attribute)
    checks = []
    for path, f, node in files:
        for i, new in enumerate(f.attributes):
            old = existing.attributes.get(new.code)
            if old is None or old == new:
                continue
            keyed = [name for name in KEYING if getattr(old, name) != getattr(new, name)]
            narrower = tightened(old, new)
            if not keyed and not narrower:
                continue
            changed.append((str(path), i, keyed[0] if keyed else narrower[0], node, new))
            checks.append((old.code, _why(existing, after, validators, old, new, narrowed=bool(narrower))))
    problems = []
    for (path, i, field, node, new), lines in zip(changed, stored_problems_of(store, checks), strict=True):
        problems += [StructureProblem(path, item_line(node, "attributes", i, field), f"attributes.{i}.{field}",
                                      f"{new.code} changes, but {line}; {MOVE.replace('CODE', new.code)}")
                     for line in lines]
    return problems + _variant_problems(store, existing, files)


def _variant_problems(store: Any, existing: Structure, files: Files) -> list[StructureProblem]:
    """A family variant's levels or family stay while product models use it, as on its page: the models were
    imported split by those axes, and their product variants hold the level attributes."""
    from pim.structure_deletes import variant_models

    problems = []
    for path, f, node in files:
        for i, new in enumerate(f.family_variants):
            old = existing.family_variants.get(new.code)
            if old is None or (old.levels == new.levels and old.family == new.family):
                continue
            with store.engine.connect() as conn:
                count, examples = variant_models(conn, new.code)
            if count:
                field = "family" if old.family != new.family else "levels"
                used = rows_said("product_model", count, examples, ("uses", "use"))
                problems.append(StructureProblem(
                    str(path), item_line(node, "family_variants", i, field), f"family_variants.{i}.{field}",
                    f"{new.code}'s {field} stay while product models use it: {used}; declare a new variant with "
                    "the new split and re-import the models into it, or keep this one"))
    return problems


def after_load(existing: Structure, files: Files) -> Structure:
    """The structure as it will be once the files are saved, for what a stored value is checked against."""
    attributes, channels = dict(existing.attributes), dict(existing.channels)
    locales, measures = dict(existing.locales), dict(existing.measurement_families)
    options = {code: dict(opts) for code, opts in existing.options.items()}
    for _, f, _ in files:
        attributes.update((a.code, a) for a in f.attributes)
        channels.update((c.code, c) for c in f.channels)
        locales.update((loc.code, loc) for loc in f.locales)
        measures.update((m.code, m) for m in f.measurement_families)
        for o in f.attribute_options:
            options.setdefault(o.attribute, {})[o.code] = o
    return replace(existing, attributes=attributes, channels=channels, locales=locales,
                   measurement_families=measures, options=options)


def _why(existing: Structure, after: Structure, validators: tuple[RecordValidator, RecordValidator],
         old: Attribute, new: Attribute, narrowed: bool) -> Callable[[str, Any], str | None]:
    """Why a stored `key` = value cannot stay as it is under `new` (None: it can, or it was invalid before)."""
    before, now = validators

    def why(key: str, data: Any) -> str | None:
        if before.check_key(key) is not None:
            return None  # keyed wrong already (a locale no channel has any more): not this change's doing
        if (problem := now.check_key(key)) is not None:
            return f"keyed wrong now: {problem.reason}"
        if narrowed and refusal(old, data, existing) is None:
            return refusal(new, data, after)
        return None
    return why
