"""Akeneo import speed on the real demo catalog (icecat_demo_dev: 1,239 products, 81 product models).
Baseline: the time to only csv-parse the same files, i.e. what the mapping, validation and writes add."""

from __future__ import annotations

import csv
import resource
import time
from pathlib import Path

ICECAT = Path(__file__).resolve().parent.parent.parent / "shared" / "akeneo_fixtures" / "icecat_demo_dev"


def _parse_only(folder: Path) -> tuple[int, float]:
    start = time.perf_counter()
    rows = 0
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows += sum(1 for _ in csv.reader(handle, delimiter=";", quotechar='"'))
    return rows, time.perf_counter() - start


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run(profile: str, workdir: Path) -> list[dict]:
    from importers.akeneo import import_akeneo
    from pim.store import Store

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "akeneo_bench.db"
    db.unlink(missing_ok=True)
    store = Store(f"sqlite:///{db}")
    store.migrate()
    _, baseline = _parse_only(ICECAT)
    rows = []
    for stage in ("akeneo_import", "akeneo_reimport"):
        start = time.perf_counter()
        counts = import_akeneo(ICECAT, store)
        seconds = time.perf_counter() - start
        items = counts["products"] + counts["product_models"]
        rows.append({"stage": stage, "items": items, "seconds": round(seconds, 3),
                     "items_per_s": round(items / seconds, 1), "products_per_s": round(counts["products"] / seconds, 1),
                     "peak_rss_mb": round(_peak_rss_mb(), 1), "baseline_seconds": round(baseline, 3),
                     "budget_seconds": 5.0})
    store.dispose()
    return rows


if __name__ == "__main__":
    import tempfile

    for row in run("default", Path(tempfile.mkdtemp())):
        print(row)
