"""A channel pointed at another category tree: in the same structure write the products leaving or joining
its tree get a new seq (pim.channel_tree_moves), so a contract delta sends them again; a product in both trees
keeps its seq and stays out of the delta. Through `pim structure load` and through the channels page."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pim.feeds import deliver_contract
from pim.store import Store
from pim.structure import Category
from tests.feeds_data import out_dir, product, put_prices, seed_catalog, store_contract
from tests.test_web_ui import admin_client, cheap_argon2  # noqa: F401  (cheap_argon2: autouse fixture)

#: Under master only (b2b's tree): T1..T6, the garden plants and M1's variants (through their model).
MASTER_ONLY = {"T1", "T2", "T3", "T4", "T5", "T6", "G1", "G2", "V-red", "V-blue"}


def _seqs(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT identifier, seq FROM product").all())


def _delivered(store: Store, tmp_path: Path) -> Store:
    """The feeds catalog plus a second root (outlet / sale) with O1 under it only and B1 under both trees; a
    delta contract on b2b (tree master) whose assortment (tools, sale) holds T1, O1 and B1, delivered once."""
    seed_catalog(store)
    store.put_structure("category", [Category(code="outlet"), Category(code="sale", parent="outlet")])
    store.upsert_products([product("O1", categories=["sale"]), product("B1", categories=["drills", "sale"])])
    put_prices(store, "cust_a", [("T1", "1", "8.00")])
    store_contract(store, mode="delta", format="jsonl", assortment={"rules": [{"categories": ["tools", "sale"]}]})
    first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert first.kind == "full" and {"T1", "O1", "B1"} <= {json.loads(x)["sku"] for x in Path(first.file).read_text().splitlines()}
    return store


def _sent(store: Store, tmp_path: Path) -> dict[str, str]:
    delta = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert delta.kind == "delta" or delta.kind.startswith("delta"), delta
    return {d["sku"]: d["action"] for d in map(json.loads, Path(delta.file).read_text().splitlines())}


def test_a_tree_loaded_from_a_structure_file_resends_the_products_leaving_and_joining_it(store: Store, tmp_path: Path) -> None:
    from pim.structure_files import StructureFile, save_structure

    _delivered(store, tmp_path)
    before = _seqs(store)
    b2b = store.structure().channels["b2b"]
    save_structure(store, StructureFile(channels=[b2b.model_copy(update={"labels": {"en_US": "B2B"}})]))
    assert _seqs(store) == before  # a channel write keeping its tree re-sends nothing
    save_structure(store, StructureFile(channels=[b2b.model_copy(update={"category_tree": "outlet"})]))
    after = _seqs(store)
    assert {p for p in after if after[p] != before[p]} == MASTER_ONLY | {"O1"}  # B1 is in both trees
    assert min(after[p] for p in MASTER_ONLY | {"O1"}) > max(before.values())
    sent = _sent(store, tmp_path)
    assert sent["T1"] == "upsert" and sent["O1"] == "upsert"  # one that left the tree, one that joined it
    assert "B1" not in sent


def test_a_tree_changed_on_the_channels_page_resends_them_and_says_so(store: Store, tmp_path: Path) -> None:
    _delivered(store, tmp_path)
    before = _seqs(store)
    web, token = admin_client(store)
    b2b = store.structure().channels["b2b"]
    saved = web.post("/admin/channels/b2b/scope", data={"csrf_token": token, "locale": b2b.locales,
                                                        "currency": b2b.currencies, "category_tree": "outlet"})
    assert saved.status_code == 200
    notice = re.search(r'<p class="notice"[^>]*>([^<]*)</p>', saved.text).group(1).replace("&#39;", "'")
    assert notice == ("Saved: category tree master → outlet. b2b now shows the outlet tree instead of master: "
                      f"{len(MASTER_ONLY)} products leave its tree and 1 product joins it (their categories on this "
                      "channel's catalogs and search documents); incremental exports and contract deltas send them again.")
    after = _seqs(store)
    assert {p for p in after if after[p] != before[p]} == MASTER_ONLY | {"O1"}
    sent = _sent(store, tmp_path)
    assert {"T1", "O1"} <= set(sent) and "B1" not in sent
