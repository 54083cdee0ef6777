"""The catalog generator: deterministic, valid against the structure, shaped like a real catalog."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import pim.generate as generate
from pim.catalog import Structure
from pim.errors import ConfigError
from pim.generate import generate_catalog, get_profile
from pim.generate.products import gtin13, is_valid_gtin13
from pim.jsonl import record_line
from pim.product import Product, ProductModel
from pim.structure import AttributeType
from pim.structure_files import SECTION_KIND, load_structure_files
from pim.validation import RecordValidator


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> generate.GeneratedCatalog:
    return generate_catalog("tiny", 7, tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> generate.GeneratedCatalog:
    return generate_catalog("small", 42, tmp_path_factory.mktemp("small"))


def cli_app():
    """The `pim` app with every command mounted (once per process)."""
    import pim.cli

    if not pim.cli.app.registered_commands:
        pim.cli._mount()
    return pim.cli.app


def _files(out: Path) -> dict[str, bytes]:
    """The catalog's own files (extra writers' files are theirs to test)."""
    paths = [out / "products.jsonl", *sorted((out / "structure").glob("*.yaml"))]
    return {str(p.relative_to(out)): p.read_bytes() for p in paths}


def _records(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _structure(catalog: generate.GeneratedCatalog) -> Structure:
    merged = load_structure_files(catalog.structure_dir)
    return Structure.from_items({kind: getattr(merged, section) for section, kind in SECTION_KIND.items()})


def test_same_seed_writes_byte_identical_files(tiny: generate.GeneratedCatalog, tmp_path: Path) -> None:
    again = generate_catalog("tiny", 7, tmp_path / "again")
    assert _files(again.out) == _files(tiny.out)


def test_small_profile_is_deterministic_too(small: generate.GeneratedCatalog, tmp_path: Path) -> None:
    again = generate_catalog("small", 42, tmp_path / "again")
    assert again.products_jsonl.read_bytes() == small.products_jsonl.read_bytes()
    assert _files(again.out) == _files(small.out)


def test_another_seed_gives_another_catalog(tiny: generate.GeneratedCatalog, tmp_path: Path) -> None:
    other = generate_catalog("tiny", 8, tmp_path / "other")
    assert other.products_jsonl.read_bytes() != tiny.products_jsonl.read_bytes()


def test_small_profile_has_the_announced_size(small: generate.GeneratedCatalog) -> None:
    s = _structure(small)
    assert small.counts["products"] == 5000
    assert sum(1 for r in _records(small.products_jsonl) if r["kind"] == "product") == 5000
    assert (len(s.attributes), len(s.families), len(s.locales)) == (100, 20, 2)
    assert len(s.channels) == 2


def test_custom_product_count_keeps_the_profile_shape(tmp_path: Path) -> None:
    catalog = generate_catalog("tiny:50", 1, tmp_path)
    assert sum(1 for r in _records(catalog.products_jsonl) if r["kind"] == "product") == 50
    assert catalog.counts["attributes"] == get_profile("tiny").attributes


def test_unknown_profile_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        generate_catalog("huge", 1, tmp_path)


def test_structure_has_every_attribute_type_and_value_scope(tiny: generate.GeneratedCatalog) -> None:
    s = _structure(tiny)
    types = {a.type for a in s.attributes.values()}
    assert types >= set(AttributeType) - {AttributeType.file}
    assert s.attributes["name"].localizable and s.attributes["description"].scopable
    assert any(a.localizable and not a.scopable for a in s.attributes.values())
    assert s.attributes["brand"].type == AttributeType.simple_select and s.options["brand"]
    assert all(f.requirements.get("ecommerce") and f.requirements.get("mobile") for f in s.families.values())
    assert {len(fv.levels) for fv in s.family_variants.values()} == {1, 2}
    assert {t.kind.value for t in s.association_types.values()} >= {"cross_sell", "up_sell", "accessory"}


def test_every_line_is_a_valid_canonical_record(tiny: generate.GeneratedCatalog) -> None:
    validator = RecordValidator(_structure(tiny))
    for line in tiny.products_jsonl.read_bytes().splitlines(keepends=True):
        data = orjson.loads(line)
        record = (ProductModel if data["kind"] == "product_model" else Product).model_validate(data)
        problems = validator.check_model(record) if isinstance(record, ProductModel) else validator.check_product(record)
        assert problems == [], line
        assert record_line(record) == line  # already canonical: export after import gives the same values


def test_product_models_come_before_products(small: generate.GeneratedCatalog) -> None:
    kinds = [r["kind"] for r in _records(small.products_jsonl)]
    first_product = kinds.index("product")
    assert first_product == small.counts["product_models"] > 0
    assert "product_model" not in kinds[first_product:]


def test_about_ten_percent_of_products_are_variants_on_one_and_two_levels(small: generate.GeneratedCatalog) -> None:
    records = _records(small.products_jsonl)
    models = {r["code"]: r for r in records if r["kind"] == "product_model"}
    variants = [r for r in records if r["kind"] == "product" and r.get("parent")]
    assert 0.06 < len(variants) / 5000 < 0.14
    assert all(v["parent"] in models for v in variants)
    depths = Counter("parent" in models[v["parent"]] for v in variants)
    assert depths[True] and depths[False]  # variants under a sub-model (two levels) and under a root (one level)


def test_eans_are_valid_gtin13_apart_from_a_few_planted_problems(small: generate.GeneratedCatalog) -> None:
    eans = [r["values"]["ean"] for r in _records(small.products_jsonl) if "ean" in r.get("values", {})]
    invalid = [e for e in eans if not is_valid_gtin13(e)]
    duplicated = sum(n - 1 for n in Counter(eans).values() if n > 1)
    assert len(eans) > 4500
    assert len(invalid) == small.counts["invalid_eans"] > 0
    assert duplicated > 0 and len(invalid) + duplicated < len(eans) * 0.02
    assert is_valid_gtin13(gtin13(123)) and not is_valid_gtin13("4000000001234")


def test_some_products_are_disabled_and_completeness_varies(small: generate.GeneratedCatalog) -> None:
    s = _structure(small)
    products = [r for r in _records(small.products_jsonl) if r["kind"] == "product" and not r.get("parent")]
    disabled = sum(1 for r in products if r.get("enabled") is False)
    assert 0.01 < disabled / len(products) < 0.04

    def complete(r: dict) -> bool:
        required = s.families[r["family"]].requirements["mobile"]
        return all(any(k.split(":")[0].split("@")[0] == code for k in r["values"]) for code in required)

    verdicts = Counter(complete(r) for r in products)
    assert verdicts[True] > 0 and verdicts[False] > 0


def test_prices_use_the_channels_currencies(small: generate.GeneratedCatalog) -> None:
    s = _structure(small)
    currencies = {c for ch in s.channels.values() for c in ch.currencies}
    prices = [r["values"]["price"] for r in _records(small.products_jsonl) if "price" in r.get("values", {})]
    assert prices and all(set(p) <= currencies for p in prices)
    assert sum(1 for p in prices if set(p) == currencies) > len(prices) * 0.9


def test_extra_writers_get_spec_seed_out_and_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "gen_extra_ok.py").write_text(
        "def write(spec, seed, out, catalog):\n"
        "    path = out / 'extra.txt'\n"
        "    path.write_text(f'{spec.name} {seed} {catalog.counts[\"products\"]}')\n"
        "    return [path]\n")
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setattr(generate, "EXTRA_WRITERS", ["gen_extra_ok:write", "gen_extra_missing:write"])
    catalog = generate_catalog("tiny:20", 3, tmp_path / "out")
    assert (tmp_path / "out" / "extra.txt").read_text() == "tiny:20 3 20"
    assert catalog.extra_files == [tmp_path / "out" / "extra.txt"]


def test_an_extra_writer_with_a_broken_import_is_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "gen_extra_broken.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setattr(generate, "EXTRA_WRITERS", ["gen_extra_broken:write"])
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        generate_catalog("tiny:10", 3, tmp_path / "out")
    sys.modules.pop("gen_extra_broken", None)


def test_generate_command_writes_the_catalog(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app(), ["generate", "--profile", "tiny", "--seed", "5", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "200 products" in result.output
    assert (tmp_path / "products.jsonl").is_file() and (tmp_path / "structure" / "10_attributes.yaml").is_file()


def test_image_files_for_a_catalogs_refs_are_deterministic_links_to_a_small_pool(tmp_path: Path) -> None:
    """pim.generate.images: every safe relative ref gets a file (a hard link into a pool of pictures), the same
    seed gives the same bytes, a few are too small or truncated on purpose, URLs and ../ are left alone."""
    import hashlib

    from PIL import Image

    from pim.generate.images import POOL, SIZE, write_images

    refs = [f"images/P{n:07d}/image.jpg" for n in range(600)] + ["https://cdn.example/x.jpg", "../escape.jpg", "/abs.jpg"]
    done = write_images(tmp_path / "a", refs, seed=5)
    assert done.refs == 600 and sorted(done.skipped) == ["../escape.jpg", "/abs.jpg", "https://cdn.example/x.jpg"]
    assert done.small > 0 and done.broken > 0 and not (tmp_path / "escape.jpg").exists()
    files = [tmp_path / "a" / r for r in refs[:600]]
    digests = {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    assert len(digests) <= POOL + 2
    with Image.open(files[1]) as img:
        assert img.size in ((SIZE, SIZE), (240, 240))
    again = write_images(tmp_path / "b", refs[:600], seed=5)
    assert again.as_dict() == done.as_dict() | {"not a relative path": 0}
    assert all((tmp_path / "b" / r).read_bytes() == (tmp_path / "a" / r).read_bytes() for r in refs[:50])
