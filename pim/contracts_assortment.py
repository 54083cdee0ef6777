"""Which products a contract's assortment holds (pim.contracts): AssortmentMatcher decides one product,
AssortmentIndex a whole catalog snapshot at once (the two give the same answers), contract_customers the search
index's tenants. Split from pim.contracts, which still offers every name here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from pim.catalog import Structure
from pim.contracts_model import Assortment, Rule
from pim.contracts_store import get_contracts
from pim.product import Product, merged_values
from pim.store.store import Store
from pim.structure import AttributeType

# Attributes whose stored values are JSON strings (or lists of them), and the characters no JSON encoder escapes.
_STRING_TYPES = frozenset({AttributeType.text, AttributeType.identifier, AttributeType.simple_select, AttributeType.multi_select})
_VERBATIM = re.compile(r"^[A-Za-z0-9 _.,:;+=()#%!?*'-]+$")


def _accepts(v: Any, accepted: frozenset[str]) -> bool:
    return any(str(x) in accepted for x in v) if isinstance(v, list) else str(v) in accepted


@dataclass
class AssortmentMatcher:
    """Decides membership from a product's own and inherited values (pure, no I/O)."""

    assortment: Assortment
    structure: Structure

    def __post_init__(self) -> None:
        self.skus = set(self.assortment.skus)
        self.excluded = set(self.assortment.exclude_skus)
        self._subtree = {code: self.structure.subtree(code)
                         for r in [*self.assortment.rules, *self.assortment.exclude] for code in r.categories}
        self._sets: dict[int, frozenset[str]] = {}  # id of a rule's accepted list (the assortment keeps it alive) → set

    def _hits(self, values: dict[str, Any], attribute: str, listed: list[str]) -> bool:
        """Whether a value of `attribute`, in any locale or channel (list items one by one), is accepted. The
        plain key is tried first: most attributes are neither localizable nor scopable."""
        accepted = self._sets.get(id(listed))
        if accepted is None:
            accepted = self._sets[id(listed)] = frozenset(listed)
        if attribute in values and _accepts(values[attribute], accepted):
            return True
        scoped = (attribute + ":", attribute + "@")
        return any(_accepts(values[k], accepted) for k in [k for k in values if k.startswith(scoped)])

    def _rule(self, rule: Rule, p: Product, values: dict[str, Any]) -> bool:
        if rule.families and p.family not in rule.families:
            return False
        if rule.categories and not any(set(p.categories) & self._subtree[c] for c in rule.categories):
            return False
        if rule.brands and not self._hits(values, self.assortment.brand_attribute, rule.brands):
            return False
        return all(self._hits(values, a, accepted) for a, accepted in rule.attributes.items())

    def needles(self) -> list[list[tuple[str, ...]]] | None:
        """A cheap necessary condition on a product's own stored value JSON, for scanning a catalog without
        decoding every row: per rule, per criterion, values one of which must occur in the text for the rule to
        accept the product (explicit SKUs, and variants, which inherit values, are the caller's to keep). None
        when some rule cannot be checked this way.

        Brand and attribute criteria on text, select and identifier attributes are checked: their stored values
        are JSON strings. Only values no JSON encoder escapes are looked for; a rule with any other value, or
        without any such criterion, turns the filter off."""
        alternatives: list[list[tuple[str, ...]]] = []
        for rule in self.assortment.rules:
            criteria = [(self.assortment.brand_attribute, rule.brands)] if rule.brands else []
            criteria += list(rule.attributes.items())
            needles = [tuple(accepted) for attribute, accepted in criteria if self._textual(attribute, accepted)]
            if not needles:
                return None
            alternatives.append(needles)
        return alternatives or None

    def _textual(self, attribute: str, accepted: list[str]) -> bool:
        attr = self.structure.attributes.get(attribute)
        return (attr is not None and attr.type in _STRING_TYPES
                and all(_VERBATIM.match(v) and v not in ("True", "False", "None") for v in accepted))

    def matches(self, p: Product, values: dict[str, Any] | None = None) -> bool:
        if p.identifier in self.excluded or (self.assortment.enabled_only and not p.enabled):
            return False
        values = p.values if values is None else values
        if any(self._rule(r, p, values) for r in self.assortment.exclude):
            return False
        return p.identifier in self.skus or any(self._rule(r, p, values) for r in self.assortment.rules)


