"""`pim demo`: the whole spine on a generated catalog, in the workspace (PIM_HOME): generate, load the
structure, import the products, publish the storefront, and say what happened and where everything is.
Re-runnable: the catalog is reused when it is already there for this profile and seed, and a second
import finds every record unchanged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pim.generate.progress import progress_bar
from pim.settings import Settings, get_settings
from pim.store import Store

#: The demo's steps, in order: (title, "module:function"). Each function takes the DemoRun and returns a
#: short summary dict (shown in the table); it may add paths to `run.outputs`. A step whose module does
#: not exist yet is listed as skipped, so areas can add their line before their module lands.
DEMO_STEPS: list[tuple[str, str]] = [
    ("generate catalog", "pim.demo:step_generate"),
    ("load structure", "pim.demo:step_structure"),
    ("import products (JSONL)", "pim.demo:step_import"),
    ("import ERP, content and supplier sources", "pim.demo_sources:step_sources"),
    ("ingest images, build renditions", "media.demo:step_media"),
    ("publish storefront", "pim.demo:step_publish"),
    ("publish Google Merchant", "pim.demo_sources:step_google_merchant"),
    # after the contracts: they decide the search documents' customers, so a search published before them is
    # rebuilt whole by the next `pim publish --channel search`
    ("build customer feeds", "pim.demo_sources:step_feeds"),
    ("publish search index", "pim.demo_sources:step_search"),
]


@dataclass
class DemoRun:
    """What the steps share: the workspace, the store, the generated catalog and the outputs so far."""

    profile: str
    seed: int
    settings: Settings
    store: Store
    console: Console
    catalog: Any = None  # GeneratedCatalog, once step_generate ran
    outputs: dict[str, str] = field(default_factory=dict)
    results: list[tuple[str, str, float, dict[str, Any]]] = field(default_factory=list)

    @property
    def catalog_dir(self) -> Path:
        return self.settings.home / "demo-catalog"


def step_generate(run: DemoRun) -> dict[str, Any]:
    from pim.generate import GeneratedCatalog, generate_catalog, get_profile

    spec = get_profile(run.profile)
    existing = GeneratedCatalog.read(run.catalog_dir)
    if existing and existing.profile == spec.name and existing.seed == run.seed and existing.products_jsonl.is_file():
        run.catalog = existing
        summary: dict[str, Any] = {"reused": str(run.catalog_dir)}
    else:
        run.catalog = generate_catalog(spec, run.seed, run.catalog_dir, show_progress=True)
        summary = {}
    c = run.catalog.counts
    run.outputs["generated catalog"] = str(run.catalog_dir)
    precedence = install_precedence(run)
    return {**summary, "products": c["products"], "product models": c["product_models"], "attributes": c["attributes"],
            "families": c["families"], **({"precedence": precedence} if precedence else {})}


def install_precedence(run: DemoRun) -> str | None:
    """Copy the generated sources' precedence, which the demo's imports merge by, to PIM_HOME/precedence.yaml,
    which people's edits and `pim import withdraw` merge by (pim.merge.home_precedence): without it those rank
    by the default (content first) and show another winner than the imports would. A file already there is the
    user's and stays. Returns what happened, for the summary (None: the catalog has no precedence)."""
    from pim.merge import home_precedence_path

    generated, home = _generated_precedence(run), home_precedence_path()
    if not generated.is_file():
        return None
    run.outputs["precedence (edits, withdrawals)"] = str(home)
    text = generated.read_bytes()
    try:
        with home.open("xb") as handle:  # never over a file that is there
            handle.write(text)
    except FileExistsError:
        if home.read_bytes() == text:
            return "PIM_HOME/precedence.yaml as generated"
        return (f"PIM_HOME/precedence.yaml kept (yours; edits, withdrawals and imports naming no precedence merge "
                f"by it, the demo's imports by {generated})")
    return ("installed PIM_HOME/precedence.yaml (edits, withdrawals and imports naming no precedence merge by it, "
            "as the demo's imports do)")


