"""Product models and products, one at a time, as canonical JSONL lines (the same bytes pim.jsonl.record_line
writes for the record: keys sorted). Nothing is held per product: a layout stream decides which records exist (simple
product or a model with its variants) and is replayed for the products pass, so models can be written
first without buffering anything."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson

from pim.generate.profiles import ProfileSpec
from pim.generate.structure import (
    TWO_LEVEL_BOTTOM,
    TWO_LEVEL_TOP,
    VARIANT_LEVEL_ONE,
    WORDS,
    GeneratedStructure,
)
from pim.product import value_key
from pim.structure import AttributeType as T

BASE_DATE = date(2020, 1, 1)
ASSOCIATIONS = (("X_SELL", 0.30, 4), ("UPSELL", 0.10, 3), ("ACCESSORY", 0.06, 3), ("SUBSTITUTION", 0.03, 2))


def identifier(index: int) -> str:
    return f"P{index:07d}"


def gtin13(index: int) -> str:
    """A valid GTIN-13 from a product index: '40' + ten digits + the GS1 check digit."""
    body = f"40{index:010d}"
    return body + gtin13_check(body)


def is_valid_gtin13(code: str) -> bool:
    if len(code) != 13 or not code.isdigit():
        return False
    return gtin13_check(code[:12]) == code[12]


def gtin13_check(body: str) -> str:
    """GS1: weights 1 and 3 alternate from the left over the first twelve digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Group:
    """One layout slot: a simple product, or a model with its variants. `first` is its first product index."""

    first: int
    family: int
    model: int | None = None  # model number, when this slot is a product model
    colors: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()  # empty: one-level model

    @property
    def products(self) -> int:
        if self.model is None:
            return 1
        return len(self.colors) * (len(self.sizes) or 1)


def layout(spec: ProfileSpec, seed: int, colors: list[str], sizes: list[str]) -> Iterator[Group]:
    """Replayable: the same spec and seed yield the same groups. ~variant_share of products are variants."""
    rng = random.Random(f"{seed}:layout")
    # Expected variants per model is ~5.5 (half one-level 2–5, half two-level 2–3 × 2–4).
    p_model = spec.variant_share / (5.5 - spec.variant_share * 4.5)
    index = models = 0
    while index < spec.products:
        family = rng.randrange(spec.families)
        left = spec.products - index
        if rng.random() < p_model and left >= 4:
            if rng.random() < 0.5:
                group = Group(index, family, models, tuple(rng.sample(colors, rng.randint(2, 5))))
            else:
                group = Group(index, family, models, tuple(rng.sample(colors, rng.randint(2, 3))),
                              tuple(sorted(rng.sample(sizes, rng.randint(2, 4)))))
            if group.products <= left:
                models += 1
                index += group.products
                yield group
                continue
        index += 1
        yield Group(index - 1, family)


@dataclass
class _Slot:
    code: str
    kind: T
    keys: list[str]
    required: bool
    choices: list[str]
    unit: str | None = None


