"""Akeneo merge mode (`pim import akeneo DIR --merge`): during a cutover Akeneo keeps exporting while the ERP and
the content team already import. The export is then one more source merged by precedence, on Akeneo's own demo
catalog (icecat_demo_dev) imported whole first, as a migration starts."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from importers.akeneo import import_akeneo
from importers.content import import_content
from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim import association_claims as links
from pim.conflicts import conflicts_for, open_conflicts, resolve_conflict
from pim.errors import InputError
from pim.merge import candidates_for
from pim.store import Store
from pim.structure import Attribute, AttributeType
from tests.conftest import ICECAT
from tests.test_akeneo import _fresh_database

MONITOR = "11181190"  # pc_monitors: Akeneo fills name, display_*, response_time; leaves weight and price empty
TV = "14596093"  # led_tvs
PRECEDENCE = "default: [content]\nattributes:\n  name: [akeneo, erp]\n  weight: [erp, akeneo]\n"
ERP_MAP = ErpCsvMap(delimiter=";", columns={"name": "name", "weight": {"to": "weight", "unit": "KILOGRAM"},
                                            "price": {"to": "price", "currency": "EUR"}})


@pytest.fixture(scope="module")
def imported(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database holding the demo catalog imported whole (the migration), once per backend: each test of this
    module starts from a copy of it (`database_url`), not from an import of its own."""
    url, cleanup = _fresh_database(backend, request, tmp_path_factory)
    store = Store(url)
    import_akeneo(ICECAT, store)
    store.dispose()
    yield url
    cleanup()


