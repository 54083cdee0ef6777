"""Catalog structure as code: YAML files (schema: schemas/structure.schema.json) loaded with errors that
name the file, line and field, and say what to do. Nothing is written unless every file is valid."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pim.catalog import Structure
from pim.errors import InputError
from pim.measures import builtin
from pim.structure import (
    STRUCTURE_KINDS,
    AssociationType,
    Attribute,
    AttributeGroup,
    AttributeOption,
    AttributeType,
    Category,
    Channel,
    Currency,
    Family,
    FamilyVariant,
    Locale,
    MeasurementFamily,
    structure_key,
)


class StructureFile(BaseModel):
    """One structure file. Any subset of the sections; a catalog may split them over many files."""

    model_config = ConfigDict(extra="forbid")

    locales: list[Locale] = []
    currencies: list[Currency] = []
    measurement_families: list[MeasurementFamily] = []
    attribute_groups: list[AttributeGroup] = []
    attributes: list[Attribute] = []
    attribute_options: list[AttributeOption] = []
    categories: list[Category] = []
    channels: list[Channel] = []
    families: list[Family] = []
    family_variants: list[FamilyVariant] = []
    association_types: list[AssociationType] = []


SECTION_KIND = {
    "locales": "locale", "currencies": "currency", "measurement_families": "measurement_family",
    "attribute_groups": "attribute_group",
    "attributes": "attribute", "attribute_options": "attribute_option", "categories": "category",
    "channels": "channel", "families": "family", "family_variants": "family_variant",
    "association_types": "association_type",
}


@dataclass
class StructureProblem:
    file: str
    line: int | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} [{self.field}] {self.reason}"


def problem_listing(problems: list[StructureProblem], where: str, shown: int = 50) -> str:
    """The message of a load refused as a whole (structure files, contracts): how many problems `where`, then the
    first `shown`, one per line, so a long list stays readable (`problems` keeps them all for --json)."""
    lines = "\n".join(f"  {p}" for p in problems[:shown])
    more = f"\n  … and {len(problems) - shown} more" if len(problems) > shown else ""
    return f"{len(problems)} problem(s) {where}; nothing was loaded:\n{lines}{more}"


class StructureErrors(InputError):
    """Declarative files refused as a whole, every problem listed (file, line, field); `where` replaces "in the
    <files>" in the message (contracts refused for what they name: pim.contracts_files, pim.feed_customers)."""

    def __init__(self, problems: list[StructureProblem],
                 hint: str = "fix the lines above and run `pim structure load` again", *,
                 files: str = "structure files", where: str | None = None) -> None:
        super().__init__(
            problem_listing(problems, where or f"in the {files}"),
            file=problems[0].file, line=problems[0].line, field=problems[0].field, hint=hint,
        )
        self.problems = problems

    def describe(self) -> str:
        return f"{self}\n  → {self.hint}"


