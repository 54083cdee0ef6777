"""Content JSON, found exploring: JSON Lines numbered from the first record rather than the file's first line,
a bad byte named at its offset in the decoder's chunk rather than the file, and a per-channel text written
to a channel that does not publish its locale (description:de_DE@mobile on an English-only channel)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from importers.content import ContentProfile, import_content
from pim.errors import InputError
from pim.importing import Parsed, run_import
from pim.merge import Merger
from pim.store import Store
from pim.structure import Attribute, Channel, Family
from tests.source_data import ATTRIBUTES, PRECEDENCE, record, seed_structure


@pytest.fixture
def seeded(store: Store) -> Store:
    """The source structure with a second, English-only channel and a per-channel, not localized teaser."""
    seed_structure(store)
    teaser = Attribute(code="teaser", type="text", group="marketing", scopable=True)
    store.put_structure("attribute", [teaser])
    store.put_structure("channel", [Channel(code="mobile", locales=["en_US"], currencies=["EUR"],
                                            category_tree="master")])
    store.put_structure("family", [Family(code="tool", attributes=[a.code for a in [*ATTRIBUTES, teaser]])])
    run_import(store, "erp", [Parsed(record("erp", sku, {"ean": "1", "name:en_US": "DRILL"}, family="tool"), "erp.csv", 1)
                              for sku in ("A1", "A2", "A3")], merge=Merger(PRECEDENCE))
    return store


# ---------------------------------------------------------------- 1. JSON Lines numbering
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_json_lines_are_numbered_as_the_file_s_lines_despite_leading_and_inner_blank_lines(
        seeded: Store, tmp_path: Path, newline: str):
    """The blank lines before the first record were skipped uncounted: a broken record on line 4 was
    quarantined as line 2."""
    lines = ["", "  ", '{"sku": "A1", "name": {"en_US": "a"}}', '{"sku": "A2", "name": broken', "", "\t",
             '{"sku": "NOPE", "name": {"en_US": "c"}}', '{"sku": "A3", "name": {"en_US": "d"}}', ""]
    path = tmp_path / "c.jsonl"
    path.write_bytes(newline.join(lines).encode())
    counts = import_content(path, seeded)
    assert (counts.read, counts.updated, counts.rejected) == (4, 2, 2)
    assert sorted(e["line"] for e in seeded.quarantined(counts.job_id)) == [4, 7]
    assert seeded.get_product("A3").provenance_of("name:en_US").ref == "c.jsonl:8"


def test_a_json_lines_file_without_blank_lines_is_numbered_from_one(seeded: Store, tmp_path: Path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"sku": "NOPE"}\n{"sku": "A1", "name": {"en_US": "a"}}\n')
    counts = import_content(path, seeded)
    assert [e["line"] for e in seeded.quarantined(counts.job_id)] == [1]
    assert seeded.get_product("A1").provenance_of("name:en_US").ref == "c.jsonl:2"


# ---------------------------------------------------------------- 2. a bad byte's offset
def _latin_byte_at(records: int, victim: int, *, lines: bool) -> tuple[bytes, int, int]:
    data = [{"sku": f"P{i:07d}", "name": {"en_US": f"Name {i}"}} for i in range(1, records)]
    text = b"\n".join(orjson.dumps(r) for r in data) if lines else orjson.dumps(data, option=orjson.OPT_INDENT_2)
    pos = text.index(f"Name {victim}".encode()) + 1
    text = text[:pos] + b"\xe4" + text[pos + 1:]  # Näme, written in Latin-1
    return text, pos, text.count(b"\n", 0, pos) + 1


@pytest.mark.parametrize("lines", [False, True], ids=["array", "jsonl"])
def test_a_byte_that_is_no_utf8_is_named_by_its_offset_in_the_file(seeded: Store, tmp_path: Path, lines: bool):
    """The array's message named the offset within the decoder's chunk (11785 for a byte at 19977)."""
    content, pos, line = _latin_byte_at(3000, 2500, lines=lines)
    assert pos > 65536  # beyond any decoder chunk
    path = tmp_path / ("c.jsonl" if lines else "c.json")
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"not UTF-8: byte b'\\xe4' on line {line} \(byte offset {pos}\)") as err:
        import_content(path, seeded)
    assert err.value.line == line and "save the file as UTF-8" in (err.value.hint or "")


def test_the_offset_counts_a_byte_order_mark_and_a_character_split_between_chunks(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch):
    from pim import sources

    path = tmp_path / "c.json"
    path.write_bytes(b"\xef\xbb\xbf[\n\"\xc3\xa4\xc3\xa4\xe4x\"]")  # BOM, two good ä, then a Latin-1 ä
    for size in (1, 2, 3, 4, 5, 1 << 20):
        monkeypatch.setattr(sources, "_CHUNK", size)
        assert sources.undecodable_at(path, "utf-8") == (2, 10, b"\xe4")
    path.write_bytes(b'["ok", "\xc3')  # cut in the middle of a character
    monkeypatch.setattr(sources, "_CHUNK", 3)
    assert sources.undecodable_at(path, "utf-8") == (1, 8, b"")
    path.write_bytes('["fine ä"]'.encode())
    assert sources.undecodable_at(path, "utf-8") is None


# ---------------------------------------------------------------- 3. per-channel text and a channel's locales
def test_a_per_channel_text_goes_only_to_the_channels_publishing_its_locale(seeded: Store, tmp_path: Path):
    """description:de_DE@mobile was stored though mobile publishes English only."""
    path = tmp_path / "c.jsonl"
    path.write_text('{"sku": "A1", "description": {"en_US": "EN desc", "de_DE": "DE desc"}}\n')
    counts = import_content(path, seeded)
    assert (counts.updated, counts.rejected) == (1, 0)
    values = seeded.get_product("A1").values
    assert {k: v for k, v in values.items() if k.startswith("description")} == {
        "description:en_US@ecommerce": "EN desc", "description:de_DE@ecommerce": "DE desc",
        "description:en_US@mobile": "EN desc"}


def test_a_per_channel_text_in_a_locale_no_channel_takes_is_rejected(seeded: Store, tmp_path: Path):
    profile = ContentProfile(channels=["mobile"])
    before = seeded.get_product("A1")
    path = tmp_path / "c.jsonl"
    path.write_text('{"sku": "A1", "description": {"en_US": "EN desc", "de_DE": "DE desc"}}\n'
                    '{"sku": "A2", "description": {"en_US": "EN only"}}\n'
                    '{"sku": "A3", "description": {"fr_FR": "Texte"}}\n')
    counts = import_content(path, seeded, profile)
    assert (counts.read, counts.updated, counts.rejected) == (3, 1, 2)
    reasons = {e["record_key"]: e["reason"] for e in seeded.quarantined(counts.job_id)}
    assert "'description' is per channel and no channel takes de_DE" in reasons["A1"]
    assert "mobile: en_US" in reasons["A1"] and "profile's `channels`" in reasons["A1"]
    assert "no channel takes fr_FR" in reasons["A3"]
    assert seeded.get_product("A1") == before  # nothing of the record is stored
    assert {k for k in seeded.get_product("A2").values if k.startswith("description")} == {"description:en_US@mobile"}


def test_a_per_channel_text_without_locales_still_goes_to_every_channel(seeded: Store, tmp_path: Path):
    profile = ContentProfile(fields={"teaser": "teaser"})
    path = tmp_path / "c.jsonl"
    path.write_text('{"sku": "A1", "teaser": "Strong"}\n')
    counts = import_content(path, seeded, profile)
    assert (counts.updated, counts.rejected) == (1, 0)
    values = seeded.get_product("A1").values
    assert (values["teaser@ecommerce"], values["teaser@mobile"]) == ("Strong", "Strong")
    only = ContentProfile(fields={"teaser": "teaser"}, channels=["mobile"])
    path.write_text('{"sku": "A2", "teaser": "Light"}\n')
    assert import_content(path, seeded, only).updated == 1
    assert {k for k in seeded.get_product("A2").values if k.startswith("teaser")} == {"teaser@mobile"}


def test_a_profile_channel_that_is_no_channel_is_named(seeded: Store, tmp_path: Path):
    """Round 29: the file is refused before any record is read (each record was quarantined for it)."""
    path = tmp_path / "c.jsonl"
    path.write_text('{"sku": "A1", "description": {"en_US": "EN desc"}}\n')
    with pytest.raises(InputError, match="`channels` names 'print', which is not a channel") as err:
        import_content(path, seeded, ContentProfile(channels=["ecommerce", "print"]))
    assert err.value.field == "channels" and "ecommerce, mobile" in (err.value.hint or "")


def test_a_clear_reaches_the_locale_on_every_channel_even_one_not_publishing_it(seeded: Store, tmp_path: Path):
    """Round 26: clearing a per-channel text in a locale no channel of the profile publishes was rejected, and
    a clear in a published locale left the value a non-publishing channel kept from before."""
    stale = {"description:de_DE@mobile": "Alt", "description:de_DE@ecommerce": "DE", "description:fr_FR@mobile": "FR"}
    mobile = Channel(code="mobile", locales=["en_US", "fr_FR"], currencies=["EUR"], category_tree="master")
    seeded.put_structure("channel", [mobile])
    run_import(seeded, "content", [Parsed(record("content", "A1", stale), "old.jsonl", 1)], merge=Merger(PRECEDENCE))
    seeded.put_structure("channel", [mobile.model_copy(update={"locales": ["en_US"]})])  # French dropped since
    assert {k for k in seeded.get_product("A1").values if k.startswith("description")} == set(stale)
    path = tmp_path / "c.jsonl"
    path.write_text('{"sku": "A1", "description": {"fr_FR": null}}\n')
    counts = import_content(path, seeded, ContentProfile(channels=["mobile"]))
    assert (counts.updated, counts.rejected) == (1, 0)
    assert "description:fr_FR@mobile" not in seeded.get_product("A1").values
    path.write_text('{"sku": "A1", "description": {"de_DE": ""}}\n')
    counts = import_content(path, seeded)
    assert (counts.updated, counts.rejected) == (1, 0)
    assert not {k for k in seeded.get_product("A1").values if k.startswith("description")}
    path.write_text('{"sku": "A2", "description": {"fr_FR": "Texte"}}\n')  # a text still needs a channel
    assert import_content(path, seeded, ContentProfile(channels=["mobile"])).rejected == 1
