"""How bad a quarantine entry is. Its own module so the command line can offer the choices without loading the
store."""

from __future__ import annotations

from enum import Enum


class Severity(str, Enum):
    """`rejected`: the row was not imported; `problem`: imported, one value has an issue (it was left out or
    not stored where given); `warning`: about the whole file."""

    rejected = "rejected"
    problem = "problem"
    warning = "warning"
