"""Round 37: the publish guard judges a run against the last publish that wrote the same output (the channel and
scope: every catalog's run writes over the same files), so a first run of a new or moved `--catalog` file that
would replace most of the channel's products is refused with exit 6 unless --allow-drop; a channel's genuinely
first publish is still not judged, and the channel keeps one baseline whatever catalog or exporter wrote it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from pim import publish_baseline as baseline
from pim.cli import _mount, app as cli
from pim.errors import PimError
from pim.pipeline import DropRefused, publish, refuse_drop
from pim.product import Product
from pim.protocols import Artifact
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import now
from tests.channel_data import ERP, complete_values, seed_structure

_mount()
SCOPE = "ecommerce"
ROOT = Path(__file__).resolve().parent.parent
SOURCE = f"storefront/{SCOPE}"
OK, FREE = 12, 2  # products whose list price shows; products whose sale price only shows
SALE = "code: storefront_sale\nrenderer: storefront\nfields:\n  - {output: price, attribute: sale_price}\n"


@pytest.fixture(autouse=True)
def small_guard(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIM_PUBLISH_DROP_MIN", "3")
    reset_settings()


def _catalog(store: Store) -> None:
    """OK products with a list price and a zero sale price, FREE the other way round: the built-in catalog
    publishes the OK ones, a catalog mapping `price` to sale_price (SALE) only the FREE ones."""
    seed_structure(store)
    zero, fine = {"EUR": "0.00", "USD": "0.00"}, {"EUR": "9.90", "USD": "10.90"}
    store.upsert_products(
        [Product(identifier=f"ok{i}", family="shoes", categories=["shoes"], source=ERP,
                 values=complete_values(sku=f"ok{i}", sale_price=zero)) for i in range(OK)]
        + [Product(identifier=f"free{i}", family="shoes", categories=["shoes"], source=ERP,
                   values=complete_values(sku=f"free{i}", price=zero, sale_price=fine)) for i in range(FREE)])


def _file(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def _en_file(home: Path) -> Path:
    return home / "out" / "storefront" / f"catalog.{SCOPE}.en_US.json"


def _ids(path: Path) -> list[str]:
    return [p["identifier"] for p in orjson.loads(path.read_bytes())["products"]]


class _Ran:
    """A `pim publish` run in this process: its exit code as `pim` exits with it (a PimError's own) and what it
    said (stdout, or the error with its hint)."""

    def __init__(self, *args: str) -> None:
        result = CliRunner().invoke(cli, ["publish", "--channel", "storefront", *args])
        error = result.exception if isinstance(result.exception, PimError) else None
        self.exit_code = error.exit_code if error is not None else result.exit_code
        self.stdout = result.stdout
        self.output = " ".join((error.describe() if error is not None else result.output).split())


def _run(*args: str) -> _Ran:
    return _Ran(*args)


def _baseline_rows(store: Store) -> list[tuple[str, int]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(baseline.BASELINE.c.source, baseline.BASELINE.c.job_id))]


def test_a_new_catalog_file_swapping_the_channels_output_is_refused_with_exit_6(store: Store, pim_env: Path,
                                                                               tmp_path: Path) -> None:
    _catalog(store)
    first = _run("--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["published"] == OK
    before = _en_file(pim_env).read_bytes()
    sale = _file(tmp_path / "catalogs", "sale.yaml", SALE)
    swapped = subprocess.run([sys.executable, "-m", "pim", "publish", "--channel", "storefront", "--catalog",
                              str(sale)], capture_output=True, text=True, env={**os.environ}, cwd=ROOT)
    assert swapped.returncode == 6, swapped.stderr  # a first run of this file, writing the same storefront files
    said = " ".join(swapped.stderr.split())
    assert f"would publish {FREE} products" in said and "the built-in catalog" in said
    assert "--allow-drop" in said and f"--catalog {sale.resolve()}" in said
    assert _en_file(pim_env).read_bytes() == before  # nothing replaced
    [failed] = [j for j in store.jobs("publish") if j["status"] == "failed"]
    assert failed["counts"]["last_published"] == OK and failed["counts"]["leaving"] == OK


def test_allowed_the_swap_is_the_next_runs_baseline_whatever_its_catalog(store: Store, pim_env: Path,
                                                                        tmp_path: Path) -> None:
    _catalog(store)
    assert _run().exit_code == 0
    sale = _file(tmp_path / "catalogs", "sale.yaml", SALE)
    allowed = _run("--catalog", str(sale), "--allow-drop", "--json")
    assert allowed.exit_code == 0, allowed.output
    job = json.loads(allowed.stdout)["job_id"]
    assert sorted(_ids(_en_file(pim_env))) == [f"free{i}" for i in range(FREE)]
    assert _baseline_rows(store) == [(SOURCE, job)]  # one baseline for the output, not one per catalog
    again = _run("--json")  # back to the built-in catalog: the FREE products leave, fewer than the minimum
    assert again.exit_code == 0, again.output
    assert _baseline_rows(store) == [(SOURCE, json.loads(again.stdout)["job_id"])]


def test_a_moved_catalog_file_is_judged_against_the_run_of_its_old_place(store: Store, pim_env: Path,
                                                                         tmp_path: Path) -> None:
    _catalog(store)
    shop = "code: shop\nrenderer: storefront\nfields:\n  - {output: title, template: \"Shop {{ identifier }}\"}\n"
    old = _file(tmp_path / "old", "shop.yaml", shop)
    assert _run("--catalog", str(old)).exit_code == 0
    moved = _file(tmp_path / "new", "shop.yaml", shop + "  - {output: price, attribute: sale_price}\n")
    refused = _run("--catalog", str(moved))
    assert refused.exit_code == 6, refused.output
    assert f"catalog {old.resolve()}" in refused.output  # the run it was judged against
    assert _run("--catalog", str(_file(tmp_path / "newer", "shop.yaml", shop))).exit_code == 0  # same products


def test_a_channels_first_publish_is_not_judged_whatever_its_catalog(store: Store, tmp_path: Path) -> None:
    _catalog(store)
    sale = _file(tmp_path / "catalogs", "sale.yaml", SALE)
    first = publish(store, tmp_path / "out", channel="storefront", scope=SCOPE, options={"catalog": str(sale)})
    assert first.published == FREE and len(first.blocked) == OK
    assert store.job(first.job_id)["status"] == "succeeded"


def test_a_catalog_run_and_the_built_in_ones_share_one_baseline_row(store: Store, tmp_path: Path) -> None:
    _catalog(store)
    shop = _file(tmp_path / "catalogs", "shop.yaml", "code: shop\nrenderer: storefront\n")
    publish(store, tmp_path / "out", channel="storefront", scope=SCOPE)
    ran = publish(store, tmp_path / "out", channel="storefront", scope=SCOPE, options={"catalog": str(shop)})
    assert _baseline_rows(store) == [(SOURCE, ran.job_id)]
    store.delete_products([f"ok{i}" for i in range(OK - 1)])  # most of what the catalog's run published leaves
    with pytest.raises(DropRefused) as refused:
        publish(store, tmp_path / "out", channel="storefront", scope=SCOPE)  # the built-in catalog, judged by it
    assert refused.value.left == OK - 1 and refused.value.last == OK


def test_a_baseline_row_kept_before_round_37_per_catalog_still_counts(store: Store, tmp_path: Path) -> None:
    """A row written by the old code (keyed by source and catalog file) is found by its job."""
    whole = [Artifact(tmp_path / "d", "storefront/catalog.json", "application/json", 0)]
    catalog = "/srv/pim/catalogs/shop.yaml"
    job = store.start_job("publish", SOURCE)
    store.finish_job(job, {"published": 10, "published_counts": "outputs", "catalog": catalog})
    published = baseline.of(f"a{i}" for i in range(10))
    with store.begin() as conn:
        conn.execute(insert(baseline.BASELINE).values(
            key=hashlib.sha256(f"{SOURCE}\0{catalog}".encode()).hexdigest(), source=SOURCE, catalog=catalog,
            job_id=job, published=10, identifiers=published.blob, written_at=now()))
    swapped = baseline.of([*(f"a{i}" for i in range(4)), *(f"b{i}" for i in range(6))])  # as many, others
    with pytest.raises(DropRefused) as refused:
        refuse_drop(store, SOURCE, 10, {}, whole, None, swapped)  # the built-in catalog, after that file's run
    assert refused.value.left == 6
    assert f"job {job}, catalog {catalog}" in str(refused.value)
