"""`python -m benchmarks <capability|all> --profile small|medium|large [--json]`"""

from __future__ import annotations

import argparse
import sys

import orjson

from benchmarks.harness import OUT, discover, print_table, ratio, run_benchmark


def main(argv: list[str] | None = None) -> int:
    found = discover()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("capability", help=f"one of: all, {', '.join(found)}")
    parser.add_argument("--profile", default="small", help="small, medium, large (or e.g. small:1000)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    names = list(found) if args.capability == "all" else [args.capability]
    unknown = [n for n in names if n not in found]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {', '.join(found)}", file=sys.stderr)
        return 2
    rows = []
    for name in names:
        print(f"running {name} ({args.profile})…", file=sys.stderr)
        rows += run_benchmark(name, args.profile)
    for row in rows:
        row["ratio"] = ratio(row)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"results-{args.capability}-{args.profile.replace(':', '_')}.json").write_bytes(
        orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
    else:
        print_table(rows, args.profile)
    return 1 if any(r["stage"] == "(failed)" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
