"""`pim generate`: deterministic sample catalogs shaped like Akeneo's representative catalogs.

`generate_catalog(profile, seed, out)` writes `out/structure/*.yaml` (loadable by `pim structure load`),
`out/products.jsonl` (canonical records, product models first) and `out/catalog.json` (what was written).
Same profile and seed → byte-identical structure and JSONL files. Products stream one at a time, so the
1M-product profile needs no more memory than the small one.

Extension hook: after the catalog is written, every `EXTRA_WRITERS` entry ("module:function") whose module
exists is called as

    writer(spec: ProfileSpec, seed: int, out: Path, catalog: GeneratedCatalog) -> list[Path] | None

`spec` is the resolved profile (sizes, locales, shares), `out` the catalog folder, `catalog` what was
written (paths, counts). A writer adds its own files under `out` (e.g. ERP/supplier/content source files,
customer contracts), must be deterministic for a seed, should stream, and may return the paths it wrote
(listed by `describe()`). A module that does not exist yet is skipped silently.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from pim.generate.catalog import GeneratedCatalog, save_manifest, write_catalog
from pim.generate.profiles import PROFILES, ProfileSpec, get_profile

__all__ = ["EXTRA_WRITERS", "PROFILES", "GeneratedCatalog", "ProfileSpec", "generate_catalog", "get_profile"]

EXTRA_WRITERS: list[str] = [
    "pim.generate.sources:write_sources",
    "pim.generate.contracts:write_contracts",
    "pim.generate.supplier:write_supplier",
]


def generate_catalog(profile: str | ProfileSpec, seed: int, out: Path, show_progress: bool = False) -> GeneratedCatalog:
    """Write the catalog for `profile` (a name such as "small", "small:1000", or a ProfileSpec) into `out`."""
    spec = profile if isinstance(profile, ProfileSpec) else get_profile(profile)
    out = Path(out)
    if show_progress:
        from pim.generate.progress import progress_bar

        with progress_bar(f"generating {spec.name}", spec.products) as advance:
            catalog = write_catalog(spec, seed, out, advance)
    else:
        catalog = write_catalog(spec, seed, out)
    for ref in EXTRA_WRITERS:
        writer = _extra_writer(ref)
        if writer is not None:
            written = writer(spec, seed, out, catalog)
            catalog.extra_files.extend(Path(p) for p in written or [])
    save_manifest(catalog)
    return catalog


def _extra_writer(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    try:
        return getattr(import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None