def _generated_precedence(run: DemoRun) -> Path:
    return Path(run.catalog.out) / "sources" / "precedence.yaml"


def step_structure(run: DemoRun) -> dict[str, Any]:
    from pim.structure_files import load_structure_files, save_structure

    merged = load_structure_files(run.catalog.structure_dir, run.store.structure())
    counts = save_structure(run.store, merged)
    return {k: counts[k] for k in ("attributes", "attribute_options", "families", "categories", "channels") if k in counts}


def step_import(run: DemoRun) -> dict[str, Any]:
    from pim.jsonl import import_jsonl

    total = run.catalog.counts["products"] + run.catalog.counts["product_models"]
    with progress_bar("importing products", total) as advance:
        counts = import_jsonl(run.catalog.products_jsonl, run.store, on_batch=advance, merge=_catalog_merger(run))
    result = counts.as_dict()
    if counts.rejected:
        result["see"] = "pim import errors"
    return result


def _catalog_merger(run: DemoRun) -> Any:
    """The generated catalog is one source among the ERP, content and supplier files that follow it: merged by
    the generated precedence, so running the demo again leaves their values standing."""
    from pim.merge import Merger, Precedence

    precedence = _generated_precedence(run)
    return Merger(Precedence.load(precedence) if precedence.is_file() else None)


def step_publish(run: DemoRun) -> dict[str, Any]:
    total = run.store.count_products()
    with progress_bar("publishing storefront", total) as advance:
        def stream(items: Any) -> Any:
            for item in items:
                yield item
                advance(1)

        result = publish_as_job(run, "storefront", progress=stream)
    for location in result.locations:
        run.outputs[f"storefront {Path(location).stem.rsplit('.', 1)[-1]}"] = location
    return {"scope": result.scope, "published": result.published, "blocked": len(result.blocked)}


#: Where the demo's Google feed says its images are served when PIM_CDN_BASE_URL is unset: under its shop's
#: base URL, as the catalogs' URL convention has it. Google blocks an item whose image link is a file:// URL.
DEMO_MEDIA_BASE_URL = "https://shop.example.com/media"
DEMO_GOOGLE_CATALOG = "google_merchant.demo.yaml"


def demo_catalog(run: DemoRun, channel: str) -> Path | None:
    """The catalog the demo publishes `channel` with: for Google Merchant without PIM_CDN_BASE_URL, the built-in
    one with `media_base_url` set (written once to the workspace, edit freely), so the feed keeps its items;
    else None (the built-in catalog)."""
    if channel != "google_merchant" or get_settings().cdn_base_url:
        return None
    from channels.declaration_files import BUILTIN_DIR

    path = run.settings.home / DEMO_GOOGLE_CATALOG
    if not path.exists():
        builtin = (BUILTIN_DIR / "google_merchant.yaml").read_text(encoding="utf-8")
        path.write_text(f"# Written by the demo: the built-in Google catalog with its images served under the demo "
                        f"shop.\n# Publish with `pim publish --channel google_merchant --catalog {path}`, or set "
                        f"PIM_CDN_BASE_URL.\n{builtin.rstrip()}\nmedia_base_url: {DEMO_MEDIA_BASE_URL}\n",
                        encoding="utf-8")
    run.outputs["Google Merchant catalog (media_base_url)"] = str(path)
    return path


def publish_as_job(run: DemoRun, channel: str, progress: Any = None) -> Any:
    """Publish as `pim publish` does: a held job under the queue's one-publication-per-channel rule, so the demo
    waits for a worker's publication of the same channel instead of racing it, and shows in `pim jobs`."""
    from pim.publish_jobs import publish_here

    def waiting(holder: dict[str, Any] | None) -> None:
        if holder:
            run.console.print(f"  waiting for job {holder['id']} ({holder['kind']} {holder['source']}) to end …")

    _, result = publish_here(run.store, channel, by="pim demo", command="pim demo", on_wait=waiting,
                             progress=progress, catalog=demo_catalog(run, channel))
    return result