def _line_of(node: yaml.Node | None, path: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to the nearest line we know."""
    line = node.start_mark.line + 1 if node is not None else None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
            key = next((k for k, _ in node.value if getattr(k, "value", None) == step), None)
            if key is not None:
                line = key.start_mark.line + 1
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line


def parse_file(path: Path) -> tuple[StructureFile | None, list[StructureProblem], yaml.Node | None]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [StructureProblem(name, None, "-", f"not UTF-8 ({exc.reason}); save the file as UTF-8")], None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [StructureProblem(name, mark.line + 1 if mark else None, "-", f"not valid YAML: {getattr(exc, 'problem', exc)}")], None
    if data is None:
        return StructureFile(), [], node
    if not isinstance(data, dict):
        return None, [StructureProblem(name, 1, "-", f"expected sections such as attributes:, families: (got {type(data).__name__})")], node
    try:
        return StructureFile.model_validate(data), [], node
    except ValidationError as exc:
        return None, validation_problems(exc.errors(), name, node), node


def validation_problems(errors: Iterable[Mapping[str, Any]], name: str,
                        node: yaml.Node | None = None) -> list[StructureProblem]:
    """pydantic's errors for a StructureFile as problems, an unknown field or section naming the allowed ones:
    shared by the files and the REST API's body (pim.web.api_structure), so both say the same."""
    problems = []
    for e in errors:
        loc = tuple(e["loc"])
        field = ".".join(str(p) for p in loc)
        hint = e["msg"]
        if e["type"] == "extra_forbidden":
            hint = f"unknown field; allowed: {', '.join(_allowed(loc))}" if len(loc) >= 3 else f"unknown section; allowed: {', '.join(SECTION_KIND)}"
        problems.append(StructureProblem(name, _line_of(node, loc), field, hint))
    return problems


def _allowed(loc: tuple[Any, ...]) -> list[str]:
    model = STRUCTURE_KINDS.get(SECTION_KIND.get(str(loc[0]), ""), None)
    return sorted(model.model_fields) if model else []


def item_line(node: yaml.Node | Mapping[str, list[int]] | None, section: str, index: int,
              field: str | None = None) -> int | None:
    """The line of a section's item (or its field): through the YAML node tree, or, for items read from CSV
    rows (an Akeneo export), from each section's row lines."""
    if isinstance(node, Mapping):
        lines = node.get(section) or []
        return lines[index] if index < len(lines) else None
    path: tuple[Any, ...] = (section, index) + ((field,) if field else ())
    return _line_of(node, path)


def check_references(files: list[tuple[Path, StructureFile, yaml.Node | None]], existing: Structure | None = None) -> list[StructureProblem]:
    """Cross-file checks: everything a family, option, channel or variant names must exist."""
    known = Structure() if existing is None else existing
    merged: dict[str, dict[str, Any]] = {k: dict(getattr(known, v)) for k, v in _SECTION_ATTR.items()}
    options: set[tuple[str, str]] = {(a, o) for a, opts in known.options.items() for o in opts}
    for _, f, _ in files:
        for section, attr in _SECTION_ATTR.items():
            for item in getattr(f, section):
                merged[section][item.code] = item
        options |= {(o.attribute, o.code) for o in f.attribute_options}
    problems: list[StructureProblem] = []

    def need(cond: bool, path: Path, node: Any, section: str, i: int, field: str, reason: str) -> None:
        if not cond:
            problems.append(StructureProblem(str(path), item_line(node, section, i, field), f"{section}.{i}.{field}", reason))

    attrs, cats = merged["attributes"], merged["categories"]
    for path, f, node in files:
        for i, o in enumerate(f.attribute_options):
            a = attrs.get(o.attribute)
            need(a is not None, path, node, "attribute_options", i, "attribute", f"attribute '{o.attribute}' is not declared")
            if a is not None:
                need(a.type in (AttributeType.simple_select, AttributeType.multi_select), path, node, "attribute_options", i,
                     "attribute", f"'{o.attribute}' is a {a.type} attribute; options belong to select attributes")
        for i, c in enumerate(f.categories):
            need(c.parent is None or c.parent in cats, path, node, "categories", i, "parent", f"parent category '{c.parent}' is not declared")
        for i, ch in enumerate(f.channels):
            need(ch.category_tree in cats, path, node, "channels", i, "category_tree", f"category tree '{ch.category_tree}' is not declared")
            bad = [loc for loc in ch.locales if merged["locales"] and loc not in merged["locales"]]
            need(not bad, path, node, "channels", i, "locales", f"locales not declared: {bad}")
        for i, fam in enumerate(f.families):
            unknown = [a for a in fam.attributes if a not in attrs]
            need(not unknown, path, node, "families", i, "attributes", f"attributes not declared: {unknown}; add them under attributes:")
            bad_ch = [c for c in fam.requirements if c not in merged["channels"]]
            need(not bad_ch, path, node, "families", i, "requirements", f"channels not declared: {bad_ch}")
        for i, fv in enumerate(f.family_variants):
            fam = merged["families"].get(fv.family)
            need(fam is not None, path, node, "family_variants", i, "family", f"family '{fv.family}' is not declared")
            if fam is not None:
                axes = [a for level in fv.levels for a in level.axes]
                outside = [a for a in axes if a not in fam.attributes]
                need(not outside, path, node, "family_variants", i, "levels", f"axes not in family '{fv.family}': {outside}")
                unfit = [a for a in axes if a in attrs and not axis_fit(attrs[a])]
                need(not unfit, path, node, "family_variants", i, "levels",
                     f"axes must be simple select, boolean or metric attributes, neither localizable nor scopable "
                     f"(one value per variant): {unfit}")
                strays = [a for level in fv.levels for a in level.attributes if a not in fam.attributes]
                need(not strays, path, node, "family_variants", i, "levels",
                     f"level attributes not in family '{fv.family}': {strays}; add them to the family first")
    problems += _measure_problems(files, merged["measurement_families"])
    return problems


#: What a variant axis may be (as in Akeneo): one value per variant, the same in every locale and channel.
AXIS_TYPES = frozenset({AttributeType.simple_select, AttributeType.boolean, AttributeType.metric})


def axis_fit(attr: Attribute) -> bool:
    return attr.type in AXIS_TYPES and not attr.localizable and not attr.scopable


def _measure_problems(files: list[tuple[Path, StructureFile, yaml.Node | None]],
                      declared: dict[str, MeasurementFamily]) -> list[StructureProblem]:
    """Declared measurement families must not clash with the built-in ones; a metric attribute's family must be
    in the catalogue and its default unit one of that family's unit codes."""
    measures = builtin().extended(declared.values())
    problems: list[StructureProblem] = []
    for path, f, node in files:
        for i, mf in enumerate(f.measurement_families):
            family = measures.family(mf.code)
            for reason in family.conflicts if family is not None else []:
                field = "standard_unit" if "standard unit" in reason else "units"
                problems.append(StructureProblem(str(path), item_line(node, "measurement_families", i, field),
                                                 f"measurement_families.{i}.{field}", reason))
        for i, a in enumerate(f.attributes):
            if a.type != AttributeType.metric:
                continue
            family = measures.family(a.metric_family)
            if family is None:
                problems.append(StructureProblem(
                    str(path), item_line(node, "attributes", i, "metric_family"), f"attributes.{i}.metric_family",
                    f"'{a.metric_family}' is not a measurement family; known: {', '.join(sorted(measures.families))} "
                    "(or declare it under measurement_families:)"))
                continue
            unit = a.default_unit
            code = family.resolve(unit) if unit else unit
            if code != unit:
                reason = (f"default_unit '{unit}' is not a unit of {family.code}; use one of {', '.join(family.units)}"
                          if code is None else f"default_unit '{unit}' means {code}; write the unit code {code}")
                problems.append(StructureProblem(str(path), item_line(node, "attributes", i, "default_unit"),
                                                 f"attributes.{i}.default_unit", reason))
    return problems


_SECTION_ATTR = {
    "attributes": "attributes", "categories": "categories", "channels": "channels", "families": "families",
    "locales": "locales", "currencies": "currencies", "measurement_families": "measurement_families",
}


def structure_paths(target: Path) -> list[Path]:
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise InputError(f"{target} does not exist", hint="pass a structure file or a folder of .yaml files")
    files = sorted(p for p in target.rglob("*") if p.suffix in (".yaml", ".yml"))
    if not files:
        raise InputError(f"no .yaml files in {target}", hint="structure files end in .yaml (see schemas/structure.schema.json)")
    return files


def load_structure_files(target: Path, existing: Structure | None = None, store: Any = None) -> StructureFile:
    """Parse and check every file; return one merged StructureFile, or raise StructureErrors with all problems.
    With the `store` the `existing` structure came from, changed attributes are checked against the values
    stored (pim.structure_value_checks) and changed channels against what relies on them (stored_use_problems)."""
    parsed: list[tuple[Path, StructureFile, yaml.Node | None]] = []
    problems: list[StructureProblem] = []
    for path in structure_paths(target):
        f, errs, node = parse_file(path)
        problems += errs
        if f is not None:
            parsed.append((path, f, node))
    if not problems:
        problems = check_references(parsed, existing)
    if not problems and store is not None and existing is not None:
        from pim.structure_value_checks import stored_value_problems

        problems = stored_value_problems(store, existing, parsed) or stored_use_problems(store, existing, parsed)
    if problems:
        raise StructureErrors(problems)
    merged = StructureFile()
    for _, f, _ in parsed:
        for section in SECTION_KIND:
            getattr(merged, section).extend(getattr(f, section))
    return merged


def stored_use_problems(store: Any, existing: Structure,
                        files: list[tuple[Path, StructureFile, yaml.Node | None]]) -> list[StructureProblem]:
    """Channels that drop a locale or currency a contract delivers or prices in, a search target holds an index
    for or a built-in catalog names: refused as the channels page refuses them (pim.channel_usage, one rule),
    for files and the REST API's body alike."""
    from pim.channel_usage import load_refusals

    return [StructureProblem(str(path), item_line(node, "channels", i, field), f"channels.{i}.{field}", reason)
            for path, f, node in files if f.channels
            for i, field, reason in load_refusals(store, existing, f.channels)]


def save_structure(store: Any, merged: StructureFile) -> dict[str, int]:
    """Every section in one transaction (a failure half-way leaves the old structure), in SECTION_KIND's order."""
    sections = [(section, kind) for section, kind in SECTION_KIND.items() if getattr(merged, section)]
    if not sections:
        return {}
    counts = store.put_structures([(kind, getattr(merged, section)) for section, kind in sections])
    return {section: counts[kind] for section, kind in sections}


def load_counts(merged: StructureFile) -> dict[str, int]:
    """Per section given, the items a load saves (unchanged ones too): what `save_structure` answers, said by a
    dry run without writing."""
    return {section: len(getattr(merged, section)) for section in SECTION_KIND if getattr(merged, section)}


def structure_changes(store: Any, merged: StructureFile) -> dict[str, dict[str, int]]:
    """Per section given, how many items are `new` and how many `changed` from what is stored (the last of a
    code given twice counts, as it is the one saved): what a load changes, said before it writes."""
    out: dict[str, dict[str, int]] = {}
    for section, kind in SECTION_KIND.items():
        sent = {structure_key(kind, item): item.model_dump(mode="json") for item in getattr(merged, section)}
        if not sent:
            continue
        stored = {structure_key(kind, item): item.model_dump(mode="json") for item in store.get_structure(kind)}
        out[section] = {"new": sum(code not in stored for code in sent),
                        "changed": sum(code in stored and stored[code] != data for code, data in sent.items())}
    return out


def dump_structure_file(merged: StructureFile, path: Path) -> None:
    data = merged.model_dump(mode="json", exclude_defaults=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
