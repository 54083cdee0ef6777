"""Gating per output, for a renderer that writes one output per locale (the storefront's locale files, Google
Merchant's feeds per locale or target): with pim.gate.PER_LOCALE the gate lets through a product that some
locale the run writes holds nothing against, and says in pim.gate.PARTIAL which locales hold what. The renderer
keeps the product from those outputs only: a shopper reading en_US is not denied a product because its fr_FR
copy is missing. A product written to some outputs and kept from others is published (pim.pipeline.PARTLY: the
job counts it as `partly_blocked`, the guard as published), the others' reasons in ctx.blocked; one kept from
every output is blocked like any other."""

from __future__ import annotations

from pim.gate import PARTIAL
from pim.pipeline import PARTLY
from pim.product import Association, Product, trusted_copy
from pim.protocols import PublishContext


class OutputGate:
    """One run's per-output verdicts: `against` before writing a product to an output, `settle` once it went to
    all of them; `linked_in` keeps a locale's links to products written there."""

    def __init__(self, ctx: PublishContext) -> None:
        self.blocked = ctx.blocked
        self.partly: set[str] = ctx.options.setdefault(PARTLY, set())
        # identifier → locale → the gate's reasons there; filled as the gate reads the products (and the targets
        # pim.pipeline.PublishedTargets looks up: they share ctx.options)
        self.partial: dict[str, dict[str, list[str]]] = ctx.options.setdefault(PARTIAL, {})

    def against(self, identifier: str, locale: str) -> list[str]:
        """The gate's reasons against the product in `locale`'s outputs; none when it may go there."""
        return self.partial.get(identifier, {}).get(locale) or []

    def everywhere(self, identifier: str) -> list[str]:
        """The gate's reasons against the product in any locale (a renderer blocking it from every output for a
        rule of its own reports these too)."""
        return [r for reasons in self.partial.get(identifier, {}).values() for r in reasons]

    def settle(self, identifier: str, wrote: int, reasons: list[str]) -> None:
        """After a product's outputs: `wrote` of them hold it, `reasons` (the renderer's wording) say why the
        others do not. Any reason goes to ctx.blocked; with some output holding it, it is published (PARTLY)."""
        if reasons:
            self.blocked.setdefault(identifier, []).extend(reasons)
            if wrote:
                self.partly.add(identifier)

    def linked_in(self, product: Product, locale: str) -> Product:
        """`product` without the association targets the gate keeps from `locale` (other locales' files have
        them: a link here would lead nowhere); `product` itself, unchanged, when it links to none of those."""
        partial = self.partial
        if not partial or not any(locale in partial.get(t, ()) for a in product.associations.values()
                                  for t in a.products):
            return product
        kept: dict[str, Association] = {}
        for code, a in product.associations.items():
            gone = {t for t in a.products if locale in partial.get(t, ())}
            kept[code] = a if not gone else trusted_copy(a, {
                "products": [t for t in a.products if t not in gone],
                "quantities": {t: q for t, q in a.quantities.items() if t not in gone}})
        return trusted_copy(product, {"associations": kept})
