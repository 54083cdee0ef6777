"""Content profiles with a typo (an attribute code in `fields`, `bullets` or `images`, a channel in `channels`):
the file is refused once, before any record is read, naming the profile key, the bad value and the nearest
valid one. Each record using it was quarantined with the same reason, when the profile was what was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from importers.content import ContentProfile, import_content
from pim import job_enqueue, job_queue
from pim.errors import InputError
from pim.store import Store
from pim.structure import Attribute, AttributeGroup, Category, Channel, Currency, Locale
from tests.test_content_import import DRILL, seeded, write_json  # noqa: F401  (fixture)


def refused(store: Store, path: Path, profile: ContentProfile) -> InputError:
    """The InputError the import raises, after checking it wrote nothing: no job, the product as it was."""
    jobs, before = store.jobs(), store.get_product("A1")
    with pytest.raises(InputError) as err:
        import_content(path, store, profile)
    assert store.jobs() == jobs and store.get_product("A1") == before
    return err.value


def test_a_misspelt_fields_target_refuses_the_file_naming_key_value_and_nearest_code(seeded: Store, tmp_path: Path):  # noqa: F811
    path = write_json(tmp_path / "c.jsonl", [DRILL, {**DRILL, "sku": "A2"}], lines=True)
    err = refused(seeded, path, ContentProfile(fields={"name": "name", "title": "seo_titel"}))
    assert "`fields` sends 'title' to 'seo_titel', which is not an attribute (did you mean 'seo_title'?)" in str(err)
    assert err.field == "fields.title" and "fix the content profile" in (err.hint or "")


def test_a_value_key_as_fields_target_is_refused_naming_its_attribute(seeded: Store, tmp_path: Path):  # noqa: F811
    path = write_json(tmp_path / "c.json", [{"sku": "A1", "titel": {"de_DE": "Bohrer"}}])
    err = refused(seeded, path, ContentProfile(fields={"titel": "name:de_DE"}))
    assert "'name:de_DE', a value key where the profile names an attribute: write 'name'" in str(err)


@pytest.mark.parametrize(("setting", "message"), [
    ({"images": ["image", "galery"]}, "`images` names 'galery', which is not an attribute (did you mean 'gallery'?)"),
    ({"bullets": ["bullet_1"]}, "`bullets` names 'bullet_1', which is not an attribute (did you mean 'bullets'?)"),
    ({"bullets": "Bullets "}, "`bullets` names 'Bullets ', which is not an attribute (did you mean 'bullets'?)"),
    ({"channels": ["ecommerse"]}, "`channels` names 'ecommerse', which is not a channel (did you mean 'ecommerce'?)"),
])
def test_a_misspelt_bullets_images_or_channel_refuses_the_file_once(seeded: Store, tmp_path: Path,  # noqa: F811
                                                                   setting: dict, message: str):
    path = write_json(tmp_path / "c.json", [DRILL, {**DRILL, "sku": "A2"}])
    err = refused(seeded, path, ContentProfile(**setting))
    assert message in str(err) and err.field == next(iter(setting))


def test_every_typo_of_the_profile_is_named_in_one_refusal(seeded: Store, tmp_path: Path):  # noqa: F811
    path = write_json(tmp_path / "c.json", [DRILL])
    err = refused(seeded, path, ContentProfile(images=["imgae"], channels=["ecommerce", "prnt"]))
    assert "`images` names 'imgae'" in str(err) and "(did you mean 'image'?)" in str(err)
    assert "its `channels` names 'prnt', which is not a channel" in str(err)
    assert "ecommerce" in (err.hint or "")


def test_a_csv_file_is_refused_before_its_first_row_too(seeded: Store, tmp_path: Path):  # noqa: F811
    path = tmp_path / "c.csv"
    path.write_text("sku,images\nA1,a.jpg\nA2,b.jpg\n", encoding="utf-8")
    err = refused(seeded, path, ContentProfile(images=["img"]))
    assert "`images` names 'img'" in str(err)


def test_an_upload_job_with_a_misspelt_profile_fails_and_quarantines_nothing(seeded: Store, tmp_path: Path):  # noqa: F811
    profile = tmp_path / "content.profile.yaml"
    profile.write_text(yaml.safe_dump({"images": ["imag"]}), encoding="utf-8")
    path = write_json(tmp_path / "c.json", [DRILL])
    job_enqueue.enqueue(seeded, "import", "content:c.json",
                        {"importer": "content", "path": str(path), "options": {"profile": str(profile)}})
    [ran] = job_queue.work(seeded, once=True).jobs
    assert ran["status"] == "failed" and "`images` names 'imag'" in ran["error"], ran
    assert seeded.quarantined(ran["id"]) == []
    assert "image" not in seeded.get_product("A1").values


def test_the_default_profile_needs_none_of_its_attributes_in_the_structure(store: Store, tmp_path: Path):
    """Guard (passes on the old code too): only the keys a profile sets are checked, so a catalog without the
    default profile's `bullets`, `image`, `seo_title`… attributes still imports content with it."""
    store.put_structure("locale", [Locale(code="en_US")])
    store.put_structure("currency", [Currency(code="EUR")])
    store.put_structure("attribute_group", [AttributeGroup(code="marketing")])
    store.put_structure("attribute", [Attribute(code="sku", type="identifier", group="marketing"),
                                      Attribute(code="name", type="text", group="marketing", localizable=True)])
    store.put_structure("category", [Category(code="master")])
    store.put_structure("channel", [Channel(code="web", locales=["en_US"], currencies=["EUR"], category_tree="master")])
    path = write_json(tmp_path / "c.json", [{"sku": "N1", "name": {"en_US": "Drill"}}])
    assert import_content(path, store, ContentProfile(unmatched="create")).created == 1
    assert store.get_product("N1").values == {"name:en_US": "Drill"}  # type: ignore[union-attr]
