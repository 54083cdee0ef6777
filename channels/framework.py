"""Channel catalogs declared as code: which structure channel (scope) they publish, their locales, currencies and
category tree, renditions, and a field mapping from attributes to output fields (unit conversion, locale/currency
choice, sandboxed Jinja2 templates). A declaration is one YAML file (schema: schemas/channel_catalog.schema.json);
a new channel is one declaration plus, only when its format is new, one renderer module.

The framework is these modules, one job each; this one names them, and keeps the names callers have always
imported from here:

- channels.declaration: the declaration as a model (ChannelCatalog, FieldMap, Rendition) and the list price;
- channels.declaration_files: reading a YAML declaration (mistakes named by file, line and field);
- channels.units: metric conversion for a field's `unit:`;
- channels.field_mapper: FieldMapper, which turns a product into the output fields;
- channels.url_codes: record codes percent-encoded in URL templates;
- channels.templates: what the mapper learns from a template before rendering it (fast path, values read)."""

from __future__ import annotations

from typing import Any

from channels.declaration import ChannelCatalog, FieldMap, Rendition, list_price_attribute
from channels.declaration_files import BUILTIN_DIR, catalog_for, load_catalog
from channels.field_mapper import FieldMapper
from channels.units import PLACES, convert
from channels.url_codes import URL_CODES, in_url, is_url_field

__all__ = ["BUILTIN_DIR", "CATALOG_RENDERERS", "PLACES", "STALE_OUTPUTS", "URL_CODES", "ChannelCatalog", "FieldMap", "FieldMapper",
           "Rendition", "catalog_for", "convert", "in_url", "is_url_field", "list_price_attribute", "load_catalog",
           "written_locales"]

#: What a renderer's publication to local files does with the files its last publication of the same scope
#: wrote and this one did not (a locale that left the channel, per-locale Google feeds replaced by per-target
#: ones): "remove" them, once the new files are in place; or "report" them (search: an index is deleted with
#: `pim search drop`, never by a publish). exporters.local tracks what each wrote in a small manifest and never
#: touches a file it did not write. Renderers not named keep every file (customer feeds: pim.feed_retention).
STALE_OUTPUTS: dict[str, str] = {"storefront": "remove", "google_merchant": "remove", "search": "report"}

#: Renderers that publish through a catalog declaration (catalog_for): their files hold the catalog's locales only.
#: The others (search, the customer feeds) write every locale of the scope, or their contract's one.
CATALOG_RENDERERS = frozenset({"storefront", "google_merchant"})


def written_locales(renderer: str, options: dict[str, Any], scope: str, structure: Any) -> list[str] | None:
    """The locales of structure channel `scope` a run of `renderer` writes, for the gate to judge only those
    (pim.registry.WRITTEN_LOCALES): the catalog's subset (`locales:`), and of a Google catalog with
    `options.targets` the targets' locales; None when the run writes every locale of the scope. A locale the
    catalog names outside the scope is not written (the renderers skip it) and not judged."""
    if renderer not in CATALOG_RENDERERS or scope not in structure.channels:
        return None
    catalog = catalog_for(renderer, options)
    if catalog.scope and catalog.scope != scope:
        return None  # the catalog writes another channel's locales: the run's gate judges its own in full
    locales = catalog.locales_for(scope, structure)
    targets = catalog.options.get("targets") if renderer == "google_merchant" else None
    if isinstance(targets, list) and targets:
        named = {t.get("locale") for t in targets if isinstance(t, dict)}
        locales = [l for l in locales if l in named]
    return None if locales == list(structure.channels[scope].locales) else locales
