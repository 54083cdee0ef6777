"""The benchmark harness: finds benchmarks/bench_*.py, runs each in a fresh subprocess (so peak RSS belongs
to that benchmark alone), and prints wall time, items/s, peak RSS, the baseline and time/baseline.

A benchmark module exposes `run(profile: str, workdir: Path) -> list[dict]`; each row has stage, items,
seconds, items_per_s, peak_rss_mb and optionally baseline_seconds (the same input read and parsed
plainly, or a plain loop) and note. Helpers below: `catalog_for` (generated catalogs cached per profile
and seed under benchmarks/out/catalogs), `measure` (time a stage and build its row), `peak_rss_mb`.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
SEED = 42


def discover() -> dict[str, Path]:
    """capability name → module file, e.g. {'spine': benchmarks/bench_spine.py}."""
    return {p.stem[len("bench_"):]: p for p in sorted(ROOT.glob("bench_*.py"))}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(stage: str, items: int | Callable[[Any], int], fn: Callable[[], Any], *,
            baseline: Callable[[], Any] | None = None, note: str = "", budget: Budget | None = None) -> dict[str, Any]:
    """Run `fn` once and time it; `items` is a count or a function of fn's result. The baseline runs after.
    With a `budget`, the row's note says whether this run met it."""
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    count = items(result) if callable(items) else items
    row: dict[str, Any] = {"stage": stage, "items": count, "seconds": round(seconds, 3),
                           "items_per_s": round(count / seconds) if seconds > 0 else None, "peak_rss_mb": peak_rss_mb(),
                           "cpu_seconds": round(cpu, 3)}
    if baseline is not None:
        started = time.perf_counter()
        baseline()
        row["baseline_seconds"] = round(time.perf_counter() - started, 3)
    verdict = budget.verdict(row) if budget is not None else ""
    if note or verdict:
        row["note"] = "; ".join(n for n in (verdict, note) if n)
    return row


@dataclass(frozen=True)
class Budget:
    """An issue's speed budget for a stage: at least `per_s` items/s, at most `x_baseline` × its baseline."""

    per_s: int | None = None
    x_baseline: float | None = None

    def verdict(self, row: dict[str, Any]) -> str:
        parts = []
        if self.per_s is not None:
            rate = row.get("items_per_s") or 0
            parts.append(f"budget ≥ {self.per_s:,}/s {'met' if rate >= self.per_s else 'NOT met'}")
        times = ratio(row)
        if self.x_baseline is not None and times is not None:
            parts.append(f"≤ {self.x_baseline:g}× baseline {'met' if times <= self.x_baseline else 'NOT met'}")
        return ", ".join(parts)


#: The importers' budgets (issue 3): CSV and JSON ≥ 20k products/s, BMEcat ≥ 10k/s, each within 3× its parse.
CSV_JSON, BMECAT, XML = Budget(20_000, 3.0), Budget(10_000, 3.0), Budget(None, 3.0)


def parse_jsonl(path: Path) -> int:
    """The plain baseline for a JSONL input: read every line and parse it, nothing else."""
    loads = orjson.loads
    n = 0
    with path.open("rb") as fh:
        for line in fh:
            loads(line)
            n += 1
    return n


def catalog_for(profile: str, seed: int = SEED) -> tuple[Any, bool]:
    """The generated catalog for profile+seed, from the cache or generated now. Returns (catalog, was_cached)."""
    from pim.generate import GeneratedCatalog, generate_catalog, get_profile

    folder = OUT / "catalogs" / f"{profile.replace(':', '_')}-{seed}"
    cached = GeneratedCatalog.read(folder)
    if cached is not None and cached.profile == get_profile(profile).name and cached.products_jsonl.is_file():
        return cached, True
    return generate_catalog(profile, seed, folder), False


# ---------------------------------------------------------------------------- running
def run_child(name: str, profile: str, workdir: Path, result: Path) -> None:
    """Inside the subprocess: import the benchmark, run it, write its rows as JSON."""
    from importlib import import_module

    module = import_module(f"benchmarks.bench_{name}")
    rows = module.run(profile, workdir)
    for row in rows:
        row.setdefault("peak_rss_mb", peak_rss_mb())
        row["capability"] = name
    result.write_bytes(orjson.dumps(rows))


def run_benchmark(name: str, profile: str) -> list[dict[str, Any]]:
    workdir = OUT / "work" / f"{name}-{profile.replace(':', '_')}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    result = workdir / "rows.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIM_")}
    env.update(PIM_HOME=str(workdir / "home"), PYTHONPATH=str(ROOT.parent))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.harness", name, profile, str(workdir), str(result)],
                          cwd=ROOT.parent, env=env)
    if proc.returncode != 0 or not result.is_file():
        return [{"capability": name, "stage": "(failed)", "items": 0, "seconds": None, "items_per_s": None,
                 "peak_rss_mb": None, "note": f"exit code {proc.returncode}; see the output above"}]
    return orjson.loads(result.read_bytes())


def ratio(row: dict[str, Any]) -> float | None:
    base = row.get("baseline_seconds")
    return round(row["seconds"] / base, 1) if base and row.get("seconds") is not None else None


def print_table(rows: list[dict[str, Any]], profile: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"benchmarks, profile {profile} (peak RSS: the benchmark process so far)")
    for col in ("capability", "stage", "items", "seconds", "cpu s", "items/s", "peak RSS MB", "baseline s", "× baseline", "note"):
        t.add_column(col, justify="right" if col not in ("capability", "stage", "note") else "left")
    for r in rows:
        t.add_row(r.get("capability", ""), r["stage"], f"{r['items']:,}", _fmt(r.get("seconds")), _fmt(r.get("cpu_seconds")),
                  f"{r['items_per_s']:,}" if r.get("items_per_s") else "", _fmt(r.get("peak_rss_mb")),
                  _fmt(r.get("baseline_seconds")), _fmt(ratio(r)), r.get("note", ""))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(t)


def _fmt(v: Any) -> str:
    return "" if v is None else str(v)


if __name__ == "__main__":
    run_child(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
