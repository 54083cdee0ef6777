"""Round 37 (S): pim/feeds.py and pim/cli/feeds.py split into modules with one job each. Every name the old
modules offered still imports from them as the very object the split's modules define, the patch points tests
use on pim.feeds still take effect (SNAPSHOT_MAX_BYTES, deliver_contract, build_feed), `pim feeds` lists its
commands in the same order, and each module of the split stays under the size the style guide asks for."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 400  # lines (STYLE.md: modules under ~400 lines are a good sign)

#: Every project name pim/feeds.py defined or imported before the split (private ones included: tests and
#: pim.feed_deltas use some).
FEEDS_NAMES = [
    "Kind", "TIER_CACHE", "GATE_CHUNK", "STOCK_ALL_LIMIT", "LEFT_OUT", "FeedRefused", "FeedTier", "FeedPrice",
    "FeedStock", "FeedRow", "FeedItem", "FeedPlan", "Build", "FeedRun", "_diet", "_RUN", "_RUN_LOCK", "_run_for",
    "_end_run", "_candidates_full", "_without_exclusions", "_counting", "_could_match", "_items", "_run_prices",
    "_list_price_text", "build_feed", "_checksum", "_cdn", "_deliver_job", "RunSummary", "deliver_all",
    "DeliveryResult", "deliver_contract", "describe_left_out", "feeds_dir", "SNAPSHOT_MAX_BYTES", "_Reader", "_Row",
    "CHUNK", "SNAPSHOT_PAGE", "SAMPLE", "Diet",
]
#: Every project name pim/cli/feeds.py defined before the split.
CLI_NAMES = [
    "app", "_store", "load", "_refused", "_unlinked", "delete", "_kept_text", "list_contracts", "deliver",
    "_deliver_claimed", "_dry_run", "_nothing_to_deliver", "_run", "left_out_cell", "_report", "due_list",
    "_print_on_hold", "prune", "ForceOption", "token", "revoke", "delivery_log", "prices", "person_app",
    "PasswordOption", "_no_such_person", "person_add", "person_list", "person_password", "person_disable",
    "person_enable", "downloads_list", "_prune_downloads", "JsonOption", "console", "emit_json", "err_console",
    "table",
]
FEEDS_PARTS = ["pim.feed_plan", "pim.feed_members", "pim.feed_fanout"]
CLI_PARTS = ["pim.cli.feeds_common", "pim.cli.feeds_contracts", "pim.cli.feeds_deliver", "pim.cli.feeds_portal",
             "pim.cli.feeds_logs"]
SPLIT = ["pim/feeds.py", "pim/cli/feeds.py", *(f"{m.replace('.', '/')}.py" for m in FEEDS_PARTS + CLI_PARTS)]


@pytest.mark.parametrize(("module", "names", "parts"), [("pim.feeds", FEEDS_NAMES, FEEDS_PARTS),
                                                        ("pim.cli.feeds", CLI_NAMES, CLI_PARTS)],
                         ids=["feeds", "cli_feeds"])
def test_every_old_name_still_imports_from_its_old_module_as_the_split_defines_it(
        module: str, names: list[str], parts: list[str]) -> None:
    old = importlib.import_module(module)
    assert [name for name in names if not hasattr(old, name)] == []
    loaded = [importlib.import_module(p) for p in parts]
    for name in names:
        homes = [m for m in loaded if name in vars(m)]
        assert not homes or all(getattr(old, name) is getattr(m, name) for m in homes), name


@pytest.mark.parametrize("path", SPLIT)
def test_each_module_of_the_split_stays_under_the_limit(path: str) -> None:
    lines = len((ROOT / path).read_text(encoding="utf-8").splitlines())
    assert lines < LIMIT, f"{path} has {lines} lines: split it further"


def test_the_registry_path_of_the_feed_row_still_resolves() -> None:
    from pim.feed_plan import FeedRow
    from pim.registry import load

    assert load("pim.feeds:FeedRow") is FeedRow


def test_pim_feeds_lists_its_commands_in_the_order_it_always_did() -> None:
    import typer.main

    import pim.cli.feeds_claims  # noqa: F401  # adds `claims`, as pim.cli mounts it
    from pim.cli.feeds import app

    group: Any = typer.main.get_command(app)
    assert list(group.list_commands(None)) == [
        "load", "delete", "list", "deliver", "due", "prune", "token", "revoke", "log", "prices", "downloads",
        "claims", "person"]
    assert list(group.commands["person"].list_commands(None)) == ["add", "list", "password", "disable", "enable"]


class _Cut(Exception):
    pass


def _cut(*args: object, **kwargs: object) -> Any:
    raise _Cut


def test_a_patch_on_pim_feeds_deliver_contract_reaches_the_delivery_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/test_feeds_r33.py replaces pim.feeds.deliver_contract to have SFTP down: the run's jobs, now in
    pim.feed_fanout, must still look it up there."""
    import pim.feed_fanout as fanout
    import pim.feeds as feeds

    monkeypatch.setattr(feeds, "deliver_contract", _cut)
    names = fanout._deliver_job.__code__.co_names
    assert "deliver_contract" in names and "deliver_contract" not in vars(fanout)
    assert feeds._deliver_job is fanout._deliver_job and feeds.deliver_all is fanout.deliver_all


def test_the_snapshot_limit_and_build_feed_are_read_from_pim_feeds() -> None:
    """tests/test_feeds_r34.py patches pim.feeds.SNAPSHOT_MAX_BYTES (read by FeedRun.index) and pim.feeds.build_feed
    (looked up by pim.feed_delivery at call time): both stay module globals of pim.feeds."""
    import pim.feeds as feeds

    assert feeds.FeedRun.__module__ == "pim.feeds" and "SNAPSHOT_MAX_BYTES" in feeds.FeedRun.index.__code__.co_names
    assert feeds.build_feed.__module__ == "pim.feeds"
    delivery = (ROOT / "pim" / "feed_delivery.py").read_text(encoding="utf-8")
    assert "from pim.feeds import build_feed" in delivery
