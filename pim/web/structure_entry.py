"""One structure item typed on an admin page (an attribute, category, channel or family), checked exactly as
that item would be as an entry of a structure file: the model's own rules, then check_references against the
stored structure. So a page refuses what `pim structure load` refuses, with the same words; each page adds
the checks the files lack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pim.catalog import Structure
from pim.structure_files import StructureFile, check_references

_FORM = Path("the form")  # where the structure files' checks say a problem is


def field_said(error: Any) -> str:
    """`field: message`, or the message alone for a rule about the whole item (the model's validators)."""
    field = error["loc"][-1] if error["loc"] else None
    return f"{field}: {error['msg']}" if isinstance(field, str) else str(error["msg"])


def checked_entry(s: Structure, section: str, data: dict[str, Any],
                  said: Callable[[Any], str] = field_said) -> tuple[Any | None, list[str]]:
    """(the item, check_references' problems as `field: reason`) for `data` as the one entry of `section`;
    (None, the model's errors, each as `said` words it) when the model refuses it."""
    try:
        file = StructureFile.model_validate({section: [data]})
    except ValidationError as exc:
        return None, [said(e) for e in exc.errors()]
    problems = [f"{p.field.rsplit('.', 1)[-1]}: {p.reason}" for p in check_references([(_FORM, file, None)], s)]
    return getattr(file, section)[0], problems
