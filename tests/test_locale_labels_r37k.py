"""Round 37 (k): a channel locale lacking structure labels (an option, category, attribute or family labelled in
another of its locales) is said — by `pim structure load`, `pim doctor` and each publish writing it, once,
grouped — instead of its outputs showing codes silently. A locale leaving a channel while a Google feed in it is
served: refused when the feed's catalog file names the locale (its next publish would fail, the old feed left
live), said otherwise; the publish error names the catalog file, line and the feed still served. A comma decimal
in a Google target's shipping price names the file, line and the form to write."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from channels.framework import BUILTIN_DIR
from pim.catalog_doctor import diagnose
from pim.channel_usage import load_refusals
from pim.errors import ConfigError
from pim.pipeline import publish
from pim.store import Store
from pim.structure import Channel, GateRules, Locale
from tests.channel_data import seed_products

IT_CHANNEL = Channel(code="ecommerce", locales=["en_US", "de_DE", "it_IT"], currencies=["EUR", "USD"],
                     category_tree="master", gate=GateRules(min_completeness=0))


def _with_italian(store: Store) -> None:
    """The seeded catalog with it_IT added to channel ecommerce and not one Italian label."""
    seed_products(store)
    store.put_structure("locale", [Locale(code="en_US"), Locale(code="de_DE"), Locale(code="it_IT")])
    store.put_structure("channel", [IT_CHANNEL])


def _expected(store: Store, locale: str) -> dict[str, set[str]]:
    """What the structure itself labels in another locale of ecommerce and not in `locale`."""
    s = store.structure()
    others = set(s.channels["ecommerce"].locales) - {locale}

    def gap(labels: dict[str, str]) -> bool:
        return locale not in labels and bool(others & set(labels))
    found = {"option": {f"{a}.{c}" for a, opts in s.options.items() for c, o in opts.items() if gap(o.labels)},
             "category": {c for c, x in s.categories.items() if gap(x.labels)},
             "attribute": {c for c, a in s.attributes.items() if gap(a.labels)},
             "family": {c for c, f in s.families.items() if gap(f.labels)}}
    return {k: v for k, v in found.items() if v}


def test_label_gaps_count_each_kind_per_locale(store: Store) -> None:
    from pim.label_gaps import label_gaps  # new in round 37: imported here, so each test fails on its own before

    _with_italian(store)
    gaps = {g.locale: g for g in label_gaps(store.structure())}
    assert set(gaps) == {"de_DE", "it_IT"}  # en_US has every label another locale has
    for locale, g in gaps.items():
        assert {k: set(v) for k, v in g.missing.items()} == _expected(store, locale)
    it = gaps["it_IT"]
    assert "option" in it.missing and "category" in it.missing  # the seeded options and categories
    said = it.said()
    assert f"{len(it.missing['option'])} option" in said and "it_IT:" in said and "pim structure load" in said


def test_an_item_labelled_nowhere_is_no_gap(store: Store) -> None:
    from pim.label_gaps import label_gaps

    seed_products(store)
    s = store.structure()
    unlabelled = [c for c, a in s.attributes.items() if not a.labels]
    assert unlabelled  # the seed has some (sku, price, …)
    listed = {code for g in label_gaps(s) for codes in g.missing.values() for code in codes}
    assert not listed & set(unlabelled)


def test_a_publish_writing_the_locale_warns_once_and_its_job_counts_the_gaps(store: Store, tmp_path: Path,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    _with_italian(store)
    with caplog.at_level(logging.WARNING, logger="pim.labels"):
        result = publish(store, tmp_path / "out", channel="storefront", scope="ecommerce")
    said = [r.getMessage() for r in caplog.records if r.name == "pim.labels"]
    assert len(said) == 1 and "it_IT" in said[0] and "de_DE" in said[0]
    counts = store.job(result.job_id)["counts"]
    expected = _expected(store, "it_IT")
    assert counts["label_gaps"]["it_IT"] == {k: len(v) for k, v in expected.items()}
    assert result.summary()["label_gaps"] == counts["label_gaps"]


def test_a_publish_of_fully_labelled_locales_says_nothing(store: Store, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    seed_products(store)
    store.put_structure("channel", [Channel(code="ecommerce", locales=["en_US"], currencies=["EUR", "USD"],
                                            category_tree="master")])
    with caplog.at_level(logging.WARNING, logger="pim.labels"):
        result = publish(store, tmp_path / "out", channel="storefront", scope="ecommerce")
    assert not [r for r in caplog.records if r.name == "pim.labels"]
    assert "label_gaps" not in store.job(result.job_id)["counts"]


def test_doctor_lists_the_gaps_as_a_note(store: Store) -> None:
    from pim.cli import _mount, app

    _with_italian(store)
    [note] = [f for f in diagnose(store) if "it_IT" in f.kind]
    assert note.note and note.count == sum(len(v) for v in _expected(store, "it_IT").values())
    assert "labels" in note.advice
    _mount()
    done = CliRunner().invoke(app, ["doctor", "--json"])
    assert done.exit_code == 0, done.output  # a note: the catalog is clean
    assert any("it_IT" in f["kind"] for f in json.loads(done.stdout))


def test_structure_load_warns_about_the_missing_labels(store: Store, tmp_path: Path) -> None:
    from pim.cli import _mount, app

    _mount()
    seed_products(store)
    path = tmp_path / "it.yaml"
    path.write_text(yaml.safe_dump({
        "locales": [{"code": "en_US"}, {"code": "de_DE"}, {"code": "it_IT"}],
        "channels": [IT_CHANNEL.model_dump(mode="json", exclude_defaults=True)]}))
    done = CliRunner().invoke(app, ["structure", "load", str(path), "--json"])
    assert done.exit_code == 0, done.output
    warnings = json.loads(done.stdout)["warnings"]
    assert any(w.startswith("labels missing: it_IT") for w in warnings)


# ---------------------------------------------------------------------------------------------- Google feeds
DE_TARGET = {"country": "DE", "locale": "de_DE", "currency": "EUR", "shipping": [{"service": "Std", "price": "4.90"}]}
US_TARGET = {"country": "US", "locale": "en_US", "currency": "USD", "shipping": [{"service": "Gnd", "price": "7.00"}]}


def _catalog(tmp_path: Path, targets: list[dict] | None) -> Path:
    spec = yaml.safe_load((BUILTIN_DIR / "google_merchant.yaml").read_text())
    if targets is not None:
        spec.setdefault("options", {})["targets"] = targets
    path = tmp_path / "gmc.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _without_german() -> Channel:
    return Channel(code="ecommerce", locales=["en_US"], currencies=["EUR", "USD"], category_tree="master",
                   gate=GateRules(min_completeness=100))


def test_a_locale_whose_google_target_feed_is_served_may_not_leave(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    catalog = _catalog(tmp_path, [DE_TARGET, US_TARGET])
    publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce", options={"catalog": str(catalog)})
    [(_, field, reason)] = load_refusals(store, store.structure(), [_without_german()])
    assert field == "locales"
    assert "google_merchant/feed.ecommerce.DE-de_DE.xml" in reason and str(catalog) in reason
    assert "pim publish --channel google_merchant --catalog" in reason
    # the target removed and published again: the old feed is gone, and so is the refusal
    catalog = _catalog(tmp_path, [US_TARGET])
    publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce", options={"catalog": str(catalog)})
    assert not (tmp_path / "out" / "google_merchant" / "feed.ecommerce.DE-de_DE.xml").exists()
    assert load_refusals(store, store.structure(), [_without_german()]) == []


def test_a_per_locale_feed_the_next_publish_removes_is_said_not_refused(store: Store, tmp_path: Path) -> None:
    from pim.google_feed_usage import leaving_notes

    seed_products(store)
    publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce")  # built-in: one feed per locale
    before = store.structure()
    assert load_refusals(store, before, [_without_german()]) == []
    store.put_structure("channel", [_without_german()])
    [note] = leaving_notes(store, before, store.structure())
    assert "feed.ecommerce.de_DE.xml" in note and "pim publish --channel google_merchant" in note


def test_the_publish_error_names_the_catalog_line_and_the_feed_still_served(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    catalog = _catalog(tmp_path, [DE_TARGET, US_TARGET])
    publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce", options={"catalog": str(catalog)})
    store.put_structure("channel", [_without_german()])
    with pytest.raises(ConfigError) as err:
        publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce",
                options={"catalog": str(catalog)})
    line = next(n for n, text in enumerate(catalog.read_text().splitlines(), 1) if "locale: de_DE" in text)
    assert f"{catalog}, line {line}" in str(err.value)
    hint = err.value.hint or ""
    assert "remove target DE" in hint and "feed.ecommerce.DE-de_DE.xml" in hint
    assert (tmp_path / "out" / "google_merchant" / "feed.ecommerce.DE-de_DE.xml").exists()  # still served, as said


def test_a_comma_decimal_shipping_price_names_file_line_and_the_form_to_write(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    catalog = _catalog(tmp_path, [{**DE_TARGET, "shipping": [{"service": "Std", "price": "6,90"}]}])
    with pytest.raises(ConfigError) as err:
        publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce",
                options={"catalog": str(catalog)})
    line = next(n for n, text in enumerate(catalog.read_text().splitlines(), 1) if "6,90" in text)
    message = str(err.value)
    assert f"{catalog}, line {line}" in message
    assert "'6.90'" in message
