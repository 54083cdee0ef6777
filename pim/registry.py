"""Names → implementations, in one place. Entries are 'module:attribute' strings loaded on first use, so
heavy adapters (boto3, paramiko, playwright) load only when they are asked for and `pim --help` stays fast.

Adding a format: one module, one line here, its tests."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from pim.errors import ConfigError

IMPORTERS: dict[str, str] = {
    "jsonl": "pim.jsonl:JsonlImporter",
    "akeneo": "importers.akeneo:AkeneoImporter",
    "bmecat": "importers.bmecat:BmecatImporter",
    "supplier": "importers.supplier_table:SupplierTableImporter",
    "erp_csv": "importers.erp_csv:ErpCsvImporter",
    "erp_xml": "importers.erp_xml:ErpXmlImporter",
    "content": "importers.content:ContentImporter",
}

#: Channel renderers: what each channel's catalog looks like.
RENDERERS: dict[str, str] = {
    "storefront": "channels.storefront:StorefrontRenderer",
    "feed_csv": "channels.feed_csv:CsvFeedRenderer",
    "feed_xlsx": "channels.feed_xlsx:XlsxFeedRenderer",
    "feed_jsonl": "channels.feed_jsonl:JsonlFeedRenderer",
    "feed_bmecat": "channels.feed_bmecat:BmecatFeedRenderer",
    "search": "channels.search:SearchRenderer",
    "google_merchant": "channels.google_merchant:GoogleMerchantRenderer",
}

#: The channel catalog declaration a renderer publishes with when a run names none: (renderer, options) → a
#: catalog whose `fields` map attributes. The attribute pages read it to say which fields read an attribute.
CHANNEL_CATALOG = "channels.framework:catalog_for"
#: Reads and checks a channel catalog file (API publishes name one under PIM_HOME: pim.publish_jobs).
CATALOG_LOADER = "channels.framework:load_catalog"
#: (renderer, options, scope, structure) → the scope's locales a publish writes, None for all: the gate judges those.
WRITTEN_LOCALES = "channels.framework:written_locales"

#: Exporters: where artifacts go.
EXPORTERS: dict[str, str] = {
    "local": "exporters.local:LocalExporter",
    "sftp": "exporters.sftp:SftpExporter",
    "meilisearch": "exporters.meilisearch:MeilisearchExporter",
    "s3": "exporters.s3:S3Exporter",
}

#: Publish stages, in order. The gate (completeness + quality) plugs in here.
STAGES: list[str] = [
    "pim.pipeline:enabled_only",
    "pim.gate:gate_stage",
]

#: FastAPI routers mounted by the web app (pim.web), e.g. the customer portal.
WEB_ROUTERS: list[str] = ["pim.portal:router", "pim.portal_pages:router", "pim.portal_admin:router",
                          "media.web_rejected:router"]  # the media quarantine's page

#: JSON Schemas written to schemas/: name → pydantic model. Every declarative file has one.
SCHEMAS: dict[str, str] = {
    "product": "pim.product:Product",
    "product_model": "pim.product:ProductModel",
    "structure": "pim.structure_files:StructureFile",
    "bmecat_map": "importers.bmecat:BmecatMap",
    "supplier_table_map": "importers.supplier_table:SupplierTableMap",
    "contract": "pim.contracts:ContractFile",
    "feed_row": "pim.feeds:FeedRow",
    "channel_catalog": "channels.framework:ChannelCatalog",
    "precedence": "pim.merge:Precedence",
    "erp_csv_map": "importers.erp_csv:ErpCsvMap",
    "erp_xml_map": "importers.erp_xml:ErpXmlMap",
    "content_profile": "importers.content:ContentProfile",
    "media": "media.settings:MediaFile",
    "google_merchant_target": "channels.google_merchant_targets:Target",  # each of a Google catalog's options.targets
}

#: Called with the store; each returns a listener run inside product writes (e.g. completeness rescoring).
PRODUCT_LISTENERS: list[str] = ["pim.rescore:completeness_listener", "pim.grid_index:grid_listener",  # grid after completeness
                                 "pim.merge:forget_deleted_listener"]

#: Asset validity for completeness: callables (conn, refs: set[str]) -> set of refs that are NOT valid assets.
#: An image/file value pointing at one does not count as filled (the media area provides one).
ASSET_VALIDITY: list[str] = ["media.assets:asset_validity"]


def load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    try:
        return getattr(import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load '{ref}': {exc}") from exc


def lookup(table: dict[str, str], name: str, what: str) -> Any:
    if name not in table:
        raise ConfigError(f"unknown {what} '{name}'", hint=f"known: {', '.join(sorted(table))}")
    return load(table[name])


def product_listeners(store: Any) -> list[Any]:
    return [load(ref)(store) for ref in PRODUCT_LISTENERS]