#: Every warning of the last `pim demo`, under PIM_HOME (pim.demo_warnings).
WARNINGS_FILE = "demo-warnings.log"


def run_demo(profile: str = "small", seed: int = 42, console: Console | None = None,
             verbose: bool = False) -> DemoRun:
    """The demo's steps, then what they did and where things are. Warnings are grouped after the report, one
    line per kind (every one of them with `verbose`, and always in PIM_HOME/demo-warnings.log)."""
    from pim.demo_warnings import collected

    console = console or Console(soft_wrap=True)
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store.from_settings(settings)
    run = DemoRun(profile, seed, settings, store, console)
    console.print(f"[bold]pim demo[/]: profile [cyan]{profile}[/], seed {seed}, workspace {settings.home.resolve()}")
    finished = False
    with collected() as warnings:
        try:
            _run_steps(run)
            finished = True
        finally:  # a step that raises: what it and the steps before it warned is said before its traceback
            if not finished:
                _say_warnings(run, warnings, verbose, stopped=True)
    run.outputs["database"] = store.engine.url.render_as_string(hide_password=True)
    _report(run)
    _say_warnings(run, warnings, verbose)
    return run


def _run_steps(run: DemoRun) -> None:
    for title, ref in DEMO_STEPS:
        step = _load_step(ref)
        if step is None:
            run.results.append((title, "skipped (not available yet)", 0.0, {}))
            continue
        run.console.print(f"→ {title}")
        started = time.perf_counter()
        summary = step(run)
        run.results.append((title, "done", time.perf_counter() - started, summary))


def _say_warnings(run: DemoRun, warnings: Any, verbose: bool, *, stopped: bool = False) -> None:
    """The warnings the steps logged: one line per kind, or every one with `verbose`; all of them in a file.
    `stopped`: a step raised, so these are the warnings logged before the demo stopped."""
    from pim.demo_warnings import save

    path = save(warnings, run.settings.home / WARNINGS_FILE)
    if path is None:
        return
    n, kinds = len(warnings.records), len(warnings.groups)
    run.console.print(f"[yellow]{n} warning{'s' if n != 1 else ''}[/]"
                      + (" before a step failed and the demo stopped" if stopped else "")
                      + ("" if verbose else f", {kinds} kind{'s' if kinds != 1 else ''} (each with how many times "
                                            "it was said, by which channels or contracts, and the first in full)"))
    for line in warnings.records if verbose else [g.line() for g in warnings.groups.values()]:
        run.console.print(f"  {line}", markup=False, highlight=False)
    run.console.print(f"  every one of them: {path}" + ("" if verbose else " (or run `pim demo --verbose`)"),
                      markup=False, highlight=False)


def _load_step(ref: str) -> Callable[[DemoRun], dict[str, Any]] | None:
    module, _, attr = ref.partition(":")
    try:
        return getattr(import_module(module), attr)  # type: ignore[no-any-return]
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def _report(run: DemoRun) -> None:
    steps = Table(title="what the demo did")
    for column in ("step", "status", "seconds", "summary"):
        steps.add_column(column)
    for title, status, seconds, summary in run.results:
        steps.add_row(title, status, f"{seconds:.1f}" if status == "done" else "",
                      ", ".join(f"{k}: {v}" for k, v in summary.items()))
    run.console.print(steps)
    where = Table(title="where things are")
    where.add_column("what", no_wrap=True)
    where.add_column("path", overflow="fold")
    for what, path in run.outputs.items():
        where.add_row(what, path)
    run.console.print(where)
    run.console.print(
        "next:\n"
        "  [bold].venv/bin/pim gate report --channel ecommerce[/]   what blocks publishing, and the to-do list\n"
        "  [bold].venv/bin/pim import errors[/] / [bold]pim import conflicts[/]   rejected rows and source disagreements\n"
        "  [bold].venv/bin/pim users add admin --role admin && .venv/bin/pim serve[/]   then open http://127.0.0.1:8000\n"
        "  (run `make demo` again: the imports find everything unchanged)")
