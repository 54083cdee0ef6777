"""The generated catalog's structure: locales, channels, a category tree, every attribute type, options,
families with per-channel requirements, one- and two-level family variants, association types.
Built from the profile and a seeded Random only, so the same seed gives the same structure."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pim.generate.profiles import ProfileSpec
from pim.structure import (
    AssociationKind,
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
    VariantLevel,
)
from pim.structure_files import StructureFile

T = AttributeType
WORDS = (
    "alpine basic bold classic compact comfort deluxe eco essential flex fresh grand heavy light lite max mini "
    "modern nordic nova pro prime pure rapid robust smart solid sport steel studio swift ultra urban vital "
    "cable drill lamp chair desk bottle jacket kettle router sensor valve pump filter hose glove helmet tile "
    "panel brush knife mixer speaker charger adapter bracket clamp frame hinge socket switch plug"
).split()
COLORS = ("black", "white", "red", "blue", "green", "yellow", "grey", "orange", "purple", "brown", "silver", "pink")
SIZES = ("xs", "s", "m", "l", "xl", "xxl", "size_38", "size_40", "size_42", "size_44")
MATERIALS = ("steel", "aluminium", "wood", "cotton", "polyester", "glass", "rubber", "leather", "ceramic", "plastic")
METRICS = {"Weight": ("KILOGRAM", "GRAM"), "Length": ("CENTIMETER", "MILLIMETER", "METER"),
           "Power": ("WATT",), "Volume": ("LITER", "MILLILITER")}
CURRENCIES = ("EUR", "USD")
#: Filler attribute types and their weights: text-heavy, like real catalogs.
FILLER_TYPES = ((T.text, 20), (T.textarea, 8), (T.number, 15), (T.metric, 10), (T.simple_select, 15),
                (T.multi_select, 7), (T.boolean, 12), (T.date, 8), (T.image, 5))
#: Attributes every family has, and which of them live on the variant levels.
CORE = ("sku", "name", "description", "brand", "ean", "price", "weight", "image", "release_date", "color",
        "size", "material", "eco_friendly")
VARIANT_LEVEL_ONE = ["sku", "ean", "image", "price", "weight"]
TWO_LEVEL_TOP = ["image"]
TWO_LEVEL_BOTTOM = ["sku", "ean", "price", "weight"]


def _labels(text: str, locales: tuple[str, ...]) -> dict[str, str]:
    return {loc: text if i == 0 else f"{text} [{loc[:2]}]" for i, loc in enumerate(locales)}


@dataclass
class GeneratedStructure:
    """The structure file plus the lookups the product generator needs (kept small: no products here)."""

    file: StructureFile
    channels: dict[str, tuple[list[str], list[str]]]  # channel → (locales, currencies)
    leaf_categories: list[str]
    options: dict[str, list[str]] = field(default_factory=dict)
    attributes: dict[str, Attribute] = field(default_factory=dict)


def build_structure(spec: ProfileSpec, seed: int) -> GeneratedStructure:
    rng = random.Random(f"{seed}:structure")
    locales = spec.locales
    channels = [Channel(code="ecommerce", labels=_labels("E-commerce", locales), locales=list(locales),
                        currencies=list(CURRENCIES), category_tree="master")]
    if spec.channels > 1:
        channels.append(Channel(code="mobile", labels=_labels("Mobile app", locales), locales=[locales[0]],
                                currencies=["EUR"], category_tree="master"))
    attributes = _core_attributes(locales) + _filler_attributes(spec, rng, locales)
    options = _options(spec, rng, attributes, locales)
    categories, leaves = _categories(spec.categories, locales)
    families, variants = _families(spec, rng, attributes, [c.code for c in channels], locales)
    groups = sorted({a.group for a in attributes})
    file = StructureFile(
        locales=[Locale(code=c) for c in locales],
        currencies=[Currency(code=c) for c in CURRENCIES],
        attribute_groups=[AttributeGroup(code=g, labels=_labels(g.title(), locales), sort_order=i) for i, g in enumerate(groups)],
        attributes=attributes,
        attribute_options=[o for opts in options.values() for o in opts],
        categories=categories,
        channels=channels,
        families=families,
        family_variants=variants,
        association_types=[
            AssociationType(code="X_SELL", kind=AssociationKind.cross_sell, labels=_labels("Cross sell", locales)),
            AssociationType(code="UPSELL", kind=AssociationKind.up_sell, labels=_labels("Upsell", locales)),
            AssociationType(code="ACCESSORY", kind=AssociationKind.accessory, labels=_labels("Accessories", locales)),
            AssociationType(code="SUBSTITUTION", kind=AssociationKind.substitution, labels=_labels("Substitutes", locales)),
            AssociationType(code="PACK", kind=AssociationKind.pack, labels=_labels("Pack", locales), quantified=True),
        ],
    )
    return GeneratedStructure(
        file=file,
        channels={c.code: (c.locales, c.currencies) for c in channels},
        leaf_categories=leaves,
        options={a: [o.code for o in opts] for a, opts in options.items()},
        attributes={a.code: a for a in attributes},
    )


def _core_attributes(locales: tuple[str, ...]) -> list[Attribute]:
    def a(code: str, kind: T, group: str, **kw: object) -> Attribute:
        return Attribute(code=code, type=kind, group=group, labels=_labels(code.replace("_", " ").title(), locales), **kw)  # type: ignore[arg-type]

    return [
        a("sku", T.identifier, "general", unique=True, searchable=True),
        a("name", T.text, "marketing", localizable=True, searchable=True, max_characters=255),
        a("description", T.textarea, "marketing", localizable=True, scopable=True, searchable=True),
        a("brand", T.simple_select, "marketing", filterable=True),
        a("ean", T.text, "erp", searchable=True),
        a("price", T.price_collection, "erp", decimals_allowed=True),
        a("weight", T.metric, "technical", metric_family="Weight", default_unit="KILOGRAM", negative_allowed=False),
        a("image", T.image, "media", allowed_extensions=["jpg", "png"]),
        a("release_date", T.date, "erp", scopable=True),
        a("color", T.simple_select, "technical", filterable=True),
        a("size", T.simple_select, "technical", filterable=True),
        a("material", T.multi_select, "technical", filterable=True),
        a("eco_friendly", T.boolean, "marketing", filterable=True),
    ]


def _filler_attributes(spec: ProfileSpec, rng: random.Random, locales: tuple[str, ...]) -> list[Attribute]:
    kinds = [k for k, _ in FILLER_TYPES]
    weights = [w for _, w in FILLER_TYPES]
    groups = ("marketing", "technical", "logistics", "compliance", "media")
    out: list[Attribute] = []
    for i in range(max(0, spec.attributes - len(CORE))):
        kind = rng.choices(kinds, weights)[0]
        code = f"{kind.value}_{i:04d}"
        extra: dict[str, object] = {}
        textual = kind in (T.text, T.textarea)
        if kind == T.metric:
            family = rng.choice(sorted(METRICS))
            extra = {"metric_family": family, "default_unit": METRICS[family][0]}
        if kind == T.image:
            extra["allowed_extensions"] = ["jpg", "png"]
        out.append(Attribute(
            code=code, type=kind, group="media" if kind == T.image else rng.choice(groups),
            labels=_labels(f"{rng.choice(WORDS).title()} {kind.value} {i}", locales),
            localizable=textual and rng.random() < 0.5,
            scopable=kind in (T.text, T.textarea, T.number) and rng.random() < 0.15,
            filterable=kind in (T.simple_select, T.multi_select, T.boolean) and rng.random() < 0.5,
            searchable=textual and rng.random() < 0.3,
            sort_order=i,
            **extra,  # type: ignore[arg-type]
        ))
    return out


def _options(spec: ProfileSpec, rng: random.Random, attributes: list[Attribute], locales: tuple[str, ...]) -> dict[str, list[AttributeOption]]:
    fixed = {"brand": [f"brand_{i:03d}" for i in range(spec.brands)], "color": list(COLORS), "size": list(SIZES),
             "material": list(MATERIALS)}
    options: dict[str, list[AttributeOption]] = {}
    for attr in attributes:
        if attr.type not in (T.simple_select, T.multi_select):
            continue
        codes = fixed.get(attr.code) or [f"{attr.code}_o{k}" for k in range(rng.randint(4, 15))]
        options[attr.code] = [
            AttributeOption(attribute=attr.code, code=c, sort_order=n,
                            labels=_labels(f"{rng.choice(WORDS).title()} {c.rsplit('_', 1)[-1]}" if attr.code == "brand" else c.replace("_", " "), locales))
            for n, c in enumerate(codes)
        ]
    return options


def _categories(count: int, locales: tuple[str, ...]) -> tuple[list[Category], list[str]]:
    """A breadth-first tree under `master`, ten children per node, so depth grows with the count."""
    codes = ["master"] + [f"cat_{i:05d}" for i in range(1, count)]
    cats = [Category(code="master", labels=_labels("Master catalog", locales))]
    has_children: set[str] = set()
    for i in range(1, count):
        parent = codes[(i - 1) // 10]
        has_children.add(parent)
        cats.append(Category(code=codes[i], parent=parent, labels=_labels(f"Category {i}", locales)))
    leaves = [c for c in codes if c not in has_children and c != "master"] or ["master"]
    return cats, leaves


def _families(spec: ProfileSpec, rng: random.Random, attributes: list[Attribute], channels: list[str],
              locales: tuple[str, ...]) -> tuple[list[Family], list[FamilyVariant]]:
    fillers = [a.code for a in attributes if a.code not in CORE]
    families: list[Family] = []
    variants: list[FamilyVariant] = []
    for i in range(spec.families):
        code = f"family_{i:03d}"
        size = min(len(fillers), rng.randint(*spec.family_size))
        extra = sorted(rng.sample(fillers, size))
        requirements = {"ecommerce": ["sku", "name", "description", "price", "image", "brand", "ean"] + extra[:2]}
        if "mobile" in channels:
            requirements["mobile"] = ["sku", "name", "price", "image"]
        families.append(Family(code=code, labels=_labels(f"{rng.choice(WORDS).title()} family {i}", locales),
                               attributes=list(CORE) + extra, attribute_as_label="name", attribute_as_image="image",
                               requirements=requirements))
        variants.append(FamilyVariant(code=f"{code}_by_color", family=code, labels=_labels("By colour", locales),
                                      levels=[VariantLevel(axes=["color"], attributes=VARIANT_LEVEL_ONE)]))
        variants.append(FamilyVariant(code=f"{code}_by_color_size", family=code, labels=_labels("By colour and size", locales),
                                      levels=[VariantLevel(axes=["color"], attributes=TWO_LEVEL_TOP),
                                              VariantLevel(axes=["size"], attributes=TWO_LEVEL_BOTTOM)]))
    return families, variants