class AssortmentIndex:
    """Set-based assortment resolution over a catalog snapshot: postings per family, category and attribute
    value, built once and shared by every contract of a run. `members` gives exactly what
    `AssortmentMatcher.matches` would accept (tests hold the two to the same answers)."""

    def __init__(self, products: list[Any], structure: Structure) -> None:
        self.products, self.structure = products, structure
        self.order = {p.identifier: n for n, p in enumerate(products)}
        self.families: dict[str | None, set[str]] = {}
        self.categories: dict[str, set[str]] = {}
        self.disabled = {p.identifier for p in products if not p.enabled}
        for p in products:
            self.families.setdefault(p.family, set()).add(p.identifier)
            for c in p.categories:
                self.categories.setdefault(c, set()).add(p.identifier)
        self._values: dict[str, dict[str, set[str]]] = {}

    def _postings(self, attribute: str) -> dict[str, set[str]]:
        if attribute not in self._values:
            out: dict[str, set[str]] = {}
            local, scoped = attribute + ":", attribute + "@"
            for p in self.products:
                for key, v in p.values.items():
                    if key == attribute or key.startswith(local) or key.startswith(scoped):
                        for x in (v if isinstance(v, list) else [v]):
                            out.setdefault(str(x), set()).add(p.identifier)
            self._values[attribute] = out
        return self._values[attribute]

    def _any(self, postings: dict[Any, set[str]], keys: Iterable[Any]) -> set[str]:
        out: set[str] = set()
        for k in keys:
            out |= postings.get(k, set())
        return out

    def _rule(self, rule: Rule, a: Assortment, matcher: AssortmentMatcher) -> set[str] | None:
        found: set[str] | None = None

        def narrow(s: set[str]) -> None:
            nonlocal found
            found = s if found is None else found & s

        if rule.families:
            narrow(self._any(self.families, rule.families))
        if rule.categories:
            narrow(self._any(self.categories, {c for root in rule.categories for c in matcher._subtree[root]}))
        if rule.brands:
            narrow(self._any(self._postings(a.brand_attribute), rule.brands))
        for attribute, accepted in rule.attributes.items():
            narrow(self._any(self._postings(attribute), accepted))
        return found

    def members(self, a: Assortment) -> list[str]:
        """Identifiers in the assortment, explicit SKUs first (sorted), then rule matches in catalog order."""
        matcher = AssortmentMatcher(a, self.structure)
        ruled: set[str] = set()
        for rule in a.rules:
            ruled |= self._rule(rule, a, matcher) or set()
        out_ = set(a.exclude_skus) | (self.disabled if a.enabled_only else set())
        for rule in a.exclude:
            out_ |= self._rule(rule, a, matcher) or set()
        explicit = sorted(s for s in set(a.skus) if s in self.order and s not in out_)
        rest = sorted(ruled - out_ - set(explicit), key=self.order.__getitem__)
        return explicit + rest


# ---------------------------------------------------------------------------------------------- tenants
def with_assortment_values(store: Store, products: Iterable[Product]) -> Iterator[tuple[Product, dict[str, Any]]]:
    """Each product with the values an assortment rule sees: a variant's own merged over its models'."""
    for product in products:
        yield product, merged_values(product, store.ancestors(product)) if product.parent else product.values


def contract_customers(store: Store, skus: list[str]) -> dict[str, list[str]]:
    """SKU → customers whose contracted assortment holds it (the search index's tenant field).
    Without any contract, falls back to customers holding a contract price for the SKU."""
    contracts = get_contracts(store)
    if not contracts:
        from pim.commerce import PRICE

        out: dict[str, list[str]] = {}
        with store.engine.connect() as conn:
            for sku, customer in conn.execute(select(PRICE.c.sku, PRICE.c.customer).where(PRICE.c.sku.in_(skus)).distinct()):
                out.setdefault(sku, []).append(customer)
        return out
    structure = store.structure()
    matchers = [(c.customer, AssortmentMatcher(c.assortment, structure)) for c in contracts]
    found: dict[str, set[str]] = {}
    for product, values in with_assortment_values(store, store.iter_products(identifiers=skus)):
        for customer, matcher in matchers:
            if matcher.matches(product, values):
                found.setdefault(product.identifier, set()).add(customer)
    return {sku: sorted(c) for sku, c in found.items()}
