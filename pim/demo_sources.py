"""The demo's later steps: the generated ERP, content and supplier sources merged by precedence, the other
channels (Google Merchant, search index files) and the customer feeds. Like the CLI, this is a composition
root: it reaches the adapters lazily, by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pim.demo import DemoRun, publish_as_job
from pim.pipeline import held_back


def _src(run: DemoRun) -> Path:
    return Path(run.catalog.out) / "sources"


def step_sources(run: DemoRun) -> dict[str, Any]:
    """ERP products, prices, stock and MATMAS XML, then content, then supplier BMEcat and CSV."""
    from importers.bmecat import import_bmecat, load_map
    from importers.content import ContentProfile, import_content
    from importers.erp_csv import ErpCsvMap, import_erp_csv
    from importers.erp_xml import import_erp_xml, load_xml_map
    from importers.supplier_table import import_supplier_table, load_supplier_map
    from pim.sources import load_profile

    src, store = _src(run), run.store
    summary: dict[str, Any] = {}

    def note(name: str, counts: Any) -> None:
        c = counts.as_dict()
        summary[name] = f"{c['updated']} updated, {c['unchanged']} unchanged, {c['rejected']} rejected"

    for kind in ("products", "prices", "stock"):
        m = src / f"erp_{kind}.map.yaml"
        if m.is_file():
            note(f"erp {kind}", import_erp_csv(src / f"erp_{kind}.csv", store, load_profile(ErpCsvMap, m), map_dir=src))
    if (src / "erp_matmas.xml").is_file():
        note("erp xml", import_erp_xml(src / "erp_matmas.xml", store, load_xml_map(None), map_dir=src,
                                       precedence=src / "precedence.yaml"))  # the shipped map names none
    if (src / "content.profile.yaml").is_file():
        note("content", import_content(src / "content.jsonl", store, load_profile(ContentProfile, src / "content.profile.yaml"),
                                       profile_dir=src))
    if (src / "supplier_acme.map.yaml").is_file():
        note("supplier bmecat", import_bmecat(src / "supplier_acme.bmecat.xml", store, load_map(src / "supplier_acme.map.yaml"),
                                                     map_dir=src))
    if (src / "supplier_bolt.profile.yaml").is_file():
        note("supplier csv", import_supplier_table(src / "supplier_bolt.csv", store,
                                                   load_supplier_map(src / "supplier_bolt.profile.yaml"), map_dir=src))
    from pim.conflicts import open_conflicts

    summary["open conflicts"] = len(open_conflicts(store))
    summary["see"] = "pim import conflicts, pim import errors"
    return summary


def _publish(run: DemoRun, channel: str) -> dict[str, Any]:
    result = publish_as_job(run, channel)
    for location in result.locations[:4]:
        run.outputs[f"{channel} {Path(location).name}"] = location
    # counted as `pim publish` counts them: a product some outputs carry (partly blocked) is published, not blocked
    return {"published": result.published, **held_back(result.blocked, result.partly)}


def step_google_merchant(run: DemoRun) -> dict[str, Any]:
    return _publish(run, "google_merchant")


def step_search(run: DemoRun) -> dict[str, Any]:
    """Without MEILI_URL the search exporter writes settings + NDJSON documents per locale index."""
    return {**_publish(run, "search"), "pushed to": "files (set MEILI_URL to push to Meilisearch)"}


def step_feeds(run: DemoRun) -> dict[str, Any]:
    """Contracts and their prices from the generator, then every contract's feed (portal download)."""
    from pim.commerce import put_price_list, read_price_list_jsonl
    from pim.contracts import load_contracts
    from pim.feeds import deliver_all

    folder = Path(run.catalog.out) / "contracts"
    if not (folder / "contracts.yaml").is_file():
        return {"skipped": "no generated contracts"}
    contracts = load_contracts(run.store, [folder / "contracts.yaml"])
    put_price_list(run.store, read_price_list_jsonl(folder / "contract_prices.jsonl"))
    summary = deliver_all(run.store)
    data = summary.as_dict()
    run.outputs["customer feeds"] = str(run.settings.home / "feeds")
    return {"contracts": len(contracts), **{k: v for k, v in data.items() if k in ("delivered", "failed", "rows", "skipped")}}
