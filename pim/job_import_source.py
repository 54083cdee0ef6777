"""Which source a queued import writes as, so that imports of one source run one at a time, in queued order
(pim.job_claims). A job's own `source` is its label (`erp_csv:erp_a.csv`), different for every file; what two
uploads of one ERP, or of one supplier, share is the provenance name their profile or map gives their records
(`erp`, `content`, `supplier:acme`). It is read once, when the job is queued (pim.job_enqueue), and kept in the
payload as MERGE_SOURCE; a job queued before it was kept is keyed on its label (as before)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: The payload key holding the provenance name a queued import writes as.
MERGE_SOURCE = "merge_source"
#: The payload key marking a command's own import (pim.import_command): the command ran it from its own files
#: and options, so no worker can run it again (`pim jobs retry` refuses it: run the command again).
COMMAND_ONLY = "command_only"
#: The options that name an upload's profile or map (pim.upload_imports.UPLOADABLE's `option`).
PROFILE_OPTIONS = ("map", "profile", "map_path")
#: The provenance name of an importer whose profile names none, or that takes none (the profiles' defaults:
#: SourceProfile.source of ErpCsvMap, ErpXmlMap, ContentProfile; jsonl's `source_name`).
DEFAULT_SOURCES: dict[str, str] = {"erp_csv": "erp", "erp_xml": "erp", "content": "content", "jsonl": "jsonl"}


def merge_source(payload: dict[str, Any]) -> str:
    """The provenance name the queued import with this payload writes as: its profile's `source` (a BMEcat map's
    `supplier:<supplier>`), else the importer's default, else the importer's name. A profile that cannot be
    read gives the default: the run fails on it anyway, saying why."""
    importer = str(payload.get("importer") or "")
    options = payload.get("options") or {}
    profile = next((options[k] for k in PROFILE_OPTIONS if options.get(k)), None)
    data: Any = None
    if profile:
        try:
            data = yaml.safe_load(Path(profile).read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            data = None
    if isinstance(data, dict):
        if isinstance(data.get("source"), str) and data["source"]:
            return data["source"]
        if isinstance(data.get("supplier"), str) and data["supplier"]:  # a BMEcat map names its supplier
            return f"supplier:{data['supplier']}"
    return DEFAULT_SOURCES.get(importer, importer)


def keyed(kind: str, payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """`payload` with MERGE_SOURCE set when it is an upload's import that has none yet (a copy; else itself)."""
    if kind != "import" or not payload or not payload.get("importer") or payload.get(MERGE_SOURCE):
        return payload
    return {**payload, MERGE_SOURCE: merge_source(payload)}


def command_only(job: dict[str, Any]) -> bool:
    """Whether only the command that ran this job can run it again (COMMAND_ONLY): not queued for a worker."""
    return bool((job.get("payload") or {}).get(COMMAND_ONLY))


def exclusion_key(job: dict[str, Any]) -> str:
    """What a job is kept apart from others of its kind by (pim.job_claims): its merge source when it has one,
    else its source."""
    return str((job.get("payload") or {}).get(MERGE_SOURCE) or job.get("source") or "")
