"""Who may start (and so run again, cancel, or give another priority) each kind of queued job, in one place for
the web pages and the API: an import is an editor's, unless its importer replaces whole records (the native JSON
Lines: admins); a family rescore follows a structure change and a publication pushes to the outside world, so
both are admins'. A kind not named here (a grid re-index) is an admin's."""

from __future__ import annotations

from typing import Any

KIND_ROLES: dict[str, str] = {"import": "editor", "rescore": "admin", "publish": "admin"}
#: Importers (pim.registry.IMPORTERS) that need more than the import kind's role.
IMPORTER_ROLES: dict[str, str] = {"jsonl": "admin"}


def importer_role(importer: str) -> str:
    return IMPORTER_ROLES.get(importer, KIND_ROLES["import"])


def role_for(job: dict[str, Any]) -> str:
    """The role a job (as Store.job shows it) needs to be queued again, cancelled or reordered."""
    if job.get("kind") == "import":
        return importer_role(str((job.get("payload") or {}).get("importer", "")))
    return KIND_ROLES.get(str(job.get("kind")), "admin")
