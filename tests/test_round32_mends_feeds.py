"""Round 32 mends, found in review of the feed, contract and shipping changes: a feed never sends a file:// URL of
this machine's media folder and its warning says what to set for a contract; a contract's media_base_url says
which two trees it must serve; an inclusive shipping `up_to` that rounds up to the threshold still meets it; the
structure and contract loaders list their problems through one helper."""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from pathlib import Path

import pytest

from channels.google_merchant_shipping import Shipping
from media.links import links_for
from pim.contracts import Contract, ContractConflicts
from pim.feeds import build_feed
from pim.store import Store
from pim.structure_files import StructureErrors, StructureProblem
from tests.feeds_data import out_dir, store_contract
from tests.test_feeds_contracts_round32 import lines
from tests.test_feeds_contracts_round32 import rendered as rendered_fixture

rendered = rendered_fixture  # the fixture: channel b2b renders PNGs, T1's is built, T2's photo is not ingested


# ---------------------------------------------------------------------------------------------- feed image links
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "bmecat"])
def test_a_feed_without_a_base_url_never_sends_a_file_url(rendered: Store, tmp_path: Path, fmt: str) -> None:
    """T1's rendition is built, but without media_base_url or PIM_CDN_BASE_URL its link is a file:// URL of the
    media folder: the feed sends the value, as before round 32."""
    b = build_feed(rendered, store_contract(rendered, format=fmt, media_base_url=None), out_dir(tmp_path))
    text = b.path.read_text(encoding="utf-8")
    assert "file:" not in text and "img/T1.jpg" in text


def test_a_feed_links_the_value_of_an_image_whose_rendition_is_only_on_disk(rendered: Store, tmp_path: Path) -> None:
    b = build_feed(rendered, store_contract(rendered, format="jsonl", media_base_url=None), out_dir(tmp_path))
    assert lines(b.path)["T1"]["attributes"]["image"] == "img/T1.jpg"


def test_the_local_rendition_warning_of_a_feed_says_what_to_set_for_its_contract(
        rendered: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pim.media"):
        build_feed(rendered, store_contract(rendered, format="jsonl", media_base_url=None), out_dir(tmp_path))
    [warning] = [r.getMessage() for r in caplog.records if r.name == "pim.media"]
    assert "set media_base_url in contract acme-tools (pim feeds load) or PIM_CDN_BASE_URL" in warning
    assert "pim publish --catalog" not in warning and "deliver again" in warning


def test_channels_keep_their_local_rendition_advice(rendered: Store, caplog: pytest.LogCaptureFixture) -> None:
    """Guard (passes before and after the mend): without a hint the channels' wording stands."""
    links = links_for(rendered, "b2b", str)
    with caplog.at_level(logging.WARNING, logger="pim.media"):
        assert links("img/T1.jpg").startswith("file:")  # type: ignore[union-attr]
    [warning] = [r.getMessage() for r in caplog.records if r.name == "pim.media"]
    assert "media_base_url in the channel's catalog (pim publish --catalog FILE), and publish again" in warning


# ---------------------------------------------------------------------------------------------- media_base_url
def test_media_base_url_describes_both_trees_it_must_serve_as_feeds_link_them(rendered: Store,
                                                                                tmp_path: Path) -> None:
    said = Contract.model_json_schema()["properties"]["media_base_url"]["description"]
    assert "`<base>/<ref>`" in said and "`<base>/renditions/<sha256[:2]>/<sha256>/<spec hash[:20]>.<ext>`" in said
    b = build_feed(rendered, store_contract(rendered, format="jsonl", media_base_url="https://cdn.example.com/r/"),
                   out_dir(tmp_path))
    got = lines(b.path)
    assert re.fullmatch(r"https://cdn\.example\.com/r/renditions/([0-9a-f]{2})/\1[0-9a-f]{62}/[0-9a-f]{20}\.png",
                        got["T1"]["attributes"]["image"])
    assert got["T2"]["attributes"]["image"] == "https://cdn.example.com/r/img/T2.jpg"


# ---------------------------------------------------------------------------------------------- shipping tiers
def _service(up_to: str, threshold: str, below: str = "20") -> Shipping:
    return Shipping.model_validate({"service": "Standard", "free_shipping_threshold": threshold,
                                    "by_price": [{"up_to": below, "price": "9.90"}, {"up_to": up_to, "price": "590"}]})


@pytest.mark.parametrize("currency,bound,price,free", [("EUR", "49.995", "49.99", "50.00"),
                                                       ("JPY", "4999.5", "4999", "5000")])
def test_an_inclusive_up_to_that_rounds_up_to_the_threshold_still_meets_it(currency: str, bound: str, price: str,
                                                                           free: str) -> None:
    """Items are priced in minor units: up_to 49.995 holds every price up to 49.99, and from 50.00 items ship free
    (the threshold 49.995 as Google shows it), so no price is left without a rate."""
    shown = _service(bound, bound).shelf_priced(currency)
    assert shown.free_shipping_threshold == Decimal(free)
    assert shown.rate(None, Decimal(price)) == Decimal("590") and shown.rate(None, Decimal(free)) == 0


def test_a_tier_starting_at_the_rounded_threshold_is_still_refused() -> None:
    """Guard (refused before and after the mend): the threshold 50.004 shows as 50.00, so a tier above 50.002
    (items from 50.01) would never apply."""
    with pytest.raises(ValueError) as caught:
        _service("60", "50.004", below="50.002").shelf_priced("EUR")
    assert "tier 2 starts above 50.002, at or above free_shipping_threshold 50.00" in str(caught.value)


# ---------------------------------------------------------------------------------------------- problem listings
def _problems(n: int) -> list[StructureProblem]:
    return [StructureProblem("c.yaml", i + 1, "code", f"bad {i}") for i in range(n)]


@pytest.mark.parametrize("error,head", [(ContractConflicts, "51 problem(s) with the contracts; nothing was loaded:"),
                                        (StructureErrors, "51 problem(s) in the structure files; nothing was loaded:")])
def test_a_refused_load_lists_fifty_problems_and_counts_the_rest(error: type[Exception], head: str) -> None:
    """Guard (messages unchanged by moving the listing into structure_files.problem_listing)."""
    said = str(error(_problems(51))).splitlines()
    assert said[0] == head and said[1] == "  c.yaml:1 [code] bad 0" and said[50] == "  c.yaml:50 [code] bad 49"
    assert said[51:] == ["  … and 1 more"]