@pytest.fixture
def database_url(backend: str, imported: str, request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> str:
    """Overrides tests.conftest's: a copy of `imported` (a file copy on SQLite, a template copy on PostgreSQL)."""
    url, cleanup = _fresh_database(backend, request, tmp_path_factory, template=imported.removeprefix("sqlite:///")
                                   if backend == "sqlite" else imported.rsplit("/", 1)[1])
    request.addfinalizer(cleanup)
    return url


@pytest.fixture
def migrated(store: Store, tmp_path: Path) -> Store:
    """The demo catalog imported whole, then the ERP's file: a name equal to Akeneo's, a weight and a price
    Akeneo leaves empty."""
    erp(store, tmp_path, "ASUS VS229H-P")
    return store


def erp(store: Store, tmp_path: Path, name: str, **extra: str) -> dict:
    columns = ["sku", "name", "weight", "price", *extra]
    path = tmp_path / "erp.csv"
    path.write_text(";".join(columns) + "\n" + ";".join([MONITOR, name, "3.1", "199.00", *extra.values()]) + "\n")
    rules = {**ERP_MAP.columns, **{c: c for c in extra}}
    return import_erp_csv(path, store, ERP_MAP.model_copy(update={"columns": rules}),
                          precedence=precedence(tmp_path)).as_dict()


def precedence(tmp_path: Path) -> Path:
    path = tmp_path / "precedence.yaml"
    path.write_text(PRECEDENCE)
    return path


def export(tmp_path: Path, edits: dict[str, dict[str, str]]) -> Path:
    """A copy of the demo export with some product cells changed (sku → column → cell)."""
    folder = tmp_path / "export"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ICECAT, folder)
    with (ICECAT / "products.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header = rows[0]
    for row in rows[1:]:
        for column, cell in edits.get(row[0], {}).items():
            row[header.index(column)] = cell
    with (folder / "products.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=";", lineterminator="\n").writerows(rows)
    return folder


def merge(store: Store, tmp_path: Path, folder: Path = ICECAT) -> dict:
    return import_akeneo(folder, store, merge=True, precedence=precedence(tmp_path))


def shown_source(store: Store, sku: str, key: str) -> str:
    p = store.get_product(sku)
    return p.provenance_of(key).source


# ---------------------------------------------------------------- values
def test_the_erps_values_survive_a_merge_reimport(migrated: Store, tmp_path: Path) -> None:
    counts = merge(migrated, tmp_path)
    p = migrated.get_product(MONITOR)
    assert p.values["weight"] == {"amount": "3.1", "unit": "KILOGRAM"} and p.values["price"] == {"EUR": "199.00"}
    assert shown_source(migrated, MONITOR, "weight") == "erp" and p.values["name"] == "ASUS VS229H-P"
    assert (counts["rejected"], counts["created"]) == (0, 0)


def test_a_changed_value_both_sources_own_is_logged_as_a_conflict(migrated: Store, tmp_path: Path) -> None:
    assert open_conflicts(migrated, [MONITOR]) == []
    merge(migrated, tmp_path, export(tmp_path, {MONITOR: {"name": "ASUS VS229H-P Full HD"}}))
    [conflict] = open_conflicts(migrated, [MONITOR])
    assert (conflict.value_key, conflict.winner) == ("name", "akeneo")
    assert conflict.claims == {"akeneo": "ASUS VS229H-P Full HD", "erp": "ASUS VS229H-P"}
    assert migrated.get_product(MONITOR).values["name"] == "ASUS VS229H-P Full HD"
    assert candidates_for(migrated, MONITOR)["name"]["erp"].value == "ASUS VS229H-P"


def test_a_picked_winner_stays_pinned_through_the_next_merge(migrated: Store, tmp_path: Path) -> None:
    folder = export(tmp_path, {MONITOR: {"name": "ASUS VS229H-P Full HD"}})
    merge(migrated, tmp_path, folder)
    resolve_conflict(migrated, MONITOR, "name", "erp", by="ada")
    counts = merge(migrated, tmp_path, folder)  # the pick moved the product: Akeneo's row is merged again
    assert migrated.get_product(MONITOR).values["name"] == "ASUS VS229H-P"
    [conflict] = conflicts_for(migrated, MONITOR)
    assert (conflict.status, conflict.pinned, conflict.winner) == ("resolved", "erp", "erp")
    assert counts["updated"] == 0


def test_an_emptied_cell_withdraws_only_akeneos_claim(migrated: Store, tmp_path: Path) -> None:
    erp(migrated, tmp_path, "ASUS VS229H-P 22in")  # both claim a name: Akeneo's shows, the ERP's waits
    merge(migrated, tmp_path, export(tmp_path, {MONITOR: {"name": "", "response_time": ""}}))
    p = migrated.get_product(MONITOR)
    assert p.values["name"] == "ASUS VS229H-P 22in" and shown_source(migrated, MONITOR, "name") == "erp"
    assert "response_time" not in p.values  # Akeneo's alone: gone
    assert "name" not in candidates_for(migrated, MONITOR)  # Akeneo's claim left; nothing waits
    assert p.values["display_diagonal"] == {"amount": "22", "unit": "INCH"}  # the row's other values stay
    assert p.values["weight"] == {"amount": "3.1", "unit": "KILOGRAM"}
    [conflict] = conflicts_for(migrated, MONITOR)
    assert conflict.status == "settled"


def test_nightly_runs_of_akeneo_and_the_erp_settle(migrated: Store, tmp_path: Path) -> None:
    folder = export(tmp_path, {MONITOR: {"name": "ASUS VS229H-P Full HD"}})
    merge(migrated, tmp_path, folder)
    erp(migrated, tmp_path, "ASUS VS229H-P")
    again = merge(migrated, tmp_path, folder)
    erp_again = erp(migrated, tmp_path, "ASUS VS229H-P")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1239 + 81)
    assert (erp_again["updated"], erp_again["unchanged"]) == (0, 1)
    assert len(open_conflicts(migrated, [MONITOR])) == 1


def test_a_merge_into_an_empty_catalog_creates_every_product_and_model(
        backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
        pim_env: Path) -> None:
    """A guard: merge mode reads every row as the whole import does (a whole import gives the same counts)."""
    url, cleanup = _fresh_database(backend, request, tmp_path_factory)
    empty = Store(url)
    try:
        counts = merge(empty, tmp_path)
        assert (counts["created"], counts["rejected"], counts["products"], counts["product_models"]) == (1320, 0, 1239, 81)
        assert empty.get_product(MONITOR).values["response_time"] == 5
        assert empty.get_product(MONITOR).source.source == "akeneo"
    finally:
        empty.dispose()
        cleanup()


# ---------------------------------------------------------------- structural fields, associations, models
def test_empty_category_and_enabled_cells_leave_what_is_stored(migrated: Store, tmp_path: Path) -> None:
    merge(migrated, tmp_path, export(tmp_path, {MONITOR: {"categories": "", "enabled": ""},
                                                TV: {"categories": "lg", "enabled": "0"}}))
    monitor, tv = migrated.get_product(MONITOR), migrated.get_product(TV)
    assert monitor.categories == ["asus", "pc_monitors", "tvs_projectors_sales"] and monitor.enabled
    assert tv.categories == ["lg"] and not tv.enabled


def test_akeneos_association_waits_behind_the_content_teams(migrated: Store, tmp_path: Path) -> None:
    content = tmp_path / "content.json"
    content.write_text(json.dumps([{"sku": MONITOR, "associations": {"X_SELL": [TV]}}]))
    import_content(content, migrated, precedence=precedence(tmp_path))
    merge(migrated, tmp_path, export(tmp_path, {MONITOR: {"X_SELL-products": "13871461"}}))
    assert migrated.get_product(MONITOR).associations["X_SELL"].products == [TV]
    with migrated.engine.connect() as conn:
        claims = links.load(conn, [MONITOR])[MONITOR]["X_SELL"]
    assert claims.shown == "content" and claims.claims["akeneo"].association == {"products": ["13871461"]}


def test_an_emptied_association_withdraws_only_akeneos_claim(migrated: Store, tmp_path: Path) -> None:
    merge(migrated, tmp_path, export(tmp_path, {MONITOR: {"UPSELL-products": "13871461"}}))
    content = tmp_path / "content.json"
    content.write_text(json.dumps([{"sku": MONITOR, "associations": {"UPSELL": [TV]}}]))
    import_content(content, migrated, precedence=precedence(tmp_path))
    merge(migrated, tmp_path)  # the demo export: no UPSELL for the monitor
    with migrated.engine.connect() as conn:
        claims = links.load(conn, [MONITOR])[MONITOR]["UPSELL"]
    assert set(claims.claims) == {"content"}
    assert migrated.get_product(MONITOR).associations["UPSELL"].products == [TV]


def test_a_content_value_on_a_product_model_survives(migrated: Store, tmp_path: Path) -> None:
    content = tmp_path / "content.json"
    key = "description:en_US@ecommerce"
    content.write_text(json.dumps([{"model": "amor", "values": {key: "Tweed, written by the content team."}}]))
    import_content(content, migrated, precedence=precedence(tmp_path))
    counts = merge(migrated, tmp_path)
    model = migrated.get_model("amor")
    assert model.values[key] == "Tweed, written by the content team." and counts["rejected"] == 0
    assert model.values["name"] == "Heritage jacket navy"  # Akeneo's own values stay its
    assert candidates_for(migrated, "model:amor")[key]["akeneo"].value.startswith("Heritage jacket navy blue tweed")


# ---------------------------------------------------------------- structure
def test_a_family_keeps_an_attribute_the_export_leaves_out(migrated: Store, tmp_path: Path) -> None:
    lead = Attribute(code="lead_time_days", type=AttributeType.number, group="technical")
    monitors = next(f for f in migrated.get_structure("family") if f.code == "pc_monitors")
    required = {**monitors.requirements, "ecommerce": [*monitors.requirements["ecommerce"], "lead_time_days"]}
    wider = monitors.model_copy(update={"attributes": [*monitors.attributes, "lead_time_days"], "requirements": required})
    migrated.put_structures([("attribute", [lead]), ("family", [wider])])
    erp(migrated, tmp_path, "ASUS VS229H-P", lead_time_days="12")
    counts = merge(migrated, tmp_path)
    family = next(f for f in migrated.get_structure("family") if f.code == "pc_monitors")
    assert "lead_time_days" in family.attributes and "lead_time_days" in family.requirements["ecommerce"]
    assert counts["families_kept_wider"] == 1
    [warning] = migrated.quarantined(counts["job_id"], severity="warning")
    assert "pc_monitors: lead_time_days" in warning["reason"] and "remove it here too" in warning["reason"]
    assert merge(migrated, tmp_path)["structure_changed"] == 0
    assert erp(migrated, tmp_path, "ASUS VS229H-P", lead_time_days="14")["rejected"] == 0
    assert migrated.get_product(MONITOR).values["lead_time_days"] == 14


# ---------------------------------------------------------------- the command
def test_source_and_precedence_need_merge(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="for merge mode") as caught:
        import_akeneo(ICECAT, store, precedence=precedence(tmp_path))
    assert "add --merge" in (caught.value.hint or "")


def test_a_source_name_is_checked(store: Store) -> None:
    with pytest.raises(InputError, match="'Akeneo EU' is no source name") as caught:
        import_akeneo(ICECAT, store, merge=True, source="Akeneo EU")
    assert "akeneo:eu" in (caught.value.hint or "")


def test_the_command_merges_under_the_source_it_names(migrated: Store, tmp_path: Path) -> None:
    from pim.cli import _mount, app

    _mount()
    folder = export(tmp_path, {MONITOR: {"response_time": "4"}})
    result = CliRunner().invoke(app, ["import", "akeneo", str(folder), "--merge", "--source", "akeneo:eu",
                                      "--precedence", str(precedence(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rejected"] == 0
    p = migrated.get_product(MONITOR)
    assert p.values["response_time"] == 5 and shown_source(migrated, MONITOR, "response_time") == "akeneo"
    assert candidates_for(migrated, MONITOR)["response_time"]["akeneo:eu"].value == 4
    assert p.values["weight"] == {"amount": "3.1", "unit": "KILOGRAM"}