class RecordWriter:
    """Turns layout groups into canonical lines. One instance per pass; its Random makes the content."""

    def __init__(self, spec: ProfileSpec, seed: int, structure: GeneratedStructure, pass_name: str) -> None:
        self.spec, self.s = spec, structure
        self.rng = random.Random(f"{seed}:{pass_name}")
        self.families = structure.file.families
        self.currencies = sorted({c for _, curr in structure.channels.values() for c in curr})
        self.plans = [self._plan(f.code) for f in self.families]
        self.stats = {"disabled": 0, "invalid_eans": 0, "duplicate_eans": 0, "incomplete_prices": 0}

    def _keys(self, code: str) -> list[str]:
        a = self.s.attributes[code]
        locales = list(self.spec.locales)
        if a.localizable and a.scopable:
            return [value_key(code, loc, ch) for ch, (ch_locales, _) in self.s.channels.items() for loc in ch_locales]
        if a.localizable:
            return [value_key(code, loc) for loc in locales]
        if a.scopable:
            return [value_key(code, None, ch) for ch in self.s.channels]
        return [code]

    def _plan(self, family_code: str) -> dict[str, _Slot]:
        family = next(f for f in self.families if f.code == family_code)
        required = {c for codes in family.requirements.values() for c in codes}
        plan: dict[str, _Slot] = {}
        for code in family.attributes:
            a = self.s.attributes[code]
            plan[code] = _Slot(code, a.type, self._keys(code), code in required, self.s.options.get(code, []), a.default_unit)
        return plan

    # ---------------------------------------------------------------- values
    def _value(self, slot: _Slot, owner: str) -> Any:
        rng, kind = self.rng, slot.kind
        if kind == T.text:
            return " ".join(rng.choices(WORDS, k=2 + int(rng.random() * 4))).capitalize()
        if kind == T.textarea:
            return " ".join(rng.choices(WORDS, k=12 + int(rng.random() * 29))).capitalize() + "."
        if kind == T.number:
            n = rng.randint(0, 100_000)
            return n if rng.random() < 0.5 or n % 100 == 0 else n / 100
        if kind == T.metric:
            return {"amount": _amount(rng.randint(1, 500_000)), "unit": slot.unit}
        if kind == T.price_collection:
            cents = rng.randint(99, 250_000)
            prices = {c: f"{cents * (1 if c == 'EUR' else 1.08) / 100:.2f}" for c in self.currencies}
            if rng.random() < 0.03:  # a missing currency: incomplete where that currency is asked for
                prices.pop(self.currencies[-1])
                self.stats["incomplete_prices"] += 1
            return prices
        if kind == T.simple_select:
            return rng.choice(slot.choices)
        if kind == T.multi_select:
            return sorted(rng.sample(slot.choices, rng.randint(1, min(3, len(slot.choices)))))
        if kind == T.boolean:
            return rng.random() < 0.5
        if kind == T.date:
            return (BASE_DATE + timedelta(days=rng.randint(0, 2500))).isoformat()
        if kind == T.image:
            return f"images/{owner}/{slot.code}.jpg"
        raise AssertionError(kind)  # pragma: no cover

    def _fill(self, values: dict[str, Any], slot: _Slot, owner: str, always: bool = False) -> None:
        rng = self.rng
        if not always and not slot.required and rng.random() >= self.spec.fill_rate:
            return
        for key in slot.keys:
            if always or not slot.required or rng.random() < self.spec.required_fill_rate:
                values[key] = self._value(slot, owner)

    def _ean(self, index: int) -> str:
        r = self.rng.random()
        if r < self.spec.invalid_ean_share:
            self.stats["invalid_eans"] += 1
            good = gtin13(index)
            return good[:12] + str((int(good[12]) + 1) % 10)
        if r < self.spec.invalid_ean_share + self.spec.duplicate_ean_share and index > 0:
            self.stats["duplicate_eans"] += 1
            return gtin13(max(0, index - self.rng.randint(1, 50)))
        return gtin13(index)

    def _common(self, values: dict[str, Any], plan: dict[str, _Slot], skip: set[str], owner: str) -> None:
        for code, slot in plan.items():
            if code in skip:
                continue
            if code == "name":
                self._fill(values, slot, owner, always=True)
            else:
                self._fill(values, slot, owner)

    def _categories(self) -> list[str]:
        leaves = self.s.leaf_categories
        return sorted({self.rng.choice(leaves) for _ in range(self.rng.randint(1, 2))})

    def _associations(self, index: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for code, share, most in ASSOCIATIONS:
            if self.rng.random() < share:
                targets = {identifier(self.rng.randrange(self.spec.products)) for _ in range(self.rng.randint(1, most))}
                targets.discard(identifier(index))
                if targets:
                    out[code] = {"products": sorted(targets)}
        if self.rng.random() < 0.02:
            items = sorted({identifier(self.rng.randrange(self.spec.products)) for _ in range(2)} - {identifier(index)})
            if items:
                out["PACK"] = {"products": items, "quantities": {i: self.rng.randint(1, 6) for i in items}}
        return out

    # ---------------------------------------------------------------- records
    def product_line(self, index: int, family: int, parent: str | None = None, axes: dict[str, str] | None = None,
                     level_attrs: list[str] | None = None) -> bytes:
        ident = identifier(index)
        plan = self.plans[family]
        values: dict[str, Any] = {"sku": ident}
        if axes is None:
            self._common(values, plan, {"sku", "ean"}, ident)
        else:
            values.update(axes)
            for code in level_attrs or []:
                if code not in ("sku", "ean") and code in plan:
                    self._fill(values, plan[code], ident)
        if "ean" in plan and (axes is None or "ean" in (level_attrs or [])) and self.rng.random() < 0.97:
            values["ean"] = self._ean(index)
        record: dict[str, Any] = {}
        if axes is None:
            record["categories"] = self._categories()
        record["values"] = values
        record["identifier"] = ident
        record["family"] = self.families[family].code
        if parent:
            record["parent"] = parent
        if self.rng.random() < self.spec.disabled_share:
            record["enabled"] = False
            self.stats["disabled"] += 1
        assoc = self._associations(index)
        if assoc:
            record["associations"] = assoc
        record["kind"] = "product"
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"

    def model_lines(self, group: Group) -> Iterator[bytes]:
        family = self.families[group.family]
        plan = self.plans[group.family]
        code = model_code(group)
        variant_attrs = set(VARIANT_LEVEL_ONE if not group.sizes else TWO_LEVEL_TOP + TWO_LEVEL_BOTTOM) | {"color", "size"}
        values: dict[str, Any] = {}
        self._common(values, plan, variant_attrs, code)
        fv = f"{family.code}_by_color_size" if group.sizes else f"{family.code}_by_color"
        yield _model_line(code, fv, family.code, None, values, self._categories())
        if group.sizes:
            for color in group.colors:
                sub: dict[str, Any] = {"color": color}
                for attr in TWO_LEVEL_TOP:
                    self._fill(sub, plan[attr], f"{code}_{color}")
                yield _model_line(f"{code}_{color}", fv, family.code, code, sub, [])

    def variant_lines(self, group: Group) -> Iterator[bytes]:
        code = model_code(group)
        index = group.first
        for color in group.colors:
            if not group.sizes:
                yield self.product_line(index, group.family, code, {"color": color}, VARIANT_LEVEL_ONE)
                index += 1
                continue
            for size in group.sizes:
                yield self.product_line(index, group.family, f"{code}_{color}", {"size": size}, TWO_LEVEL_BOTTOM)
                index += 1


def model_code(group: Group) -> str:
    return f"M{group.model:06d}"


def _model_line(code: str, fv: str, family: str, parent: str | None, values: dict[str, Any], categories: list[str]) -> bytes:
    record: dict[str, Any] = {}
    if categories:
        record["categories"] = categories
    record["values"] = values
    record.update({"code": code, "family_variant": fv, "family": family})
    if parent:
        record["parent"] = parent
    record["kind"] = "product_model"
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"


def _amount(hundredths: int) -> str:
    """The canonical decimal text pim.values writes: no trailing zeros."""
    text = f"{hundredths // 100}.{hundredths % 100:02d}".rstrip("0").rstrip(".")
    return text or "0"
