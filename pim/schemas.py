"""JSON Schemas for the canonical records and every declarative file, generated from the pydantic models.
`pim schemas generate` writes schemas/; a test fails when the checked-in files drift from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pim.registry import SCHEMAS, load

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render(name: str) -> dict[str, Any]:
    model = load(SCHEMAS[name])
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DIALECT, "$id": f"https://pim.example/schemas/{name}.schema.json", **schema}


def rendered_text(name: str) -> str:
    return json.dumps(render(name), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def generate(target: Path = SCHEMA_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = target / f"{name}.schema.json"
        path.write_text(rendered_text(name), encoding="utf-8")
        written.append(path)
    return written


def drift(target: Path = SCHEMA_DIR) -> list[str]:
    """Names whose checked-in schema differs from the model (or is missing)."""
    out = []
    for name in SCHEMAS:
        path = target / f"{name}.schema.json"
        if not path.exists() or path.read_text(encoding="utf-8") != rendered_text(name):
            out.append(name)
    return out


def load_schema(name: str, target: Path = SCHEMA_DIR) -> dict[str, Any]:
    return json.loads((target / f"{name}.schema.json").read_text(encoding="utf-8"))
