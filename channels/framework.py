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

from channels.declaration import ChannelCatalog, FieldMap, Rendition, list_price_attribute
from channels.declaration_files import BUILTIN_DIR, catalog_for, load_catalog
from channels.field_mapper import FieldMapper
from channels.units import PLACES, convert
from channels.url_codes import URL_CODES, in_url, is_url_field

__all__ = ["BUILTIN_DIR", "PLACES", "STALE_OUTPUTS", "URL_CODES", "ChannelCatalog", "FieldMap", "FieldMapper",
           "Rendition", "catalog_for", "convert", "in_url", "is_url_field", "list_price_attribute", "load_catalog"]

#: What a renderer's publication to local files does with the files its last publication of the same scope
#: wrote and this one did not (a locale that left the channel, per-locale Google feeds replaced by per-target
#: ones): "remove" them, once the new files are in place; or "report" them (search: an index is deleted with
#: `pim search drop`, never by a publish). exporters.local tracks what each wrote in a small manifest and never
#: touches a file it did not write. Renderers not named keep every file (customer feeds: pim.feed_retention).
STALE_OUTPUTS: dict[str, str] = {"storefront": "remove", "google_merchant": "remove", "search": "report"}
